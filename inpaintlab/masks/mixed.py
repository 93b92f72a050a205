"""A sampler that mixes mask kinds with given probabilities."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from inpaintlab._checks import as_size
from inpaintlab.masks._common import check_batch, check_generator
from inpaintlab.masks.base import MaskSampler
from inpaintlab.masks.region import RegionMasks
from inpaintlab.masks.shapes import BlockMasks, CenterMasks

__all__ = ["MixedMasks", "default_samplers"]


def default_samplers() -> dict[str, MaskSampler]:
    """The default sampler of each kind: ``CenterMasks()``, ``BlockMasks()``, ``RegionMasks()``."""
    return {"center": CenterMasks(), "blocks": BlockMasks(), "region": RegionMasks()}


def _default_weights() -> dict[str, float]:
    return {"center": 1 / 3, "blocks": 1 / 3, "region": 1 / 3}


@dataclass
class MixedMasks(MaskSampler):
    """Each mask comes from one sampler, picked at random with probability proportional to its weight.

    Args:
        weights: name -> weight (>= 0, not all 0; normalised to probabilities). Names must be keys of
            ``samplers``.
        samplers: name -> sampler; default :func:`default_samplers` (``"center"``, ``"blocks"``,
            ``"region"`` with default settings).

    ``sample_with_kinds`` returns each mask's true kind, as its own sampler reports it.

    Example (LightningCLI YAML)::

        masks:
          class_path: inpaintlab.masks.MixedMasks
          init_args:
            weights: {center: 0.2, blocks: 0.3, region: 0.5}
    """

    weights: dict[str, float] = field(default_factory=_default_weights)
    samplers: dict[str, MaskSampler] | None = None
    kind = "mixed"

    def __post_init__(self) -> None:
        if self.samplers is None:
            self.samplers = default_samplers()
        if not isinstance(self.weights, dict) or not self.weights:
            raise ValueError(f"weights must be a non-empty dict name -> weight, got {self.weights!r}")
        for name, sampler in self.samplers.items():
            if not isinstance(sampler, MaskSampler):
                raise TypeError(f"samplers[{name!r}] must be a MaskSampler, got {type(sampler).__name__}")
        unknown = sorted(set(self.weights) - set(self.samplers))
        if unknown:
            raise ValueError(
                f"weights name samplers {unknown} that are not in samplers {sorted(self.samplers)}; "
                "use those names or pass samplers={name: sampler}"
            )
        values = [float(w) for w in self.weights.values()]
        if any(not w >= 0 for w in values) or sum(values) <= 0:
            raise ValueError(f"weights must be >= 0 and not all 0, got {self.weights!r}")

    @property
    def probabilities(self) -> dict[str, float]:
        """The weights normalised to sum to 1."""
        total = sum(float(w) for w in self.weights.values())
        return {name: float(w) / total for name, w in self.weights.items()}

    def sample_with_kinds(
        self,
        batch: int,
        size: int | tuple[int, int],
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> tuple[Tensor, list[str]]:
        """Masks (batch,1,H,W) and the kind of each (from the sampler that made it)."""
        height, width = as_size(size)
        batch = check_batch(batch)
        generator = check_generator(generator)
        names = list(self.weights)
        probs = torch.tensor([self.probabilities[n] for n in names], dtype=torch.float64)
        picks = torch.multinomial(probs, batch, replacement=True, generator=generator).tolist()
        masks = torch.zeros(batch, 1, height, width, device=device)
        kinds: list[str] = [""] * batch
        for index, name in enumerate(names):
            rows = [i for i, p in enumerate(picks) if p == index]
            if not rows:
                continue
            sampler = self.samplers[name]  # type: ignore[index]
            sub_masks, sub_kinds = sampler.sample_with_kinds(len(rows), (height, width), generator, device)
            masks[rows] = sub_masks.to(masks.device)
            for row, sub_kind in zip(rows, sub_kinds):
                kinds[row] = sub_kind
        return masks, kinds

    def __call__(
        self,
        batch: int,
        size: int | tuple[int, int],
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> Tensor:
        return self.sample_with_kinds(batch, size, generator=generator, device=device)[0]
