"""Export an inpainter to ONNX or TorchScript: ``export_model("monet-blocks", format="onnx", dynamic=True)``.

The file holds :class:`~inpaintlab.export.graph.InpaintGraph`: it takes ``image`` (N,3,H,W) float in
[0,1] and ``mask`` (N,1,H,W) float (nonzero = hole) and returns the composited fill (N,3,H,W), with
the generator's harmonic prefill (:func:`~inpaintlab.models.prefill.pyramid_fill`) as graph
operations, and known pixels copied through. It runs the generator at the input's size: for a
picture at the model's native resolution it computes what ``load(name, texture=False)(image, mask)``
computes (which, for other sizes, adds context windows and rescaling around the graph). The texture stage
(:mod:`inpaintlab.texture`) is not in the graph: it runs after it, in both runtimes' front end
(:class:`~inpaintlab.api.onnx_inpainter.OnnxInpainter` runs it for the shipped ONNX files).

Any generator of :mod:`inpaintlab.models` with the interface ``model(image, mask)`` exports; after
writing, the file is run (onnxruntime / ``torch.jit.load``) against the PyTorch model on a test
picture at the traced size and, with ``dynamic``, at a second size, and the largest absolute
difference is reported (:attr:`ExportResult.max_abs_diff`); above :data:`TOLERANCE` the export fails.
The file is written and checked as a temporary file beside the output (:func:`inpaintlab.io.atomic_file`)
that is renamed into place only then: a failed export never leaves a half-written file, and an
existing file is only replaced on request.

    inpaintlab export monet-blocks --format onnx --dynamic            # -> monet-blocks.onnx
    inpaintlab export runs/x/best.ckpt --format torchscript -o x.pt
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from inpaintlab.export.formats import RUNNERS, SUFFIXES, WRITERS, halve_onnx_weights
from inpaintlab.export.graph import InpaintGraph
from inpaintlab.io import atomic_file

FORMATS = tuple(WRITERS)
TINY_CHECK_SIZE = (5, 3)  # a dynamic export is also checked at this size (where the model accepts it)
TOLERANCE = 1e-4  # max |exported - PyTorch| on [0,1] pixels; measured: ~3e-7 (ONNX Runtime), 0 (TorchScript)
HALF_TOLERANCE = 2e-3  # the same with float16 weights (half a grey level); measured: 2e-5 to 2e-4


@dataclass
class ExportResult:
    """What :func:`export_model` wrote and how close the file is to the PyTorch model."""

    path: Path
    format: str
    name: str
    dynamic: bool
    bytes: int
    trace_size: tuple[int, int]
    max_abs_diff: dict[tuple[int, int], float] = field(default_factory=dict)
    seconds: float = 0.0

    def summary(self) -> str:
        checks = ", ".join(f"{h}x{w}: {d:.2g}" for (h, w), d in self.max_abs_diff.items()) or "not checked"
        shape = "any size (dynamic)" if self.dynamic else f"{self.trace_size[0]}x{self.trace_size[1]} only"
        return (
            f"wrote {self.path} ({self.format}, {self.bytes / 2**20:.1f} MiB, {shape}) in {self.seconds:.1f} s; "
            f"max |{self.format} - PyTorch| on a test picture: {checks}"
        )


def sample_picture(height: int, width: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A deterministic picture (1,3,H,W) in [0,1] (gradients + texture) and a mask (1,1,H,W) with two holes."""
    gen = torch.Generator().manual_seed(seed)
    ys = torch.linspace(0, 1, height).view(1, 1, height, 1)
    xs = torch.linspace(0, 1, width).view(1, 1, 1, width)
    base = torch.cat([ys.expand(1, 1, height, width), xs.expand(1, 1, height, width), (ys * xs) ** 0.5], 1)
    image = (0.7 * base + 0.3 * torch.rand(1, 3, height, width, generator=gen)).clamp(0, 1)
    mask = torch.zeros(1, 1, height, width)
    mask[..., height // 4 : height // 2, width // 5 : width // 2] = 1
    mask[..., (2 * height) // 3 : (5 * height) // 6, (3 * width) // 5 : (4 * width) // 5] = 1
    return image, mask


def _odd(n: int) -> int:
    return n if n % 2 else n + 1


def export_model(
    source: str | os.PathLike,
    output: str | os.PathLike | None = None,
    format: str = "onnx",
    *,
    dynamic: bool = False,
    size: int | tuple[int, int] | None = None,
    check: bool = True,
    overwrite: bool = False,
    half_weights: bool = False,
) -> ExportResult:
    """Write the inpainter ``source`` (registry name, ``.safetensors`` or ``.ckpt``) as ONNX or TorchScript.

    Args:
        source: what :func:`inpaintlab.load` takes, except ``"auto"`` (a router, not one model).
        output: the file (default: ``<name>.onnx`` / ``<name>.pt`` in the current folder).
        format: ``"onnx"`` or ``"torchscript"``.
        dynamic: any batch size, height and width (the prefill exact up to
            :data:`~inpaintlab.models.prefill.EXPORT_MAX_SIDE`, 4096 px a side); otherwise the file is for
            ``size`` only.
        size: the input size of a static file (default: the model's native resolution).
        check: run the file against PyTorch afterwards (ONNX needs onnxruntime).
        overwrite: replace an existing ``output``.
        half_weights: ONNX only: store the weights as float16, computed in float32
            (:func:`~inpaintlab.export.formats.halve_onnx_weights`; about half the file, checked against
            :data:`HALF_TOLERANCE`). The registry's shipped ONNX files are written this way.

    Raises:
        ValueError: unknown format, ``"auto"``, a style translator, a size the model rejects, or an
            exported file that differs from PyTorch by more than :data:`TOLERANCE`.
        KeyError / FileNotFoundError: unknown name / missing file (from :func:`inpaintlab.load`).
        FileExistsError: ``output`` exists and ``overwrite`` is False.
    """
    started = time.perf_counter()
    if format not in WRITERS:
        raise ValueError(f"unknown export format {format!r}; choose one of {', '.join(FORMATS)}")
    if str(source) == "auto":
        raise ValueError(
            "'auto' picks a model per picture and cannot be one file; export a named model "
            "(inpaintlab models lists them)"
        )
    if half_weights and format != "onnx":
        raise ValueError(f"half_weights is for ONNX files; a {format} export keeps float32 weights")
    from inpaintlab.api import Inpainter, load

    inpainter = load(source, device="cpu")
    if not isinstance(inpainter, Inpainter):
        raise ValueError(f"{source} is a {type(inpainter).__name__}, not an inpainter; only inpainters export")
    generator = inpainter.model.eval()
    graph = InpaintGraph(generator, inpainter.value_range).eval()
    native = inpainter.resolution
    if size is None:
        static_size = (native, native)
    else:
        static_size = (size, size) if isinstance(size, int) else tuple(int(s) for s in size)
        if len(static_size) != 2 or min(static_size) < 1:
            raise ValueError(f"size must be a positive int or (height, width), got {size!r}")
    # a dynamic trace runs at an odd size so size-dependent "pad to a multiple" branches take their
    # padding path (amount recorded, 0 where none is needed); a second size checks the result
    trace_size = (_odd(native), _odd(native) + 2) if dynamic else static_size
    check_sizes = [trace_size] + ([(native + native // 2, max(8, (3 * native) // 4))] if dynamic else [])
    if dynamic and _accepts(generator, *TINY_CHECK_SIZE):  # smaller than the stride: a reflect pad cannot run
        check_sizes.append(TINY_CHECK_SIZE)
    if hasattr(generator, "check_size"):
        for h, w in check_sizes:
            try:
                generator.check_size(h, w)
            except ValueError as err:
                hint = "; export without --dynamic (for its native size only)" if dynamic else ""
                raise ValueError(f"{inpainter.name} cannot be exported at {h}x{w}: {err}{hint}") from None
    name = inpainter.name
    path = Path(output) if output is not None else Path(f"{name}{SUFFIXES[format]}")
    example = sample_picture(*trace_size)

    result = ExportResult(path, format, name, dynamic, 0, trace_size)

    def write(tmp: Path) -> None:
        WRITERS[format](graph, example, tmp, dynamic)
        if half_weights:
            halve_onnx_weights(tmp)
        if check:  # on the temporary file: a file that fails the check never replaces anything
            _check(graph, format, tmp, check_sizes, result, half_weights)

    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; choose another --output or pass --force to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path, overwrite=overwrite) as tmp:  # a file that fails the check replaces nothing
        write(tmp)
        result.bytes = tmp.stat().st_size
    result.seconds = time.perf_counter() - started
    return result


def _accepts(generator, height: int, width: int) -> bool:
    """Whether ``generator`` takes a ``height x width`` input (its ``check_size``, if it has one)."""
    try:
        getattr(generator, "check_size", lambda h, w: None)(height, width)
    except ValueError:
        return False
    return True


def _check(
    graph, format: str, path: Path, sizes: list[tuple[int, int]], result: ExportResult, half_weights: bool
) -> None:
    """Run the file at each size against the PyTorch graph; record the max abs difference, raise above
    :data:`TOLERANCE` (:data:`HALF_TOLERANCE` with float16 weights). Without onnxruntime an ONNX file is
    written unchecked."""
    tolerance = HALF_TOLERANCE if half_weights else TOLERANCE
    try:
        for h, w in sizes:
            image, mask = sample_picture(h, w, seed=1)
            with torch.no_grad():
                reference = graph(image, mask)
            got = RUNNERS[format](path, image, mask)
            result.max_abs_diff[(h, w)] = float((got - reference).abs().max())
    except ImportError:
        result.max_abs_diff.clear()
        return
    worst = max(result.max_abs_diff.values(), default=0.0)
    if not worst <= tolerance:
        raise ValueError(
            f"the exported {format} model differs from the PyTorch model by {worst:.3g} (> {tolerance:g}) "
            f"on a test picture: {result.max_abs_diff}; "
            + (
                "its weights lose too much as float16: export without --half-weights"
                if half_weights
                else "the generator probably branches on the input size, which a trace cannot record: "
                "export without --dynamic"
            )
        )


__all__ = [
    "FORMATS",
    "HALF_TOLERANCE",
    "TOLERANCE",
    "ExportResult",
    "InpaintGraph",
    "export_model",
    "sample_picture",
]
