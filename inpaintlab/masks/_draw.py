"""Rasterise brush segments and ellipses into a bool hole array (numpy, pixel centres at integer coords)."""

from __future__ import annotations

import math

import numpy as np


def _box(hole: np.ndarray, y0: float, y1: float, x0: float, x1: float) -> tuple[slice, slice] | None:
    height, width = hole.shape
    top, bottom = max(0, math.floor(y0)), min(height, math.ceil(y1) + 1)
    left, right = max(0, math.floor(x0)), min(width, math.ceil(x1) + 1)
    if top >= bottom or left >= right:
        return None
    return slice(top, bottom), slice(left, right)


def capsule(
    hole: np.ndarray, start: tuple[float, float], end: tuple[float, float], width: float
) -> tuple[tuple[slice, slice], np.ndarray] | None:
    """Pixels whose centre is within ``width / 2`` of the segment ``start``-``end`` ((y, x) points).

    A brush stroke with round ends. Returns the bounding box in ``hole`` and the stroke's pixels in
    it (``hole`` is not changed), or None when the stroke misses the image.
    """
    radius = width / 2
    (ya, xa), (yb, xb) = start, end
    box = _box(hole, min(ya, yb) - radius, max(ya, yb) + radius, min(xa, xb) - radius, max(xa, xb) + radius)
    if box is None:
        return None
    ys = np.arange(box[0].start, box[0].stop, dtype=np.float64)[:, None] - ya
    xs = np.arange(box[1].start, box[1].stop, dtype=np.float64)[None, :] - xa
    dy, dx = yb - ya, xb - xa
    length2 = dy * dy + dx * dx
    if length2 > 0:
        t = ys * (dy / length2) + xs * (dx / length2)  # projection onto the segment, clamped to [0, 1]
        np.maximum(t, 0.0, out=t)
        np.minimum(t, 1.0, out=t)
        dist2 = (ys - t * dy) ** 2 + (xs - t * dx) ** 2
    else:
        dist2 = ys**2 + xs**2
    return box, dist2 <= radius * radius + 1e-9


def ellipse(
    hole: np.ndarray, centre: tuple[float, float], radii: tuple[float, float], angle: float
) -> tuple[tuple[slice, slice], np.ndarray] | None:
    """Pixels inside the ellipse with semi-axes ``radii`` rotated by ``angle`` radians (a blob)."""
    (yc, xc), (ra, rb) = centre, radii
    reach = max(ra, rb)
    box = _box(hole, yc - reach, yc + reach, xc - reach, xc + reach)
    if box is None:
        return None
    ys = np.arange(box[0].start, box[0].stop, dtype=np.float64)[:, None] - yc
    xs = np.arange(box[1].start, box[1].stop, dtype=np.float64)[None, :] - xc
    cos, sin = math.cos(angle), math.sin(angle)
    u = (xs * cos + ys * sin) / ra
    v = (-xs * sin + ys * cos) / rb
    return box, u * u + v * v <= 1.0
