"""The mask-sampler interface every mask kind implements."""

from __future__ import annotations

import torch
from torch import Tensor


class MaskSampler:
    """Base class of mask samplers (also the type LightningCLI configs name with ``class_path``).

    ``sampler(batch, size, generator=None, device=None)`` returns a float tensor (batch,1,H,W) of
    0/1 values, 1 = hole. Randomness comes only from ``generator`` (a CPU ``torch.Generator``), so
    the same generator state gives the same masks.
    """

    kind: str = "unknown"

    def __call__(
        self,
        batch: int,
        size: int | tuple[int, int],
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> Tensor:
        raise NotImplementedError

    def sample_with_kinds(
        self,
        batch: int,
        size: int | tuple[int, int],
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> tuple[Tensor, list[str]]:
        """Masks plus the kind of each one (``"center"``, ``"blocks"``, ``"region"``)."""
        return self(batch, size, generator=generator, device=device), [self.kind] * batch
