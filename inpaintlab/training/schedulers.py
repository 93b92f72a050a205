"""Learning-rate schedulers of the GAN module, built from a name and stepped by hand.

With manual optimisation Lightning saves and restores the schedulers returned by
``configure_optimizers`` but never steps them; :func:`step_scheduler` does, once per epoch
(cosine) or after each validation with the monitored metric (plateau).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from torch.optim import Optimizer
from torch.optim.lr_scheduler import CosineAnnealingLR, LRScheduler, ReduceLROnPlateau


def _cosine(
    optimizer: Optimizer, *, max_epochs: int, mode: str, eta_min: float = 0.0, t_max: int | None = None
):
    """Cosine annealing over ``t_max`` epochs (default: the trainer's ``max_epochs``) down to ``eta_min``."""
    t_max = t_max or max_epochs
    if not t_max or t_max <= 0:
        raise ValueError(
            "scheduler 'cosine' needs a number of epochs: set trainer.max_epochs or "
            f"model.scheduler_kwargs.t_max, got t_max={t_max!r}"
        )
    return CosineAnnealingLR(optimizer, T_max=int(t_max), eta_min=eta_min)


def _plateau(
    optimizer: Optimizer,
    *,
    max_epochs: int,
    mode: str,
    factor: float = 0.5,
    patience: int = 5,
    min_lr: float = 0.0,
):
    """Multiply the learning rate by ``factor`` when the monitored validation metric stops improving."""
    return ReduceLROnPlateau(optimizer, mode=mode, factor=factor, patience=patience, min_lr=min_lr)


SCHEDULERS: dict[str, Callable[..., LRScheduler | ReduceLROnPlateau]] = {
    "cosine": _cosine,
    "plateau": _plateau,
}
"""Scheduler name -> factory ``f(optimizer, *, max_epochs, mode, **scheduler_kwargs)``."""


def build_scheduler(
    name: str, optimizer: Optimizer, *, max_epochs: int, mode: str, kwargs: dict[str, Any] | None = None
) -> LRScheduler | ReduceLROnPlateau:
    """Build scheduler ``name`` (a key of :data:`SCHEDULERS`) for ``optimizer``.

    Args:
        mode: ``"min"`` or ``"max"``, the direction of the monitored metric (plateau only).
        kwargs: extra arguments of the factory (cosine: ``eta_min``, ``t_max``; plateau: ``factor``,
            ``patience``, ``min_lr``).
    """
    if name not in SCHEDULERS:
        raise ValueError(f"scheduler must be one of {sorted(SCHEDULERS)} or None, got {name!r}")
    try:
        return SCHEDULERS[name](optimizer, max_epochs=max_epochs, mode=mode, **(kwargs or {}))
    except TypeError as err:
        raise ValueError(f"bad scheduler_kwargs {kwargs!r} for scheduler {name!r}: {err}") from None


def step_scheduler(scheduler: Any, metric: float | None = None) -> None:
    """Step ``scheduler``: plateau schedulers need ``metric`` (skipped when it is None), others step as is.

    The schedule follows epochs whether or not its optimizer stepped: the discriminator waits out the
    warm-up (or never steps with a zero adversarial weight) and joins at the learning rate of that epoch,
    so PyTorch's warning about a scheduler stepped before its optimizer is expected here and silenced."""
    if isinstance(scheduler, ReduceLROnPlateau):
        if metric is not None:
            scheduler.step(metric)
        return
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler\.step\(\)` before `optimizer\.step\(\)`")
        scheduler.step()
