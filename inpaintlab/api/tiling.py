"""Where the model runs: context windows around the holes, at the model's native resolution.

A generator is trained on square ``R x R`` pictures (its native resolution ``R``). A user's picture
can have any size and aspect, so each picture's hole is split into windows:

1. **Group the holes.** Connected components of the hole (8-connected, found on a grid coarsened to
   at most ~1024 cells a side so a 12-megapixel mask stays cheap) are merged greedily while the
   group's bounding box still fits in ``R / context`` pixels (a hole that small is inpainted at 1:1
   scale). A larger component is a group of its own.
2. **One window per group.** A square of side ``max(R, context * bbox side)`` centred on the
   group's bounding box and shifted to lie inside the picture (cut to the picture where the picture
   is smaller): the hole fills at most ``1/context`` of the window in each direction, so the model
   sees the surroundings it was trained with.
3. **Too many or too big windows -> the whole picture.** If there are more than ``max_windows``
   groups, or the windows together cover at least the picture's area (holes spread over the whole
   picture), the whole picture is one window.
4. **Run each window** (:func:`window_input`, :func:`window_values`): crop; downscale (antialiased)
   only when the window is larger than ``R`` (never upscale; the downscaled hole is every cell the
   hole touches plus a one-cell ring, so the upscaled fill never mixes in resampled known pixels);
   zero the hole; pad (reflect) to ``R x R`` so small pictures work; run the model; crop the
   padding away; read the result back at the window's hole pixels (bilinear upscaling evaluated
   only where it is written).
5. **Blend into the hole only.** A window writes only the hole pixels of its own group
   (:class:`~inpaintlab.api.io.Fill`), and the final write happens in the caller's original data,
   so known pixels are untouched. The model still sees every hole pixel inside its window as hole.

A 4000x3000 photo with a small hole thus costs one ``R x R`` forward pass on a crop: memory and
time are bounded by the hole, not the photo.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from torch import Tensor

_COARSE_CELLS = 1024
_MAX_COMPONENTS = 4096


@dataclass(frozen=True)
class Window:
    """A rectangle of one picture to inpaint, and which hole pixels (its ``fill``, (h,w) bool) it writes."""

    index: int
    top: int
    left: int
    height: int
    width: int
    fill: Tensor


def dilate_hole(hole: Tensor, pixels: int) -> Tensor:
    """Grow a bool hole (H,W) by ``pixels`` in every direction (square structuring element)."""
    if pixels < 0:
        raise ValueError(f"dilate must be >= 0 pixels, got {pixels}")
    box = _bbox(hole.numpy())
    if pixels == 0 or box is None:
        return hole
    t, b, l, r = box
    h, w = hole.shape
    t, l, b, r = max(t - pixels, 0), max(l - pixels, 0), min(b + pixels, h), min(r + pixels, w)
    out = hole.clone()
    grown = ndimage.maximum_filter(hole[t:b, l:r].numpy(), size=2 * pixels + 1, mode="constant", cval=False)
    out[t:b, l:r] = torch.from_numpy(grown)
    return out


def plan_windows(
    hole: Tensor, index: int, resolution: int, context: float = 2.0, max_windows: int = 16
) -> list[Window]:
    """Windows covering every hole pixel of one picture (see the module docstring).

    Args:
        hole: (H,W) bool, True = hole.
        index: the picture's index in its batch (copied into each window).
        resolution: the model's native resolution R.
        context: window side / hole side (>= 1).
        max_windows: above this many groups the whole picture is one window.
    """
    if context < 1:
        raise ValueError(f"context must be >= 1, got {context}")
    h, w = hole.shape
    array = hole.numpy()  # numpy's reductions on bool masks are ~10x faster than torch's on CPU
    box = _bbox(array)
    if box is None:
        return []
    whole = Window(index, 0, 0, h, w, hole)
    boxes = _component_boxes(array, box)
    if boxes is None:
        return [whole]
    limit = max(1, int(resolution / context))
    groups = _group_boxes(boxes, limit)
    if len(groups) > max_windows:
        return [whole]
    rects = [_window_rect(box, resolution, context, h, w) for box in groups]
    if sum(rh * rw for _, _, rh, rw in rects) >= h * w or len(rects) == 1 and rects[0][2:] == (h, w):
        return [whole]
    windows, assigned = [], np.zeros_like(array)
    for (t, b, l, r), (top, left, rh, rw) in zip(groups, rects):
        mine = array[t:b, l:r] & ~assigned[t:b, l:r]  # each hole pixel goes to exactly one window
        assigned[t:b, l:r] |= mine
        fill = np.zeros((rh, rw), dtype=bool)
        fill[t - top : b - top, l - left : r - left] = mine
        windows.append(Window(index, top, left, rh, rw, torch.from_numpy(fill)))
    return windows


def window_input(image: Tensor, hole: Tensor, resolution: int) -> tuple[Tensor, Tensor, tuple[int, int]]:
    """Model input for one window: (1,3,R,R) image with the hole zeroed, (1,1,R,R) float mask.

    ``image`` (1,3,h,w) float in [0,1], ``hole`` (1,1,h,w) bool. Returns the inputs and the
    (rows, cols) of the valid region in them (the rest is padding), for :func:`window_values`.
    """
    h, w = image.shape[-2:]
    scale = min(1.0, resolution / max(h, w))
    size = (max(1, min(resolution, round(h * scale))), max(1, min(resolution, round(w * scale))))
    mask = hole.to(torch.float32)
    if size != (h, w):
        image = F.interpolate(image, size=size, mode="bilinear", antialias=True, align_corners=False)
        # a cell touching the hole is hole, plus a one-cell ring: every pixel that bilinear upscaling
        # reads for a hole pixel is then the model's prediction, never a resampled known pixel
        mask = (F.interpolate(mask, size=size, mode="area") > 0).to(torch.float32)
        mask = F.max_pool2d(mask, kernel_size=3, stride=1, padding=1)
    image = image * (1 - mask)  # hole content never reaches the model, not even through the padding
    pad = (0, resolution - size[1], 0, resolution - size[0])
    if any(pad):
        mode = "reflect" if pad[1] < size[1] and pad[3] < size[0] else "replicate"
        image, mask = F.pad(image, pad, mode=mode), F.pad(mask, pad, mode=mode)  # mirrored holes stay holes
    return image, mask, size


def window_values(output: Tensor, valid: tuple[int, int], fill: Tensor) -> Tensor:
    """The model's values (3,K) at the ``fill`` pixels ((h,w) bool, K True) of one window.

    ``output`` (3,R,R) is the model output; its top-left ``valid`` (rows, cols) region is the window
    at model scale. When that region is smaller than the window, values are bilinearly interpolated
    at the fill pixels only (the same numbers as resizing the whole output with
    ``F.interpolate(mode="bilinear", align_corners=False)``, without materialising it).
    """
    out = output[:, : valid[0], : valid[1]].to(torch.float32)
    h, w = fill.shape
    if valid == (h, w):
        return out[:, fill]
    ys, xs = torch.nonzero(fill, as_tuple=True)
    grid = torch.stack([(2 * xs + 1) / w - 1, (2 * ys + 1) / h - 1], dim=-1).to(out)  # normalised (x, y)
    sampled = F.grid_sample(
        out[None], grid[None, None], mode="bilinear", padding_mode="border", align_corners=False
    )
    return sampled[0, :, 0]


def _bbox(hole: np.ndarray) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right) of the True pixels, bottom/right exclusive; None if there are none."""
    rows = np.flatnonzero(hole.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(hole[rows[0] : rows[-1] + 1].any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def _component_boxes(
    hole: np.ndarray, box: tuple[int, int, int, int]
) -> list[tuple[int, int, int, int]] | None:
    """Bounding boxes (top, bottom, left, right) of the hole's components (``box``: the hole's bounding
    box), or None if there are too many."""
    t, b, l, r = box
    crop = hole[t:b, l:r]
    f = max(1, math.ceil(max(crop.shape) / _COARSE_CELLS))
    if f > 1:  # coarsen: a cell is a hole if any of its pixels is
        ph, pw = -crop.shape[0] % f, -crop.shape[1] % f
        crop = np.pad(crop, ((0, ph), (0, pw)))
        crop = crop.reshape(crop.shape[0] // f, f, crop.shape[1] // f, f).any(axis=(1, 3))
    labels, count = ndimage.label(crop, structure=np.ones((3, 3), dtype=bool))
    if count > _MAX_COMPONENTS:
        return None
    return [
        (t + s0.start * f, min(t + s0.stop * f, b), l + s1.start * f, min(l + s1.stop * f, r))
        for s0, s1 in ndimage.find_objects(labels)
    ]


def _group_boxes(boxes: list[tuple[int, int, int, int]], limit: int) -> list[tuple[int, int, int, int]]:
    """Greedily merge boxes while the merged box's longer side stays <= ``limit``."""
    groups: list[tuple[int, int, int, int]] = []
    for box in sorted(boxes):
        for i, g in enumerate(groups):
            merged = (min(g[0], box[0]), max(g[1], box[1]), min(g[2], box[2]), max(g[3], box[3]))
            if max(merged[1] - merged[0], merged[3] - merged[2]) <= limit:
                groups[i] = merged
                break
        else:
            groups.append(box)
    return groups


def _window_rect(box: tuple[int, int, int, int], resolution: int, context: float, h: int, w: int):
    """(top, left, height, width) of the square context window around ``box``, inside an h x w picture."""
    t, b, l, r = box
    side = max(resolution, math.ceil(context * max(b - t, r - l)))

    def place(lo: int, hi: int, size: int) -> tuple[int, int]:
        if side >= size:
            return 0, size
        start = (lo + hi) // 2 - side // 2
        return min(max(start, 0), size - side), side

    top, height = place(t, b, h)
    left, width = place(l, r, w)
    return top, left, height, width
