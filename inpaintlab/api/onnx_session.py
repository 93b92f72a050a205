"""An ONNX Runtime CPU session of an ONNX file, through a kept, verified copy of its optimised graph.

ONNX Runtime optimises a graph every time a session starts: ~0.9 s of a 2-core machine for the shipped
model, longer than the fill of a photo. The first session of a file therefore also keeps the optimised
graph (``optimized``, e.g. ``<cache>/<sha256>/<name>.ort-<onnxruntime version>.onnx``, written
atomically with its own SHA-256 beside it in ``<file>.sha256``); later sessions load that copy
(~0.15 s) after checking it against its checksum. A copy that is damaged, or does not load, is
replaced; a cache that cannot be written only costs the optimisation each time (with a warning), never
the fill. The graph kept is optimised at ``EXTENDED`` level, not ``ALL``: ``ALL`` adds layout changes
for this machine's CPU that another CPU sharing the cache may not have.
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

from inpaintlab.hub.cache import file_problem
from inpaintlab.io import atomic_write, temp_file_beside

_PROVIDERS = ["CPUExecutionProvider"]


def create_session(path: Path, optimized: Path | None = None, threads: int | None = None):
    """An ``onnxruntime.InferenceSession`` of ``path`` on the CPU (see the module docstring).

    Raises:
        ImportError: onnxruntime is not installed. Whatever ONNX Runtime raises for a ``path`` it cannot
        load (the caller decides whether to fall back).
    """
    try:
        import onnxruntime
    except ImportError:
        raise ImportError("onnxruntime is not installed (pip install onnxruntime)") from None

    levels = onnxruntime.GraphOptimizationLevel

    def session(source: Path, level, keep_as: Path | None = None):
        options = _options(level, threads, keep_as)
        return onnxruntime.InferenceSession(str(source), options, providers=_PROVIDERS)

    if optimized is not None and _verified(optimized):
        try:
            return session(optimized, levels.ORT_ENABLE_BASIC)
        except Exception as err:  # noqa: BLE001 - a kept copy that passes its checksum but does not load: replace it
            warnings.warn(
                f"the optimised ONNX graph {optimized} does not load ({err}); rebuilding it", stacklevel=3
            )
    temp = None if optimized is None else _temp_beside(optimized)
    if temp is None:  # nothing to keep: every optimisation, for this session only
        return session(path, levels.ORT_ENABLE_ALL)
    try:
        try:
            kept = session(path, levels.ORT_ENABLE_EXTENDED, keep_as=temp)
        except Exception:  # noqa: BLE001 - writing the copy failed (full disk, ...), or path does not load
            kept = None
        if kept is not None and temp.stat().st_size > 0:
            _keep(temp, optimized)
            return kept
    finally:
        temp.unlink(missing_ok=True)
    if kept is None:  # without keeping anything; this one raises, saying why, where path does not load
        kept = session(path, levels.ORT_ENABLE_ALL)
    warnings.warn(f"could not keep the optimised ONNX graph at {optimized}; running without", stacklevel=3)
    return kept


def _temp_beside(optimized: Path) -> Path | None:
    """A new empty temporary file beside ``optimized`` for ONNX Runtime to write to, or None (with a
    warning) where the folder cannot be written."""
    try:
        optimized.parent.mkdir(parents=True, exist_ok=True)
        return temp_file_beside(optimized)
    except OSError as err:
        warnings.warn(
            f"cannot keep the optimised ONNX graph in {optimized.parent} ({err}); running without",
            stacklevel=4,
        )
        return None


def _options(level, threads: int | None, keep_as: Path | None = None):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only: no optimiser notes on stderr
    options.graph_optimization_level = level
    if threads:
        options.intra_op_num_threads = threads
    if keep_as is not None:
        options.optimized_model_filepath = str(keep_as)
    return options


def _checksum_file(optimized: Path) -> Path:
    return optimized.with_name(optimized.name + ".sha256")


def _verified(optimized: Path) -> bool:
    """True if ``optimized`` and its checksum file are there and agree; a copy that disagrees is removed."""
    try:
        expected = _checksum_file(optimized).read_text().strip()
        problem = file_problem(optimized, expected) if optimized.is_file() else "is absent"
    except OSError:  # no checksum file (or an unreadable one): no kept copy
        return False
    if problem is None:
        return True
    warnings.warn(f"the kept optimised ONNX graph {optimized} {problem}; rebuilding it", stacklevel=4)
    try:
        optimized.unlink(missing_ok=True)
    except OSError:
        pass
    return False


def _keep(temp: Path, optimized: Path) -> None:
    """Write the graph ONNX Runtime left in ``temp`` to ``optimized`` and its checksum beside it, each
    atomically (the checksum last: a reader that finds it finds the whole graph)."""
    try:
        data = temp.read_bytes()
        atomic_write(optimized, data)
        atomic_write(_checksum_file(optimized), (hashlib.sha256(data).hexdigest() + "\n").encode())
    except OSError as err:
        warnings.warn(
            f"could not keep the optimised ONNX graph at {optimized} ({err}); running without", stacklevel=4
        )
