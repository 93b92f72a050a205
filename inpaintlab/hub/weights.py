"""Weight files: self-describing safetensors, and the one reader of training checkpoints.

A hub weights file is a safetensors file (never a pickle) whose metadata names its architecture as a
preset spec (``"inpaintlab.arch": '"unet.prefill.small"'``, see :mod:`inpaintlab.models`) plus the
resolution it was trained at and a few descriptive keys, so a file alone is enough to rebuild and run
its model. Files written before presets hold ``{"class": ..., "init": {...}}`` there; they still load
(:func:`inpaintlab.models.parse_arch` converts them).

Training checkpoints (Lightning ``.ckpt``) are read by :func:`read_training_checkpoint` only, with
``torch.load(weights_only=True)``: it knows which ``state_dict`` prefix holds the model each task exports
(:data:`EXPORTED_PREFIXES`) and reads the ``ckpt["inpaintlab"]`` block of every version of the training
modules. Export, ``load(run.ckpt)`` and ``init_from`` all go through it.
"""

from __future__ import annotations

import json
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save
from torch import Tensor

from inpaintlab.io import atomic_write

ARCH_KEY = "inpaintlab.arch"
META_PREFIX = "inpaintlab."

EXPORTED_PREFIXES: dict[str, tuple[tuple[str, str], ...]] = {
    "inpaint": (("generator_ema.", "ema"), ("generator.", "raw")),
    "stylize": (("photo_to_monet.", "raw"),),
    "classify": (("classifier.", "raw"),),
}
"""Task -> the ``state_dict`` prefixes of the model a training checkpoint exports, in order of preference
(an inpainter's EMA copy first), with what each is called (``"ema"`` / ``"raw"``)."""

# ckpt["inpaintlab"] of checkpoints written before the "task" / "arch" keys: the arch key says the task
_LEGACY_ARCH_KEYS = {"generator_arch": "inpaint", "translator_arch": "stylize", "classifier_arch": "classify"}


def strip_prefix(state: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    """The entries of ``state`` under ``prefix``, with the prefix removed (``{}`` when there are none)."""
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


# ---------------------------------------------------------------------------------------- safetensors
def weights_bytes(state_dict: dict[str, Tensor], arch: Any, metadata: dict[str, Any] | None = None) -> bytes:
    """The safetensors file :func:`save_weights` writes, as bytes (``arch`` and ``metadata`` in the header)."""
    from inpaintlab.models import normalize_arch

    meta = {ARCH_KEY: json.dumps(normalize_arch(arch), sort_keys=True)}
    for key, value in (metadata or {}).items():
        meta[META_PREFIX + key] = value if isinstance(value, str) else json.dumps(value)
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in state_dict.items()}
    return save(tensors, metadata=meta)


def save_weights(
    state_dict: dict[str, Tensor],
    path: str | os.PathLike,
    arch: Any,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Write ``state_dict`` as safetensors with ``arch`` (and ``metadata``) in the header, atomically.

    Args:
        state_dict: tensors to save (moved to CPU, made contiguous; shared storage is copied).
        path: output ``.safetensors`` file.
        arch: the architecture spec (a preset name or ``{"preset", "args"}``; stored normalised).
        metadata: extra descriptive values, stored as ``inpaintlab.<key>`` (non-strings as JSON), e.g.
            ``resolution`` (the training resolution, used when the file is loaded by path).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, weights_bytes(state_dict, arch, metadata))


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The safetensors header metadata of ``path`` (``ValueError`` if it is not a safetensors file)."""
    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except (SafetensorError, OSError) as err:
        raise ValueError(
            f"{path} is not a readable safetensors file ({err}); hub weights must be .safetensors"
        ) from None


def read_arch(path: str | os.PathLike) -> Any | None:
    """The architecture spec stored in a weights file as written (None if it has none)."""
    raw = read_metadata(path).get(ARCH_KEY)
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        raise ValueError(f"{path}: metadata {ARCH_KEY!r} is not JSON: {raw[:80]!r}") from None


def read_resolution(path: str | os.PathLike) -> int | None:
    """The training resolution stored in a weights file, or None."""
    raw = read_metadata(path).get(META_PREFIX + "resolution", "")
    return int(raw) if raw.isdigit() else None


def load_weights(path: str | os.PathLike, device: str | torch.device = "cpu") -> dict[str, Tensor]:
    """The tensors of a safetensors file (no pickle involved)."""
    read_metadata(path)  # clear error for a file that is not safetensors
    return load_file(str(path), device=str(device))


# ---------------------------------------------------------------------------------------- training checkpoints
@dataclass(frozen=True)
class TrainingCheckpoint:
    """What :func:`read_training_checkpoint` found in a Lightning checkpoint of an inpaintlab run.

    Attributes:
        path: the file.
        task: ``"inpaint"``, ``"stylize"`` or ``"classify"``.
        arch: the architecture spec of the model the run exports (normalised; pre-preset ones converted).
        state_dict: the run's whole ``state_dict``.
        info: ``image_size``, ``mask_kind``, ``style``, ``metrics``, ``recipe`` (what the module recorded).
        counters: ``ckpt["inpaintlab_training"]`` (step counters and the like), ``{}`` if absent.
    """

    path: Path
    task: str
    arch: Any
    state_dict: dict[str, Tensor]
    info: dict[str, Any] = field(default_factory=dict)
    counters: dict[str, Any] = field(default_factory=dict)

    def weights(self, prefix: str) -> dict[str, Tensor]:
        """The weights under ``prefix`` (e.g. ``"discriminator."``), prefix removed; ``{}`` if none."""
        return strip_prefix(self.state_dict, prefix)

    def exported_weights(self, prefer_ema: bool = True) -> tuple[dict[str, Tensor], str]:
        """``(weights, "ema" | "raw")`` of the exported model (the EMA copy first, unless ``prefer_ema=False``)."""
        prefixes = EXPORTED_PREFIXES[self.task]
        if not prefer_ema:
            prefixes = tuple(p for p in prefixes if p[1] != "ema") or prefixes
        for prefix, kind in prefixes:
            weights = self.weights(prefix)
            if weights:
                return weights, kind
        expected = " or ".join(repr(prefix) for prefix, _ in prefixes)
        raise ValueError(f"{self.path}: state_dict has no {expected} keys; found e.g. {list(self.state_dict)[:3]}")


def read_training_checkpoint(path: str | os.PathLike) -> TrainingCheckpoint:
    """Read a Lightning checkpoint written by one of inpaintlab's training modules (any version).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not readable with ``weights_only=True``, not a Lightning checkpoint, or not written by
            inpaintlab (no architecture recorded).
    """
    from inpaintlab.models import normalize_arch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"training checkpoint {path} does not exist")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as err:
        lines = [line.strip() for line in str(err).splitlines() if line.strip()] or [type(err).__name__]
        reason = next((line for line in lines if "WeightsUnpickler error" in line), lines[0])
        raise ValueError(
            f"could not read {path} with torch.load(weights_only=True): {reason} inpaintlab never unpickles "
            "arbitrary objects; the checkpoint must hold only tensors and plain Python values "
            "(a checkpoint written by inpaintlab's training modules does)"
        ) from None
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("state_dict"), dict):
        raise ValueError(  # noqa: TRY004 - a bad file, not a bad argument type
            f"{path} is not a Lightning checkpoint: no 'state_dict' dictionary in it"
        )
    info = ckpt.get("inpaintlab")
    info = dict(info) if isinstance(info, dict) else {}
    task, arch = info.pop("task", None), info.pop("arch", None)
    if task is None:  # written before the task / arch keys: {"generator_arch": {"class", "init"}, ...}
        key = next((k for k in _LEGACY_ARCH_KEYS if k in info), None)
        if key is not None:
            task, arch = _LEGACY_ARCH_KEYS[key], info.pop(key)
            if task == "inpaint" and not info.get("image_size"):  # once an argument of the generator
                info["image_size"] = (arch.get("init") or {}).get("native_resolution")
    if task not in EXPORTED_PREFIXES or arch is None:
        raise ValueError(
            f"{path} records no task and architecture (ckpt['inpaintlab']['task'] / ['arch']); it was not "
            "written by inpaintlab's training modules, so the model architecture is unknown"
        )
    try:
        arch = normalize_arch(arch)
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path}: ckpt['inpaintlab'] names an unknown architecture: {err}") from None
    counters = ckpt.get("inpaintlab_training")
    return TrainingCheckpoint(
        path=path, task=task, arch=arch, state_dict=ckpt["state_dict"], info=info,
        counters=counters if isinstance(counters, dict) else {},
    )  # fmt: skip


def load_training_checkpoint(path: str | os.PathLike) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """The exported model's weights and a description of a training checkpoint (for export).

    Returns:
        (state_dict, info): info holds ``task``, ``arch`` (spec), ``weights`` (``"ema"`` / ``"raw"``),
        ``image_size``, ``mask_kind``, ``style``, ``metrics`` and ``recipe`` (where recorded).
    """
    ckpt = read_training_checkpoint(path)
    weights, kind = ckpt.exported_weights()
    return weights, {**ckpt.info, "task": ckpt.task, "arch": ckpt.arch, "weights": kind}
