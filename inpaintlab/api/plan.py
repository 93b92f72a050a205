"""Where and at which scale the model runs on a user's picture: the inference plan.

The generators are fully convolutional, so a picture of any size can run at its own scale. Only a hole
that is too *thick* for what the model learned (a hole's thickness is twice the largest distance from
one of its pixels to a known pixel; a long thin stroke is thin however long it is) needs the picture
downscaled around it. The plan therefore works per hole component:

1. **Components and thickness.** Connected components of the hole (8-connected; on a grid coarsened to
   at most ~1024 cells a side, and coarser still while there are more than 4096 components, so that a
   12-megapixel mask or a mask of many thousands of specks stays cheap) and the thickness of each (a
   Euclidean distance transform).
2. **Scale.** ``auto``: a component of thickness ``t`` runs at scale ``min(1, max_hole / t)``, rounded
   down to a power of 2^-1/4 (``max_hole``: the thickest hole the model fills at its own scale, by default
   half its training resolution); ``crop`` runs every component at full scale.
3. **Windows.** Components of one scale are merged greedily (each box is tried against the last few
   groups only, so thousands of components cost O(n)) while the merged window stays within
   ``max_window`` model pixels a side; each window is the group's bounding box grown by a margin of
   context (``max(resolution / 4, thickness)`` model pixels) and cut to the picture. Where the windows
   of one scale cover at least half the picture and the picture fits ``max_window``, the whole picture
   is one window instead. There is no limit on the number of windows: they are batched.
4. Each hole pixel is written by exactly one window; every window sees all hole pixels inside it as hole.

``original`` is one window of the whole picture at full scale; ``resize`` one window of the whole
picture downscaled so that its longer side is ``resolution`` (never upscaled); these are IOPaint's
strategy names. ``window_input`` and ``window_values`` turn a window into the model's input and
the model's output back into values for the window's hole pixels.

This module imports no torch: the plan is numpy (``Window.fill`` is a numpy array), shared by both
runtimes. How a window becomes model input and the output values for its hole pixels is in
:mod:`inpaintlab.api.window_tensors` (torch) and :mod:`inpaintlab.api.window_arrays` (numpy, for ONNX
Runtime), the same two functions in each, tested against each other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

#: The inference strategies (IOPaint's names, plus ``auto``).
STRATEGIES = ("auto", "original", "crop", "resize")

_COARSE_CELLS = 1024  # the component analysis runs on at most this many cells a side
_MAX_COMPONENTS = 4096  # more than this: coarsen the grid again
_MERGE_CANDIDATES = 8  # a component box is tried against this many of the latest groups
_WHOLE_PICTURE_COVER = 0.5  # windows covering this share of the picture -> the whole picture


@dataclass(frozen=True)
class Window:
    """A rectangle of one picture, the scale it runs at, and which hole pixels it writes.

    ``top``, ``left``, ``height``, ``width`` in picture pixels; ``scale`` model pixels per picture pixel
    (<= 1); ``fill`` (height, width) numpy bool: the hole pixels this window writes.
    """

    index: int
    top: int
    left: int
    height: int
    width: int
    scale: float
    fill: np.ndarray

    @property
    def model_size(self) -> tuple[int, int]:
        """(rows, cols) of the window at model scale."""
        return scaled(self.height, self.scale), scaled(self.width, self.scale)


def dilate_hole(hole: np.ndarray, pixels: int) -> np.ndarray:
    """Grow a bool hole (H,W) by ``pixels`` in every direction (square structuring element); a numpy
    array (a CPU tensor is taken as one) in, a numpy array out."""
    hole = np.asarray(hole, dtype=bool)
    if pixels < 0:
        raise ValueError(f"dilate must be >= 0 pixels, got {pixels}")
    box = _bbox(hole)
    if pixels == 0 or box is None:
        return hole
    t, b, l, r = box
    h, w = hole.shape
    t, l, b, r = max(t - pixels, 0), max(l - pixels, 0), min(b + pixels, h), min(r + pixels, w)
    out = hole.copy()
    out[t:b, l:r] = ndimage.maximum_filter(hole[t:b, l:r], size=2 * pixels + 1, mode="constant", cval=False)
    return out


def check_strategy(strategy: object) -> str:
    """``strategy`` if it is one of :data:`STRATEGIES`, else a ``ValueError`` naming them."""
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {list(STRATEGIES)}, got {strategy!r}")
    return str(strategy)


def plan_settings(
    resolution: int, batch_size: object, max_hole: object = None, max_window: object = None
) -> tuple[int, int, int]:
    """``(batch_size, max_hole, max_window)`` of an inpainter of training resolution ``resolution``, checked,
    with the defaults filled in (``max_hole``: half the resolution; ``max_window``: 4x the resolution).

    Raises:
        ValueError: a setting that is not an int >= 1 (None means the default for the two limits).
    """
    for arg, value in (("batch_size", batch_size), ("max_hole", max_hole), ("max_window", max_window)):
        if (value is not None or arg == "batch_size") and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise ValueError(f"{arg} must be an int >= 1, got {value!r}")
    default_hole, default_window = default_limits(resolution)
    return batch_size, max_hole or default_hole, max_window or default_window


def default_limits(resolution: int) -> tuple[int, int]:
    """``(max_hole, max_window)`` by default for training resolution R: ``(max(1, R // 2), 4 * R)``."""
    return max(1, resolution // 2), 4 * resolution


def plan_windows(
    hole: np.ndarray,
    index: int,
    resolution: int,
    *,
    strategy: str = "auto",
    max_hole: int | None = None,
    max_window: int | None = None,
) -> list[Window]:
    """Windows covering every hole pixel of one picture exactly once (see the module docstring).

    Args:
        hole: (H,W) numpy bool, True = hole.
        index: the picture's index in its batch (copied into each window).
        resolution: the model's training resolution R.
        strategy: one of :data:`STRATEGIES`.
        max_hole: thickest hole (model pixels) run at full scale by ``auto`` (default ``R // 2``).
        max_window: largest window side in model pixels (default ``4 * R``).
    """
    strategy = check_strategy(strategy)
    default_hole, default_window = default_limits(resolution)
    max_hole = default_hole if max_hole is None else int(max_hole)
    max_window = default_window if max_window is None else int(max_window)
    if max_hole < 1 or max_window < 1:
        raise ValueError(f"max_hole and max_window must be >= 1 pixel, got {max_hole}, {max_window}")
    array = np.asarray(hole, dtype=bool)
    h, w = array.shape
    box = _bbox(array)
    if box is None:
        return []
    if strategy in ("original", "resize"):
        scale = 1.0 if strategy == "original" else min(1.0, resolution / max(h, w))
        return [Window(index, 0, 0, h, w, scale, array)]
    labels, f, components = _components(array, box)
    by_scale: dict[float, list[int]] = {}  # scale -> indices into components
    for i, (_, thickness) in enumerate(components):
        scale = 1.0 if strategy == "crop" else _quantized(min(1.0, max_hole / max(thickness, 1e-9)))
        by_scale.setdefault(scale, []).append(i)
    windows, assigned = [], np.zeros_like(array)
    for scale in sorted(by_scale, reverse=True):
        ids = by_scale[scale]
        level = array if len(by_scale) == 1 else _member_pixels(array, box, labels, f, [i + 1 for i in ids])
        rects = _scale_windows([components[i] for i in ids], scale, resolution, max_window, h, w)
        for (t, b, l, r), (top, left, rh, rw) in rects:
            mine = level[t:b, l:r] & ~assigned[t:b, l:r]  # each hole pixel goes to exactly one window
            if not mine.any():
                continue
            assigned[t:b, l:r] |= mine
            fill = np.zeros((rh, rw), dtype=bool)
            fill[t - top : b - top, l - left : r - left] = mine
            windows.append(Window(index, top, left, rh, rw, scale, fill))
    return windows


def window_batches(
    windows: list[Window], batch_size: int, input_size: int | None = None
) -> list[list[Window]]:
    """The windows in batches of at most ``batch_size`` that share one model input size (their
    :attr:`Window.model_size`, or ``input_size`` squared for a model of one input size), in plan order
    within each size: what one forward pass runs, in both runtimes."""
    by_size: dict[tuple[int, int], list[Window]] = {}
    for win in windows:
        by_size.setdefault((input_size, input_size) if input_size else win.model_size, []).append(win)
    return [group[i : i + batch_size] for group in by_size.values() for i in range(0, len(group), batch_size)]


def scaled(length: int, scale: float) -> int:
    """A window side of ``length`` picture pixels at ``scale``, in model pixels."""
    return length if scale >= 1 else max(1, round(length * scale))


def _quantized(scale: float) -> float:
    """The largest power of ``2 ** -1/4`` that is <= ``scale`` (``scale`` in (0, 1]): holes of similar
    thickness share a scale (and so windows), at most 16% below the scale they need."""
    return 2.0 ** (-math.ceil(-4 * math.log2(scale) - 1e-9) / 4)


def _bbox(hole: np.ndarray) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right) of the True pixels, bottom/right exclusive; None if there are none."""
    rows = np.flatnonzero(hole.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(hole[rows[0] : rows[-1] + 1].any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def _coarsen(crop: np.ndarray, f: int) -> np.ndarray:
    """A cell of ``f x f`` pixels is hole if any of its pixels is."""
    ph, pw = -crop.shape[0] % f, -crop.shape[1] % f
    crop = np.pad(crop, ((0, ph), (0, pw)))
    return crop.reshape(crop.shape[0] // f, f, crop.shape[1] // f, f).any(axis=(1, 3))


def _components(hole: np.ndarray, box: tuple[int, int, int, int]):
    """``(labels, f, [(bounding box (top, bottom, left, right), thickness in pixels)])`` of the hole's
    components; ``labels`` numbers them on the grid of ``f x f`` cells of the hole's bounding box."""
    t, b, l, r = box
    crop = hole[t:b, l:r]
    f = max(1, math.ceil(max(crop.shape) / _COARSE_CELLS))
    cells = _coarsen(crop, f) if f > 1 else crop
    while True:
        labels, count = ndimage.label(cells, structure=np.ones((3, 3), dtype=bool))
        if count <= _MAX_COMPONENTS:
            break
        f, cells = 2 * f, _coarsen(cells, 2)  # specks everywhere: coarser cells merge neighbours
    # distance of each hole cell to the nearest known cell: around the crop the picture is known, but
    # beyond the picture's border nothing is (a hole against the border is as thick as its distance
    # from the known pixels inside)
    height, width = hole.shape
    padded = np.pad(cells, 1)
    padded[0, :], padded[-1, :] = t == 0, b == height
    padded[:, 0], padded[:, -1] = padded[:, 0] | (l == 0), padded[:, -1] | (r == width)
    if padded.all():  # nothing known anywhere: as thick as the picture
        depth = np.full(cells.shape, float(max(height, width)) / f)
    else:
        depth = ndimage.distance_transform_edt(padded)[1:-1, 1:-1]
    thickness = np.atleast_1d(ndimage.maximum(depth, labels, index=np.arange(1, count + 1)))
    components = [
        (
            (t + s0.start * f, min(t + s0.stop * f, b), l + s1.start * f, min(l + s1.stop * f, r)),
            2.0 * float(d) * f,
        )
        for (s0, s1), d in zip(ndimage.find_objects(labels), thickness)
    ]
    return labels, f, components


def _member_pixels(hole: np.ndarray, box, labels: np.ndarray, f: int, ids: list[int]) -> np.ndarray:
    """The hole pixels (H,W) bool that belong to the components numbered ``ids`` in ``labels``."""
    t, b, l, r = box
    member = np.isin(labels, ids)
    if f > 1:
        member = member.repeat(f, axis=0).repeat(f, axis=1)
    out = np.zeros_like(hole)
    out[t:b, l:r] = member[: b - t, : r - l] & hole[t:b, l:r]
    return out


def _scale_windows(components, scale, resolution, max_window, h, w):
    """``[(group box, window rect (top, left, height, width))]`` for the components of one scale."""
    groups: list[list[int]] = []  # [top, bottom, left, right, margin (picture px)]
    for (t, b, l, r), thickness in sorted(components):
        margin = math.ceil(max(resolution / 4, thickness * scale) / scale)
        for g in groups[-_MERGE_CANDIDATES:]:
            merged = [min(g[0], t), max(g[1], b), min(g[2], l), max(g[3], r), max(g[4], margin)]
            if _side(merged) * scale <= max_window:
                g[:] = merged
                break
        else:
            groups.append([t, b, l, r, margin])
    rects = [_rect(g, h, w) for g in groups]
    covered = sum(rh * rw for _, _, rh, rw in rects)
    if covered >= _WHOLE_PICTURE_COVER * h * w and max(h, w) * scale <= max_window:
        whole = [
            min(g[0] for g in groups),
            max(g[1] for g in groups),
            min(g[2] for g in groups),
            max(g[3] for g in groups),
        ]
        return [(tuple(whole), (0, 0, h, w))]
    return [((g[0], g[1], g[2], g[3]), rect) for g, rect in zip(groups, rects)]


def _side(group: list[int]) -> int:
    """Longer side of a group's window before it is cut to the picture."""
    return max(group[1] - group[0], group[3] - group[2]) + 2 * group[4]


def _rect(group: list[int], h: int, w: int) -> tuple[int, int, int, int]:
    """(top, left, height, width) of a group's box grown by its margin, cut to the h x w picture."""
    t, b, l, r, m = group
    top, left = max(0, t - m), max(0, l - m)
    return top, left, min(h, b + m) - top, min(w, r + m) - left
