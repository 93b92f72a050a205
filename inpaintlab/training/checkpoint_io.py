"""Checkpoint files of training runs: atomic writes and weights for ``init_from``.

* :class:`AtomicCheckpointIO` is a Lightning ``CheckpointIO`` plugin that writes each checkpoint to a
  temporary file in the target folder, ``fsync``\\ s it, and ``os.replace``\\ s it over the old file, so a
  process killed while saving never leaves a truncated ``last.ckpt`` behind: the reader sees either the
  old file or the new one.
* :func:`load_init_weights` reads the generator (and, when present, discriminator) weights from either a
  Lightning ``.ckpt`` written by :class:`inpaintlab.module.InpaintGAN` or a hub ``.safetensors`` file,
  for fine-tuning (the Monet recipes start from the photo ones).

Checkpoints are loaded with ``torch.load(weights_only=True)``: they hold tensors and plain data only.
"""

from __future__ import annotations

import io
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from fsspec.implementations.local import LocalFileSystem
from lightning.fabric.utilities.cloud_io import get_filesystem
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO
from torch import Tensor

log = logging.getLogger(__name__)

GENERATOR_PREFIX = "generator."
GENERATOR_EMA_PREFIX = "generator_ema."
DISCRIMINATOR_PREFIX = "discriminator."


def _fsync_directory(directory: str) -> None:
    """Persist a rename: fsync the folder entry (a no-op where folders cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save(obj, path)`` that never leaves a partial file at ``path``.

    The object is serialised to memory first, written to a temporary file beside ``path``, flushed
    and fsync'd, then moved over ``path`` with ``os.replace`` (atomic on POSIX and Windows). If
    anything fails, the temporary file is removed and the previous ``path`` is left untouched.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    # a leading dot and no ".ckpt" suffix: Lightning's "last*.ckpt" search never picks up a temp file
    fd, tmp_path = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(buffer.getbuffer())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        try:
            os.remove(tmp_path)
        except FileNotFoundError:
            pass
        raise
    _fsync_directory(directory)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning ``CheckpointIO`` that writes checkpoints atomically (temp file, fsync, ``os.replace``).

    Local paths only get the atomic treatment; remote ``fsspec`` URLs (``s3://`` ...) fall back to
    Lightning's own transactional write. Use it with ``Trainer(plugins=[AtomicCheckpointIO()])``; the
    ``inpaintlab`` CLI adds it automatically when no other ``CheckpointIO`` is configured.
    """

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | os.PathLike, storage_options: Any | None = None
    ) -> None:
        if storage_options is not None:
            raise TypeError(
                f"storage_options is not supported by {type(self).__name__}, got {storage_options!r}; "
                "call trainer.save_checkpoint(path) without it"
            )
        if not isinstance(get_filesystem(path), LocalFileSystem):
            super().save_checkpoint(checkpoint, path)
            return
        atomic_torch_save(checkpoint, path)


def best_and_last_checkpoint(
    model: Any, dirpath: str | os.PathLike | None = None, **kwargs
) -> ModelCheckpoint:
    """``ModelCheckpoint`` keeping ``best.ckpt`` by ``model.monitor`` (val FID, or hole PSNR when the
    model's FID is off) and ``last.ckpt`` (what ``ckpt_path="last"`` resumes from); what the CLI uses.

    Args:
        model: an :class:`~inpaintlab.module.InpaintGAN` (anything with ``monitor`` and ``monitor_mode``).
        dirpath: folder of the checkpoints; give a fixed one so a killed run can be resumed.
        **kwargs: more ``ModelCheckpoint`` arguments (override the defaults above).
    """
    options = {
        "dirpath": dirpath,
        "monitor": model.monitor,
        "mode": model.monitor_mode,
        "filename": "best",
        "save_top_k": 1,
        "save_last": True,
        "auto_insert_metric_name": False,
    }
    return ModelCheckpoint(**{**options, **kwargs})


@dataclass
class InitWeights:
    """Weights read by :func:`load_init_weights`: plain state dicts without the ``generator.`` prefix."""

    generator: dict[str, Tensor]
    discriminator: dict[str, Tensor] | None
    source: str
    """``"ema"``, ``"generator"`` or ``"safetensors"``: where the generator weights came from."""


def _strip_prefix(state: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


def load_init_weights(path: str | os.PathLike, prefer_ema: bool = True) -> InitWeights:
    """Read generator (and discriminator) weights to initialise a run from.

    Args:
        path: a Lightning ``.ckpt`` of :class:`~inpaintlab.module.InpaintGAN` (keys ``generator.*``,
            ``generator_ema.*``, ``discriminator.*`` under ``state_dict``) or a hub ``.safetensors``
            file (the generator's own keys, or the same keys with a ``generator.`` prefix).
        prefer_ema: take the EMA generator from a ``.ckpt`` when it has one.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file has no generator weights.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"init_from={str(path)!r} does not exist; give the path of a Lightning .ckpt from an inpaintlab "
            "run or of a hub .safetensors file (see `inpaintlab download`)"
        )
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path), device="cpu")
        generator = _strip_prefix(state, GENERATOR_PREFIX) or state
        discriminator = _strip_prefix(state, DISCRIMINATOR_PREFIX) or None
        if discriminator is not None:  # a file holding both: keep only the generator part
            generator = _strip_prefix(state, GENERATOR_PREFIX)
        if not generator:
            raise ValueError(f"{path} holds no tensors; expected the weights of an inpaintlab generator")
        return InitWeights(generator=generator, discriminator=discriminator, source="safetensors")

    checkpoint = torch.load(str(path), map_location="cpu", weights_only=True)
    state = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise ValueError(  # noqa: TRY004 - a bad file, not a bad argument type
            f"{path} is not a Lightning checkpoint (no 'state_dict' dict inside)"
        )
    ema = _strip_prefix(state, GENERATOR_EMA_PREFIX)
    plain = _strip_prefix(state, GENERATOR_PREFIX)
    if prefer_ema and ema:
        generator, source = ema, "ema"
    else:
        generator, source = plain, "generator"
    if not generator:
        raise ValueError(
            f"{path} has no keys starting with {GENERATOR_PREFIX!r} in its state_dict; "
            "init_from needs a checkpoint written by inpaintlab.module.InpaintGAN or a hub .safetensors file"
        )
    discriminator = _strip_prefix(state, DISCRIMINATOR_PREFIX) or None
    return InitWeights(generator=generator, discriminator=discriminator, source=source)
