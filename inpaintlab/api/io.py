"""Conversions between what users pass (PIL, numpy, tensors) and the inpainter's tensors.

An input picture becomes a :class:`PictureBatch`: its pixels kept in their own dtype as an
(N,C,H,W) tensor (a view of the user's array where possible, so a 12-megapixel photo is never
copied to float as a whole), plus how to turn the result back into the user's type. The model only
ever sees float RGB crops in [0,1]; :meth:`PictureBatch.restore` writes the fills into a copy of
the original data **inside the hole only**, so every known pixel of the output is bit-identical to
the input. Grayscale pictures are run as RGB and written back as luminance; an alpha channel is
copied through untouched.

A mask becomes a bool hole (:func:`to_hole`) by one rule for every type: **nonzero = hole**
(``threshold=t``: value > t). A mask with colour channels is a hole wherever any colour channel is;
an RGBA / LA mask with no colour at all (every colour value 0) but a drawn alpha channel is read from
its alpha. A mask that covers the whole picture leaves nothing to inpaint from and is a ``ValueError``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from inpaintlab.api.pictures import (
    check_hole,
    check_mask_size,
    check_threshold,
    hole_from_array,
    hole_rule,
    pil_working_copy,
    read_picture,
    unit_fill_values,
)

__all__ = ["Fill", "PictureBatch", "check_hole", "read_picture", "to_hole", "to_picture_batch"]

_NUMPY_SCALE = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}
_FLOAT_TENSORS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
_MASK_TENSORS = (
    torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64,
    torch.uint16, torch.uint32, torch.uint64, *_FLOAT_TENSORS,
)  # fmt: skip


@dataclass
class Fill:
    """New values for the hole pixels of one rectangle of one picture.

    ``hole`` (h,w) bool marks the pixels to write in the rectangle starting at (top, left);
    ``values`` (3,K) float in [0,1] are their RGB values, K = ``hole.sum()``, in row-major order
    (``region[:, hole] = values``). Only hole pixels are stored, so memory follows the hole's size.
    """

    index: int
    top: int
    left: int
    hole: Tensor
    values: Tensor


@dataclass
class PictureBatch:
    """N pictures in their original dtype: ``data`` (N,C,H,W), C = 1 (gray), 2 (gray+alpha), 3 or 4 (+alpha).

    ``scale`` maps stored values to [0,1] (255 for uint8, 65535 for 16-bit, 1 for floats);
    ``wrap`` turns an output tensor like ``data`` back into the user's type.
    """

    data: Tensor
    scale: float
    wrap: Callable[[Tensor], Any]

    @property
    def shape(self) -> tuple[int, int, int]:
        n, _, h, w = self.data.shape
        return n, h, w

    @property
    def color_channels(self) -> int:
        return 1 if self.data.shape[1] <= 2 else 3

    def rgb(
        self,
        index: int,
        top: int = 0,
        left: int = 0,
        height: int | None = None,
        width: int | None = None,
        step: int = 1,
    ) -> Tensor:
        """A float RGB crop (1,3,h,w) in [0,1] (gray is repeated to 3 channels); ``step`` subsamples."""
        bottom = None if height is None else top + height
        right = None if width is None else left + width
        crop = self.data[index : index + 1, : self.color_channels, top:bottom:step, left:right:step]
        crop = crop.to(torch.float32) / self.scale
        return crop.expand(-1, 3, -1, -1) if crop.shape[1] == 1 else crop

    def restore(self, fills: list[Fill]) -> Any:
        """A copy of the pictures with every fill written into its hole pixels, in the user's type."""
        out = self.data.clone()
        c = self.color_channels
        for fill in fills:
            unit = unit_fill_values(fill.values.to("cpu", torch.float32).numpy(), c, stacklevel=3)
            values = torch.from_numpy(unit)
            if out.is_floating_point():
                values = values.to(out.dtype) * self.scale
            else:
                values = (values * self.scale).round().to(out.dtype)
            h, w = fill.hole.shape
            region = out[fill.index, :c, fill.top : fill.top + h, fill.left : fill.left + w]
            region[:, fill.hole.to(region.device)] = values.to(region.device)
        return self.wrap(out)


def to_picture_batch(image: Any) -> PictureBatch:
    """Wrap a PIL image, a numpy array (HxW, HxWxC; uint8, uint16 or float in [0,1]) or a tensor
    ((C,H,W) or (N,C,H,W); uint8 or float in [0,1]), C in 1..4, as a :class:`PictureBatch`.

    Raises:
        ValueError: unsupported shape/dtype/mode, NaN, or float values outside [0,1].
        TypeError: any other type.
    """
    if isinstance(image, Image.Image):
        return _from_pil(image)
    if isinstance(image, np.ndarray):
        return _from_numpy(image)
    if isinstance(image, Tensor):
        return _from_tensor(image)
    raise TypeError(
        f"image must be a PIL.Image, a numpy array or a torch.Tensor, got {type(image).__name__}; "
        "load files with PIL.Image.open(path)"
    )


def _from_tensor(image: Tensor) -> PictureBatch:
    image = image.detach()  # the result is a new tensor outside autograd
    shape = tuple(image.shape)
    if image.ndim not in (3, 4) or not 1 <= image.shape[-3] <= 4:
        raise ValueError(
            "image tensor must be (C,H,W) or (N,C,H,W) with C = 1..4 (gray, gray+alpha, RGB, RGBA), "
            f"got {shape}; permute an HxWxC tensor with .permute(2, 0, 1)"
        )
    if image.shape[-1] == 0 or image.shape[-2] == 0 or (image.ndim == 4 and image.shape[0] == 0):
        raise ValueError(f"image tensor is empty: shape {shape}")
    if image.dtype == torch.uint8:
        scale = 255.0
    elif image.dtype in _FLOAT_TENSORS:
        _check_float_range(image, "image")
        scale = 1.0
    else:
        raise ValueError(
            f"image tensor must be uint8 or float (16/32/64 bits) in [0,1], got dtype {image.dtype}; "
            "use image.float() / 255"
        )
    batched = image.ndim == 4
    data = image if batched else image.unsqueeze(0)
    return PictureBatch(data=data, scale=scale, wrap=(lambda out: out) if batched else (lambda out: out[0]))


def _from_numpy(image: np.ndarray) -> PictureBatch:
    shape = image.shape
    if image.ndim == 2:
        layout = "hw"
    elif image.ndim == 3 and 1 <= shape[2] <= 4:
        layout = "hwc"
    else:
        raise ValueError(
            f"image array must be HxW or HxWxC with C = 1..4, got shape {shape}; "
            "a CxHxW array needs np.moveaxis(image, 0, -1)"
        )
    if 0 in shape:
        raise ValueError(f"image array is empty: shape {shape}")
    dtype = image.dtype
    native = dtype.newbyteorder("=")
    if native in _NUMPY_SCALE:
        scale = _NUMPY_SCALE[native]
    elif np.issubdtype(dtype, np.floating) and native.itemsize <= 8:
        scale = 1.0
    else:
        raise ValueError(f"image array must be uint8, uint16 or float in [0,1], got dtype {dtype}")
    array = np.ascontiguousarray(image, dtype=np.int32 if native == np.uint16 else native)
    with warnings.catch_warnings():  # read-only arrays (np.asarray(PIL image)) are never written to
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        tensor = torch.from_numpy(array)
    if scale == 1.0:
        _check_float_range(tensor, "image")
    data = tensor[None, None] if layout == "hw" else tensor.permute(2, 0, 1)[None]

    def wrap(out: Tensor) -> np.ndarray:
        result = out[0, 0] if layout == "hw" else out[0].permute(1, 2, 0)
        return np.ascontiguousarray(result.numpy()).astype(dtype, copy=False)

    return PictureBatch(data=data, scale=scale, wrap=wrap)


def _from_pil(image: Image.Image) -> PictureBatch:
    work, back = pil_working_copy(image)
    batch = _from_numpy(np.asarray(work))
    info = dict(image.info)

    def wrap(out: Tensor) -> Image.Image:
        result = Image.fromarray(to_array(out))  # uint8 HxW / HxWx2 / x3 / x4 -> L / LA / RGB / RGBA
        result = back(result) if back is not None else result
        result.info.update(info)
        return result

    to_array = batch.wrap
    return PictureBatch(data=batch.data, scale=batch.scale, wrap=wrap)


def _check_float_range(tensor: Tensor, name: str) -> None:
    if torch.isnan(tensor).any():
        raise ValueError(f"{name} contains NaN values; replace them first (e.g. torch.nan_to_num)")
    lo, hi = float(tensor.min()), float(tensor.max())
    if lo < 0 or hi > 1:
        hint = "; divide 0-255 values by 255" if hi > 1 else ""
        raise ValueError(f"float {name} values must be in [0,1], got range [{lo:g}, {hi:g}]{hint}")


def to_hole(
    mask: Any,
    size: tuple[int, int, int],
    device: torch.device | None = None,
    threshold: float | None = None,
) -> Tensor:
    """The hole as a bool tensor (N,1,H,W) on CPU; ``size`` is the pictures' (N, H, W).

    One rule for every type: **nonzero = hole**, or with ``threshold`` set, value > ``threshold``
    (in the mask's own units: 127 for a 0-255 mask, 0.5 for a float mask). Accepts PIL images of any
    mode, numpy arrays (HxW or HxWxC) and tensors ((H,W), (1,H,W) or (N,1,H,W)) of bool, integer or
    float values. With colour channels (RGB, RGBA, LA, HxWx3, ...) a pixel is a hole where any colour
    channel is; an RGBA / LA mask whose colour is empty (all 0) but whose alpha is not uniform is read
    from its alpha (masks drawn on a transparent layer). A mask with N == 1 applies to every picture.

    Raises:
        ValueError: wrong shape, size mismatch, NaN, unsupported dtype, a mask covering a whole
            picture, or (``device`` given) a tensor on another device.
        TypeError: a mask or threshold of another type.
    """
    threshold = check_threshold(threshold)
    n, h, w = size
    if isinstance(mask, (Image.Image, np.ndarray)):
        hole = torch.from_numpy(hole_from_array(mask, threshold))[None, None]
    elif isinstance(mask, Tensor):
        if device is not None and mask.device != device:
            raise ValueError(f"mask is on {mask.device} but the image is on {device}; put both on one device")
        if mask.ndim == 2:
            mask = mask[None, None]
        elif mask.ndim == 3 and mask.shape[0] == 1:
            mask = mask[None]
        elif not (mask.ndim == 4 and mask.shape[1] == 1):
            raise ValueError(f"mask tensor must be (H,W), (1,H,W) or (N,1,H,W), got {tuple(mask.shape)}")
        if mask.dtype not in _MASK_TENSORS:
            raise ValueError(f"mask tensor must be bool, integer or float, got dtype {mask.dtype}")
        mask = mask.detach().cpu()
        if mask.dtype == torch.bfloat16:
            mask = mask.float()  # numpy has no bfloat16; float32 holds every bfloat16 value
        hole = torch.from_numpy(hole_rule(mask.numpy(), threshold))
    else:
        raise TypeError(
            f"mask must be a PIL.Image, a numpy array or a torch.Tensor, got {type(mask).__name__}"
        )

    check_mask_size(tuple(hole.shape[-2:]), (h, w))
    if hole.shape[0] not in (1, n):
        raise ValueError(f"mask has {hole.shape[0]} masks for {n} pictures; give one mask or one per picture")
    hole = hole.expand(n, 1, h, w) if hole.shape[0] != n else hole
    check_hole(hole)
    return hole
