"""Self-describing weight files: safetensors with the architecture JSON in their metadata.

A hub weights file is a safetensors file (never a pickle) whose metadata holds
``"inpaintlab.arch": '{"class": ..., "init": {...}}'`` plus a few descriptive keys, so a file alone is
enough to rebuild its model. Training checkpoints (Lightning ``.ckpt``) are read with
``torch.load(weights_only=True)`` only.
"""

from __future__ import annotations

import json
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

ARCH_KEY = "inpaintlab.arch"
META_PREFIX = "inpaintlab."


def save_weights(
    state_dict: dict[str, Tensor],
    path: str | os.PathLike,
    arch: dict[str, Any],
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Write ``state_dict`` as safetensors with ``arch`` (and ``metadata``) in the header, atomically.

    Args:
        state_dict: tensors to save (moved to CPU, made contiguous; shared storage is copied).
        path: output ``.safetensors`` file.
        arch: ``{"class": str, "init": dict}`` (JSON-serialisable).
        metadata: extra descriptive values, stored as ``inpaintlab.<key>`` (non-strings as JSON).
    """
    path = Path(path)
    _check_arch(arch, str(path))
    meta = {ARCH_KEY: json.dumps(arch, sort_keys=True)}
    for key, value in (metadata or {}).items():
        meta[META_PREFIX + key] = value if isinstance(value, str) else json.dumps(value)
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in state_dict.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=meta)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The safetensors header metadata of ``path`` (``ValueError`` if it is not a safetensors file)."""
    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except (SafetensorError, OSError) as err:
        raise ValueError(
            f"{path} is not a readable safetensors file ({err}); hub weights must be .safetensors"
        ) from None


def read_arch(path: str | os.PathLike) -> dict[str, Any] | None:
    """The ``{"class", "init"}`` architecture stored in a weights file, or None if it has none."""
    raw = read_metadata(path).get(ARCH_KEY)
    if raw is None:
        return None
    try:
        arch = json.loads(raw)
    except json.JSONDecodeError:
        raise ValueError(f"{path}: metadata {ARCH_KEY!r} is not JSON: {raw[:80]!r}") from None
    _check_arch(arch, str(path))
    return arch


def load_weights(path: str | os.PathLike, device: str | torch.device = "cpu") -> dict[str, Tensor]:
    """The tensors of a safetensors file (no pickle involved)."""
    read_metadata(path)  # clear error for a file that is not safetensors
    return load_file(str(path), device=str(device))


def build_model(arch: dict[str, Any]) -> nn.Module:
    """Rebuild a model from ``{"class": ..., "init": {...}}`` through ``inpaintlab.models.build_model``."""
    from inpaintlab.models import build_model as _build

    _check_arch(arch, "arch")
    return _build(arch)


# The model a training checkpoint exports, by the arch key its module writes: state_dict prefixes in
# order of preference (the generator's EMA copy first).
EXPORTED_MODELS = {
    "generator_arch": (("generator_ema.", "ema"), ("generator.", "raw")),
    "classifier_arch": (("classifier.", "raw"),),
    "translator_arch": (("photo_to_monet.", "raw"),),
}
EXPORTED_TASKS = {"generator_arch": "inpaint", "classifier_arch": "classify", "translator_arch": "stylize"}


def load_training_checkpoint(path: str | os.PathLike) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Generator weights and the ``inpaintlab`` info block of a Lightning checkpoint from ``fit``.

    The checkpoint is read with ``torch.load(weights_only=True)``. Generator keys are prefixed
    ``generator_ema.`` (preferred, the EMA copy) or ``generator.``; the prefix is stripped.

    Returns:
        (state_dict, info): info is ``ckpt["inpaintlab"]`` (``generator_arch``, ``classifier_arch`` or
        ``translator_arch``, ``image_size``, ``mask_kind``, ``style``) plus ``"arch"`` (the exported model's
        architecture), ``"weights": "ema" | "raw"`` and ``"task"`` (the registry task of that model).
    """
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
            "(a checkpoint written by inpaintlab's training module does)"
        ) from None
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("state_dict"), dict):
        raise ValueError(f"{path} is not a Lightning checkpoint: no 'state_dict' dictionary in it")
    info = ckpt.get("inpaintlab")
    arch_key = next((key for key in EXPORTED_MODELS if isinstance(info, dict) and key in info), None)
    if arch_key is None:
        raise ValueError(
            f"{path} has no ckpt['inpaintlab']['generator_arch'] (or 'classifier_arch', 'translator_arch'); "
            "it was not written "
            "by inpaintlab's training modules, so the model architecture is unknown"
        )
    _check_arch(info[arch_key], f"{path}: ckpt['inpaintlab'][{arch_key!r}]")
    state = ckpt["state_dict"]
    for prefix, kind in EXPORTED_MODELS[arch_key]:
        weights = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        if weights:
            task = EXPORTED_TASKS[arch_key]
            return weights, {**info, "arch": info[arch_key], "weights": kind, "task": task}
    expected = " or ".join(repr(prefix) for prefix, _ in EXPORTED_MODELS[arch_key])
    raise ValueError(f"{path}: state_dict has no {expected} keys; found e.g. {list(state)[:3]}")


def _check_arch(arch: Any, where: str) -> None:
    if not (
        isinstance(arch, dict) and isinstance(arch.get("class"), str) and isinstance(arch.get("init"), dict)
    ):
        raise ValueError(f"{where}: architecture must be {{'class': str, 'init': dict}}, got {arch!r:.120}")
