"""``load(name_or_path)``: the model behind a registry name, a weights file or a training checkpoint,
wrapped for its task.

The task decides the wrapper (:data:`TASK_WRAPPERS`): an ``inpaint`` checkpoint gives an
:class:`~inpaintlab.api.inpainter.Inpainter`, a ``stylize`` one a :class:`~inpaintlab.api.stylizer.Stylizer`;
``classify`` models (the style classifier) come bare from :func:`load_model`. The task is the registry
entry's for a registry name, the training module's for a ``.ckpt``, and that of the architecture preset's
role for a loose ``.safetensors`` file (a generator inpaints, a translator stylizes).

Import order (no cycles): ``inpainter``, ``stylizer`` <- ``auto`` <- ``pretrained``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from inpaintlab.api.auto import CLASSIFIER_NAME, AutoInpainter
from inpaintlab.api.inpainter import Inpainter, check_name_or_path, resolve_device
from inpaintlab.api.stylizer import Stylizer
from inpaintlab.hub import cache, registry, weights
from inpaintlab.hub.download import sha256_file
from inpaintlab.hub.registry import CheckpointEntry, UnknownCheckpointError


@dataclass(frozen=True)
class OpenedModel:
    """A model and what was recorded with its weights."""

    model: nn.Module
    task: str
    entry: CheckpointEntry | None
    resolution: int | None
    """The resolution the weights were trained at (entry, file metadata or checkpoint), if recorded."""


def _registry_entry_for(path: Path) -> CheckpointEntry | None:
    """The registry entry ``path`` is a copy of (same file name and sha256), if any."""
    try:
        candidate = {e.file: e for e in registry.load_registry().values()}.get(path.name)
    except registry.RegistryError as err:  # a broken registry must not block loading a local file
        warnings.warn(f"ignoring the checkpoint registry: {err}", stacklevel=4)
        return None
    return candidate if candidate is not None and sha256_file(path) == candidate.sha256 else None


def open_model(name_or_path: str | os.PathLike, device: str | torch.device = "cpu") -> OpenedModel:
    """Build and load the model behind a registry name, a ``.safetensors`` file or a Lightning ``.ckpt``.

    Raises:
        KeyError: an unknown name (the message lists the registry's names).
        FileNotFoundError: a path that does not exist.
        ValueError: a file that is not safetensors / a readable checkpoint, an unknown architecture, an
            architecture that does not do the entry's task, or weights that do not fit it.
    """
    from inpaintlab.models import TASK_OF_ROLE, arch_role, build_model, normalize_arch

    check_name_or_path(name_or_path)
    path, text = Path(name_or_path), str(name_or_path)
    entry = None
    if path.suffix == ".ckpt":
        ckpt = weights.read_training_checkpoint(path)
        state_dict, _ = ckpt.exported_weights()
        arch, task, resolution = ckpt.arch, ckpt.task, ckpt.info.get("image_size")
    elif path.suffix == ".safetensors" or os.sep in text or "/" in text:
        if not path.is_file():
            raise FileNotFoundError(f"weights file {path} does not exist; registry names have no '/' or suffix")
        entry = _registry_entry_for(path)
        arch = weights.read_arch(path) or (entry.arch if entry else None)
        if arch is None:
            raise ValueError(
                f"{path} has no {weights.ARCH_KEY!r} metadata and is no registry checkpoint, so its "
                "architecture is unknown; write it with inpaintlab.hub.save_weights (or `inpaintlab export`)"
            )
        resolution = weights.read_resolution(path) or (entry.resolution if entry else None)
        task = entry.task if entry else None
        state_dict = weights.load_weights(path)
    else:
        entry = registry.get_entry(text)
        file = cache.fetch(entry)
        arch, stored = entry.arch, weights.read_arch(file)
        if stored is not None and normalize_arch(stored) != normalize_arch(entry.arch):
            raise ValueError(
                f"{file} was built as {normalize_arch(stored)!r} but the registry entry {entry.name!r} says "
                f"{normalize_arch(entry.arch)!r}; the registry entry is wrong: fix its arch field"
            )
        task, resolution, state_dict = entry.task, entry.resolution, weights.load_weights(file)
    try:
        role = arch_role(arch)
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{name_or_path}: unknown architecture {arch!r}: {err}") from None
    if role not in TASK_OF_ROLE:
        raise ValueError(f"{name_or_path} holds a {role} ({arch!r}), which is never used alone")
    if task is not None and TASK_OF_ROLE[role] != task:
        raise ValueError(
            f"{name_or_path} has the task {task} but its architecture {arch!r} is a {role}; "
            "fix the registry entry's task or arch"
        )
    model = build_model(arch)
    try:
        model.load_state_dict(state_dict, strict=True)
    except RuntimeError as err:
        raise ValueError(f"the weights in {name_or_path} do not fit the architecture {arch!r}: {err}") from None
    return OpenedModel(model.to(device).eval(), TASK_OF_ROLE[role], entry, int(resolution) if resolution else None)


def load_model(name_or_path: str | os.PathLike, device: str | torch.device = "cpu") -> nn.Module:
    """The bare model (eval mode, on ``device``) behind a registry name, ``.safetensors`` or ``.ckpt`` file
    (see :func:`open_model` for the errors)."""
    return open_model(name_or_path, resolve_device(device)).model


def _inpainter(opened: OpenedModel, device: torch.device, **kwargs: Any) -> Inpainter:
    if opened.entry is None and opened.resolution and getattr(opened.model, "native_resolution", None) is None:
        kwargs.setdefault("resolution", opened.resolution)
    return Inpainter(opened.model, entry=opened.entry, device=device, **kwargs)


def _stylizer(opened: OpenedModel, device: torch.device, **kwargs: Any) -> Stylizer:
    kwargs.setdefault("resolution", opened.resolution)
    return Stylizer(opened.model, entry=opened.entry, device=device, **kwargs)


TASK_WRAPPERS: dict[str, Callable[..., Any]] = {"inpaint": _inpainter, "stylize": _stylizer}
"""Task -> ``wrap(opened, device, **kwargs)``: what :func:`load` returns for a checkpoint of that task."""


def _auto(
    device: str | torch.device | None,
    classifier: Callable | None = None,
    loader: Callable[[str], Any] | None = None,
    texture: Any = True,
    **kwargs: Any,
) -> AutoInpainter:
    """``load("auto")``: the registry's style classifier (unless one is given) routing to ``{style}-{kind}``
    checkpoints, loaded by ``load`` on ``device`` (unless a ``loader`` is given)."""
    device = resolve_device(device)
    if classifier is None:
        if CLASSIFIER_NAME not in registry.list_models():
            raise UnknownCheckpointError(
                f"load('auto') needs the {CLASSIFIER_NAME!r} checkpoint, which the registry does not "
                "have yet; pass classifier=<callable image -> 'photo'|'monet'> or load a named model"
            )
        model = load_model(CLASSIFIER_NAME, device)
        classifier = model.predict if hasattr(model, "predict") else model
    loader = loader or (lambda name: load(name, device=device, texture=texture))
    return AutoInpainter(classifier, loader, device=device, **kwargs)


def load(name_or_path: str | os.PathLike, device: str | torch.device | None = None, **kwargs: Any):
    """Load an inpainter (or a stylizer).

    Args:
        name_or_path: a registry name (``inpaintlab models`` lists them), a ``.safetensors`` file
            (architecture from its metadata, or from the registry entry with the same file name),
            a Lightning ``.ckpt`` from ``fit``, or ``"auto"`` (an :class:`~inpaintlab.api.auto.AutoInpainter`
            that routes each picture to ``{style}-{mask kind}``; pass ``classifier=`` until the
            registry has a ``style-classifier``). A ``stylize`` checkpoint (``"photo2monet"``) gives a
            :class:`~inpaintlab.api.stylizer.Stylizer` instead: ``load("photo2monet")(img)``.
        device: ``"cpu"``, ``"cuda"``, ... (default: CUDA if available).
        **kwargs: passed to :class:`Inpainter` (``resolution``, ``strategy``, ``max_hole``, ``batch_size``, ...),
            :class:`Stylizer`, or for ``"auto"`` to :class:`~inpaintlab.api.auto.AutoInpainter`.
    """
    check_name_or_path(name_or_path)
    if str(name_or_path) == "auto":
        return _auto(device, **kwargs)
    device = resolve_device(device)
    opened = open_model(name_or_path, device)
    trained = (opened.entry.resolution if opened.entry else None) or opened.resolution
    if kwargs.get("resolution") and trained and int(kwargs["resolution"]) != int(trained):
        warnings.warn(
            f"{str(name_or_path)!r} was trained at {trained} px but runs at resolution={kwargs['resolution']}: "
            f"the fill is usually worse away from the training scale; leave resolution unset to use {trained}",
            stacklevel=2,
        )
    wrap = TASK_WRAPPERS.get(opened.task)
    if wrap is None:
        raise ValueError(
            f"{str(name_or_path)!r} is a {opened.task} checkpoint, not an inpainter or a stylizer; "
            "use load_model() for it"
        )
    kwargs.setdefault("name", opened.entry.name if opened.entry else Path(name_or_path).stem)
    return wrap(opened, device, **kwargs)
