"""Helpers shared by the mask generators: argument checks, per-mask random streams, output tensors."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def check_batch(batch: object, name: str = "batch") -> int:
    if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)):
        raise TypeError(f"{name} must be an int >= 1, got {type(batch).__name__} {batch!r}")
    if batch < 1:
        raise ValueError(f"{name} must be >= 1, got {batch}; ask for at least one mask")
    return int(batch)


def check_generator(generator: object) -> torch.Generator | None:
    if generator is None:
        return None
    if not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator or None, got {type(generator).__name__}; "
            "use torch.Generator().manual_seed(seed)"
        )
    if generator.device.type != "cpu":
        raise ValueError(
            f"generator must be a CPU torch.Generator, got one on {generator.device}; masks are drawn on "
            "the CPU and moved with device=..."
        )
    return generator


def check_range(value: object, name: str, low: float, high: float) -> tuple[float, float]:
    """A pair (lo, hi) with low < lo <= hi <= high (a single number means (x, x))."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = (value, value)
    try:
        lo, hi = (float(v) for v in value)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (min, max), got {value!r}") from None
    if not (low < lo <= hi <= high):
        raise ValueError(f"{name} must satisfy {low} < min <= max <= {high}, got {(lo, hi)}")
    return lo, hi


def mask_rngs(batch: int, generator: torch.Generator | None) -> list[np.random.Generator]:
    """One numpy random stream per mask, seeded from ``generator`` (torch's global RNG when None)."""
    seeds = torch.randint(0, 2**62, (batch,), generator=generator, dtype=torch.int64)
    return [np.random.default_rng(int(s)) for s in seeds]


def to_masks(holes: np.ndarray, device: torch.device | str | None) -> Tensor:
    """(N,H,W) bool array -> float tensor (N,1,H,W) of 0/1 on ``device``."""
    masks = torch.from_numpy(np.ascontiguousarray(holes)).to(torch.float32).unsqueeze(1)
    return masks if device is None else masks.to(device)
