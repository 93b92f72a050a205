"""LaMa-style training masks: random polyline brush strokes of a width class, plus optional boxes.

Suvorov et al. (LaMa, 2022) train and evaluate on three families at 256 px:

* ``thin``: 4-50 strokes, brush 5-15 px, segments 10-50 px, no boxes;
* ``medium``: 4-5 strokes, brush 5-55 px, segments 10-110 px, and (with probability 0.3) 1-5 boxes of
  10-50 px;
* ``thick``: 1-5 strokes, brush 5-105 px, segments 10-210 px, and (p = 0.5) 1-3 boxes of 30-150 px;

each stroke being a polyline of 1-5 segments that turn by up to ~4 radians, and a mask covering more than
half the picture is redrawn. :data:`STROKE_PRESETS` holds those numbers; every length scales with
``min(H, W) / 256``, so the masks look the same at any size. Strokes are drawn with round ends
(``masks._draw.capsule``), as a brush would.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from inpaintlab._checks import as_size
from inpaintlab.masks._common import check_batch, check_generator, mask_rngs, to_masks
from inpaintlab.masks._draw import capsule
from inpaintlab.masks.base import MaskSampler

__all__ = ["STROKE_PRESETS", "StrokeMasks", "stroke_mask"]


@dataclass(frozen=True)
class StrokeStyle:
    """One LaMa mask family at 256 px (lengths in pixels; scaled with the picture)."""

    strokes: tuple[int, int]  # number of strokes, inclusive
    brush: tuple[float, float]  # brush width
    segment: tuple[float, float]  # segment length
    box_probability: float
    boxes: tuple[int, int]  # number of boxes, inclusive
    box_size: tuple[float, float]  # box side


#: LaMa's thin / medium / thick families (``configs/training/data/*`` of the LaMa repository, 256 px).
STROKE_PRESETS: dict[str, StrokeStyle] = {
    "thin": StrokeStyle((4, 50), (5, 15), (10, 50), 0.0, (0, 0), (0, 0)),
    "medium": StrokeStyle((4, 5), (5, 55), (10, 110), 0.3, (1, 5), (10, 50)),
    "thick": StrokeStyle((1, 5), (5, 105), (10, 210), 0.5, (1, 3), (30, 150)),
}
_MAX_SEGMENTS = 5
_MAX_ANGLE = 4.0  # radians
_MASK_TRIES = 20


def _one_stroke_mask(rng: np.random.Generator, height: int, width: int, style: StrokeStyle) -> np.ndarray:
    hole = np.zeros((height, width), dtype=bool)
    scale = min(height, width) / 256
    for index in range(int(rng.integers(style.strokes[0], style.strokes[1] + 1))):
        y, x = rng.uniform(0, height - 1), rng.uniform(0, width - 1)
        for _ in range(int(rng.integers(1, _MAX_SEGMENTS + 1))):
            angle = 0.01 + rng.uniform(0, _MAX_ANGLE)
            if index % 2 == 0:
                angle = 2 * math.pi - angle
            length = scale * rng.uniform(*style.segment)
            brush = max(1.0, scale * rng.uniform(*style.brush))
            ny = min(max(y + length * math.cos(angle), 0.0), height - 1.0)
            nx = min(max(x + length * math.sin(angle), 0.0), width - 1.0)
            drawn = capsule(hole, (y, x), (ny, nx), brush)
            if drawn is not None:
                hole[drawn[0]] |= drawn[1]
            y, x = ny, nx
    if style.box_probability > 0 and rng.random() < style.box_probability:
        for _ in range(int(rng.integers(style.boxes[0], style.boxes[1] + 1))):
            bh = min(height, max(1, round(scale * rng.uniform(*style.box_size))))
            bw = min(width, max(1, round(scale * rng.uniform(*style.box_size))))
            top, left = int(rng.integers(0, height - bh + 1)), int(rng.integers(0, width - bw + 1))
            hole[top : top + bh, left : left + bw] = True
    return hole


def stroke_mask(
    size: int | tuple[int, int],
    *,
    style: Literal["thin", "medium", "thick"] = "medium",
    max_area: float = 0.5,
    batch: int = 1,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """Random LaMa-style stroke (+ box) masks of one family of :data:`STROKE_PRESETS`.

    A mask with no hole pixel or a hole above ``max_area`` of the picture is redrawn (up to 20 times;
    then the smallest non-empty draw is kept: only a very small ``max_area`` gets there).

    Args:
        size: output size, an int or (H, W), each at least 8.
        style: ``"thin"``, ``"medium"`` or ``"thick"``.
        max_area: largest hole fraction, in (0, 1].
        batch: number of masks.
        generator: CPU ``torch.Generator``; the only source of randomness (torch's global RNG if None).
        device: device of the returned tensor (CPU when None).

    Returns:
        float tensor (batch,1,H,W) of 0/1, 1 = hole.
    """
    height, width = as_size(size)
    batch = check_batch(batch)
    generator = check_generator(generator)
    if style not in STROKE_PRESETS:
        raise ValueError(f"style must be one of {sorted(STROKE_PRESETS)}, got {style!r}")
    if not 0 < float(max_area) <= 1:
        raise ValueError(f"max_area must be in (0, 1], got {max_area!r}")
    if min(height, width) < 8:
        raise ValueError(f"size {(height, width)} is too small for stroke masks: min(H, W) must be >= 8")
    preset = STROKE_PRESETS[style]
    holes = np.zeros((batch, height, width), dtype=bool)
    budget = max_area * height * width
    for index, rng in enumerate(mask_rngs(batch, generator)):
        draws = []
        for _ in range(_MASK_TRIES):
            draws.append(_one_stroke_mask(rng, height, width, preset))
            if 0 < draws[-1].sum() <= budget:
                break
        # all tries empty or too large (only at tiny max_area): the smallest non-empty draw
        holes[index] = min((d for d in draws if d.any()), key=np.sum, default=draws[-1])
    return to_masks(holes, device)


@dataclass
class StrokeMasks(MaskSampler):
    """Sampler of :func:`stroke_mask` (kind ``"region"``: free-form holes).

    Example (LightningCLI YAML, LaMa's mix of families)::

        masks:
          class_path: inpaintlab.masks.MixedMasks
          init_args:
            samplers:
              thin: {class_path: inpaintlab.masks.StrokeMasks, init_args: {style: thin}}
              thick: {class_path: inpaintlab.masks.StrokeMasks, init_args: {style: thick}}
            weights: {thin: 0.5, thick: 0.5}
    """

    style: Literal["thin", "medium", "thick"] = "medium"
    max_area: float = 0.5
    kind = "region"

    def __post_init__(self) -> None:
        if self.style not in STROKE_PRESETS:
            raise ValueError(f"style must be one of {sorted(STROKE_PRESETS)}, got {self.style!r}")
        if not 0 < float(self.max_area) <= 1:
            raise ValueError(f"max_area must be in (0, 1], got {self.max_area!r}")

    def __call__(
        self,
        batch: int,
        size: int | tuple[int, int],
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> Tensor:
        return stroke_mask(
            size, style=self.style, max_area=self.max_area, batch=batch, generator=generator, device=device
        )
