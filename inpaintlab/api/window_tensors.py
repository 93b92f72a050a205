"""A window of the inference plan as torch tensors: the model's input, and the values it returns for
the window's hole pixels (what :class:`~inpaintlab.api.Inpainter` runs, on any device).

:mod:`inpaintlab.api.window_arrays` holds the same two functions in numpy for ONNX Runtime; the tests
check that both give the same numbers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from inpaintlab.api.plan import scaled


def window_input(image: Tensor, hole: Tensor, scale: float, input_size: int | None = None):
    """Model input for one window: ``(image (1,3,h,w) with the hole zeroed, mask (1,1,h,w) float, valid)``.

    ``image`` (1,3,H,W) float in [0,1], ``hole`` (1,1,H,W) bool, at picture scale. With ``scale < 1`` the
    crop is downscaled (antialiased) and the hole at model scale is every cell the hole touches plus a
    one-cell ring, so the bilinear upscaling of the fill never mixes in resampled known pixels.
    ``input_size``: for a model that takes only ``S x S`` inputs, the crop is downscaled to fit and
    padded (reflect, or replicate when too small) to ``S x S``. ``valid`` is the (rows, cols) of the
    window in the input (the rest is padding), for :func:`window_values`.
    """
    h, w = image.shape[-2:]
    if input_size is not None:
        scale = min(scale, input_size / max(h, w))
    size = (scaled(h, scale), scaled(w, scale))
    mask = hole.to(torch.float32)
    if size != (h, w):
        image = F.interpolate(image, size=size, mode="bilinear", antialias=True, align_corners=False)
        mask = (F.interpolate(mask, size=size, mode="area") > 0).to(torch.float32)
        mask = F.max_pool2d(mask, kernel_size=3, stride=1, padding=1)
    image = image * (1 - mask)  # hole content never reaches the model, not even through the padding
    if input_size is not None:
        pad = (0, input_size - size[1], 0, input_size - size[0])
        if any(pad):
            mode = "reflect" if pad[1] < size[1] and pad[3] < size[0] else "replicate"
            image, mask = F.pad(image, pad, mode=mode), F.pad(mask, pad, mode=mode)  # mirrored holes stay holes
    return image, mask, size


def window_values(output: Tensor, valid: tuple[int, int], fill: Tensor) -> Tensor:
    """The model's values (3,K) at the ``fill`` pixels ((h,w) bool, K True) of one window.

    ``output`` (3,R1,R2) is the model output; its top-left ``valid`` (rows, cols) region is the window
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


