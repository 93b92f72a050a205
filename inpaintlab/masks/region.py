"""Free-form ``region`` masks: brush strokes of varied width and angle plus blobs (LaMa-like)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from inpaintlab._checks import as_size
from inpaintlab.masks._common import check_batch, check_generator, check_range, mask_rngs, to_masks
from inpaintlab.masks._draw import capsule, ellipse
from inpaintlab.masks.base import MaskSampler
from inpaintlab.masks.kind import mask_kind

__all__ = ["MIN_REGION_SIZE", "REGION_WIDTHS", "RegionMasks", "region_mask"]

#: Brush width range of each width class, as a fraction of ``min(H, W)`` (at least 1 pixel).
#: Roughly LaMa's thin / medium / thick masks at 256 px (3-10, 10-30, 30-64 px).
REGION_WIDTHS: dict[str, tuple[float, float]] = {
    "thin": (0.01, 0.04),
    "medium": (0.04, 0.12),
    "thick": (0.12, 0.25),
}
#: Smallest ``min(H, W)`` a region mask is drawn at (its slanted stroke needs room).
MIN_REGION_SIZE: int = 16

_BLOB_PROBABILITY = 0.2  # otherwise a stroke
_MAX_SEGMENTS = 5  # per stroke
_MAX_ELEMENTS = 400  # strokes and blobs per mask
_MAX_STALLED = 25  # elements in a row that add nothing before a mask is given up
_SHRINK_TRIES = 4  # halvings of a segment/blob that would overshoot the area
_MASK_TRIES = 10  # whole masks re-drawn before giving up
_MIN_SEGMENT = 4.0  # pixels
_SLANT_MIN_LENGTH = 12.0  # pixels: a 7-turn staircase at 30 degrees, with margin


class _Canvas:
    """A hole array that keeps its pixel count and refuses additions that exceed ``max_pixels``."""

    def __init__(self, height: int, width: int, max_pixels: float) -> None:
        self.hole = np.zeros((height, width), dtype=bool)
        self.count = 0
        self.max_pixels = max_pixels

    def add(self, drawn: tuple[tuple[slice, slice], np.ndarray] | None) -> bool:
        """Add the drawn pixels unless they miss the image or exceed ``max_pixels``."""
        if drawn is None:
            return False
        box, pixels = drawn
        new = pixels & ~self.hole[box]
        added = int(new.sum())
        if self.count + added > self.max_pixels:
            return False
        self.hole[box] |= new
        self.count += added
        return True


def _brush_width(rng: np.random.Generator, width: str, side: int) -> float:
    name = str(rng.choice(list(REGION_WIDTHS))) if width == "mixed" else width
    lo, hi = REGION_WIDTHS[name]
    return max(1.0, side * rng.uniform(lo, hi))


def _segment_end(
    start: tuple[float, float], angle: float, length: float, height: int, width: int
) -> tuple[tuple[float, float], float]:
    """End of a segment from ``start``, shortened to stay in the image; turns back at an edge."""
    for heading in (angle, angle + math.pi):
        dy, dx = math.sin(heading), math.cos(heading)
        reach = length
        if dy > 1e-9:
            reach = min(reach, (height - 1 - start[0]) / dy)
        elif dy < -1e-9:
            reach = min(reach, -start[0] / dy)
        if dx > 1e-9:
            reach = min(reach, (width - 1 - start[1]) / dx)
        elif dx < -1e-9:
            reach = min(reach, -start[1] / dx)
        if reach >= min(length, 2.0):
            break
    return (start[0] + reach * dy, start[1] + reach * dx), heading


def _draw_stroke(
    canvas: _Canvas,
    rng: np.random.Generator,
    start: tuple[float, float],
    angle: float,
    length: float,
    brush: float,
    segments: int,
    target: float,
    turn_first: bool = False,
) -> None:
    """A polyline brush stroke; each segment is shrunk (length and width) while it overshoots.

    Segments after the first (and the first too with ``turn_first``) turn by up to 2 radians and draw
    a new length.
    """
    height, width = canvas.hole.shape
    side = min(height, width)
    for index in range(segments):
        if index or turn_first:
            angle += rng.uniform(-2.0, 2.0)
            length = max(_MIN_SEGMENT, side * rng.uniform(0.1, 0.4))
        seg_length, seg_brush = length, brush
        for _ in range(_SHRINK_TRIES):
            end, heading = _segment_end(start, angle, seg_length, height, width)
            if canvas.add(capsule(canvas.hole, start, end, seg_brush)):
                start, angle = end, heading
                break
            seg_length, seg_brush = seg_length / 2, max(1.0, seg_brush / 2)
        if canvas.count >= target:
            return


def _draw_slanted_stroke(
    canvas: _Canvas, rng: np.random.Generator, brush: float, target: float
) -> tuple[float, float, float] | None:
    """The guaranteed stroke: a straight segment at 30-60 degrees to the axes, fully in the image."""
    height, width = canvas.hole.shape
    side = min(height, width)
    angle = math.pi / 4 + rng.uniform(-math.pi / 12, math.pi / 12) + math.pi / 2 * int(rng.integers(4))
    length = min(max(side * rng.uniform(0.3, 0.6), _SLANT_MIN_LENGTH), 0.9 * side)
    for _ in range(_SHRINK_TRIES + 2):
        dy, dx = length * math.sin(angle), length * math.cos(angle)
        y0 = rng.uniform(max(0.0, -dy), height - 1 - max(0.0, dy))
        x0 = rng.uniform(max(0.0, -dx), width - 1 - max(0.0, dx))
        if canvas.add(capsule(canvas.hole, (y0, x0), (y0 + dy, x0 + dx), brush)):
            return y0 + dy, x0 + dx, angle
        if brush > 1.0:  # too much area: thinner first, then shorter (not below the minimum length)
            brush = max(1.0, brush / 2)
        else:
            length = max(_SLANT_MIN_LENGTH, length * 0.7)
    return None


def _one_region_mask(
    rng: np.random.Generator, height: int, width: int, area: tuple[float, float], width_class: str
) -> np.ndarray | None:
    side, pixels = min(height, width), height * width
    target = rng.uniform(*area) * pixels
    canvas = _Canvas(height, width, max_pixels=area[1] * pixels)
    brush = _brush_width(rng, width_class, side)
    slanted_end = _draw_slanted_stroke(canvas, rng, brush, target)
    if slanted_end is None:
        return None
    y, x, angle = slanted_end
    extra_segments = int(rng.integers(0, _MAX_SEGMENTS))
    _draw_stroke(canvas, rng, (y, x), angle, 0.0, brush, extra_segments, target, turn_first=True)
    stalled = 0  # elements in a row that added nothing (everything overshoots the maximum area)
    for _ in range(_MAX_ELEMENTS):
        if canvas.count >= target or stalled >= _MAX_STALLED:
            break
        before = canvas.count
        brush = _brush_width(rng, width_class, side)
        start = (rng.uniform(0, height - 1), rng.uniform(0, width - 1))
        if rng.random() < _BLOB_PROBABILITY:
            radii = (brush * rng.uniform(0.75, 2.5), brush * rng.uniform(0.75, 2.5))
            for _ in range(_SHRINK_TRIES):
                if canvas.add(ellipse(canvas.hole, start, radii, rng.uniform(0, math.pi))):
                    break
                radii = (radii[0] / 2, radii[1] / 2)
        else:
            angle = rng.uniform(0, 2 * math.pi)
            segments = int(rng.integers(1, _MAX_SEGMENTS + 1))
            length = max(_MIN_SEGMENT, side * rng.uniform(0.1, 0.4))
            _draw_stroke(canvas, rng, start, angle, length, brush, segments, target)
        stalled = stalled + 1 if canvas.count == before else 0
    if canvas.count < area[0] * pixels or mask_kind(canvas.hole) != "region":
        return None
    return canvas.hole


def region_mask(
    size: int | tuple[int, int],
    *,
    area: tuple[float, float] = (0.05, 0.4),
    width: Literal["thin", "medium", "thick", "mixed"] = "mixed",
    batch: int = 1,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """Random free-form masks: round-ended brush strokes (polylines) and elliptic blobs.

    Each mask draws a target hole fraction uniformly from ``area``, then adds strokes and blobs until
    it is reached; a stroke or blob that would push the hole above ``area[1]`` is shrunk or dropped,
    so the hole fraction always lies in ``[area[0], area[1]]`` (just above the target). Brush widths
    come from :data:`REGION_WIDTHS` (``"mixed"`` picks a class per stroke).

    Guarantee (so :func:`~inpaintlab.masks.mask_kind` says ``"region"``): every mask starts with a
    straight stroke at 30-60 degrees to the axes, at least 12 px long, and a mask whose boundary still
    has no 7-turn staircase is re-drawn (rare).

    Args:
        size: output size, an int or (H, W); ``min(H, W)`` must be at least 16.
        area: (min, max) fraction of the image in the hole, ``0 < min <= max < 1``.
        width: brush width class: ``"thin"``, ``"medium"``, ``"thick"`` or ``"mixed"``.
        batch: number of masks.
        generator: CPU ``torch.Generator``; the only source of randomness (torch's global RNG if None).
        device: device of the returned tensor (CPU when None).

    Returns:
        float tensor (batch,1,H,W) of 0/1, 1 = hole.

    Raises:
        ValueError: bad arguments. RuntimeError: ``area`` cannot be met at this size (e.g. a tiny
        maximum at 16 px) after several re-draws.
    """
    height, width_px = as_size(size)
    batch = check_batch(batch)
    generator = check_generator(generator)
    area = check_range(area, "area", 0.0, 0.999)
    if width not in (*REGION_WIDTHS, "mixed"):
        raise ValueError(f"width must be one of {[*REGION_WIDTHS, 'mixed']}, got {width!r}")
    pixels = height * width_px
    if math.floor(area[1] * pixels) < max(1, math.ceil(area[0] * pixels)):
        raise ValueError(
            f"area {area} holds no whole number of pixels at size {(height, width_px)} "
            f"({area[0] * pixels:.2f} to {area[1] * pixels:.2f} pixels); widen area"
        )
    if min(height, width_px) < MIN_REGION_SIZE:
        raise ValueError(
            f"size {(height, width_px)} is too small for region masks: min(H, W) must be >= {MIN_REGION_SIZE}"
        )
    holes = np.zeros((batch, height, width_px), dtype=bool)
    for index, rng in enumerate(mask_rngs(batch, generator)):
        for _ in range(_MASK_TRIES):
            hole = _one_region_mask(rng, height, width_px, area, width)
            if hole is not None:
                holes[index] = hole
                break
        else:
            raise RuntimeError(
                f"could not draw a region mask with hole fraction in {area} at size {(height, width_px)} "
                f"with {width!r} brushes; widen area or use a larger size"
            )
    return to_masks(holes, device)


@dataclass
class RegionMasks(MaskSampler):
    """Sampler of :func:`region_mask`."""

    area: tuple[float, float] = (0.05, 0.4)
    width: Literal["thin", "medium", "thick", "mixed"] = "mixed"
    kind = "region"

    def __post_init__(self) -> None:
        self.area = check_range(self.area, "area", 0.0, 0.999)
        if self.width not in (*REGION_WIDTHS, "mixed"):
            raise ValueError(f"width must be one of {[*REGION_WIDTHS, 'mixed']}, got {self.width!r}")

    def __call__(
        self,
        batch: int,
        size: int | tuple[int, int],
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> Tensor:
        return region_mask(
            size, area=self.area, width=self.width, batch=batch, generator=generator, device=device
        )
