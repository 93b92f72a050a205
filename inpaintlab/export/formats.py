"""Writing and running an :class:`~inpaintlab.export.graph.InpaintGraph` as ONNX or TorchScript.

Both formats trace the graph once on an example picture (``torch.onnx.export(dynamo=False)``, the
TorchScript-based exporter, and ``torch.jit.trace``). A trace records shape arithmetic as graph
operations, so with ``dynamic`` the file takes any (N, H, W); what a trace cannot record is a Python
branch on a size, so dynamic graphs are traced at an odd size (every "pad to a multiple" branch then
takes its padding path, whose amount is recorded and is 0 where no padding is needed).

The writers here write to the path they are given; :func:`inpaintlab.export.export_model` hands them a
temporary file that becomes the output only once the file is written and checked.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

ONNX_OPSET = 17
INPUT_NAMES = ("image", "mask")
OUTPUT_NAME = "output"


def _trace_quietly(fn: Callable[[], object]) -> object:
    """Run a trace with the tracer's warnings about Python branches on sizes silenced (expected here)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        with torch.no_grad():
            return fn()


def write_onnx(graph: nn.Module, example: tuple[Tensor, Tensor], path: Path, dynamic: bool) -> None:
    """Write ``graph`` traced on ``example`` as an ONNX file (opset 17, inputs ``image``, ``mask``)."""
    axes = {0: "batch", 2: "height", 3: "width"}
    dynamic_axes = {name: axes for name in (*INPUT_NAMES, OUTPUT_NAME)} if dynamic else None
    _trace_quietly(
        lambda: torch.onnx.export(
            graph,
            example,
            str(path),
            dynamo=False,
            input_names=list(INPUT_NAMES),
            output_names=[OUTPUT_NAME],
            dynamic_axes=dynamic_axes,
            opset_version=ONNX_OPSET,
            do_constant_folding=True,
        )
    )


#: initializers with at least this many values are stored as float16 by :func:`halve_onnx_weights`
HALF_MIN_VALUES = 1024


def halve_onnx_weights(path: Path) -> int:
    """Store the float32 weights of the ONNX file ``path`` as float16, each read back through a ``Cast`` to
    float32 (the computation stays float32; ONNX Runtime folds the casts when it optimises the graph).

    About halves the file (the weights are almost all of it) for a difference of 1e-5 to 2e-4 on [0,1]
    pixels (at most a twentieth of a grey level). Small initializers (biases, shapes, constants such as
    clamp bounds: fewer than :data:`HALF_MIN_VALUES` values) and initializers that are also graph inputs
    (files of old IR versions) stay as they are. Returns how many initializers were halved.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    casts, halved = [], []
    inputs = {i.name for i in graph.input}
    for init in graph.initializer:
        if init.data_type != TensorProto.FLOAT or np.prod(init.dims, dtype=np.int64) < HALF_MIN_VALUES:
            continue
        if init.name in inputs:  # an overridable input of an old-IR file: its type is part of the interface
            continue
        values = numpy_helper.to_array(init)
        if np.abs(values).max(initial=0.0) >= np.finfo(np.float16).max:
            continue  # would overflow float16: kept as float32
        halved.append((init, numpy_helper.from_array(values.astype(np.float16), f"{init.name}.float16")))
        casts.append(helper.make_node("Cast", [f"{init.name}.float16"], [init.name], to=TensorProto.FLOAT))
    for init, half in halved:
        graph.initializer.remove(init)
        graph.initializer.append(half)
    nodes = [*casts, *graph.node]
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return len(halved)


def write_torchscript(graph: nn.Module, example: tuple[Tensor, Tensor], path: Path, dynamic: bool) -> None:
    """Write ``graph`` traced on ``example`` as a TorchScript file (``torch.jit.load`` reads it).

    A trace takes any size either way; ``dynamic`` only decides the example size (see the module doc).
    """
    traced = _trace_quietly(lambda: torch.jit.trace(graph, example, check_trace=False))
    traced.save(str(path))


def run_onnx(path: str | os.PathLike, image: Tensor, mask: Tensor, threads: int | None = None) -> Tensor:
    """Run an exported ONNX file in onnxruntime (CPU) on one batch; returns the output as a tensor."""
    session = onnx_session(path, threads)
    out = session.run([OUTPUT_NAME], {"image": image.numpy(), "mask": mask.numpy()})[0]
    return torch.from_numpy(np.asarray(out))


def onnx_session(path: str | os.PathLike, threads: int | None = None):
    """An onnxruntime CPU session for an exported file (``threads`` intra-op threads; None = all)."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise ImportError(
            "running an ONNX file needs onnxruntime: pip install 'inpaintlab[export]'"
        ) from None
    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run_torchscript(path: str | os.PathLike, image: Tensor, mask: Tensor) -> Tensor:
    """Run an exported TorchScript file on one batch (CPU)."""
    module = torch.jit.load(str(path), map_location="cpu")
    with torch.no_grad():
        return module(image, mask)


WRITERS: dict[str, Callable[[nn.Module, tuple[Tensor, Tensor], Path, bool], None]] = {
    "onnx": write_onnx,
    "torchscript": write_torchscript,
}
RUNNERS: dict[str, Callable[[str | os.PathLike, Tensor, Tensor], Tensor]] = {
    "onnx": run_onnx,
    "torchscript": run_torchscript,
}
SUFFIXES: dict[str, str] = {"onnx": ".onnx", "torchscript": ".pt"}
