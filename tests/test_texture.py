"""The texture stage (inpaintlab.texture): detail copied from the known part onto a blurred fill."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from scipy import ndimage

from inpaintlab import load
from inpaintlab.hub import save_weights
from inpaintlab.models import create_generator
from inpaintlab.texture import NO_TEXTURE, TextureSettings, copy_texture, resolve_texture, texture_window


def _striped(height: int = 96, width: int = 96, period: int = 8) -> np.ndarray:
    """A smooth colour ramp plus vertical stripes of ``period`` px: texture a blur loses."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    ramp = 0.3 + 0.3 * y / height
    stripes = 0.15 * np.sign(np.sin(2 * np.pi * (x + 0.5) / period))
    return np.stack([ramp + stripes, ramp * 0.8 + stripes, 0.5 + stripes]).clip(0, 1).astype(np.float32)


def _blurred_fill(picture: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """What a PSNR-trained network returns: the truth's local mean, no stripes."""
    return ndimage.uniform_filter(picture, (1, 8, 8), mode="nearest")[:, hole]


def _laplacian_energy(values: np.ndarray, picture: np.ndarray, hole: np.ndarray) -> float:
    filled = picture.copy()
    filled[:, hole] = values
    lap = ndimage.laplace(filled.mean(0))
    return float((lap[hole] ** 2).sum())


def test_a_faint_structure_guides_the_copy_into_phase():
    picture = _striped()
    hole = np.zeros(picture.shape[1:], bool)
    hole[32:64, 32:64] = True
    faint = ndimage.gaussian_filter(picture, (0, 1.5, 1.5), mode="nearest")[:, hole]  # stripes, weakened
    textured = copy_texture(picture, hole, faint, TextureSettings(cell=4, patch=3, sigma=2.0))
    truth = picture[:, hole]
    assert np.abs(textured - truth).mean() < 0.5 * np.abs(faint - truth).mean()


def test_copied_detail_restores_the_texture_a_blur_lost():
    picture = _striped()
    hole = np.zeros(picture.shape[1:], bool)
    hole[32:64, 32:64] = True
    blur = _blurred_fill(picture, hole)
    textured = copy_texture(picture, hole, blur, TextureSettings(cell=4, patch=3, sigma=2.0))
    truth = picture[:, hole]
    truth_energy = _laplacian_energy(truth, picture, hole)
    assert _laplacian_energy(blur, picture, hole) < 0.2 * truth_energy
    assert 0.5 * truth_energy < _laplacian_energy(textured, picture, hole) < 1.5 * truth_energy
    assert textured.dtype == np.float32 and textured.min() >= 0 and textured.max() <= 1


def test_strength_scales_the_detail_and_zero_returns_the_fill_unchanged():
    picture = _striped()
    hole = np.zeros(picture.shape[1:], bool)
    hole[40:56, 20:70] = True
    blur = _blurred_fill(picture, hole)
    assert copy_texture(picture, hole, blur, NO_TEXTURE) is blur
    full = copy_texture(picture, hole, blur, TextureSettings(strength=1.0))
    half = copy_texture(picture, hole, blur, TextureSettings(strength=0.5))
    inside = (full > 0) & (full < 1)  # away from the clip
    np.testing.assert_allclose((half - blur)[inside], 0.5 * (full - blur)[inside], atol=1e-6)


def test_the_ramp_fades_the_detail_in_from_the_holes_edge():
    picture = _striped()
    hole = np.zeros(picture.shape[1:], bool)
    hole[30:70, 30:70] = True
    blur = _blurred_fill(picture, hole)
    full = copy_texture(picture, hole, blur, TextureSettings())
    ramped = copy_texture(picture, hole, blur, TextureSettings(ramp=4.0))
    depth = ndimage.distance_transform_edt(hole)[hole]
    added_full, added_ramped = np.abs(full - blur).max(0), np.abs(ramped - blur).max(0)
    assert np.allclose(added_ramped[depth >= 4], added_full[depth >= 4])  # full strength 4 px inside
    edge = (depth == 1) & (added_full > 0.05)
    assert edge.any() and np.allclose(added_ramped[edge], added_full[edge] / 4, atol=1e-6)  # a quarter at 1 px


def test_no_known_source_returns_the_fill():
    picture = _striped(40, 40)
    hole = np.ones(picture.shape[1:], bool)
    hole[:2, :2] = False  # nothing far enough from the hole to copy from
    blur = _blurred_fill(picture, hole)
    assert np.array_equal(copy_texture(picture, hole, blur, TextureSettings()), blur)


def test_the_match_grid_follows_the_window_scale():
    assert TextureSettings(cell=4, sigma=2.0, ramp=2.0).at_scale(1.0) == (4, 2.0, 2.0, 0.0)
    assert TextureSettings(cell=4, sigma=2.0, ramp=2.0, feather=1.0).at_scale(0.25) == (16, 8.0, 8.0, 4.0)
    picture = _striped(192, 192, period=16)  # a picture 2x the size its window ran at
    hole = np.zeros(picture.shape[1:], bool)
    hole[64:128, 64:128] = True
    faint = ndimage.gaussian_filter(picture, (0, 3.0, 3.0), mode="nearest")[:, hole]
    textured = copy_texture(picture, hole, faint, TextureSettings(cell=4, sigma=2.0), scale=0.5)
    assert np.abs(textured - picture[:, hole]).mean() < 0.5 * np.abs(faint - picture[:, hole]).mean()


def test_texture_window_returns_the_windows_own_pixels():
    picture = _striped()
    hole = np.zeros(picture.shape[1:], bool)
    hole[30:60, 30:60] = True
    fill = np.zeros_like(hole)
    fill[30:60, 30:45] = True  # this window writes only the left half
    blur = _blurred_fill(picture, hole)
    values = texture_window(picture, hole, fill, blur, TextureSettings(), 1.0)
    full = copy_texture(picture, hole, blur, TextureSettings())
    assert values.shape == (3, int(fill.sum()))
    assert np.array_equal(values, full[:, fill[hole]])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"patch": 2}, "patch must be odd"),
        ({"cell": 0}, "cell must be an integer >= 1"),
        ({"cell": 2.5}, "cell must be an integer >= 1"),
        ({"strength": -1.0}, "strength must be a finite number >= 0"),
        ({"sigma": float("nan")}, "sigma must be a finite number >= 0"),
    ],
)
def test_bad_settings_say_what_is_expected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TextureSettings(**kwargs)


def test_bad_shapes_are_refused():
    picture = _striped(16, 16)
    hole = np.zeros((16, 16), bool)
    hole[4:8, 4:8] = True
    with pytest.raises(ValueError, match="structure must be"):
        copy_texture(picture, hole, np.zeros((3, 3), np.float32), TextureSettings())
    with pytest.raises(ValueError, match="picture \\(3,H,W\\)"):
        copy_texture(picture[0], hole, np.zeros((3, 16), np.float32), TextureSettings())


def test_resolve_texture():
    published = TextureSettings(sigma=4.0)
    assert resolve_texture(True, published) is published
    assert resolve_texture(True, None) is NO_TEXTURE
    assert resolve_texture(False, published) is NO_TEXTURE
    assert resolve_texture(TextureSettings(cell=8), published).cell == 8
    with pytest.raises(TypeError, match="texture must be True"):
        resolve_texture("on", published)


def test_the_inpainter_keeps_known_pixels_and_textures_only_the_hole(tmp_path):
    torch.manual_seed(0)
    generator = create_generator("dilated_unet.tiny")
    weights = save_weights(generator.state_dict(), tmp_path / "t.safetensors", "dilated_unet.tiny", metadata={"resolution": 64})
    image = torch.from_numpy(_striped(96, 96))[None]
    mask = torch.zeros(1, 1, 96, 96)
    mask[..., 32:64, 32:64] = 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = load(str(weights), device="cpu", texture=False)(image, mask)
        textured = load(str(weights), device="cpu", texture=TextureSettings())(image, mask)
    known = mask.expand_as(image) == 0
    assert torch.equal(textured[known], image[known]) and torch.equal(plain[known], image[known])
    lap = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])[None, None]

    def detail(x):  # the hole's high-frequency energy
        return float((torch.nn.functional.conv2d(x.mean(1, keepdim=True), lap, padding=1).square() * mask).sum())

    assert detail(plain) < 0.2 * detail(image) < detail(textured) / 2


def test_reuse_spreads_the_copies_over_more_sources():
    from inpaintlab.texture import _match

    rng = np.random.default_rng(0)
    cells = rng.random((3, 24, 24)).astype(np.float32)
    hole = np.zeros((24, 24), bool)
    hole[6:18, 6:18] = True
    cells[:, hole] = 0.5  # deep in a blurred hole every cell looks the same
    plain = _match(cells, hole, 3)[hole]
    spread = _match(cells, hole, 3, reuse=4.0)[hole]
    assert np.unique(plain, return_counts=True)[1].max() > 0.5 * hole.sum()  # one source for most: a repeated tile
    assert np.unique(spread, return_counts=True)[1].max() < 0.1 * hole.sum()  # spread over many sources
    usable = ~ndimage.maximum_filter(hole, size=3)
    assert usable.flat[spread].all()  # only wholly known neighbourhoods are copied
    with pytest.raises(ValueError, match="reuse must be a finite number >= 0"):
        TextureSettings(reuse=-1.0)


def test_feathering_is_exact_where_cells_share_an_offset_and_fades_across_seams():
    from inpaintlab.texture import _cell_copy, _feathered_copy

    rng = np.random.default_rng(1)
    detail = rng.standard_normal((3, 64, 64)).astype(np.float32)
    rows = cols = 8  # cells of 8 px
    grid = np.arange(rows * cols).reshape(rows, cols)
    shifted = grid + 2 * cols  # every cell copies from two cells further down: one offset everywhere
    ys, xs = np.mgrid[8:40, 8:56].reshape(2, -1)  # pixels whose four surrounding cells stay inside
    assert np.allclose(_feathered_copy(detail, shifted, ys, xs, 8, 8.0), _cell_copy(detail, shifted, ys, xs, 8), atol=1e-6)
    mixed = shifted.copy()
    mixed[:, 4:] += 1  # the right half copies from one cell further right: a seam at x = 32
    cut = _cell_copy(detail, mixed, ys, xs, 8)
    feathered = _feathered_copy(detail, mixed, ys, xs, 8, 8.0)
    narrow = _feathered_copy(detail, mixed, ys, xs, 8, 2.0)
    at_seam = xs == 32
    left = _cell_copy(detail, shifted, ys, xs, 8)
    right = _cell_copy(detail, shifted + 1, ys, xs, 8)
    # cut: the right copy from the seam on; feathered: halfway between the two copies at the seam
    assert np.allclose(cut[:, at_seam], right[:, at_seam])
    w = np.float32(0.5 + 0.5 / 8)  # the seam pixel's centre is 4.5 px from the left cell's centre
    assert np.allclose(feathered[:, at_seam], (1 - w) * left[:, at_seam] + w * right[:, at_seam], atol=1e-5)
    inner = (xs % 8 >= 2) & (xs % 8 <= 5)  # more than 1 px from a cell edge: a 2 px feather copies as cut
    assert np.allclose(narrow[:, inner], cut[:, inner], atol=1e-6)
    assert not np.allclose(narrow[:, at_seam], cut[:, at_seam])
    with pytest.raises(ValueError, match="feather must be a finite number >= 0"):
        TextureSettings(feather=-1)


def test_registry_names_get_their_published_settings_and_the_switches_turn_them_off():
    from inpaintlab.cli.inpaint import load_inpainter
    from inpaintlab.hub import get_entry

    published = get_entry("photo-center").texture
    assert published is not None and published.enabled
    assert load("photo-center", device="cpu").texture == published
    assert load("photo-center", device="cpu", texture=False).texture == NO_TEXTURE
    onnx, runtime = load_inpainter("photo-center", "onnx", None)
    assert runtime == "onnx" and onnx.texture == published
    assert load_inpainter("photo-center", "onnx", None, texture=False)[0].texture == NO_TEXTURE
    assert load_inpainter("photo-center", "torch", "cpu", texture=False)[0].texture == NO_TEXTURE


def test_feathering_never_copies_a_pixels_own_detail_from_a_known_neighbour():
    from inpaintlab.texture import _feathered_copy

    detail = np.zeros((3, 32, 32), np.float32)
    detail[:, :, 24:] = 1.0  # the only detail: the sources' columns
    source = np.arange(16).reshape(4, 4)
    source[1, 1] = 3  # one hole cell (1,1) copies from cell (0,3): columns 24-31
    ys, xs = np.mgrid[8:16, 8:16].reshape(2, -1)
    copied = _feathered_copy(detail, source, ys, xs, 8, 8.0)
    assert np.allclose(copied, 1.0)  # every neighbour weight carries the hole cell's offset, none zero
