"""Picture files, PIL modes and the mask rule, without torch: what every inference path shares.

Both runtimes, :class:`~inpaintlab.api.Inpainter` (torch) and
:class:`~inpaintlab.api.onnx_inpainter.OnnxInpainter` (ONNX Runtime, what the command line runs),
read files, convert PIL modes and turn masks into holes through these functions, so that a picture and
mask give the same hole and come back in the same mode whichever runs them.

The mask rule (:func:`hole_from_array`): **nonzero = hole** (``threshold=t``: value > t). A mask with
colour channels is a hole wherever any colour channel is; an RGBA / LA mask with no colour at all
(every colour value 0) but a drawn alpha channel is read from its alpha. A mask that covers the whole
picture leaves nothing to inpaint from and is a ``ValueError`` (:func:`check_hole`).
"""

from __future__ import annotations

import os
import struct
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

#: ITU-R 601-2 luma, the weights PIL uses for RGB -> L (a fill of a grey picture is written as its luma)
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
#: PIL modes whose pixels are used as they are (8 bits per channel: gray, gray+alpha, RGB, RGBA)
PIL_DIRECT = frozenset({"L", "LA", "RGB", "RGBA"})
# what PIL raises on a damaged file besides OSError (truncated zlib streams, bad chunk tables, ...)
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error, zlib.error)


def read_picture(path: str | os.PathLike, what: str = "image") -> Image.Image:
    """Open and decode a picture file completely (what the CLI reads ``--image`` / ``--mask`` with).

    Raises:
        FileNotFoundError: ``path`` does not exist or is not a file.
        PermissionError: the file cannot be read.
        ValueError: not a picture PIL can decode (unknown format, truncated, damaged, too large);
            the message names ``what`` and the path.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} {'is a folder' if path.is_dir() else 'does not exist'}")
    try:
        with Image.open(path) as image:
            image.load()
            return image
    except Image.DecompressionBombError as err:
        raise ValueError(f"{what} {path} is too large to decode safely: {err}") from None
    except PermissionError:  # not a format problem: say so, with the path
        raise PermissionError(
            f"{what} {path} cannot be read: permission denied (check the file's mode)"
        ) from None
    except _DECODE_ERRORS as err:
        raise ValueError(
            f"{what} {path} is not a readable picture ({type(err).__name__}: {err}); "
            "give a PNG, JPEG, WebP, TIFF or BMP file"
        ) from None


def pil_working_copy(image: Image.Image) -> tuple[Image.Image, Callable[[Image.Image], Image.Image] | None]:
    """``(picture in one of PIL_DIRECT's modes, how to turn a result back into the input's mode or None)``.

    Mode ``1`` runs as ``L`` and comes back as ``1``; a palette (``P`` / ``PA``) picture runs and comes
    back as RGB(A), and CMYK / YCbCr / LAB / HSV as RGB, each with a warning (a palette cannot hold the
    new colours).

    Raises:
        ValueError: a mode with more than 8 bits per channel (``I;16``, ``I``, ``F``, ...), with the fix.
    """
    mode = image.mode
    if mode in PIL_DIRECT:
        return image, None
    if mode == "1":
        return image.convert("L"), lambda im: im.convert("1", dither=Image.Dither.NONE)
    if mode in ("P", "PA"):
        work = image.convert("RGBA" if mode == "PA" or "transparency" in image.info else "RGB")
        warnings.warn(
            f"a palette ({mode}) image is inpainted and returned as {work.mode}: the palette cannot hold "
            "the new colours; call .quantize() on the result to get a palette image back",
            stacklevel=4,
        )
        return work, None
    if mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        warnings.warn(f"a {mode} image is inpainted and returned as RGB", stacklevel=4)
        return image.convert("RGB"), None
    raise ValueError(
        f"PIL image mode {mode!r} is not supported; convert it with image.convert('RGB'), "
        "or pass a 16-bit picture as a numpy uint16 array (np.asarray(image))"
    )


def check_threshold(threshold: Any) -> float | None:
    """``threshold`` as a float (None stays None: nonzero = hole); ``TypeError`` / ``ValueError`` otherwise."""
    if threshold is None:
        return None
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.integer, np.floating)):
        raise TypeError(
            f"threshold must be a number or None (nonzero = hole), got {type(threshold).__name__}"
        )
    if not np.isfinite(threshold):
        raise ValueError(f"threshold must be a finite number, got {threshold!r}")
    return float(threshold)


def pil_mask_values(mask: Image.Image) -> np.ndarray:
    """A PIL mask as a numpy array, HxW or HxWxC (the channels are combined by :func:`hole_from_array`)."""
    if mask.mode in ("P", "PA"):
        mask = mask.convert("RGBA" if mask.mode == "PA" or "transparency" in mask.info else "RGB")
    elif mask.mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        mask = mask.convert("RGB")
    elif mask.mode in ("La", "RGBa", "RGBX"):
        mask = mask.convert("LA" if mask.mode == "La" else "RGBA" if mask.mode == "RGBa" else "RGB")
    return np.asarray(mask)


def hole_from_array(mask: Any, threshold: float | None = None) -> np.ndarray:
    """The hole (H,W) bool of a PIL mask or a numpy mask (HxW or HxWxC, C = 1..4), by the mask rule.

    ``threshold`` must already be checked (:func:`check_threshold`).

    Raises:
        ValueError: wrong shape, NaN or an unsupported dtype.
    """
    if isinstance(mask, Image.Image):
        mask = pil_mask_values(mask)
    if mask.dtype.kind not in "biuf":
        raise ValueError(f"mask array must be bool, integer or float, got dtype {mask.dtype}")
    if mask.ndim == 3 and 1 <= mask.shape[2] <= 4:
        mask = _mask_channel(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask array must be HxW (or HxWxC, C = 1..4), got shape {mask.shape}")
    return hole_rule(mask, threshold)


def hole_rule(values: np.ndarray, threshold: float | None = None) -> np.ndarray:
    """The mask rule on mask values of any shape (one channel): nonzero = hole, or value > ``threshold``.

    ``threshold`` must already be checked (:func:`check_threshold`).

    Raises:
        ValueError: NaN values or a dtype that is not bool, integer or float.
    """
    if values.dtype.kind not in "biuf":
        raise ValueError(f"mask must be bool, integer or float, got dtype {values.dtype}")
    if values.dtype.kind == "f" and np.isnan(values).any():
        raise ValueError("mask contains NaN values; masks are 0 (known) / nonzero (hole)")
    if values.dtype == np.float16:  # numpy would round the threshold to float16; tensors compare in float32
        values = values.astype(np.float32)
    if threshold is None:
        return np.ascontiguousarray(values != 0)
    return np.ascontiguousarray(values > threshold)


def grow_hole(hole: np.ndarray, dilate: int) -> np.ndarray:
    """The holes (N,1,H,W) bool grown by ``dilate`` pixels (:func:`~inpaintlab.api.plan.dilate_hole`) and
    checked again (:func:`check_hole`: growing must leave a known pixel); ``dilate`` 0 returns ``hole``."""
    if not check_dilate(dilate):
        return hole
    from inpaintlab.api.plan import dilate_hole  # imported on use: plan loads scipy, which a plain call skips

    grown = np.stack([dilate_hole(h[0], dilate) for h in hole])[:, None]
    check_hole(grown, dilate)
    return grown


def check_mask_size(mask_size: tuple[int, int], picture_size: tuple[int, int]) -> None:
    """``ValueError`` with the fix when a mask's (H, W) is not its picture's."""
    if tuple(mask_size) != tuple(picture_size):
        raise ValueError(
            f"mask size {tuple(mask_size)} (H,W) does not match the image size {tuple(picture_size)}; "
            "resize the mask with nearest-neighbour interpolation to the image size"
        )


def check_hole(hole: Any, dilate: int = 0) -> None:
    """``ValueError`` when a picture's hole covers all of it: nothing to inpaint from.

    ``hole``: (N,1,H,W) bool, a numpy array or a tensor; ``dilate``: the pixels the hole was grown by,
    named in the message when that is what filled it.
    """
    whole = hole.reshape(hole.shape[0], -1).all(1)
    whole = np.asarray(whole.cpu() if hasattr(whole, "cpu") else whole)
    if whole.any():
        which = "the picture" if len(whole) == 1 else f"picture(s) {np.flatnonzero(whole).tolist()}"
        if dilate:
            raise ValueError(
                f"the mask grown by dilate={dilate} px covers all of {which}, so no known pixel is left to "
                "inpaint from; pass a smaller dilate"
            )
        raise ValueError(
            f"the mask covers all of {which}, so no known pixel is left to inpaint from; mark only the "
            "pixels to fill as nonzero (is the mask inverted? known pixels must be 0), or pass threshold="
        )


def check_dilate(dilate: Any) -> int:
    """``dilate`` if it is an int >= 0 (pixels), else a ``ValueError``."""
    if isinstance(dilate, bool) or not isinstance(dilate, int) or dilate < 0:
        raise ValueError(f"dilate must be an int >= 0 (pixels), got {dilate!r}")
    return dilate


def unit_fill_values(values: np.ndarray, colour: int, stacklevel: int = 2) -> np.ndarray:
    """A model's fill values (3,K) float -> what both runtimes write: (colour,K) float32 in [0,1].

    NaN/inf become 0 (with a warning), values are clamped to [0,1], and for a grey picture
    (``colour`` 1) the RGB fill becomes its luma (:data:`LUMA`).
    """
    values = np.asarray(values, dtype=np.float32)
    if not np.isfinite(values).all():
        warnings.warn(
            "the model produced NaN/inf values in the hole; they were replaced by 0",
            stacklevel=stacklevel + 1,
        )
        values = np.nan_to_num(values, nan=0.0, posinf=1.0, neginf=0.0)
    values = np.clip(values, 0, 1)
    if colour == 1:
        values = np.clip((values * LUMA[:, None]).sum(0, keepdims=True), 0, 1)
    return values


def _mask_channel(mask: np.ndarray) -> np.ndarray:
    """HxWxC -> HxW: the colour channels' maximum; the alpha channel (C = 2 or 4) when the colour is
    empty and the alpha is not uniform (a mask drawn on a transparent layer)."""
    channels = mask.shape[2]
    if channels in (2, 4):
        colour, alpha = mask[..., : channels - 1], mask[..., channels - 1]
        if not colour.any() and (alpha != alpha.flat[0]).any():
            return alpha
        mask = colour
    return mask.max(axis=2) if mask.dtype != bool else mask.any(axis=2)
