"""Deterministic mask-kind classifier: ``"center"``, ``"blocks"`` or ``"region"``.

The router uses it to send each mask to the model trained on that kind. It learns nothing; the
rules below are exact, and the generators in this package are built so that every mask they make
lands in its own class (see :func:`mask_kind`).
"""

from __future__ import annotations

import numpy as np
from torch import Tensor

__all__ = ["MASK_KINDS", "MIN_STAIR_TURNS", "mask_kind", "mask_kinds"]

#: The kinds, in the order the router uses.
MASK_KINDS: tuple[str, str, str] = ("center", "blocks", "region")

#: A boundary staircase with at least this many alternating turns marks a slanted or curved edge.
MIN_STAIR_TURNS: int = 7


def _hole_array(mask: Tensor | np.ndarray, name: str = "mask") -> np.ndarray:
    """One mask as a (H, W) bool array: ``> 0.5`` for float masks, nonzero for int/bool masks."""
    if isinstance(mask, Tensor):
        array = mask.detach().cpu()
        floating = array.is_floating_point()
        array = array.float().numpy() if floating else array.numpy()
    elif isinstance(mask, np.ndarray):
        array = mask
        floating = np.issubdtype(array.dtype, np.floating)
    else:
        raise TypeError(f"{name} must be a torch.Tensor or numpy.ndarray, got {type(mask).__name__}")
    shape = tuple(array.shape)
    if array.ndim == 4 and shape[:2] == (1, 1):
        array = array[0, 0]
    elif array.ndim == 3 and shape[0] == 1:
        array = array[0]
    elif array.ndim != 2:
        raise ValueError(
            f"{name} must be one mask of shape (H,W), (1,H,W) or (1,1,H,W), got {shape}; "
            "classify a batch (N,1,H,W) with mask_kinds()"
        )
    hole = array > 0.5 if floating else array != 0
    if not hole.any():
        raise ValueError(
            f"{name} is empty (no hole pixels, shape {shape}): an empty mask has no kind; "
            "skip it or inpaint nothing"
        )
    return hole


def _centred_rectangle(hole: np.ndarray) -> tuple[bool, bool]:
    """(is one filled axis-aligned rectangle, that rectangle is centred within one pixel)."""
    rows = np.flatnonzero(hole.any(axis=1))
    cols = np.flatnonzero(hole.any(axis=0))
    top, bottom, left, right = rows[0], rows[-1], cols[0], cols[-1]
    filled = int(hole.sum()) == (bottom - top + 1) * (right - left + 1)
    height, width = hole.shape
    centred = (
        abs(int(top) - (height - 1 - int(bottom))) <= 1 and abs(int(left) - (width - 1 - int(right))) <= 1
    )
    return filled, centred


def _has_staircase(hole: np.ndarray, min_turns: int = MIN_STAIR_TURNS) -> bool:
    """Whether the hole's boundary has ``min_turns`` consecutive alternating turns.

    The boundary of a pixel set is a set of closed axis-aligned polygons; walk them with the hole on
    the right. Each corner turns right (convex, 1 hole pixel of the 4 around the corner) or left
    (concave, 3 hole pixels; also the pinch where two hole pixels touch only diagonally, since holes
    are 8-connected). A slanted or curved edge is drawn as a staircase, whose corners alternate
    right, left, right, ... A union of rectangles only alternates where rectangles overlap, and each
    right turn of such a run is a corner of a different rectangle.

    Vectorised: corners are found with 2x2 windows, each corner's successor along the boundary is the
    nearest corner in its outgoing direction (found from row- and column-major orders), and runs are
    checked by following successor pointers ``min_turns - 2`` times.
    """
    padded = np.pad(hole, 1)
    a, b = padded[:-1, :-1], padded[:-1, 1:]  # top-left, top-right pixel of the corner point
    c, d = padded[1:, :-1], padded[1:, 1:]  # bottom-left, bottom-right
    count = a.astype(np.uint8) + b + c + d
    saddle = (a == d) & (b == c) & (a != b)
    ii, jj = np.nonzero((count == 1) | (count == 3) | saddle)
    num = ii.size
    if num < min_turns:
        return False
    a, b, c, d = a[ii, jj], b[ii, jj], c[ii, jj], d[ii, jj]
    saddle = saddle[ii, jj]
    # Outgoing direction (0 up, 1 right, 2 down, 3 left) with the hole on the right.
    out = np.zeros(num, dtype=np.int64)
    out[b & ~a] = 0
    out[d & ~b] = 1
    out[c & ~d] = 2
    out[a & ~c] = 3
    # A pinch is visited twice: the first visit leaves up or left, the second down or right.
    diag_ad = saddle & a
    out[diag_ad] = 3
    out[saddle & ~a] = 0
    saddles = np.flatnonzero(saddle)
    extra_out = np.where(a[saddles], 1, 2)
    extra_of = np.full(num, -1, dtype=np.int64)
    extra_of[saddles] = num + np.arange(saddles.size)

    # Nearest corner in each direction: row-major order is the order of np.nonzero.
    order_cm = np.lexsort((ii, jj))
    rank_cm = np.empty(num, dtype=np.int64)
    rank_cm[order_cm] = np.arange(num)
    pos = np.concatenate([np.arange(num), saddles])
    out_all = np.concatenate([out, extra_out])
    target = np.empty_like(pos)
    for direction, step in ((0, -1), (2, 1)):
        sel = out_all == direction
        target[sel] = order_cm[(rank_cm[pos[sel]] + step) % num]
    for direction, step in ((1, 1), (3, -1)):
        sel = out_all == direction
        target[sel] = (pos[sel] + step) % num
    # Arriving at a pinch, the walk turns left: it takes the visit whose exit is (arrival - 1) mod 4.
    to_extra = saddle[target] & (out[target] != (out_all - 1) % 4)
    successor = np.where(to_extra, extra_of[target], target)

    right_turn = np.concatenate([count[ii, jj] == 1, np.zeros(saddles.size, dtype=bool)])
    alternates = right_turn != right_turn[successor]
    run = alternates.copy()
    step = successor
    for _ in range(min_turns - 2):
        run &= alternates[step]
        step = successor[step]
    return bool(run.any())


def mask_kind(mask: Tensor | np.ndarray) -> str:
    """Classify one mask as ``"center"``, ``"blocks"`` or ``"region"``.

    Rules, applied to the hole pixels (``> 0.5`` for float masks, nonzero for integer/bool masks):

    1. Empty mask: ``ValueError`` (it has no kind).
    2. ``"center"``: the hole is exactly one filled axis-aligned rectangle whose centre is the image
       centre: its top and bottom margins differ by at most 1 pixel, and so do its left and right
       margins. (A full mask is a centred rectangle.)
    3. ``"region"``: the hole's boundary contains a staircase of at least :data:`MIN_STAIR_TURNS`
       (7) consecutive alternating turns, walking the boundary with 8-connected holes. Slanted or
       curved edges (strokes at an angle, ellipses, silhouettes) are staircases once rasterised.
    4. ``"blocks"``: everything else: a union of axis-aligned rectangles whose boundary only
       alternates where a few rectangles overlap (such a run needs one rectangle per right turn).

    Limits: a hand-drawn shape only reads as ``"region"`` when it has a slanted or curved edge long
    enough for 7 turns: blobs about 12 px across or smaller, and short thin lines within ~15 degrees
    of an axis, read as ``"blocks"``; 4 or more rectangles chained corner to corner read as
    ``"region"``.

    Guarantees of the generators in this package: :func:`center_mask` is always ``"center"``;
    :func:`blocks_mask` never makes a single centred rectangle nor a staircase of 7 turns (4 or more
    blocks chained corner to corner are re-drawn); :func:`region_mask` always contains a stroke at
    30-60 degrees to the axes and re-draws the rare mask without such a staircase.

    Args:
        mask: one mask, shape (H,W), (1,H,W) or (1,1,H,W), any dtype, tensor or numpy array.

    Returns:
        ``"center"``, ``"blocks"`` or ``"region"``.
    """
    hole = _hole_array(mask)
    filled, centred = _centred_rectangle(hole)
    if filled:
        return "center" if centred else "blocks"
    rows = np.flatnonzero(hole.any(axis=1))
    cols = np.flatnonzero(hole.any(axis=0))
    crop = hole[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    return "region" if _has_staircase(crop) else "blocks"


def mask_kinds(masks: Tensor | np.ndarray) -> list[str]:
    """Classify a batch of masks (N,1,H,W) with :func:`mask_kind`; returns N kinds."""
    if not isinstance(masks, (Tensor, np.ndarray)):
        raise TypeError(f"masks must be a torch.Tensor or numpy.ndarray, got {type(masks).__name__}")
    if masks.ndim != 4 or masks.shape[1] != 1:
        raise ValueError(
            f"masks must have shape (N,1,H,W), got {tuple(masks.shape)}; for one mask use mask_kind()"
        )
    if isinstance(masks, Tensor):
        masks = masks.detach().cpu()
        masks = masks.float().numpy() if masks.is_floating_point() else masks.numpy()
    return [mask_kind(m[0]) for m in masks]
