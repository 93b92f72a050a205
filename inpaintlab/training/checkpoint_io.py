"""Checkpoint files of training runs, for every task: atomic writes, what they record, ``init_from``.

* :class:`AtomicCheckpointIO` is a Lightning ``CheckpointIO`` plugin that writes each checkpoint with
  :func:`inpaintlab.io.atomic_write` (a temporary file in the target folder, ``fsync``\\ ed and renamed
  over the old file), so a process killed while saving never leaves a truncated ``last.ckpt`` behind:
  the reader sees either the old file or the new one.
* :class:`BestAndLastCheckpoint` is the ``ModelCheckpoint`` of every run: ``best.ckpt`` by the monitored
  metric, and a ``last.ckpt`` that follows the run at every checkpoint opportunity, also when the metric
  did not improve (Lightning 2.6 writes ``last.ckpt`` only beside a new best one, so a run whose metric
  stopped improving would resume from its best step and repeat, or lose, everything after it).
* :func:`write_checkpoint_info` fills ``ckpt["inpaintlab"]`` (task, the exported model's architecture
  spec, training resolution, mask kind, style, val metrics, recipe) and ``ckpt["inpaintlab_training"]``
  (counters a resume needs), as plain data; :func:`inpaintlab.hub.weights.read_training_checkpoint` is
  the one reader of both.
* :func:`load_init_weights` reads the generator (and, when present, discriminator) weights from either a
  Lightning ``.ckpt`` of an inpainting run or a hub ``.safetensors`` file, for fine-tuning (the Monet
  recipes start from the photo ones).

Checkpoints are loaded with ``torch.load(weights_only=True)``: they hold tensors and plain data only.
"""

from __future__ import annotations

import dataclasses
import enum
import io
import logging
import os
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

import torch
from fsspec.implementations.local import LocalFileSystem
from lightning.fabric.utilities.cloud_io import get_filesystem
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO
from torch import Tensor, nn

from inpaintlab.hub.weights import load_weights, read_training_checkpoint, strip_prefix
from inpaintlab.io import atomic_write

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = 2
"""Version of ``ckpt["inpaintlab"]``: 2 has ``task`` and a preset ``arch``; 1 (before) had
``generator_arch`` / ``translator_arch`` / ``classifier_arch`` = ``{"class", "init"}`` (still read)."""

GENERATOR_PREFIX = "generator."
DISCRIMINATOR_PREFIX = "discriminator."

_PLAIN = (type(None), bool, int, float, str, Tensor)


def plain_data(obj: Any) -> Any:
    """``obj`` as plain data that ``torch.load(weights_only=True)`` reads: dicts, lists, numbers, strings,
    tensors. Dataclasses become dicts, paths strings, enums their value, other objects
    ``{"class_path": ..., "repr": ...}``."""
    if isinstance(obj, _PLAIN):
        return obj
    if isinstance(obj, dict):
        return {str(k) if not isinstance(k, (int, str)) else k: plain_data(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain_data(v) for v in obj]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return plain_data(dataclasses.asdict(obj))
    if isinstance(obj, PurePath):
        return str(obj)
    if isinstance(obj, enum.Enum):
        return plain_data(obj.value)
    cls = obj if isinstance(obj, type) else type(obj)
    return {"class_path": f"{cls.__module__}.{cls.__qualname__}", "repr": repr(obj)[:500]}


def write_checkpoint_info(
    checkpoint: dict[str, Any],
    *,
    task: str,
    model: nn.Module,
    metrics: dict[str, float],
    recipe: dict[str, str],
    counters: dict[str, Any] | None = None,
    **info: Any,
) -> None:
    """Fill ``checkpoint`` for the hub and for a resume (a task module's ``on_save_checkpoint``).

    ``checkpoint["inpaintlab"]`` holds the ``task``, the architecture spec of the ``model`` it exports
    (:func:`inpaintlab.models.arch_of`), ``info`` (``image_size``, ``mask_kind``, ``style``), the last val
    ``metrics`` and the ``recipe``; ``checkpoint["inpaintlab_training"]`` the ``counters``. Everything,
    the hyper-parameters too, becomes plain data: ``torch.load(weights_only=True)`` reads every checkpoint.
    """
    from inpaintlab.models import arch_of

    checkpoint["inpaintlab"] = plain_data({
        "format": CHECKPOINT_FORMAT, "task": task, "arch": arch_of(model), **info,
        "metrics": dict(metrics), "recipe": dict(recipe),
    })  # fmt: skip
    if counters is not None:
        checkpoint["inpaintlab_training"] = plain_data(counters)
    for key in ("hyper_parameters", "datamodule_hyper_parameters"):
        if key in checkpoint:
            checkpoint[key] = plain_data(checkpoint[key])


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save(obj, path)`` that never leaves a partial file at ``path``.

    The object is serialised to memory first, then written with :func:`inpaintlab.io.atomic_write` (a
    temporary file beside ``path`` with the umask's mode, fsync'd and renamed over it; a killed save's
    leftover is removed by the next one). If anything fails, the previous ``path`` is left untouched.
    The folder is created if needed.
    """
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    # a leading dot and a ".tmp" suffix: Lightning's "last*.ckpt" search never picks up a temporary file
    atomic_write(path, buffer.getbuffer())


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


class BestAndLastCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` whose ``last.ckpt`` is rewritten at every checkpoint opportunity.

    Lightning (2.6) saves ``last.ckpt`` only when a top-k checkpoint is saved at the same step, so once
    the monitored metric stops improving ``last.ckpt`` stays at the best step, and ``ckpt_path="last"``
    after a kill would go back there. Here, after Lightning's own saving at the end of a validation (or
    of a training epoch, when that is where this callback saves) and at the end of training, ``last.ckpt``
    is written if Lightning did not write a checkpoint at this step. ``best.ckpt`` is unchanged: still by
    the monitored metric. ``save_last="link"`` is refused (a link to the best file cannot follow the run).

    Its state is read from checkpoints of a plain ``ModelCheckpoint`` with the same settings too (runs
    written before this class existed resume with their best score).
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if self.save_last == "link":
            raise ValueError(
                "save_last='link' makes last.ckpt a link to the newest top-k file, which stays behind the run "
                "once the monitored metric stops improving; use save_last=True (a file, rewritten at every "
                "validation)"
            )

    @property
    def _legacy_state_key(self) -> str:  # type: ignore[override]
        """The key a plain ``ModelCheckpoint`` with these settings saved its state under."""
        return self.state_key.replace(type(self).__qualname__, ModelCheckpoint.__qualname__, 1)

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        super().on_validation_end(trainer, pl_module)
        if not self._should_save_on_train_epoch_end(trainer):
            self._save_last_if_behind(trainer, due=self._due_this_epoch(trainer))

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        if self._should_save_on_train_epoch_end(trainer):
            self._save_last_if_behind(trainer, due=self._due_this_epoch(trainer))

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        super().on_train_end(trainer, pl_module)
        # the steps after the last validation (max_steps between two validations)
        self._save_last_if_behind(trainer, due=self._every_n_epochs >= 1)

    def _due_this_epoch(self, trainer: Any) -> bool:
        # every_n_epochs as Lightning reads it (0: no checkpoints at validation or epoch ends)
        return self._every_n_epochs >= 1 and (trainer.current_epoch + 1) % self._every_n_epochs == 0

    def _save_last_if_behind(self, trainer: Any, due: bool) -> None:
        # _should_skip_saving_checkpoint is also true when a checkpoint was written at this step already
        if self.save_last and due and not self._should_skip_saving_checkpoint(trainer):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))


def best_and_last_checkpoint(
    model: Any, dirpath: str | os.PathLike | None = None, **kwargs
) -> BestAndLastCheckpoint:
    """``ModelCheckpoint`` keeping ``best.ckpt`` by ``model.monitor`` (val FID, or hole PSNR when the
    model's FID is off) and ``last.ckpt`` (what ``ckpt_path="last"`` resumes from); what the CLI uses.

    Args:
        model: a task module with ``monitor`` and ``monitor_mode`` (the GAN modules have them).
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
    return BestAndLastCheckpoint(**{**options, **kwargs})


@dataclass
class InitWeights:
    """Weights read by :func:`load_init_weights`: plain state dicts without the ``generator.`` prefix."""

    generator: dict[str, Tensor]
    discriminator: dict[str, Tensor] | None
    source: str
    """``"ema"``, ``"generator"`` or ``"safetensors"``: where the generator weights came from."""


def load_init_weights(path: str | os.PathLike, prefer_ema: bool = True) -> InitWeights:
    """Read generator (and discriminator) weights to initialise an inpainting run from.

    Args:
        path: a Lightning ``.ckpt`` of an inpainting run (read by
            :func:`~inpaintlab.hub.weights.read_training_checkpoint`) or a hub ``.safetensors`` file (the
            generator's own keys, or ``generator.`` / ``discriminator.`` prefixed keys).
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
        state = load_weights(path)
        discriminator = strip_prefix(state, DISCRIMINATOR_PREFIX) or None
        generator = strip_prefix(state, GENERATOR_PREFIX) or (None if discriminator else state)
        if not generator:
            raise ValueError(f"{path} holds no generator tensors; expected the weights of an inpaintlab generator")
        return InitWeights(generator=generator, discriminator=discriminator, source="safetensors")

    ckpt = read_training_checkpoint(path)
    if ckpt.task != "inpaint":
        raise ValueError(
            f"{path} is a checkpoint of a {ckpt.task} run; init_from needs an inpainting run's .ckpt or a hub "
            ".safetensors file of an inpainter"
        )
    generator, kind = ckpt.exported_weights(prefer_ema=prefer_ema)
    source = "ema" if kind == "ema" else "generator"
    return InitWeights(generator=generator, discriminator=ckpt.weights(DISCRIMINATOR_PREFIX) or None, source=source)
