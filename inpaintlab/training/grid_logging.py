"""Send the validation image grid to whichever loggers the trainer has.

W&B gets a ``wandb.Image``, TensorBoard an image summary; other loggers (CSV, ...) get a PNG file in
``<log_dir>/images/``. Call it on every rank: loggers only write on rank zero and files are written
only there, and nothing here communicates between ranks.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from lightning.pytorch.loggers import Logger, TensorBoardLogger, WandbLogger
from torch import Tensor
from torchvision.utils import save_image

log = logging.getLogger(__name__)


def _to_wandb(logger: Logger, key: str, grid: Tensor, step: int, caption: str) -> None:
    logger.log_image(key=key, images=[grid], step=step, caption=[caption])


def _to_tensorboard(logger: Logger, key: str, grid: Tensor, step: int, caption: str) -> None:
    logger.experiment.add_image(key, grid, global_step=step)


def _to_png(logger: Logger, key: str, grid: Tensor, step: int, caption: str) -> None:
    folder = getattr(logger, "log_dir", None) or logger.save_dir
    if folder is None:
        return
    path = os.path.join(folder, "images", f"{key.replace('/', '_')}-step{step:07d}.png")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    save_image(grid, path)


IMAGE_WRITERS: list[tuple[type[Logger], Callable[[Logger, str, Tensor, int, str], None]]] = [
    (WandbLogger, _to_wandb),
    (TensorBoardLogger, _to_tensorboard),
]
"""Logger class -> how it receives an image; loggers not listed get a PNG file (``_to_png``)."""


def log_image_grid(trainer, grid: Tensor, key: str = "val/grid", caption: str = "") -> None:
    """Log ``grid`` (3,H,W) in [0,1] to every logger of ``trainer`` (rank zero only)."""
    if not trainer.is_global_zero:
        return
    for logger in trainer.loggers:
        writer = next((fn for cls, fn in IMAGE_WRITERS if isinstance(logger, cls)), _to_png)
        try:
            writer(logger, key, grid, trainer.global_step, caption)
        except Exception as err:  # noqa: BLE001 - a picture must never stop training
            log.warning("could not log the image grid to %s: %s", type(logger).__name__, err)
