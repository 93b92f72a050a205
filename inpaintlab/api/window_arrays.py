"""A window of the inference plan as numpy arrays, for ONNX Runtime (no torch): the model's input, and
the values it returns for the window's hole pixels.

The same computation as :mod:`inpaintlab.api.window_tensors` (tested against it) for a model that
takes any input size: the antialiased bilinear downscale is PIL's (the filter torch's
``antialias=True`` reproduces), the hole at model scale is every cell the hole touches plus a one-cell
ring, and the fill comes back by bilinear sampling at the window's hole pixels.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

from inpaintlab.api.plan import scaled


def window_input(
    image: np.ndarray, hole: np.ndarray, scale: float
) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Model input for one window: ``(image (1,3,h,w) float32 with the hole zeroed, mask (1,1,h,w) float32, (h, w))``.

    ``image`` (1,3,H,W) float32 in [0,1], ``hole`` (1,1,H,W) bool, at picture scale; ``scale`` <= 1.
    """
    h, w = image.shape[-2:]
    size = (scaled(h, scale), scaled(w, scale))
    mask = hole[0, 0]
    if size != (h, w):
        image = np.stack([_resize_bilinear(channel, size) for channel in image[0]])[None]
        mask = ndimage.maximum_filter(_touched_cells(mask, size), size=3, mode="constant", cval=False)
    mask = mask.astype(np.float32)[None, None]
    image = image * (1 - mask)  # hole content never reaches the model
    return np.ascontiguousarray(image, dtype=np.float32), mask, size


def window_values(output: np.ndarray, valid: tuple[int, int], fill: np.ndarray) -> np.ndarray:
    """The model's values (3,K) float32 at the ``fill`` pixels ((h,w) bool, K True) of one window.

    ``output`` (3,R1,R2); its top-left ``valid`` (rows, cols) region is the window at model scale. When
    that region is smaller than the window, values are sampled bilinearly at the fill pixels (pixel
    centres aligned, the border repeated: ``F.interpolate(mode="bilinear", align_corners=False)``).
    """
    out = np.asarray(output[:, : valid[0], : valid[1]], dtype=np.float32)
    h, w = fill.shape
    if tuple(valid) == (h, w):
        return out[:, fill]
    ys, xs = np.nonzero(fill)
    y = np.clip((ys + 0.5) * (valid[0] / h) - 0.5, 0, valid[0] - 1)
    x = np.clip((xs + 0.5) * (valid[1] / w) - 0.5, 0, valid[1] - 1)
    y0, x0 = np.floor(y).astype(np.intp), np.floor(x).astype(np.intp)
    y1, x1 = np.minimum(y0 + 1, valid[0] - 1), np.minimum(x0 + 1, valid[1] - 1)
    fy, fx = (y - y0).astype(np.float32), (x - x0).astype(np.float32)
    top = out[:, y0, x0] * (1 - fx) + out[:, y0, x1] * fx
    bottom = out[:, y1, x0] * (1 - fx) + out[:, y1, x1] * fx
    return top * (1 - fy) + bottom * fy


def _resize_bilinear(channel: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """One float channel (H,W) resized to ``size`` (rows, cols), antialiased when it shrinks (PIL's filter)."""
    picture = Image.fromarray(np.ascontiguousarray(channel, dtype=np.float32), mode="F")
    return np.asarray(picture.resize((size[1], size[0]), Image.Resampling.BILINEAR), dtype=np.float32)


def _touched_cells(hole: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(rows, cols) bool: the cells of an adaptive-average-pooling grid that hold any hole pixel
    (``F.interpolate(mode="area") > 0``: cell i spans pixels floor(i*H/h) to ceil((i+1)*H/h))."""
    counts = np.pad(hole.astype(np.int64).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    (rows0, rows1), (cols0, cols1) = (_pool_ranges(n, m) for n, m in zip(hole.shape, size))
    inside = (
        counts[rows1][:, cols1] - counts[rows0][:, cols1] - counts[rows1][:, cols0] + counts[rows0][:, cols0]
    )
    return inside > 0


def _pool_ranges(length: int, cells: int) -> tuple[np.ndarray, np.ndarray]:
    i = np.arange(cells)
    return (i * length) // cells, -((-(i + 1) * length) // cells)
