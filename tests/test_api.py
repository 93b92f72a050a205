"""load() / Inpainter / AutoInpainter: input types, bit-exact known pixels, windows, errors, routing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from torch import nn

from inpaintlab._checks import composite
from inpaintlab.api import AutoInpainter, Inpainter, load, load_model, plan_windows
from inpaintlab.api.plan import dilate_hole
from inpaintlab.api.window_tensors import window_values
from inpaintlab.hub import cache_dir, save_weights, sha256_file
from inpaintlab.models import create_generator

R = 32  # native resolution used throughout: tiny and fast


class ConstantModel(nn.Module):
    """A stand-in generator: fills the hole with one colour and records every input it sees."""

    def __init__(self, value: float = 0.25, native_resolution: int | None = R):
        super().__init__()
        self.value, self.native_resolution, self.calls = value, native_resolution, []

    def forward(self, image, mask):
        self.calls.append((tuple(image.shape), image.clone(), mask.clone()))
        return composite(torch.full_like(image, self.value), image, mask)


def constant_inpainter(value=0.25, **kwargs) -> Inpainter:
    return Inpainter(ConstantModel(value), device="cpu", name=f"const-{value}", **kwargs)


def hole_mask(h, w, box) -> np.ndarray:
    mask = np.zeros((h, w), np.uint8)
    t, b, l, r = box
    mask[t:b, l:r] = 255
    return mask


# ---------------------------------------------------------------- types, sizes, known pixels
@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA", "LA", "1"])
def test_pil_images_keep_mode_size_and_known_pixels(mode):
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (20, 30, 4), dtype=np.uint8), "RGBA").convert(mode)
    mask = Image.fromarray(hole_mask(20, 30, (5, 12, 8, 20)))
    out = constant_inpainter()(image, mask)
    assert isinstance(out, Image.Image) and out.mode == mode and out.size == image.size
    before, after, hole = np.asarray(image), np.asarray(out), np.asarray(mask) > 0
    assert np.array_equal(after[~hole], before[~hole])
    if mode in ("RGB", "RGBA"):
        assert np.all(after[hole][:, :3] == 64)  # round(0.25 * 255)
    if mode in ("L", "LA"):
        assert np.all(
            after[hole][..., 0] if mode == "LA" else after[hole] == 64
        )  # gray of (0.25, 0.25, 0.25)
    if mode in ("RGBA", "LA"):
        assert np.array_equal(after[..., -1], before[..., -1])  # alpha untouched, hole included


def test_palette_image_comes_back_as_rgb_with_a_warning():
    image = Image.fromarray(np.zeros((8, 8, 3), np.uint8)).convert("P")
    mask = np.ones((8, 8), bool)
    mask[0, 0] = False
    with pytest.warns(UserWarning, match=r"palette \(P\) image is inpainted and returned as RGB.*quantize"):
        out = constant_inpainter()(image, mask)
    assert out.mode == "RGB" and np.all(np.asarray(out)[mask] == 64)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.float64])
@pytest.mark.parametrize("shape", [(16, 24), (16, 24, 1), (16, 24, 3), (16, 24, 4)])
def test_numpy_keeps_dtype_shape_and_known_pixels(dtype, shape):
    rng = np.random.default_rng(1)
    if np.issubdtype(dtype, np.integer):
        image = rng.integers(0, np.iinfo(dtype).max, shape, endpoint=True).astype(dtype)
        expected = np.round(0.25 * np.iinfo(dtype).max)
    else:
        image, expected = rng.random(shape).astype(dtype), 0.25
    mask = hole_mask(16, 24, (2, 9, 3, 11))
    out = constant_inpainter()(image, mask)
    assert out.dtype == image.dtype and out.shape == image.shape
    hole = mask > 0
    assert np.array_equal(out[~hole], image[~hole])
    colour = out[hole] if len(shape) == 2 else out[hole][:, : 3 if shape[-1] >= 3 else 1]
    np.testing.assert_allclose(colour, expected, rtol=1e-6)
    if len(shape) == 3 and shape[-1] == 4:
        assert np.array_equal(out[..., 3], image[..., 3])


@pytest.mark.parametrize("batched", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.uint8])
def test_tensors_keep_dtype_shape_and_known_pixels(batched, dtype):
    g = torch.Generator().manual_seed(0)
    image = torch.rand(2, 3, 16, 20, generator=g)
    image = (image * 255).round().to(torch.uint8) if dtype == torch.uint8 else image.to(dtype)
    mask = torch.zeros(2, 1, 16, 20)
    mask[0, :, 2:6, 3:9] = 1
    mask[1, :, 10:14, 12:18] = 1
    if not batched:
        image, mask = image[0], mask[0]
    out = constant_inpainter()(image, mask)
    assert out.dtype == image.dtype and out.shape == image.shape
    hole = (mask > 0.5).expand_as(image)
    assert torch.equal(out[~hole], image[~hole])
    assert torch.all(out[hole] == (64 if dtype == torch.uint8 else 0.25))


def test_strided_big_endian_and_grad_inputs():
    image = np.random.default_rng(5).random((10, 14, 3)).astype(">f4")[:, ::-1]  # a flipped big-endian view
    mask = hole_mask(10, 14, (2, 5, 3, 7))
    out = constant_inpainter()(image, mask)
    assert out.dtype == image.dtype and np.array_equal(out[mask == 0], image[mask == 0])
    leaf = torch.rand(3, 10, 14, requires_grad=True)
    out = constant_inpainter()(leaf, torch.from_numpy(mask))
    assert not out.requires_grad and torch.equal(out[:, mask == 0], leaf.detach()[:, mask == 0])


def test_mask_forms_and_thresholds():
    image = np.zeros((6, 6, 3), np.float32)
    inpainter = constant_inpainter()
    float_mask = np.zeros((6, 6), np.float32)
    float_mask[0, 0], float_mask[1, 1], float_mask[2, 2] = 0.6, 0.3, 0.5
    out = inpainter(image, float_mask)  # nonzero = hole, for floats too
    assert np.count_nonzero(out[..., 0]) == 3 and out[1, 1, 0] == 0.25
    out = inpainter(image, float_mask, threshold=0.5)  # the threshold is "value > threshold"
    assert out[0, 0, 0] == 0.25 and np.count_nonzero(out[..., 0]) == 1
    assert np.count_nonzero(inpainter(image, torch.from_numpy(float_mask), threshold=0.25)[..., 0]) == 3
    int_mask = np.zeros((6, 6), np.int64)
    int_mask[1, 1] = 1  # uint8/int: nonzero = hole
    assert np.count_nonzero(inpainter(image, int_mask)[..., 0]) == 1
    rgb_mask = Image.fromarray(np.dstack([hole_mask(6, 6, (2, 4, 2, 4))] * 3))
    assert np.count_nonzero(inpainter(image, rgb_mask)[..., 0]) == 4
    one_mask_for_batch = torch.zeros(6, 6, dtype=torch.bool)
    one_mask_for_batch[3, 3] = True
    out = inpainter(torch.zeros(2, 3, 6, 6), one_mask_for_batch)
    assert out[:, :, 3, 3].eq(0.25).all() and out.count_nonzero() == 6


def test_empty_mask_returns_an_unchanged_copy_and_a_whole_picture_mask_is_an_error():
    model = ConstantModel()
    inpainter = Inpainter(model, device="cpu")
    image = np.random.default_rng(2).random((10, 12, 3))
    out = inpainter(image, np.zeros((10, 12)))
    assert np.array_equal(out, image) and out is not image and model.calls == []
    with pytest.raises(ValueError, match="mask covers all of the picture.*nothing|no known pixel.*inverted"):
        inpainter(image, np.ones((10, 12)))
    masks = torch.zeros(2, 1, 10, 12)
    masks[1] = 1
    with pytest.raises(ValueError, match=r"covers all of picture\(s\) \[1\]"):
        inpainter(torch.from_numpy(image).permute(2, 0, 1).expand(2, -1, -1, -1).float(), masks)
    speck = np.zeros((10, 12))
    speck[5, 6] = 1
    with pytest.raises(ValueError, match=r"grown by dilate=20 px covers all of the picture.*smaller dilate"):
        inpainter(image, speck, dilate=20)  # the dilation, not the mask, filled it: the message says so
    one_known = np.ones((10, 12))
    one_known[9, 11] = 0
    with pytest.raises(ValueError, match="no known pixel"):  # dilation can swallow the last known pixel
        inpainter(image, one_known, dilate=1)
    assert model.calls == []


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_rgba_mask_drawn_in_its_alpha_channel_is_used(mode):
    """A mask painted on a transparent layer (colour all 0, alpha = the strokes) is read from its alpha;
    a mask with colour uses the colour; an opaque black mask (uniform alpha) is empty."""
    image = np.zeros((8, 8, 3), np.float32)
    channels = 4 if mode == "RGBA" else 2
    layer = np.zeros((8, 8, channels), np.uint8)
    layer[2:4, 3:6, -1] = 255
    out = constant_inpainter()(image, Image.fromarray(layer, mode))
    assert np.array_equal(out[..., 0] == 0.25, layer[..., -1] > 0)
    coloured = np.zeros((8, 8, channels), np.uint8)
    coloured[..., -1] = 255
    coloured[5, 5, 0] = 1  # a faint colour is a hole too (nonzero)
    out = constant_inpainter()(image, Image.fromarray(coloured, mode))
    assert np.argwhere(out[..., 0] == 0.25).tolist() == [[5, 5]]
    coloured[5, 5, 0] = 0
    assert np.array_equal(constant_inpainter()(image, Image.fromarray(coloured, mode)), image)
    assert np.array_equal(constant_inpainter()(image, layer)[..., 0] == 0.25, layer[..., -1] > 0)  # numpy too


def test_load_rejects_none_urls_and_warns_about_another_resolution(tmp_path):
    with pytest.raises(TypeError, match="name_or_path must be a registry name.*got NoneType"):
        load(None)
    with pytest.raises(ValueError, match=r"not the URL 'https://example.org/m.safetensors'; download"):
        load("https://example.org/m.safetensors")
    with pytest.raises(ValueError, match="is empty"):
        load("  ")
    _, path = _save_generator(tmp_path)
    with pytest.warns(UserWarning, match=r"trained at 32 px but runs at resolution=64"):
        load(path, device="cpu", resolution=64)


def test_dilate_grows_the_hole_by_n_pixels():
    image = np.zeros((20, 20, 3), np.float32)
    mask = hole_mask(20, 20, (8, 10, 8, 10))
    out = constant_inpainter()(image, mask, dilate=2)
    filled = out[..., 0] == 0.25
    expected = np.zeros((20, 20), bool)
    expected[6:12, 6:12] = True
    assert np.array_equal(filled, expected)
    with pytest.raises(ValueError, match="dilate must be an int >= 0"):
        constant_inpainter()(image, mask, dilate=-1)


# ---------------------------------------------------------------- the inference plan
def _coverage(windows, shape):
    covered = torch.zeros(shape, dtype=torch.int32)
    for win in windows:
        assert 0 <= win.top and win.top + win.height <= shape[0] and 0 <= win.left and win.left + win.width <= shape[1]
        covered[win.top : win.top + win.height, win.left : win.left + win.width] += torch.from_numpy(win.fill).to(torch.int32)
    return covered


def test_small_hole_in_large_photo_runs_one_window_at_full_scale():
    model = ConstantModel()
    inpainter = Inpainter(model, device="cpu")
    image = np.zeros((3000, 4000, 3), np.uint8)
    image[:, :, 0] = np.arange(4000, dtype=np.uint16)[None, :] % 251  # a horizontal pattern
    out = inpainter(image, hole_mask(3000, 4000, (1500, 1505, 2000, 2008)))
    assert len(model.calls) == 1
    shape, seen, seen_mask = model.calls[0]
    margin = R // 4  # the hole (thickness 6) is thinner than the minimum margin of context
    assert shape == (1, 3, 5 + 2 * margin, 8 + 2 * margin)
    assert seen_mask.sum() == 5 * 8  # the hole at 1:1 scale, nothing resized
    row = (seen[0, 0, 0] * 255).round().to(torch.int64)
    assert torch.all((row[1:] - row[:-1]) % 251 == 1)  # consecutive columns of the photo, unscaled
    assert np.all(out[1500:1505, 2000:2008, 0] == 64)


def test_far_apart_holes_get_a_window_each_and_spread_specks_run_the_whole_picture_at_full_scale():
    hole = torch.zeros(300, 400, dtype=torch.bool)
    hole[5:9, 5:9] = True
    hole[290:295, 390:396] = True
    windows = plan_windows(hole, 0, R)
    assert [(w.top, w.left, w.scale) for w in windows] == [(0, 0, 1.0), (282, 382, 1.0)]
    assert torch.equal(_coverage(windows, hole.shape), hole.to(torch.int32))
    spread = torch.zeros(300, 400, dtype=torch.bool)
    spread[::20, ::20] = True  # 300 specks everywhere
    (whole,) = plan_windows(spread, 0, R, max_window=400)
    assert (whole.top, whole.left, whole.height, whole.width, whole.scale) == (0, 0, 300, 400, 1.0)
    model = ConstantModel()
    Inpainter(model, device="cpu", max_window=400)(torch.zeros(1, 3, 300, 400), spread[None, None])
    assert [c[0] for c in model.calls] == [(1, 3, 300, 400)]  # full scale: specks are thin


def test_many_holes_batch_more_windows_instead_of_downscaling_the_picture():
    hole = torch.zeros(2000, 2000, dtype=torch.bool)
    for i in range(6):
        for j in range(6):
            hole[40 + 330 * i : 44 + 330 * i, 40 + 330 * j : 46 + 330 * j] = True  # 36 small far-apart holes
    windows = plan_windows(hole, 0, R)
    assert len(windows) == 36 and {w.scale for w in windows} == {1.0}
    model = ConstantModel()
    out = Inpainter(model, device="cpu", batch_size=8)(torch.zeros(1, 3, 2000, 2000), hole[None, None])
    assert [c[0][0] for c in model.calls] == [8, 8, 8, 8, 4]  # same-size windows batched, all at full scale
    assert torch.all(out[0, 0][hole] == 0.25) and torch.all(out[0, 0][~hole] == 0)


def test_thick_holes_are_downscaled_and_thin_strokes_beside_them_are_not():
    hole = torch.zeros(200, 200, dtype=torch.bool)
    hole[20:84, 20:84] = True  # 64 px thick, 4x max_hole (R // 2 = 16)
    hole[150:152, :] = True  # a thin stroke across the picture
    windows = plan_windows(hole, 0, R)
    scales = sorted(w.scale for w in windows)
    assert scales[0] == pytest.approx(0.25) and scales[-1] == 1.0
    assert torch.equal(_coverage(windows, hole.shape), hole.to(torch.int32))
    stroke = [w for w in windows if w.scale == 1.0]
    assert sum(int(w.fill.sum()) for w in stroke) == 2 * 200  # the stroke alone runs at full scale
    model = ConstantModel()
    Inpainter(model, device="cpu")(torch.zeros(1, 3, 200, 200), hole[None, None])
    assert sorted(c[0][-2:] for c in model.calls) == [(18, 200), (50, 50)]  # stroke 1:1, square hole at 1/4


def test_strategies_original_resize_and_crop():
    hole = torch.zeros(300, 400, dtype=torch.bool)
    hole[100:200, 100:200] = True
    (orig,) = plan_windows(hole, 0, R, strategy="original")
    assert (orig.height, orig.width, orig.scale) == (300, 400, 1.0)
    (resized,) = plan_windows(hole, 0, R, strategy="resize")
    assert resized.model_size == (24, 32)  # the longer side at the resolution
    crops = plan_windows(hole, 0, R, strategy="crop")
    assert {w.scale for w in crops} == {1.0}
    auto = plan_windows(hole, 0, R, strategy="auto")
    assert max(w.scale for w in auto) < 1.0  # 100 px thick > max_hole = 16
    with pytest.raises(ValueError, match="strategy must be one of"):
        plan_windows(hole, 0, R, strategy="tile")
    with pytest.raises(ValueError, match="strategy must be one of"):
        constant_inpainter()(np.zeros((4, 4, 3)), np.ones((4, 4)), strategy="fast")


@settings(max_examples=60, deadline=None)
@given(
    h=st.integers(1, 120),
    w=st.integers(1, 120),
    boxes=st.lists(
        st.tuples(st.integers(0, 119), st.integers(1, 60), st.integers(0, 119), st.integers(1, 60)),
        max_size=6,
    ),
    strategy=st.sampled_from(["auto", "original", "crop", "resize"]),
)
def test_windows_cover_every_hole_pixel_exactly_once(h, w, boxes, strategy):
    hole = torch.zeros(h, w, dtype=torch.bool)
    for t, dh, l, dw in boxes:
        hole[t : t + dh, l : l + dw] = True
    windows = plan_windows(hole, 0, 16, strategy=strategy, max_window=40)
    assert torch.equal(_coverage(windows, hole.shape), hole.to(torch.int32))
    assert all(0 < win.scale <= 1 for win in windows)


def test_window_values_match_a_full_bilinear_resize():
    g = torch.Generator().manual_seed(3)
    output = torch.rand(3, R, R, generator=g)
    fill = torch.rand(45, 70, generator=g) > 0.7
    reference = F.interpolate(output[None, :, :20, :31], size=(45, 70), mode="bilinear", align_corners=False)[
        0
    ]
    values = window_values(output, (20, 31), fill)
    assert values.shape == (3, int(fill.sum())) and torch.allclose(values, reference[:, fill], atol=1e-5)
    assert window_values(output, (20, 31), torch.zeros(45, 70, dtype=torch.bool)).shape == (3, 0)
    same_size = torch.rand(20, 31, generator=g) > 0.5  # no resize: exactly the model's pixels
    assert torch.equal(window_values(output, (20, 31), same_size), output[:, :20, :31][:, same_size])


def test_dilate_hole_matches_a_reference_max_filter():
    hole = torch.zeros(12, 12, dtype=torch.bool)
    hole[0, 0] = hole[6, 7] = True
    grown = dilate_hole(hole.numpy(), 1)
    reference = F.max_pool2d(hole[None, None].float(), 3, stride=1, padding=1)[0, 0] > 0
    assert np.array_equal(grown, reference.numpy())


def test_tiny_pictures_are_padded_not_crashed_on():
    model = ConstantModel()
    out = Inpainter(model, device="cpu")(np.zeros((1, 2), np.uint8), np.array([[1, 0]], np.uint8))
    assert out.shape == (1, 2) and out.tolist() == [[64, 0]] and model.calls[0][0] == (1, 3, 1, 2)


def test_real_generator_runs_on_odd_sizes_and_keeps_known_pixels():
    torch.manual_seed(0)
    inpainter = Inpainter(create_generator("unet.tiny"), device="cpu", resolution=R)
    image = np.random.default_rng(4).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    mask = hole_mask(37, 53, (10, 20, 15, 30))
    out = inpainter(image, mask)
    assert np.array_equal(out[mask == 0], image[mask == 0])
    assert inpainter(image, mask).tobytes() == out.tobytes()  # deterministic


def test_value_range_minus_one_to_one_is_converted():
    class SignedModel(ConstantModel):
        def forward(self, image, mask):
            assert image.min() >= -1 and (image < 0).any()
            return composite(torch.full_like(image, -0.5), image, mask)

    mask = np.ones((4, 4))
    mask[0, 0] = 0
    out = Inpainter(SignedModel(), device="cpu", value_range=(-1.0, 1.0))(np.full((4, 4, 3), 0.1), mask)
    np.testing.assert_allclose(out[mask == 1], 0.25)  # (-0.5 + 1) / 2


# ---------------------------------------------------------------- bad input
def test_bad_inputs_raise_clear_errors():
    inpainter = constant_inpainter()
    image = np.zeros((8, 8, 3), np.float32)
    with pytest.raises(ValueError, match=r"mask size \(8, 9\).*does not match the image size \(8, 8\)"):
        inpainter(image, np.zeros((8, 9)))
    with pytest.raises(ValueError, match="C = 1..4"):
        inpainter(torch.zeros(5, 8, 8), torch.zeros(8, 8))
    with pytest.raises(ValueError, match="HxW or HxWxC"):
        inpainter(np.zeros((2, 8, 8, 3)), np.zeros((8, 8)))
    nan_image = image.copy()
    nan_image[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="image contains NaN"):
        inpainter(nan_image, np.zeros((8, 8)))
    with pytest.raises(ValueError, match="mask contains NaN"):
        inpainter(image, np.full((8, 8), np.nan))
    with pytest.raises(ValueError, match=r"\[0,1\].*divide 0-255 values by 255"):
        inpainter(image + 200, np.zeros((8, 8)))
    with pytest.raises(TypeError, match="PIL.Image, a numpy array or a torch.Tensor"):
        inpainter([[0.0]], np.zeros((8, 8)))
    with pytest.raises(ValueError, match="mask is on meta but the image is on cpu"):
        inpainter(torch.zeros(3, 8, 8), torch.zeros(8, 8, device="meta"))
    with pytest.raises(ValueError, match="2 masks for 3 pictures"):
        inpainter(torch.zeros(3, 3, 8, 8), torch.zeros(2, 1, 8, 8))


@pytest.mark.gpu
def test_cuda_model_with_cuda_and_cpu_tensors(tmp_path):
    _, path = _save_generator(tmp_path)
    inpainter = load(path, device="cuda")
    assert inpainter.device.type == "cuda" and next(inpainter.model.parameters()).is_cuda
    image = torch.rand(2, 3, 40, 50)
    mask = torch.zeros(2, 1, 40, 50)
    mask[..., 10:20, 5:25] = 1
    for device in ("cpu", "cuda"):
        out = inpainter(image.to(device), mask.to(device))
        assert out.device.type == device
        assert torch.equal(out.cpu()[(mask == 0).expand_as(image)], image[(mask == 0).expand_as(image)])
    with pytest.raises(ValueError, match="mask is on cpu but the image is on cuda"):
        inpainter(image.cuda(), mask)


def test_unknown_name_and_unavailable_device():
    with pytest.raises(KeyError, match=r"no checkpoint named 'monet-nope'.*known names"):
        load("monet-nope", device="cpu")
    with pytest.raises(ValueError, match="not a valid torch device"):
        load("monet-nope", device="gpu-please")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available.*device='cpu'"):
            Inpainter(ConstantModel(), device="cuda")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load("no/such/file.safetensors")


# ---------------------------------------------------------------- load()
def _save_generator(tmp_path, name="mine"):
    torch.manual_seed(1)
    model = create_generator("unet.tiny")
    path = save_weights(
        model.state_dict(),
        tmp_path / f"{name}.safetensors",
        "unet.tiny",
        metadata={"resolution": R},
    )
    return model, path


def test_load_local_safetensors_and_lightning_checkpoint(tmp_path):
    model, path = _save_generator(tmp_path)
    inpainter = load(path, device="cpu")
    assert inpainter.name == "mine" and inpainter.entry is None and inpainter.device == torch.device("cpu")
    assert inpainter.resolution == R
    for key, value in model.state_dict().items():
        assert torch.equal(inpainter.model.state_dict()[key], value)

    ema = create_generator("unet.tiny")
    ckpt = {
        "state_dict": {
            **{f"generator.{k}": v for k, v in model.state_dict().items()},
            **{f"generator_ema.{k}": v for k, v in ema.state_dict().items()},
        },
        "inpaintlab": {
            "task": "inpaint",
            "arch": "unet.tiny",
            "image_size": 48,
            "mask_kind": "center",
            "style": "photo",
        },
    }
    torch.save(ckpt, tmp_path / "last.ckpt")
    from_ckpt = load(tmp_path / "last.ckpt", device="cpu")
    assert from_ckpt.name == "last" and from_ckpt.resolution == 48
    assert all(torch.equal(from_ckpt.model.state_dict()[k], v) for k, v in ema.state_dict().items())


def test_load_file_without_arch_is_a_clear_error(tmp_path):
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, tmp_path / "bare.safetensors")
    with pytest.raises(ValueError, match="architecture is unknown"):
        load(tmp_path / "bare.safetensors", device="cpu")


def test_load_by_registry_name_uses_the_verified_cache(tmp_path, monkeypatch):
    _, path = _save_generator(tmp_path, "monet-blocks")
    entry = {
        "description": "tiny test generator",
        "style": "monet",
        "mask": "blocks",
        "arch": "unet.tiny",
        "resolution": R,
        "file": "monet-blocks.safetensors",
        "sha256": sha256_file(path),
        "bytes": path.stat().st_size,
        "urls": ["http://127.0.0.1:9/monet-blocks.safetensors"],
        "license": "Apache-2.0",
        "recipe": {"config": "examples/configs/tiny.yaml", "data": "none"},
    }
    registry = tmp_path / "reg.yaml"
    registry.write_text(yaml.safe_dump({"checkpoints": {"monet-blocks": entry}}))
    monkeypatch.setenv("INPAINTLAB_REGISTRY", str(registry))
    monkeypatch.setenv("INPAINTLAB_OFFLINE", "1")
    cached = cache_dir() / entry["sha256"] / "monet-blocks.safetensors"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(path.read_bytes())
    inpainter = load("monet-blocks", device="cpu")
    assert inpainter.name == "monet-blocks" and inpainter.entry.style == "monet" and inpainter.resolution == R
    assert load(path, device="cpu").entry == inpainter.entry  # a local copy of a registry file is recognised
    assert isinstance(load_model("monet-blocks"), nn.Module)


def test_load_dispatches_on_the_task(tmp_path, monkeypatch):
    """A registry entry's task decides the wrapper (and must match its architecture's role); a loose file
    does what its preset's role does."""
    from inpaintlab.api import Stylizer
    from inpaintlab.models import build_model

    translator = build_model("resnet.tiny")
    path = save_weights(translator.state_dict(), tmp_path / "p2m.safetensors", "resnet.tiny", metadata={"resolution": 16})
    stylizer = load(path, device="cpu")
    assert isinstance(stylizer, Stylizer) and stylizer.resolution == 16 and stylizer.name == "p2m"
    entry = {
        "description": "tiny translator", "task": "stylize", "style": "monet", "mask": None, "arch": "resnet.tiny",
        "resolution": 16, "file": "p2m.safetensors", "sha256": sha256_file(path), "bytes": path.stat().st_size,
        "urls": ["http://127.0.0.1:9/p2m.safetensors"], "license": "Apache-2.0",
        "recipe": {"config": "examples/configs/cyclegan-monet.yaml", "data": "none"},
    }  # fmt: skip
    registry = tmp_path / "reg.yaml"
    wrong = {**entry, "task": "inpaint", "mask": "blocks"}
    registry.write_text(yaml.safe_dump({"checkpoints": {"photo2monet": entry, "p2m-wrong": wrong}}))
    monkeypatch.setenv("INPAINTLAB_REGISTRY", str(registry))
    monkeypatch.setenv("INPAINTLAB_OFFLINE", "1")
    (cache_dir() / entry["sha256"]).mkdir(parents=True, exist_ok=True)
    (cache_dir() / entry["sha256"] / "p2m.safetensors").write_bytes(path.read_bytes())
    named = load("photo2monet", device="cpu")
    assert isinstance(named, Stylizer) and named.entry.task == "stylize" and named.resolution == 16
    with pytest.raises(ValueError, match="the task inpaint but its architecture 'resnet.tiny' is a translator"):
        load("p2m-wrong", device="cpu")
    classifier = save_weights(build_model("style_classifier.tiny").state_dict(), tmp_path / "c.safetensors", "style_classifier.tiny")
    with pytest.raises(ValueError, match="classify checkpoint, not an inpainter.*load_model"):
        load(classifier, device="cpu")
    assert load_model(classifier).__class__.__name__ == "StyleClassifier"


def test_the_api_modules_import_each_other_without_cycles():
    """inpainter / stylizer <- auto <- pretrained: no module imports one that imports it back."""
    import ast

    api = Path(__file__).resolve().parents[1] / "inpaintlab" / "api"
    graph = {}
    for path in api.glob("*.py"):
        if path.name == "__init__.py":
            continue
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("inpaintlab.api."):
                names.add(node.module.rsplit(".", 1)[1])
            elif isinstance(node, ast.Import):
                names |= {a.name.rsplit(".", 1)[1] for a in node.names if a.name.startswith("inpaintlab.api.")}
        graph[path.stem] = names
    assert graph["auto"] >= {"inpainter"} and graph["pretrained"] >= {"auto", "inpainter", "stylizer"}

    def reaches(start, target, seen=()):
        return any(n == target or (n not in seen and reaches(n, target, (*seen, n))) for n in graph.get(start, ()))

    assert not [m for m in graph if reaches(m, m)], graph
    assert "pretrained" not in graph["auto"] and "auto" not in graph["inpainter"]


# ---------------------------------------------------------------- auto routing
def test_auto_routes_each_picture_by_style_and_mask_kind():
    from inpaintlab.masks import mask_kind

    colours = {"photo-center": 0.1, "monet-center": 0.2, "photo-blocks": 0.3, "monet-blocks": 0.4}
    loaded = []

    def loader(name):
        loaded.append(name)
        return constant_inpainter(colours[name])

    def classifier(image):  # bright pictures are "monet" in this stub
        assert image.shape[:2] == (1, 3) and max(image.shape[-2:]) <= 512
        return ["monet" if image.mean() > 0.5 else "photo"]

    auto = AutoInpainter(classifier, loader, mask_kind=mask_kind, device="cpu")
    images = torch.stack(
        [torch.full((3, 32, 32), 0.9), torch.full((3, 32, 32), 0.1), torch.full((3, 32, 32), 0.9)]
    )
    masks = torch.zeros(3, 1, 32, 32)
    masks[0, :, 8:24, 8:24] = 1  # centred square -> center
    masks[1, :, 2:6, 3:9] = 1  # off-centre rectangles -> blocks
    masks[1, :, 20:25, 18:30] = 1
    out = auto(images, masks)
    assert auto.last_models == ["monet-center", "photo-blocks", None]
    assert auto.name == "monet-center+photo-blocks"
    assert torch.all(out[0, :, 8:24, 8:24] == 0.2) and torch.all(out[1, :, 2:6, 3:9] == 0.3)
    assert torch.equal(out[2], images[2])
    auto(images[:1], masks[:1])
    assert loaded == ["monet-center", "photo-blocks"]  # each checkpoint loaded once


def test_auto_without_a_classifier_in_the_registry_says_what_to_do(tmp_path, monkeypatch):
    (tmp_path / "empty.yaml").write_text("checkpoints: {}\n")
    monkeypatch.setenv("INPAINTLAB_REGISTRY", str(tmp_path / "empty.yaml"))
    with pytest.raises(KeyError, match="style-classifier.*pass classifier="):
        load("auto", device="cpu")
    auto = load(
        "auto", device="cpu", classifier=lambda image: "photo", loader=lambda name: constant_inpainter()
    )
    assert isinstance(auto, AutoInpainter) and auto.name == "auto"


# ---------------------------------------------------------------- property test
_CONTAINERS = st.sampled_from(["numpy", "tensor", "pil"])
_CHANNELS = st.sampled_from([0, 1, 3, 4])  # 0: a 2-D (gray) picture


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    container=_CONTAINERS,
    channels=_CHANNELS,
    h=st.integers(1, 40),
    w=st.integers(1, 40),
    dtype=st.sampled_from(["uint8", "float32", "float64"]),
    mask_dtype=st.sampled_from(["bool", "uint8", "float32"]),
    seed=st.integers(0, 2**16),
    density=st.floats(0, 1),
    dilate=st.integers(0, 2),
)
def test_property_same_type_size_and_known_pixels(
    container, channels, h, w, dtype, mask_dtype, seed, density, dilate
):
    rng = np.random.default_rng(seed)
    if container == "pil":
        dtype, channels = "uint8", (channels if channels != 1 else 0)
    shape = (h, w) if channels == 0 else (h, w, channels)
    array = (
        rng.integers(0, 256, shape, dtype=np.uint8) if dtype == "uint8" else rng.random(shape).astype(dtype)
    )
    hole = rng.random((h, w)) < density
    mask = hole.astype(mask_dtype) if mask_dtype != "float32" else np.where(hole, 0.3, 0.0).astype(np.float32)
    if container == "numpy":
        image = array
    elif container == "tensor":
        image = torch.from_numpy(array if channels else array[..., None]).permute(2, 0, 1)
        mask = torch.from_numpy(mask)
    else:
        image = Image.fromarray(array)
    grown = dilate_hole(hole, dilate)
    inpainter = Inpainter(ConstantModel(0.4, native_resolution=None), device="cpu", resolution=16)
    if grown.all():  # nothing left to inpaint from
        with pytest.raises(ValueError, match="no known pixel"):
            inpainter(image, mask, dilate=dilate)
        return
    out = inpainter(image, mask, dilate=dilate)

    assert type(out) is type(image)
    if container == "pil":
        assert out.mode == image.mode and out.size == image.size
        before, after = np.asarray(image), np.asarray(out)
    elif container == "tensor":
        assert out.dtype == image.dtype and out.shape == image.shape
        before, after = image.permute(1, 2, 0).numpy(), out.permute(1, 2, 0).numpy()
    else:
        assert out.dtype == image.dtype and out.shape == image.shape
        before, after = image, out
    assert np.array_equal(after[~grown], before[~grown])
    if grown.any() and channels in (0, 1, 3):  # the fill is the model's colour (gray stays gray)
        np.testing.assert_allclose(after[grown], 102 if dtype == "uint8" else 0.4, atol=1e-6)


def test_a_hole_against_the_border_is_as_thick_as_its_distance_from_the_known_pixels():
    from inpaintlab.api.plan import _components

    hole = np.zeros((100, 100), bool)
    hole[:, :20] = True  # a band along the left border: known pixels only on its right
    ((box, thickness),) = _components(hole, (0, 100, 0, 20))[2]
    assert box == (0, 100, 0, 20) and thickness == pytest.approx(40.0)
    inner = np.zeros((100, 100), bool)
    inner[40:60, 30:50] = True  # the same width away from the border: known on both sides
    ((_, thickness),) = _components(inner, (40, 60, 30, 50))[2]
    assert thickness == pytest.approx(20.0)


def test_a_float16_mask_gives_one_hole_as_array_and_as_tensor():
    """The threshold is compared in float32 for both (numpy alone would round it to float16 first)."""
    from inpaintlab.api.io import to_hole

    mask = np.zeros((4, 4), np.float16)
    mask[:2] = 0.5
    as_array = to_hole(mask, (1, 4, 4), threshold=0.49999)
    as_tensor = to_hole(torch.from_numpy(mask), (1, 4, 4), threshold=0.49999)
    assert torch.equal(as_array, as_tensor) and int(as_array.sum()) == 8
