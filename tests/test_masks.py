"""Mask generators, samplers (incl. folder and mixed), augmentation: shapes, values, statistics, errors."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
import torch
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image
from scipy import ndimage

import inpaintlab.masks as masks_pkg
from inpaintlab.masks import (
    MASK_SAMPLERS,
    AugmentedMasks,
    BlockMasks,
    CenterMasks,
    FolderMasks,
    MaskSampler,
    MixedMasks,
    RegionMasks,
    StrokeMasks,
    augment_mask,
    blocks_mask,
    center_mask,
    default_block_size,
    mask_kind,
    mask_kinds,
    read_mask_file,
    region_mask,
)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _assert_binary_masks(m: torch.Tensor, batch: int, h: int, w: int) -> None:
    assert m.shape == (batch, 1, h, w)
    assert m.dtype == torch.float32
    assert set(torch.unique(m).tolist()) <= {0.0, 1.0}
    assert (m.flatten(1).amax(1) == 1).all(), "every mask has a hole"


def _covered_by_blocks(hole: np.ndarray, bh: int, bw: int) -> np.ndarray:
    """Pixels that lie in some bh x bw window fully inside the hole (independent of the generator)."""
    anchors = sliding_window_view(hole, (bh, bw)).all(axis=(-2, -1))
    covered = np.zeros_like(hole)
    for dy in range(bh):
        for dx in range(bw):
            covered[dy : dy + anchors.shape[0], dx : dx + anchors.shape[1]] |= anchors
    return covered


# ---------------------------------------------------------------- center


@pytest.mark.parametrize(
    ("size", "area", "box"),
    [
        (16, 0.25, (4, 12, 4, 12)),  # 8x8 in the middle
        ((20, 10), 0.25, (5, 15, 2, 7)),  # 10x5, left margin (10-5)//2 = 2
        ((9, 9), 1.0, (0, 9, 0, 9)),  # the whole image
        (32, 1e-6, (15, 16, 15, 16)),  # at least one pixel
    ],
)
def test_center_mask_is_the_hand_computed_rectangle(size, area, box):
    m = center_mask(size, area=area, batch=2)
    h, w = (size, size) if isinstance(size, int) else size
    _assert_binary_masks(m, 2, h, w)
    expected = torch.zeros(h, w)
    expected[box[0] : box[1], box[2] : box[3]] = 1
    assert torch.equal(m[0, 0], expected) and torch.equal(m[1, 0], expected)


def test_center_area_is_covered_within_rounding():
    for area in (0.1, 0.25, 0.5):
        frac = center_mask(256, area=area).mean().item()
        assert abs(frac - area) < 2 * 256 / 256**2 + 0.005


# ---------------------------------------------------------------- blocks


def test_blocks_default_size_count_and_bounds():
    assert default_block_size(256) == 32 and default_block_size((64, 100)) == 8 and default_block_size(4) == 1
    m = blocks_mask(64, batch=20, generator=_gen())
    _assert_binary_masks(m, 20, 64, 64)
    for hole in m[:, 0].numpy().astype(bool):
        assert 8 * 8 <= hole.sum() <= 8 * 8 * 8  # between one block and 8 disjoint ones
        assert np.array_equal(_covered_by_blocks(hole, 8, 8), hole), "made only of 8x8 blocks"
        assert ndimage.label(hole)[1] <= 8
        assert mask_kind(hole) == "blocks"


def test_blocks_custom_rectangular_size_and_single_block():
    m = blocks_mask((40, 50), num_blocks=3, block_size=(5, 9), batch=10, generator=_gen(1))
    for hole in m[:, 0].numpy().astype(bool):
        assert np.array_equal(_covered_by_blocks(hole, 5, 9), hole)
        assert 45 <= hole.sum() <= 3 * 45
    one = blocks_mask(16, num_blocks=1, block_size=6, batch=30, generator=_gen(2))[:, 0].numpy().astype(bool)
    for hole in one:
        rows, cols = np.nonzero(hole)
        assert hole.sum() == 36 and np.ptp(rows) == 5 and np.ptp(cols) == 5
        assert mask_kind(hole) == "blocks"  # never a centred block


def test_blocks_many_blocks_still_valid():
    m = blocks_mask(24, num_blocks=40, block_size=3, batch=6, generator=_gen(3))
    assert mask_kinds(m) == ["blocks"] * 6
    for hole in m[:, 0].numpy().astype(bool):
        assert np.array_equal(_covered_by_blocks(hole, 3, 3), hole)


# ---------------------------------------------------------------- region


def test_region_area_always_in_range_and_spread_over_it():
    m = region_mask(32, area=(0.1, 0.3), batch=60, generator=_gen(4))
    _assert_binary_masks(m, 60, 32, 32)
    frac = m.mean(dim=(1, 2, 3))
    assert (frac >= 0.1).all() and (frac <= 0.3).all()
    assert 0.15 < frac.mean().item() < 0.25
    assert (frac < 0.2).float().mean().item() > 0.25 and (frac >= 0.2).float().mean().item() > 0.25


def test_region_width_classes_change_stroke_thickness():
    def median_depth(width: str) -> float:
        """Median distance of hole pixels to the nearest known pixel (about a quarter of the brush width)."""
        hole = region_mask(64, area=(0.15, 0.25), width=width, batch=12, generator=_gen(5))[:, 0].numpy() > 0
        depth = [ndimage.distance_transform_edt(np.pad(h, 1))[1:-1, 1:-1][h] for h in hole]
        return float(np.median(np.concatenate(depth)))

    thin, medium, thick = median_depth("thin"), median_depth("medium"), median_depth("thick")
    # At 64 px: thin brushes are 1-2.6 px wide, medium 2.6-7.7, thick 7.7-16 (REGION_WIDTHS).
    assert thin <= 1.5 < medium < thick
    assert thick >= 2.5


def test_region_masks_are_free_form_on_non_square_sizes():
    m = region_mask((24, 40), width="mixed", batch=10, generator=_gen(6))
    _assert_binary_masks(m, 10, 24, 40)
    assert mask_kinds(m) == ["region"] * 10


# ---------------------------------------------------------------- reproducibility and device


@pytest.mark.parametrize(
    "make",
    [
        lambda g: blocks_mask(32, batch=3, generator=g),
        lambda g: region_mask(32, batch=3, generator=g),
        lambda g: MixedMasks()(4, 32, generator=g),
        lambda g: augment_mask(region_mask(32, batch=3, generator=g), generator=g),
    ],
)
def test_same_seed_same_masks_other_seed_differs(make):
    a, b, c = make(_gen(11)), make(_gen(11)), make(_gen(12))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_global_rng_used_when_no_generator():
    torch.manual_seed(5)
    a = region_mask(32, batch=2)
    torch.manual_seed(5)
    assert torch.equal(a, region_mask(32, batch=2))


def test_device_argument():
    for make in (center_mask, blocks_mask, region_mask):
        m = make(32, device="meta")
        assert m.device.type == "meta" and m.shape == (1, 1, 32, 32)
    assert MixedMasks()(3, 16, generator=_gen(), device=torch.device("cpu")).device.type == "cpu"


@pytest.mark.gpu
def test_masks_on_cuda():
    m = MixedMasks()(4, 32, generator=_gen(), device="cuda")
    assert m.is_cuda and set(torch.unique(m).tolist()) <= {0.0, 1.0}
    assert augment_mask(m, generator=_gen()).is_cuda


# ---------------------------------------------------------------- errors


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="size must be positive"):
        center_mask(0)
    with pytest.raises(ValueError, match=r"area must be a fraction in \(0, 1\]"):
        center_mask(16, area=1.5)
    with pytest.raises(ValueError, match="batch must be >= 1"):
        blocks_mask(16, batch=0)
    with pytest.raises(TypeError, match="num_blocks must be an int"):
        blocks_mask(16, num_blocks=2.5)
    with pytest.raises(ValueError, match="does not fit"):
        blocks_mask(16, block_size=17)
    with pytest.raises(ValueError, match="no room to move a block"):
        blocks_mask(16, block_size=15)
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        blocks_mask(16, generator=0)
    with pytest.raises(ValueError, match="width must be one of"):
        region_mask(32, width="huge")
    with pytest.raises(ValueError, match="area must satisfy"):
        region_mask(32, area=(0.5, 0.2))
    with pytest.raises(ValueError, match="too small for region masks"):
        region_mask(12)
    with pytest.raises(ValueError, match="no whole number of pixels"):
        region_mask(20, area=(0.199, 0.1993))  # 79.6 to 79.72 pixels
    with pytest.raises(RuntimeError, match="widen area"):
        region_mask(16, area=(0.004, 0.008), generator=_gen())  # 2 pixels: no slanted stroke fits
    with pytest.raises(ValueError, match="width must be one of"):
        RegionMasks(width="wide")


# ---------------------------------------------------------------- folder


def _write_masks(folder) -> dict[str, np.ndarray]:
    folder.mkdir()
    expected = {}
    grey = np.zeros((64, 64), np.uint8)
    grey[:32] = 200  # top half
    Image.fromarray(grey).save(folder / "a_grey.png")
    expected["a_grey.png"] = grey > 0
    rgba = np.zeros((20, 30, 4), np.uint8)
    rgba[5:10, 5:10] = (255, 255, 255, 255)  # visible white: hole
    rgba[12:15, :, :3] = 255  # white but fully transparent: not a hole
    Image.fromarray(rgba, "RGBA").save(folder / "b_rgba.png")
    expected["b_rgba.png"] = np.zeros((20, 30), bool)
    expected["b_rgba.png"][5:10, 5:10] = True
    deep = np.zeros((40, 24), np.uint16)
    deep[10:30, 4:8] = 1  # 16-bit value 1: nonzero, so a hole
    Image.fromarray(deep).save(folder / "c_16bit.png")
    expected["c_16bit.png"] = deep > 0
    (folder / "d_corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(folder / "e_empty.png")
    return expected


def test_read_mask_file_modes(tmp_path):
    expected = _write_masks(tmp_path / "m")
    assert Image.open(tmp_path / "m" / "c_16bit.png").mode.startswith("I")
    for name, want in expected.items():
        assert np.array_equal(read_mask_file(tmp_path / "m" / name), want), name


def test_folder_masks_sample_skip_bad_files_and_fit_size(tmp_path):
    _write_masks(tmp_path / "m")
    sampler = FolderMasks(str(tmp_path / "m"))
    assert len(sampler) == 5 and sampler.kind == "region"
    with pytest.warns(UserWarning) as caught:
        m = sampler(40, 16, generator=_gen())
    messages = " ".join(str(w.message) for w in caught)
    assert "d_corrupt.png" in messages and "cannot be read" in messages
    assert "e_empty.png" in messages and "no hole pixel" in messages
    _assert_binary_masks(m, 40, 16, 16)
    # The 64x64 top-half mask scaled by 1/4 is exactly the top 8 rows: it must be among the samples.
    top_half = torch.zeros(16, 16)
    top_half[:8] = 1
    assert any(torch.equal(x[0], top_half) for x in m)
    assert {str(p.name) for p in sampler._bad} == {"d_corrupt.png", "e_empty.png"}
    masks, kinds = sampler.sample_with_kinds(3, (12, 20), generator=_gen(1))
    assert masks.shape == (3, 1, 12, 20) and kinds == ["region"] * 3
    auto = FolderMasks(str(tmp_path / "m"), kind="auto")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        masks, kinds = auto.sample_with_kinds(6, 16, generator=_gen(2))
    assert kinds == mask_kinds(masks)


def test_folder_masks_reproducible_and_picklable(tmp_path):
    _write_masks(tmp_path / "m")
    sampler = FolderMasks(str(tmp_path / "m"))
    copy = pickle.loads(pickle.dumps(sampler))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert torch.equal(sampler(8, 24, generator=_gen(3)), copy(8, 24, generator=_gen(3)))


def test_folder_masks_errors_name_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        FolderMasks(str(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no files matching .* in mask folder .*empty"):
        FolderMasks(str(tmp_path / "empty"))
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.png").write_bytes(b"junk")
    sampler = FolderMasks(str(tmp_path / "bad"))
    with pytest.warns(UserWarning, match="x.png"), pytest.raises(RuntimeError, match="none of the 1 files"):
        sampler(1, 8, generator=_gen())
    with pytest.raises(ValueError, match="kind must be one of"):
        FolderMasks(str(tmp_path / "bad"), kind="blob")


# ---------------------------------------------------------------- mixed


def test_mixed_frequencies_and_true_kinds():
    weights = {"center": 0.2, "blocks": 0.3, "region": 0.5}
    samplers = {"center": CenterMasks(), "blocks": BlockMasks(), "region": RegionMasks(width="thick")}
    sampler = MixedMasks(weights=weights, samplers=samplers)
    n = 500
    m, kinds = sampler.sample_with_kinds(n, 16, generator=_gen(7))
    _assert_binary_masks(m, n, 16, 16)
    for name, p in weights.items():  # 3 binomial standard deviations: at most 0.067
        assert abs(kinds.count(name) / n - p) < 3 * (p * (1 - p) / n) ** 0.5, (name, kinds.count(name))
    assert kinds == mask_kinds(m)
    assert sampler.probabilities == pytest.approx(weights)


def test_mixed_default_and_custom_samplers():
    m, kinds = MixedMasks().sample_with_kinds(90, 16, generator=_gen(8))
    assert set(kinds) == {"center", "blocks", "region"} and kinds == mask_kinds(m)
    custom = MixedMasks(
        weights={"big": 1.0, "small": 3.0}, samplers={"big": CenterMasks(0.5), "small": CenterMasks(0.1)}
    )
    m, kinds = custom.sample_with_kinds(200, 20, generator=_gen(9))
    big = (m.mean(dim=(1, 2, 3)) > 0.3).float().mean().item()
    assert abs(big - 0.25) < 0.08 and kinds == ["center"] * 200


def test_mixed_errors():
    with pytest.raises(ValueError, match=r"not in samplers"):
        MixedMasks(weights={"center": 1.0, "stripes": 1.0})
    with pytest.raises(ValueError, match="not all 0"):
        MixedMasks(weights={"center": 0.0})
    with pytest.raises(ValueError, match=">= 0"):
        MixedMasks(weights={"center": -1.0, "blocks": 2.0})
    with pytest.raises(TypeError, match="must be a MaskSampler"):
        MixedMasks(weights={"x": 1.0}, samplers={"x": "center"})


# ---------------------------------------------------------------- augmentation


def _square(size: int = 16, top: int = 5, side: int = 5) -> torch.Tensor:
    m = torch.zeros(1, 1, size, size)
    m[..., top : top + side, top : top + side] = 1
    return m


_IDENTITY = {
    "dilate": (0, 0),
    "erode": (0, 0),
    "hflip": 0.0,
    "vflip": 0.0,
    "degrees": 0.0,
    "translate": 0.0,
    "scale": (1.0, 1.0),
}


def test_augment_hand_computed_cases():
    m = _square()
    assert torch.equal(augment_mask(m, generator=_gen(), **_IDENTITY), m)
    flipped = augment_mask(m, generator=_gen(), **{**_IDENTITY, "hflip": 1.0, "vflip": 1.0})
    assert torch.equal(flipped, m.flip(-1).flip(-2))
    grown = augment_mask(m, generator=_gen(), **{**_IDENTITY, "dilate": (1, 1)})
    assert torch.equal(grown, _square(top=4, side=7))
    shrunk = augment_mask(m, generator=_gen(), **{**_IDENTITY, "erode": (1, 1)})
    assert torch.equal(shrunk, _square(top=6, side=3))
    line = torch.zeros(1, 1, 16, 16)
    line[..., 8, :] = 1  # erosion would empty it: the input comes back
    assert torch.equal(augment_mask(line, generator=_gen(), **{**_IDENTITY, "erode": (2, 2)}), line)


def test_augment_keeps_binary_shape_and_rough_area():
    m = region_mask(48, batch=8, generator=_gen(10))
    out = augment_mask(m, generator=_gen(10))
    assert out.shape == m.shape and out.dtype == m.dtype
    assert set(torch.unique(out).tolist()) <= {0.0, 1.0}
    assert (out.flatten(1).amax(1) == 1).all()
    rotated = augment_mask(m, generator=_gen(1), **{**_IDENTITY, "degrees": 10.0})
    ratio = rotated.sum(dim=(1, 2, 3)) / m.sum(dim=(1, 2, 3))
    assert ((ratio > 0.8) & (ratio < 1.2)).all()
    assert augment_mask(m.double(), generator=_gen()).dtype == torch.float64


def test_augmented_sampler_kinds_and_errors():
    sampler = AugmentedMasks(BlockMasks(), degrees=30.0)
    assert sampler.kind == "blocks"
    m, kinds = sampler.sample_with_kinds(6, 64, generator=_gen(12))
    assert m.shape == (6, 1, 64, 64) and kinds == mask_kinds(m)
    assert "region" in kinds  # rotated blocks are no longer axis-aligned
    with pytest.raises(ValueError, match="dilate must satisfy"):
        augment_mask(_square(), generator=None, dilate=(3, 1))
    with pytest.raises(ValueError, match="hflip must be a probability"):
        augment_mask(_square(), generator=None, hflip=1.5)
    with pytest.raises(ValueError, match="scale must satisfy"):
        AugmentedMasks(CenterMasks(), scale=(0.0, 1.0))
    with pytest.raises(ValueError, match=r"\(N,1,H,W\)"):
        augment_mask(torch.ones(16, 16), generator=None)
    with pytest.raises(TypeError, match="base must be a MaskSampler"):
        AugmentedMasks("blocks")


# ---------------------------------------------------------------- registry, configs, pickling


def test_registry_and_exports():
    assert MASK_SAMPLERS == {
        "center": CenterMasks,
        "blocks": BlockMasks,
        "region": RegionMasks,
        "folder": FolderMasks,
        "mixed": MixedMasks,
        "strokes": StrokeMasks,
    }
    assert all(issubclass(cls, MaskSampler) for cls in MASK_SAMPLERS.values())
    assert all(hasattr(masks_pkg, name) for name in masks_pkg.__all__)
    assert [CenterMasks.kind, BlockMasks.kind, RegionMasks.kind] == ["center", "blocks", "region"]


def test_samplers_build_from_a_lightning_style_config():
    from jsonargparse import ArgumentParser

    parser = ArgumentParser()
    parser.add_argument("--masks", type=MaskSampler)
    config = {
        "class_path": "inpaintlab.masks.AugmentedMasks",
        "init_args": {
            "base": {
                "class_path": "inpaintlab.masks.MixedMasks",
                "init_args": {"weights": {"blocks": 1.0, "region": 1.0}},
            },
            "degrees": 0.0,
            "dilate": [0, 1],
        },
    }
    import json

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        built = parser.instantiate_classes(parser.parse_args(["--masks", json.dumps(config)])).masks
    assert isinstance(built, AugmentedMasks) and isinstance(built.base, MixedMasks)
    assert built.base.weights == {"blocks": 1.0, "region": 1.0} and built.dilate == (0, 1)
    assert built(2, 32, generator=_gen()).shape == (2, 1, 32, 32)


@pytest.mark.parametrize(
    "sampler",
    [
        CenterMasks(0.3),
        BlockMasks(4, 5),
        RegionMasks((0.1, 0.2), "thin"),
        MixedMasks(),
        AugmentedMasks(BlockMasks()),
    ],
)
def test_samplers_pickle_for_dataloader_workers(sampler):
    copy = pickle.loads(pickle.dumps(sampler))
    assert copy == sampler
    a, ka = sampler.sample_with_kinds(3, 32, generator=_gen(13))
    b, kb = copy.sample_with_kinds(3, 32, generator=_gen(13))
    assert torch.equal(a, b) and ka == kb
