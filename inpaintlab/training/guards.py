"""Guard against non-finite (NaN/inf) losses: skip the update, count it, stop after a limit."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


class NonFiniteLossError(RuntimeError):
    """Raised when more than ``max_steps`` updates were skipped for non-finite losses."""


class NonFiniteGuard:
    """Counts skipped updates and raises :class:`NonFiniteLossError` once there are more than ``max_steps``.

    The caller decides whether a loss is finite (under DDP, for all ranks at once, so every rank skips the
    same update) and reports it with :meth:`record_skip`. The count is part of the training state: save it
    with :meth:`state_dict` and restore it with :meth:`load_state_dict`.

    Args:
        max_steps: how many skipped updates are tolerated over the whole run; 0 stops at the first one.
    """

    def __init__(self, max_steps: int = 10) -> None:
        if not isinstance(max_steps, int) or max_steps < 0:
            raise ValueError(f"max_nonfinite_steps must be an int >= 0, got {max_steps!r}")
        self.max_steps = max_steps
        self.skipped = 0

    def record_skip(self, what: str, step: int) -> None:
        """Count one skipped update of ``what`` (e.g. ``"discriminator"``) at ``step``; raise past the
        limit."""
        self.skipped += 1
        log.warning(
            "non-finite %s loss at step %d: update skipped (%d of at most %d)",
            what,
            step,
            self.skipped,
            self.max_steps,
        )
        if self.skipped > self.max_steps:
            raise NonFiniteLossError(
                f"training stopped: {self.skipped} updates had a non-finite (NaN/inf) loss, more than "
                f"max_nonfinite_steps={self.max_steps} (the last one: the {what} loss at step {step}). "
                "Lower the learning rates (model.g_lr / model.d_lr), set model.gradient_clip_val, use "
                "bf16-mixed instead of 16-mixed precision, or check the data for corrupt images."
            )

    def state_dict(self) -> dict[str, int]:
        return {"skipped": self.skipped}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.skipped = int(state.get("skipped", 0))
