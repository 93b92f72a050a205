"""Building blocks of :class:`inpaintlab.module.InpaintGAN`: EMA, schedulers, the non-finite-loss guard
and image-grid logging. Each lives in its own small module; the LightningModule wires them together."""

from inpaintlab.training.ema import create_ema, ema_update_, warmed_up_decay
from inpaintlab.training.grid_logging import log_image_grid
from inpaintlab.training.guards import NonFiniteGuard, NonFiniteLossError
from inpaintlab.training.schedulers import SCHEDULERS, build_scheduler, step_scheduler

__all__ = [
    "SCHEDULERS",
    "NonFiniteGuard",
    "NonFiniteLossError",
    "build_scheduler",
    "create_ema",
    "ema_update_",
    "log_image_grid",
    "step_scheduler",
    "warmed_up_decay",
]
