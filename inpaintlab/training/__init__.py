"""What the training tasks (:mod:`inpaintlab.tasks`) share: manual GAN steps, EMA, the non-finite-loss
guard, DiffAugment, schedulers, validation bookkeeping (FID scheduling, grids), DDP set-up and
checkpoint io. Each lives in its own small module; the task modules wire them together.

==================  =============================================================================
``manual_step``     ``ManualStepMixin``: backward + clip + step, step counting, accumulation, guard
``ema``             ``create_ema``, ``ema_update_``, ``warmed_up_decay``
``guards``          ``NonFiniteGuard``, ``NonFiniteLossError``
``diffaugment``     ``DiffAugment`` (colour / translation / cutout, one draw for real and fake)
``schedulers``      ``SCHEDULERS``, ``build_scheduler``, ``step_scheduler``
``validation``      ``EvaluationMixin``: FID every N epochs, cached real statistics, grids, monitor
``ddp``             ``sync_batchnorm``
``checkpoint_io``   ``AtomicCheckpointIO``, ``best_and_last_checkpoint``, ``write_checkpoint_info``,
                    ``load_init_weights``
``grid_logging``    ``log_image_grid`` (W&B, TensorBoard, PNG files)
==================  =============================================================================
"""

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
