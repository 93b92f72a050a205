"""ONNX / TorchScript export: the file computes what load(NAME) computes, at any size with --dynamic."""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest
import torch
from conftest import REPO_ROOT
from PIL import Image

from inpaintlab import cli, load
from inpaintlab.export import HALF_TOLERANCE, TOLERANCE, export_model, sample_picture
from inpaintlab.export.formats import HALF_MIN_VALUES, RUNNERS, WRITERS
from inpaintlab.export.graph import InpaintGraph
from inpaintlab.hub import save_weights
from inpaintlab.models import PRESETS, arch_of, create_generator
from inpaintlab.models.prefill import EXPORT_MAX_SIDE, pyramid_fill, pyramid_levels

NAME = "monet-blocks"  # shipped: 64 px U-Net with the harmonic prefill


def monet_picture(height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The shipped Monet painting at (height, width), float (1,3,H,W), and a mask with two holes."""
    with Image.open(REPO_ROOT / "examples" / "assets" / "monet.jpg") as im:
        array = np.asarray(im.convert("RGB").resize((width, height), Image.Resampling.BICUBIC))
    image = torch.from_numpy(array.copy()).permute(2, 0, 1)[None].float() / 255
    mask = torch.zeros(1, 1, height, width)
    mask[..., height // 5 : height // 2, width // 4 : (3 * width) // 5] = 1
    mask[..., (2 * height) // 3 :, : width // 6] = 1
    return image, mask


def reference(inpainter, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """What load(NAME) computes: its full call where the picture is at the native size (one window,
    no rescaling), else its model run at the picture's size and composited like the Inpainter does."""
    if image.shape[-2:] == (inpainter.resolution, inpainter.resolution):
        return inpainter(image, mask)
    hole = mask > 0
    with torch.no_grad():
        out = inpainter.model(torch.where(hole, torch.zeros_like(image), image), hole.float())
    return torch.where(hole, out.clamp(0, 1), image)


# ---------- the prefill inside the graph ----------


# few sweeps: the graph's size grows with them (an export of the shipped solver's 4-32 sweeps takes a minute)
FILL_OPTIONS = {"jacobi": {"smooth_iters": 2}, "sor": {"smooth_iters": 1, "coarse_iters": 4, "over_relaxation": 1.8}}


class Fill(torch.nn.Module):
    """pyramid_fill as a module with the (image, mask) interface the writers export."""

    def __init__(self, **options) -> None:
        super().__init__()
        self.options = options

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return pyramid_fill(image, mask, **self.options)


@pytest.fixture(scope="module")
def exported_fills(tmp_path_factory) -> dict[tuple[str, str], object]:
    """(format, solver) -> the file of pyramid_fill exported on a 17x9 picture (dynamic axes)."""
    folder = tmp_path_factory.mktemp("fills")
    example = sample_picture(17, 9)
    files = {}
    for fmt in ("onnx", "torchscript"):
        if fmt == "onnx" and importlib.util.find_spec("onnxruntime") is None:
            continue
        for solver, options in FILL_OPTIONS.items():
            files[fmt, solver] = folder / f"{solver}.{fmt}"
            WRITERS[fmt](Fill(**options).eval(), example, files[fmt, solver], True)
    return files


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
@pytest.mark.parametrize("solver", FILL_OPTIONS)
def test_the_exported_fill_is_the_fill_at_every_size(exported_fills, fmt, solver):
    """pyramid_fill exports itself: one file, traced at 17x9, fills pictures of other sizes (odd and even,
    1x1 to past the 64 px a 7-level pyramid covers) as the eager fill does."""
    if (fmt, solver) not in exported_fills:
        pytest.skip("the export extra (onnxruntime) is not installed")
    gen = torch.Generator().manual_seed(0)
    for size in [(1, 1), (2, 3), (17, 9), (64, 64), (65, 67), (100, 37)]:
        image = torch.rand(2, 3, *size, generator=gen)
        mask = (torch.rand(2, 1, *size, generator=gen) > 0.6).float()
        got = RUNNERS[fmt](exported_fills[fmt, solver], image, mask)
        torch.testing.assert_close(got, pyramid_fill(image, mask, **FILL_OPTIONS[solver]), rtol=0, atol=1e-5)
        assert torch.equal(got[mask.expand_as(got) == 0], image[mask.expand_as(image) == 0])


def test_levels_fix_the_pyramid_depth():
    image, mask = sample_picture(64, 64)
    assert pyramid_levels(64) == 7 and pyramid_levels(65) == 8 and pyramid_levels(1) == 1
    assert pyramid_levels(EXPORT_MAX_SIDE) == 13
    for options in ({}, {"smooth_iters": 4, "coarse_iters": 32, "over_relaxation": 1.8}):  # Jacobi, SOR
        expected = pyramid_fill(image, mask, **options)
        for levels in (7, 13):  # the depth it needs, and extra 1x1 levels (what an exported graph has)
            got = pyramid_fill(image, mask, **options, levels=levels)
            torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)
    coarse = pyramid_fill(image, mask, levels=3)  # the coarsest level 16x16: a blockier fill
    assert (coarse - pyramid_fill(image, mask)).abs().max() > 1e-3
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="levels must be"):
            pyramid_fill(image, mask, levels=bad)


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
def test_a_traced_half_precision_fill_and_its_gradient_are_finite():
    """The exported path divides by the dtype's smallest normal number too (1e-12 is 0 in float16: NaN)."""
    image, mask = sample_picture(20, 24)
    traced = torch.jit.trace(Fill(**FILL_OPTIONS["jacobi"]), (image.half(), mask.half()), check_trace=False)
    image = image.half().requires_grad_()
    filled = traced(image, mask.half())
    assert filled.dtype == torch.float16 and torch.isfinite(filled).all()
    eager = pyramid_fill(image.detach().float(), mask, **FILL_OPTIONS["jacobi"])
    torch.testing.assert_close(filled.float(), eager, rtol=0, atol=1e-2)
    filled.sum().backward()
    assert torch.isfinite(image.grad).all()


def test_graph_is_the_inpainters_fill_at_the_native_size():
    inpainter = load(NAME, device="cpu", texture=False)  # the graph is the network; texture runs after it
    image, mask = monet_picture(64, 64)
    with torch.no_grad():
        got = InpaintGraph(inpainter.model, inpainter.value_range)(image, mask)
    assert torch.equal(got, inpainter(image, mask))  # bit-identical, known pixels included
    with pytest.raises(ValueError, match="value_range"):
        InpaintGraph(inpainter.model, (0, 255))


# ---------- the files, against load(NAME) ----------


@pytest.mark.slow  # one dynamic export each (~15-30 s on 2 loaded cores)
@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_dynamic_export_matches_load_at_two_sizes(tmp_path, capsys, fmt):
    if fmt == "onnx":
        pytest.importorskip("onnxruntime", reason="the export extra is not installed")
    path = tmp_path / f"{NAME}.{fmt}"
    assert cli.main(["export", NAME, "--format", fmt, "--dynamic", "-o", str(path)]) == 0
    printed = capsys.readouterr().out
    assert str(path) in printed and "max |" in printed and f"tolerance {TOLERANCE:g}" in printed
    inpainter = load(NAME, device="cpu", texture=False)  # the graph is the network; texture runs after it
    diffs = {}
    for size in [(64, 64), (96, 80)]:  # the native size (load's own call), and another
        image, mask = monet_picture(*size)
        expected = reference(inpainter, image, mask)
        got = RUNNERS[fmt](path, image, mask)
        assert got.shape == image.shape
        diffs[size] = float((got - expected).abs().max())
        assert torch.equal(got[mask.expand_as(got) == 0], image[mask.expand_as(image) == 0])  # known: exact
        assert (got - image).abs()[mask.expand_as(got) > 0].mean() > 1e-3  # the hole was filled
    batch = torch.cat([monet_picture(48, 72)[0]] * 2), torch.cat([monet_picture(48, 72)[1]] * 2)
    assert RUNNERS[fmt](path, *batch).shape == (2, 3, 48, 72)
    print(f"{fmt} vs load({NAME!r}): max abs difference {diffs} (tolerance {TOLERANCE:g})")
    assert max(diffs.values()) <= TOLERANCE, diffs


TINY = sorted(n for n, p in PRESETS.items() if p.role == "generator" and n.endswith(".tiny")) + [
    "unet.tiny+prefill",
    "dilated_unet.tiny+sor",
    "dilated_unet.tiny+sor_fine",
    "dilated_unet.tiny+sor_fine_mid",
]
VARIANTS = {
    "": {},
    "prefill": {"prefill": "pyramid"},
    "sor": {"prefill_solver": "sor"},
    "sor_fine": {"prefill_solver": "sor", "fine_dilations": [1, 2]},
    "sor_fine_mid": {"prefill_solver": "sor", "fine_dilations": [1, 2], "mid_dilations": [1, 2]},
}


@pytest.mark.parametrize("preset", TINY)
def test_every_generator_exports(tmp_path, preset):
    """Generic over the zoo's generators: each tiny preset exports and passes the export's own check."""
    pytest.importorskip("onnxruntime", reason="the export extra is not installed")
    name, _, extra = preset.partition("+")
    torch.manual_seed(0)
    generator = create_generator(name, **VARIANTS[extra])
    if getattr(generator, "prefill_gate", None) is not None:
        generator.prefill_gate.data.fill_(0.5)  # an untrained gate of 0 would hide the network
    for block in [*getattr(generator, "fine_blocks", ()), *getattr(generator, "mid_blocks", ())]:
        block.mix.weight.data.normal_(0, 0.1)  # so would added blocks at their identity start
    weights = save_weights(
        generator.state_dict(), tmp_path / f"{name}.safetensors",
        arch_of(generator), metadata={"resolution": getattr(generator, "image_size", None) or 32},
    )  # fmt: skip
    fixed = getattr(generator, "image_size", None) is not None  # the context encoder takes one size only
    for fmt in ("onnx", "torchscript"):
        result = export_model(weights, tmp_path / f"out.{fmt}", fmt, dynamic=not fixed, overwrite=True)
        assert result.path.is_file() and result.bytes == result.path.stat().st_size
        assert len(result.max_abs_diff) == (1 if fixed else 3)  # dynamic: also checked at 5x3, below the stride
        assert max(result.max_abs_diff.values()) <= TOLERANCE
    if fixed:
        with pytest.raises(ValueError, match="without --dynamic"):
            export_model(weights, tmp_path / "dyn.onnx", "onnx", dynamic=True)


def test_half_weights_store_float16_and_compute_within_half_a_grey_level(tmp_path, capsys):
    pytest.importorskip("onnxruntime", reason="the export extra is not installed")
    onnx = pytest.importorskip("onnx")
    torch.manual_seed(0)
    arch = {"preset": "dilated_unet.tiny", "args": {"channels": [8, 16, 16, 32]}}  # layers of >= 1024 weights
    generator = create_generator(arch["preset"], **arch["args"])
    generator.prefill_gate.data.fill_(0.5)
    weights = save_weights(generator.state_dict(), tmp_path / "tiny.safetensors", arch, metadata={"resolution": 32})
    full = export_model(weights, tmp_path / "full.onnx", "onnx", dynamic=True)
    half_path = tmp_path / "half.onnx"
    assert cli.main(["export", str(weights), "--format", "onnx", "--dynamic", "--half-weights", "-o", str(half_path)]) == 0
    assert f"tolerance {HALF_TOLERANCE:g}" in capsys.readouterr().out
    model = onnx.load(str(half_path))
    big = [i for i in model.graph.initializer if np.prod(i.dims) >= HALF_MIN_VALUES]
    assert big and all(i.data_type == onnx.TensorProto.FLOAT16 for i in big)
    full_weights = sum(4 * int(np.prod(i.dims)) for i in onnx.load(str(full.path)).graph.initializer if np.prod(i.dims) >= HALF_MIN_VALUES)
    assert full.bytes - half_path.stat().st_size >= 0.45 * full_weights  # each big weight tensor takes half the bytes
    image, mask = sample_picture(45, 61, seed=3)
    a, b = RUNNERS["onnx"](full.path, image, mask), RUNNERS["onnx"](half_path, image, mask)
    assert 0 < float((a - b).abs().max()) <= HALF_TOLERANCE  # float16 weights: close, not identical
    assert torch.equal(b[mask.expand_as(b) == 0], image[mask.expand_as(image) == 0])  # known pixels exact
    with pytest.raises(ValueError, match="half_weights is for ONNX"):
        export_model(weights, tmp_path / "x.pt", "torchscript", half_weights=True)


# ---------- errors ----------


def test_export_errors(tmp_path, capsys):
    with pytest.raises(ValueError, match="onnx, torchscript"):
        export_model(NAME, tmp_path / "x", "tflite")
    with pytest.raises(ValueError, match="named model"):
        export_model("auto", tmp_path / "x.onnx")
    with pytest.raises(KeyError):
        export_model("no-such-model", tmp_path / "x.onnx")
    with pytest.raises(ValueError, match="not an inpainter"):
        export_model("style-classifier", tmp_path / "x.onnx")
    existing = tmp_path / "taken.pt"
    existing.write_bytes(b"keep me")
    assert cli.main(["export", NAME, "--format", "torchscript", "-o", str(existing)]) == 1
    assert "--force" in capsys.readouterr().err
    assert existing.read_bytes() == b"keep me"
    assert cli.main(["export", "nope", "--format", "onnx"]) == 1
    assert "nope" in capsys.readouterr().err
    assert cli.main(["export", NAME, "--dynamic"]) == 1  # without --format: the safetensors export
    assert "go with --format" in capsys.readouterr().err
    assert cli.main(["export", NAME, "--format", "tflite"]) == 2  # argparse: invalid choice


def test_onnx_export_without_the_extra_says_what_to_install_before_any_work(tmp_path, monkeypatch, capsys):
    """A plain `pip install inpaintlab` has no onnx: one line naming the extra, before the model is traced."""
    import sys
    from types import SimpleNamespace

    import inpaintlab.export

    traced = []
    written = SimpleNamespace(summary=lambda: "wrote x.pt")
    monkeypatch.setattr(inpaintlab.export, "export_model", lambda *a, **k: traced.append(a) or written)
    monkeypatch.setitem(sys.modules, "onnx", None)  # find_spec("onnx") is None: not installed
    assert cli.main(["export", NAME, "--format", "onnx", "-o", str(tmp_path / "x.onnx")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'inpaintlab[export]'" in err
    assert traced == [] and not (tmp_path / "x.onnx").exists()
    assert cli.main(["export", NAME, "--format", "torchscript", "-o", str(tmp_path / "x.pt")]) == 0
    assert len(traced) == 1  # TorchScript needs no onnx


def test_a_file_that_fails_its_check_replaces_nothing(tmp_path, monkeypatch):
    target = tmp_path / "model.pt"
    target.write_bytes(b"the previous export")
    monkeypatch.setitem(RUNNERS, "torchscript", lambda path, image, mask: image + 1)  # a wrong graph
    with pytest.raises(ValueError, match="differs from the PyTorch model"):
        export_model(NAME, target, "torchscript", overwrite=True)
    assert target.read_bytes() == b"the previous export"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]  # no temporary file left


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_an_export_gets_the_umask_mode_not_0600(tmp_path):
    """An export replacing a file is readable as any new file is (it was 0600: tempfile.mkstemp's mode)."""
    weights = save_weights(create_generator("unet.tiny").state_dict(), tmp_path / "w.safetensors", "unet.tiny")
    target = tmp_path / "model.pt"
    target.write_bytes(b"the previous export")
    old = os.umask(0o022)
    try:
        result = export_model(weights, target, "torchscript", overwrite=True)
    finally:
        os.umask(old)
    assert target.stat().st_mode & 0o777 == 0o644 and result.bytes == target.stat().st_size
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt", "w.safetensors"]
