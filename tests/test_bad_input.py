"""Bad input at scale: generated pictures, masks and files thrown at ``load(...)(img, mask)`` and at the
CLI's file reading (hypothesis, derandomized so every run checks the same cases).

Every outcome must be a correct result (same type, size and dtype; known pixels bit-identical; fills
finite and in range) or a documented exception (``ValueError``, ``TypeError``, ``KeyError``,
``FileNotFoundError``) whose message names the argument; never another exception, a hang (each case
has a deadline) or a changed known pixel. The number of cases is asserted (the README reports it).
"""

from __future__ import annotations

import io
import tempfile
import warnings
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from inpaintlab import load
from inpaintlab.api.io import read_picture, to_hole
from inpaintlab.api.plan import dilate_hole
from inpaintlab.cli import main as cli_main
from inpaintlab.hub import save_weights
from inpaintlab.models import create_generator

API_CASES = 700
CLI_CASES = 320
DOCUMENTED = (ValueError, TypeError, KeyError, FileNotFoundError)
SETTINGS = {
    "deadline": timedelta(seconds=30),  # a hang fails the case
    "derandomize": True,
    "database": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}


@pytest.fixture(autouse=True)
def _one_thread():
    """Hundreds of tiny forward passes: one thread, so OpenMP workers do not spin against a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = create_generator("unet.tiny")
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    return save_weights(
        model.state_dict(), path, {"class": "UNetGenerator", "init": model.init_args}, metadata={"resolution": 16}
    )


# ---------------------------------------------------------------- pictures
IMAGE_KINDS = ("numpy", "tensor", "pil")
NUMPY_DTYPES = ("uint8", "uint16", "float16", "float32", "float64", ">f4")
TENSOR_DTYPES = (torch.uint8, torch.float16, torch.bfloat16, torch.float32, torch.float64)
PIL_MODES = ("L", "LA", "RGB", "RGBA", "1", "P", "CMYK")


def _random_pixels(rng, shape, dtype) -> np.ndarray:
    dtype = np.dtype(dtype)
    if dtype.kind == "u":
        return rng.integers(0, np.iinfo(dtype).max + 1, shape, dtype=np.uint64).astype(dtype)
    return rng.random(shape).astype(dtype)


@st.composite
def pictures(draw):
    """(image, n, h, w, valid, why): a picture in one of the accepted forms, or a broken one."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    h, w = draw(st.integers(1, 24)), draw(st.integers(1, 24))
    kind = draw(st.sampled_from(IMAGE_KINDS))
    broken = draw(st.sampled_from([None] * 18 + ["range", "nan", "inf", "dtype", "shape", "type"]))
    n = 1
    if kind == "numpy":
        channels = draw(st.sampled_from([None, 1, 2, 3, 4]))
        shape = (h, w) if channels is None else (h, w, channels)
        image = _random_pixels(rng, shape, draw(st.sampled_from(NUMPY_DTYPES)))
    elif kind == "tensor":
        n = draw(st.sampled_from([None, 1, 2]))
        channels = draw(st.sampled_from([1, 2, 3, 4]))
        image = torch.from_numpy(rng.random((n or 1, channels, h, w)).astype(np.float32))
        dtype = draw(st.sampled_from(TENSOR_DTYPES))
        image = (image * 255).round().to(dtype) if dtype == torch.uint8 else image.to(dtype)
        if n is None:
            image, n = image[0], 1
    else:
        mode = draw(st.sampled_from(PIL_MODES))
        image = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).convert(mode)
    if broken is None:
        return image, n, h, w, True, None
    if broken in ("range", "nan", "inf"):
        array = rng.random((h, w, 3)) * (3 if broken == "range" else 1) - (1 if broken == "range" else 0)
        array[rng.integers(h), rng.integers(w), 0] = {"range": -0.5, "nan": np.nan, "inf": np.inf}[broken]
        return (torch.from_numpy(array).permute(2, 0, 1) if kind == "tensor" else array), 1, h, w, False, "image"
    if broken == "dtype":
        bad = draw(st.sampled_from(["int8", "int32", "bool", "complex64", "uint32"]))
        array = np.zeros((h, w, 3), dtype=bad)
        if kind == "tensor" and bad != "uint32":
            return torch.from_numpy(array).permute(2, 0, 1), 1, h, w, False, "image"
        return array, 1, h, w, False, "image"
    if broken == "shape":
        shape = draw(st.sampled_from([(h, w, 5), (2, 3, h, w), (h,), (0, w, 3), (h, 0)]))
        return np.zeros(shape, np.uint8), 1, h, w, False, "image"
    other = draw(st.sampled_from([None, "picture.png", [[0.5]], 3.0, Image.new("I;16", (w, h)), Image.new("F", (w, h))]))
    return other, 1, h, w, False, "image"


# ---------------------------------------------------------------- masks
MASK_NUMPY = ("bool", "uint8", "int16", "int64", "float16", "float32", "float64", ">f8")
MASK_TENSORS = (torch.bool, torch.uint8, torch.int32, torch.int64, torch.float16, torch.bfloat16, torch.float32)
MASK_FORMS = ("numpy", "numpy-rgb", "numpy-alpha", "tensor", "pil-L", "pil-1", "pil-RGB", "pil-RGBA-alpha",
              "pil-LA-alpha", "pil-P", "pil-I", "pil-F")  # fmt: skip


def _values(rng, hole, dtype, threshold):
    """Mask values: hole pixels above the rule's limit (nonzero, or > threshold), known pixels at or below."""
    dtype = np.dtype(dtype)
    if dtype == bool:
        return hole.copy()
    limit = 0.0 if threshold is None else threshold
    if dtype.kind == "f":
        high = limit + 0.01 + rng.random(hole.shape) * 2
        low = limit - rng.random(hole.shape) * 2 if threshold is not None else np.zeros(hole.shape)
        if threshold is None:  # nonzero = hole, negative values included
            high = np.where(rng.random(hole.shape) < 0.2, -high, high)
        values = np.where(hole, high, low).astype(dtype)
        return np.where(hole & (values == 0), np.asarray(1, dtype), values).astype(dtype)  # fp16 rounding
    top = np.iinfo(dtype).max if dtype.itemsize <= 2 else 1000
    limit_int = int(np.floor(limit))
    high = rng.integers(limit_int + 1, top + 1, hole.shape)
    low = rng.integers(0, limit_int + 1, hole.shape) if threshold is not None else np.zeros(hole.shape, int)
    return np.where(hole, high, low).astype(dtype)


@st.composite
def masks(draw, n, h, w):
    """(mask, threshold, expected hole (N,H,W) or None for an expected error, why)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    form = draw(st.sampled_from(MASK_FORMS))
    density = draw(st.sampled_from([0.0, 0.05, 0.3, 0.7, 1.0]))
    hole = rng.random((h, w)) < density
    threshold = draw(st.sampled_from([None, None, 0.5, 100.0]))
    integer_threshold = None if threshold is None else float(int(threshold))
    broken = draw(st.sampled_from([None] * 24 + ["size", "nan", "shape", "type", "threshold", "count"]))
    if broken == "size":
        return np.zeros((h + 1, w), np.uint8), None, None, "mask"
    if broken == "nan":
        mask = hole.astype(np.float32)
        mask[0, 0] = np.nan
        return (torch.from_numpy(mask) if draw(st.booleans()) else mask), None, None, "mask"
    if broken == "shape":
        return draw(st.sampled_from([np.zeros((h, w, 5)), np.zeros((2, 2, h, w)), torch.zeros(3, h, w)])), None, None, "mask"
    if broken == "type":
        return draw(st.sampled_from([None, "mask.png", [[1, 0]], np.zeros((h, w), complex), np.array([["a"] * w] * h)])), None, None, "mask"
    if broken == "threshold":
        return hole.astype(np.uint8), draw(st.sampled_from(["0.5", float("nan"), True, [1]])), None, "threshold"
    if broken == "count":
        return torch.zeros(n + 1, 1, h, w), None, None, "mask"

    if form == "numpy":
        dtype = draw(st.sampled_from(MASK_NUMPY))
        t = threshold if np.dtype(dtype).kind == "f" else integer_threshold
        if np.dtype(dtype) == bool:
            t = None
        mask = _values(rng, hole, dtype, t)
    elif form == "numpy-rgb":
        channels = draw(st.sampled_from([1, 3]))
        t = integer_threshold
        mask = np.stack([_values(rng, np.zeros_like(hole), "uint8", t) for _ in range(channels)], axis=-1)
        which = rng.integers(0, channels, hole.shape)
        high = _values(rng, np.ones_like(hole), "uint8", t)
        for c in range(channels):
            mask[..., c] = np.where(hole & (which == c), high, mask[..., c])
    elif form == "numpy-alpha":
        channels = draw(st.sampled_from([2, 4]))
        t = integer_threshold
        mask = np.zeros((h, w, channels), np.uint8)
        mask[..., -1] = _values(rng, hole, "uint8", t)
    elif form == "tensor":
        dtype = draw(st.sampled_from(MASK_TENSORS))
        t = threshold if dtype.is_floating_point else integer_threshold
        if dtype == torch.bool:
            t = None
        if dtype == torch.bfloat16 and t is not None:
            t = float(torch.tensor(t, dtype=torch.bfloat16))
        numpy_dtype = {torch.bfloat16: "float32", torch.bool: "bool"}.get(dtype) or str(dtype).removeprefix("torch.")
        values = _values(rng, hole, numpy_dtype, t)
        mask = torch.from_numpy(values).to(dtype)
        if dtype == torch.bfloat16:  # rounding may move a value onto the threshold: use what it became
            rounded = mask.float().numpy()
            hole = rounded != 0 if t is None else rounded > t
        layout = draw(st.sampled_from(["hw", "1hw", "n1hw"]))
        mask = {"hw": mask, "1hw": mask[None], "n1hw": mask[None, None].expand(n, 1, h, w)}[layout]
    else:
        mode = form.split("-")[1]
        t = threshold if mode == "F" else integer_threshold
        if mode == "1":
            t = None
            mask = Image.fromarray(hole)
        elif mode in ("L", "I", "F"):
            dtype = {"L": "uint8", "I": "int32", "F": "float32"}[mode]
            values = _values(rng, hole, dtype, t)
            mask = Image.fromarray(np.abs(values) if mode == "I" else values)  # L / I / F from the dtype
        elif mode == "RGB":
            values = np.zeros((h, w, 3), np.uint8)
            values[..., rng.integers(3)] = _values(rng, hole, "uint8", t)
            mask = Image.fromarray(values)
        elif mode in ("RGBA", "LA"):
            values = np.zeros((h, w, 4 if mode == "RGBA" else 2), np.uint8)
            values[..., -1] = _values(rng, hole, "uint8", t)
            mask = Image.fromarray(values)  # (h, w, 4) -> RGBA, (h, w, 2) -> LA
        else:  # a palette mask: index 0 is black, every other index a colour (red = index)
            t = integer_threshold
            mask = Image.frombytes("P", (w, h), _values(rng, hole, "uint8", t).tobytes())
            mask.putpalette([v for i in range(256) for v in (i, 0, 0)])
    expected = _expected_hole(mask, hole, t)
    return mask, t, expected, None


def _expected_hole(mask, hole, threshold):
    """The documented rule, written out: an alpha-only mask with a uniform alpha carries no drawing."""
    if isinstance(mask, Image.Image) and mask.mode in ("RGBA", "LA") or (
        isinstance(mask, np.ndarray) and mask.ndim == 3 and mask.shape[2] in (2, 4)
    ):
        alpha = np.asarray(mask)[..., -1]
        if (alpha == alpha.flat[0]).all():
            return np.zeros_like(hole)  # colour empty and alpha uniform: no hole
        return alpha > (0 if threshold is None else threshold)
    return hole


def _as_channels_last(x):
    """(N,H,W,C) numpy view of a picture for pixel comparisons."""
    if isinstance(x, Image.Image):
        a = np.asarray(x)
        return (a if a.ndim == 3 else a[..., None])[None]
    if isinstance(x, torch.Tensor):
        t = x.float() if x.dtype == torch.bfloat16 else x
        t = t if t.ndim == 4 else t[None]
        return t.permute(0, 2, 3, 1).numpy()
    return (x if x.ndim == 3 else x[..., None])[None]


def _check_result(image, out, hole):
    """Same type, size and dtype; known pixels bit-identical; hole values finite and in range."""
    assert type(out) is type(image)
    reference = image
    if isinstance(image, Image.Image):
        if image.mode in ("P", "CMYK"):
            reference = image.convert("RGBA" if image.mode == "P" and "transparency" in image.info else "RGB")
        assert out.mode == reference.mode and out.size == image.size
    else:
        assert out.shape == image.shape and out.dtype == image.dtype
    before, after = _as_channels_last(reference), _as_channels_last(out)
    known = ~hole
    for i in range(after.shape[0]):
        assert np.array_equal(after[i][known[i]], before[i][known[i]])
        if after.dtype.kind == "f":
            values = after[i][hole[i]]
            assert np.isfinite(values).all() and values.min(initial=0) >= 0 and values.max(initial=0) <= 1


@pytest.mark.slow
def test_load_survives_generated_pictures_and_masks(model_file):
    inpainter = load(model_file, device="cpu")
    seen = {"cases": 0, "results": 0, "errors": 0}

    @settings(max_examples=API_CASES, **SETTINGS)
    @given(data=st.data())
    def case(data):
        image, n, h, w, image_ok, image_why = data.draw(pictures())
        mask, threshold, expected, mask_why = data.draw(masks(n, h, w))
        dilate = data.draw(st.sampled_from([0, 0, 0, 0, 0, 1, 1, 2, -1, 1.5]))
        seen["cases"] += 1
        bad_dilate = not (isinstance(dilate, int) and dilate >= 0)
        grown = None
        if expected is not None:
            grown = dilate_hole(expected, dilate) if not bad_dilate and dilate else expected
        whole = grown is not None and grown.all()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # palette / CMYK pictures warn that they come back as RGB
            try:
                out = inpainter(image, mask, dilate=dilate, threshold=threshold)
            except DOCUMENTED as err:
                seen["errors"] += 1
                message = str(err.args[0] if isinstance(err, KeyError) and err.args else err)
                names = [x for x in (image_why, mask_why) if x] + (["dilate"] if bad_dilate else [])
                if not names:
                    assert whole, f"a valid case failed: {type(err).__name__}: {message}"
                    assert "no known pixel" in message
                else:
                    assert any(name in message for name in names), message
                return
        assert image_ok and mask_why is None and not bad_dilate and not whole, "bad input was accepted"
        seen["results"] += 1
        _check_result(image, out, np.broadcast_to(grown, (n, h, w)))

    case()
    print(f"\nload(...)(img, mask): {seen}")
    assert seen["cases"] >= API_CASES and seen["results"] >= API_CASES // 4 and seen["errors"] >= API_CASES // 4


# ---------------------------------------------------------------- files, through the CLI
FORMATS = ("PNG", "JPEG", "BMP", "TIFF", "WEBP", "GIF")
FILE_MODES = ("L", "LA", "RGB", "RGBA", "1", "P", "I;16", "I", "F", "CMYK")


@st.composite
def picture_files(draw, h, w, mask: bool):
    """(bytes or None for a missing file or "folder", good): a picture file, or a broken one."""
    kind = draw(st.sampled_from(["good"] * 6 + ["truncated", "garbage", "empty", "text", "missing", "folder"]))
    if kind in ("missing", "folder"):
        return kind, False
    if kind == "empty":
        return b"", False
    if kind == "text":
        return b"P3\nthis is not a picture\n", False
    if kind == "garbage":
        return draw(st.binary(min_size=1, max_size=200)), False
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    mode = draw(st.sampled_from(("L", "1", "RGB", "RGBA", "LA", "P") if mask else FILE_MODES))
    if mask:
        values = (rng.random((h, w)) < draw(st.sampled_from([0.0, 0.2, 0.6]))).astype(np.uint8) * 255
        picture = Image.fromarray(values).convert(mode)
    else:
        picture = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).convert(mode)
    buffer = io.BytesIO()
    fmt = draw(st.sampled_from(FORMATS))
    for fmt in (fmt, "PNG", "TIFF"):  # the drawn format, else one that can hold this mode
        try:
            buffer = io.BytesIO()
            picture.save(buffer, format=fmt)
            break
        except (OSError, KeyError, ValueError):
            continue
    data = buffer.getvalue()
    if kind == "truncated":
        cut = draw(st.integers(1, max(1, len(data) - 1)))
        return data[:cut], None  # may still decode (a cut in trailing chunks): either outcome is fine
    return data, True


@pytest.mark.slow
def test_cli_survives_generated_picture_files(model_file, capsys):
    seen = {"cases": 0, "written": 0, "refused": 0}

    @settings(max_examples=CLI_CASES, **SETTINGS)
    @given(data=st.data())
    def case(data):
        h, w = data.draw(st.integers(2, 20)), data.draw(st.integers(2, 20))
        image_data, _ = data.draw(picture_files(h, w, mask=False))
        same_size = data.draw(st.sampled_from([True] * 5 + [False]))
        mask_data, _ = data.draw(picture_files(h if same_size else h + 1, w, mask=True))
        seen["cases"] += 1
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            paths = []
            for name, content in (("in.png", image_data), ("mask.png", mask_data)):
                path = folder / name
                if content == "folder":
                    path.mkdir()
                elif content != "missing":
                    path.write_bytes(content)
                paths.append(path)
            out = folder / "out.png"
            capsys.readouterr()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                rc = cli_main(["inpaint", "--model", str(model_file), "--image", str(paths[0]),
                               "--mask", str(paths[1]), "--output", str(out), "--device", "cpu"])  # fmt: skip
            captured = capsys.readouterr()
            if rc == 1:
                seen["refused"] += 1
                lines = captured.err.strip().splitlines()
                assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in captured.err
                assert any(word in lines[0] for word in ("--image", "--mask", "image", "mask")), lines[0]
                assert not out.exists()
                return
            assert rc == 0, captured.err
            seen["written"] += 1
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                picture, mask_picture = read_picture(paths[0]), read_picture(paths[1])
                reference = picture.convert("RGB") if picture.mode in ("P", "CMYK") else picture
                if picture.mode == "P" and "transparency" in picture.info:
                    reference = picture.convert("RGBA")
                hole = to_hole(mask_picture, (1, reference.height, reference.width))[0, 0].numpy()
            result = np.asarray(Image.open(out))
            assert result.shape == np.asarray(reference).shape
            assert np.array_equal(result[~hole], np.asarray(reference)[~hole])

    case()
    print(f"\nCLI file reading: {seen}")
    assert seen["cases"] >= CLI_CASES and seen["written"] >= CLI_CASES // 5 and seen["refused"] >= CLI_CASES // 5
