"""Texture for a blurred fill: detail copied from the picture's own known part, guided by the fill.

A network trained for hole PSNR returns the conditional mean of the hole: the right colours and
structure, no texture (a PSNR-optimal fill is a blur). Classical patch copying (PatchMatch) has the
opposite fault: real texture, copied from wherever the patches happen to match, so the structure is
often wrong. This stage keeps the network's fill as the structure and adds the detail a real picture has
there, the way RETHINED's patch attention and guided PatchMatch (Image Melding) do, without training:

1. **Match at the model's scale.** The picture, with the fill in its hole, is averaged over cells of
   ``cell`` pixels; every cell that touches the hole is matched to the known cell whose ``patch`` x
   ``patch`` neighbourhood of cell averages is nearest (squared distance, one exhaustive search: the
   fill's coarse content is what is compared, so the match follows the structure). Only cells whose
   neighbourhood is wholly known are candidates (at the picture's border, the border cells repeat).
2. **Copy the detail at full resolution.** Each hole pixel gets the structure plus ``strength`` times
   the high frequencies of the picture (the picture minus its Gaussian blur of ``sigma`` pixels) at the
   matched cell, at the same place inside the cell. The match field is computed on cells of the model's
   scale and applied at the picture's scale, so a fill upsampled from a downscaled window gets texture
   at full resolution (RETHINED's "attention upscaling").

Hole PSNR drops a little (detail that is not the truth's adds its own error to the blur's) and realism
rises a lot; ``strength=0`` returns the structure unchanged. This module is numpy only, shared by both
runtimes (:mod:`inpaintlab.api.inpainter` and :mod:`inpaintlab.api.onnx_inpainter`), so the two give the
same pixels up to near-ties (the networks' outputs differ by float rounding, which can flip which of two
almost equally near sources a cell copies).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

#: Query rows per distance block: bounds the search's temporary to ``_QUERY_BLOCK * keys`` floats.
_QUERY_BLOCK = 256
#: Nearest sources a hole cell chooses among when ``reuse`` spreads the copies.
_CANDIDATES = 16


@dataclass(frozen=True)
class TextureSettings:
    """How :func:`copy_texture` adds detail to a fill (a registry entry's ``texture:`` mapping).

    Args:
        cell: the match grid's cell side in model pixels (the detail is copied cell by cell).
        patch: the compared neighbourhood, in cells (odd).
        sigma: the Gaussian blur (picture pixels at model scale) whose residual is the copied detail.
        strength: how much of the detail is added; 0 turns the stage off (the PSNR-optimal fill).
        ramp: the detail grows from 0 at the hole's edge to ``strength`` this far inside (model pixels;
            0: full strength everywhere). Near known pixels the network's fill is already close to the
            truth, and a thin stroke is all edge: there, detail that is not the truth's costs more PSNR
            than it buys realism.
        reuse: how strongly a source already copied is avoided (0: every cell its nearest source). Deep in
            a large hole the blurred cells all look alike and would copy the same few sources.
        feather: cross-fade the copies of neighbouring cells over this many model pixels around each cell
            edge (0: hard seams, cell by cell; ``cell``: every pixel mixes the copies of the four cells
            around it, which averages different textures into a blur).
    """

    cell: int = 4
    patch: int = 3
    sigma: float = 2.0
    strength: float = 1.0
    ramp: float = 0.0
    reuse: float = 0.0
    feather: float = 0.0

    def __post_init__(self) -> None:
        for name in ("cell", "patch"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"texture {name} must be an integer >= 1, got {value!r}")
        if self.patch % 2 == 0:
            raise ValueError(f"texture patch must be odd (a neighbourhood centred on the cell), got {self.patch}")
        for name in ("sigma", "strength", "ramp", "reuse", "feather"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not np.isfinite(value) or value < 0:
                raise ValueError(f"texture {name} must be a finite number >= 0, got {value!r}")

    @property
    def enabled(self) -> bool:
        return self.strength > 0

    def at_scale(self, scale: float) -> tuple[int, float, float, float]:
        """(cell side, blur sigma, ramp, feather) in picture pixels for a window that ran at ``scale`` model
        px per picture px."""
        return max(1, round(self.cell / scale)), self.sigma / scale, self.ramp / scale, self.feather / scale


#: The stage turned off: the network's fill unchanged.
NO_TEXTURE = TextureSettings(strength=0.0)


def copy_texture(
    picture: np.ndarray, hole: np.ndarray, structure: np.ndarray, settings: TextureSettings, scale: float = 1.0
) -> np.ndarray:
    """The hole's values with detail copied from the known part (see the module docstring).

    Args:
        picture: (3,H,W) float32 in [0,1]; its hole pixels are ignored.
        hole: (H,W) bool, True = hole.
        structure: (3,K) float32: the fill's values at the K hole pixels (in ``np.nonzero(hole)`` order).
        settings: the stage's settings (``strength == 0``: ``structure`` is returned unchanged).
        scale: model pixels per picture pixel of the window the fill came from (the match grid follows it).

    Returns:
        (3,K) float32 in [0,1]: the new values of the hole pixels.
    """
    if picture.ndim != 3 or picture.shape[0] != 3 or hole.shape != picture.shape[1:]:
        raise ValueError(f"copy_texture wants picture (3,H,W) and hole (H,W), got {picture.shape} and {hole.shape}")
    if structure.shape != (3, int(hole.sum())):
        raise ValueError(f"structure must be (3, hole pixels) = (3, {int(hole.sum())}), got {structure.shape}")
    if not settings.enabled or structure.shape[1] == 0:
        return structure  # unchanged (not clipped): the network's values as they came
    structure = np.nan_to_num(structure, nan=0.5, posinf=1.0, neginf=0.0)  # one bad value must not be copied around
    cell, sigma, ramp, feather = settings.at_scale(scale)
    _, height, width = picture.shape
    rows, cols = -(-height // cell), -(-width // cell)
    composite = picture.astype(np.float32, copy=True)
    composite[:, hole] = structure
    padded = np.pad(composite, ((0, 0), (0, rows * cell - height), (0, cols * cell - width)), mode="edge")
    cells = padded.reshape(3, rows, cell, cols, cell).mean(axis=(2, 4))
    hole_cells = np.pad(hole, ((0, rows * cell - height), (0, cols * cell - width))).reshape(rows, cell, cols, cell).any(axis=(1, 3))
    source = _match(cells, hole_cells, settings.patch, settings.reuse)
    if source is None:  # no wholly known neighbourhood to copy from: the fill as it is
        return structure
    detail = composite - ndimage.gaussian_filter(composite, (0, sigma, sigma), mode="nearest", truncate=3.0)
    ys, xs = np.nonzero(hole)
    copied = _feathered_copy(detail, source, ys, xs, cell, feather) if feather > 0 else _cell_copy(detail, source, ys, xs, cell)
    weight = np.float32(settings.strength)
    if ramp > 0:
        weight = weight * np.minimum(_depth(hole)[ys, xs] / np.float32(ramp), np.float32(1.0))
    values = structure + weight * copied
    return np.clip(values, 0.0, 1.0, out=values)


def _cell_copy(detail: np.ndarray, source: np.ndarray, ys: np.ndarray, xs: np.ndarray, cell: int) -> np.ndarray:
    """(3,K): each pixel's detail from its own cell's source, at the same place inside the cell."""
    height, width = detail.shape[1:]
    cols = source.shape[1]
    src = source[ys // cell, xs // cell]
    sy = np.minimum(src // cols * cell + ys % cell, height - 1)
    sx = np.minimum(src % cols * cell + xs % cell, width - 1)
    return detail[:, sy, sx]


def _feathered_copy(
    detail: np.ndarray, source: np.ndarray, ys: np.ndarray, xs: np.ndarray, cell: int, feather: float
) -> np.ndarray:
    """(3,K): each pixel's detail copied with the offsets of the four cells around it, so the seam between
    two cells copied from different places is a cross-fade over ``feather`` pixels instead of a hard edge
    (``feather >= cell``: weighted bilinearly by the distance to the cells' centres). Where neighbours
    share an offset the copy is exact."""
    height, width = detail.shape[1:]
    rows, cols = source.shape
    fy, fx = (ys + 0.5) / cell - 0.5, (xs + 0.5) / cell - 0.5
    y0, x0 = np.floor(fy).astype(np.intp), np.floor(fx).astype(np.intp)
    sharpen = cell / min(feather, cell)  # the 0..1 blend across a cell compressed into `feather` px at its edge
    wy = np.clip((fy - y0 - 0.5) * sharpen + 0.5, 0, 1).astype(np.float32)
    wx = np.clip((fx - x0 - 0.5) * sharpen + 0.5, 0, 1).astype(np.float32)
    out = np.zeros((detail.shape[0], ys.size), np.float32)
    own_y, own_x = ys // cell, xs // cell
    own = source[own_y, own_x]
    own_dy, own_dx = own // cols - own_y, own % cols - own_x
    for cy, wy_ in ((y0, 1 - wy), (y0 + 1, wy)):
        for cx, wx_ in ((x0, 1 - wx), (x0 + 1, wx)):
            cy_, cx_ = np.clip(cy, 0, rows - 1), np.clip(cx, 0, cols - 1)
            src = source[cy_, cx_]
            copied = src != cy_ * cols + cx_  # a known neighbour copies nothing: it lends the pixel's own offset
            dy = np.where(copied, src // cols - cy_, own_dy)
            dx = np.where(copied, src % cols - cx_, own_dx)
            sy = np.clip(ys + dy * cell, 0, height - 1)
            sx = np.clip(xs + dx * cell, 0, width - 1)
            out += (wy_ * wx_) * detail[:, sy, sx]
    return out


def _depth(hole: np.ndarray) -> np.ndarray:
    """(H,W) float32: each hole pixel's distance to the nearest known pixel (computed on the hole's box)."""
    rows, cols = np.flatnonzero(hole.any(axis=1)), np.flatnonzero(hole.any(axis=0))
    top, bottom = max(rows[0] - 1, 0), min(rows[-1] + 2, hole.shape[0])
    left, right = max(cols[0] - 1, 0), min(cols[-1] + 2, hole.shape[1])
    depth = np.zeros(hole.shape, np.float32)
    depth[top:bottom, left:right] = ndimage.distance_transform_edt(hole[top:bottom, left:right])
    return depth


def _match(cells: np.ndarray, hole_cells: np.ndarray, patch: int, reuse: float = 0.0) -> np.ndarray | None:
    """(rows, cols) int: for each cell touching the hole, the flat index of the known cell whose ``patch``
    neighbourhood is nearest (others: themselves); None when no cell's neighbourhood is wholly known."""
    channels, rows, cols = cells.shape
    half = patch // 2
    padded = np.pad(cells, ((0, 0), (half, half), (half, half)), mode="edge")
    features = np.stack(
        [padded[:, dy : dy + rows, dx : dx + cols] for dy in range(patch) for dx in range(patch)], axis=1
    ).reshape(channels * patch * patch, rows * cols)
    blocked = ndimage.maximum_filter(hole_cells, size=patch, mode="constant", cval=False)
    keys = np.flatnonzero(~blocked)
    queries = np.flatnonzero(hole_cells)
    source = np.arange(rows * cols).reshape(rows, cols)
    if keys.size == 0:
        return None
    key_features = np.ascontiguousarray(features[:, keys].T)
    key_norms = np.einsum("kd,kd->k", key_features, key_features)
    query_norms = np.einsum("dn,dn->n", features[:, queries], features[:, queries])
    k = min(_CANDIDATES, keys.size)
    nearest, distances = np.empty((queries.size, k), np.intp), np.empty((queries.size, k), np.float32)
    for start in range(0, queries.size, _QUERY_BLOCK):
        block = queries[start : start + _QUERY_BLOCK]
        distance = key_norms[None, :] - 2.0 * (features[:, block].T @ key_features.T)
        best = np.argpartition(distance, k - 1, axis=1)[:, :k] if k < keys.size else np.argsort(distance, axis=1)
        rows_ = slice(start, start + block.size)
        nearest[rows_] = keys[best]
        distances[rows_] = np.take_along_axis(distance, best, axis=1) + query_norms[rows_, None]
    source.flat[queries] = _spread(nearest, distances, reuse)
    return source


def _spread(nearest: np.ndarray, distances: np.ndarray, reuse: float) -> np.ndarray:
    """One source per hole cell among its ``nearest`` candidates: the least distance plus ``reuse`` x the
    typical distance x how often that source is already taken (cells in order of confidence). Blurred
    cells look alike; without this a few "average" sources are copied dozens of times, a repeated tile
    that shows as a grid."""
    if reuse <= 0 or nearest.shape[1] == 1:
        return nearest[np.arange(len(nearest)), distances.argmin(axis=1)]
    weight = np.float32(reuse * max(float(np.median(distances.min(axis=1))), 1e-6))
    taken: dict[int, int] = {}
    chosen = np.empty(len(nearest), np.intp)
    for i in np.argsort(distances.min(axis=1), kind="stable"):
        counts = np.fromiter((taken.get(int(c), 0) for c in nearest[i]), np.float32, nearest.shape[1])
        pick = int(nearest[i, int(np.argmin(distances[i] + weight * counts))])
        taken[pick] = taken.get(pick, 0) + 1
        chosen[i] = pick
    return chosen


def texture_window(
    picture: np.ndarray, hole: np.ndarray, fill: np.ndarray, structure: np.ndarray, settings: TextureSettings, scale: float
) -> np.ndarray:
    """One inference window's values at its ``fill`` pixels, with texture: what both runtimes call.

    ``picture`` (3,h,w) float32 is the window at picture scale; ``hole`` (h,w) bool every hole pixel in
    it (all unknown, whichever window writes them); ``fill`` (h,w) bool the pixels this window writes
    (a subset of ``hole``); ``structure`` (3, hole.sum()) the network's values at every hole pixel.
    Returns (3, fill.sum()) float32.
    """
    values = copy_texture(picture, hole, structure, settings, scale)
    return values[:, fill[hole]]


def resolve_texture(texture: object, published: TextureSettings | None) -> TextureSettings:
    """An inpainter's ``texture=`` argument as settings: ``True`` the registry entry's (``published``; the
    network's fill as it is when the entry has none), ``False`` off (the PSNR-optimal fill), or a
    :class:`TextureSettings`."""
    if texture is True:
        return published or NO_TEXTURE
    if texture is False:
        return NO_TEXTURE
    if isinstance(texture, TextureSettings):
        return texture
    raise TypeError(
        "texture must be True (the published settings), False (the network's fill without texture) or an "
        f"inpaintlab.texture.TextureSettings, got {type(texture).__name__}"
    )
