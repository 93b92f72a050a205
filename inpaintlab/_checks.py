"""Shape and value checks shared by every public entry point.

Conventions (see README): images are float tensors (N,3,H,W) in [0,1]; masks are float tensors
(N,1,H,W) with 1 = hole, 0 = known. Every check raises ``ValueError`` naming the argument, what was
expected, what was given, and how to fix it.
"""

from __future__ import annotations

import torch
from torch import Tensor


def check_tensor(x: object, name: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    return x


def check_image(image: object, name: str = "image", channels: int | None = 3) -> Tensor:
    """Check an image batch: float tensor (N,C,H,W); C == ``channels`` unless ``channels`` is None."""
    image = check_tensor(image, name)
    if image.ndim != 4:
        raise ValueError(
            f"{name} must have shape (N,C,H,W), got {tuple(image.shape)}; "
            f"add a batch dimension with {name}.unsqueeze(0)"
        )
    if channels is not None and image.shape[1] != channels:
        raise ValueError(f"{name} must have {channels} channels, got shape {tuple(image.shape)}")
    if not image.is_floating_point():
        raise ValueError(
            f"{name} must be a float tensor in [0,1], got dtype {image.dtype}; "
            f"convert uint8 images with {name}.float() / 255"
        )
    return image


def check_mask(mask: object, image: Tensor | None = None, name: str = "mask") -> Tensor:
    """Check a mask batch: float tensor (N,1,H,W) matching ``image`` in N, H, W and device."""
    mask = check_tensor(mask, name)
    if mask.ndim != 4 or mask.shape[1] != 1:
        raise ValueError(f"{name} must have shape (N,1,H,W) with 1 = hole, got {tuple(mask.shape)}")
    if not mask.is_floating_point():
        raise ValueError(f"{name} must be a float tensor of 0/1 values, got dtype {mask.dtype}; use {name}.float()")
    if image is not None:
        if mask.shape[0] != image.shape[0] or mask.shape[-2:] != image.shape[-2:]:
            raise ValueError(
                f"{name} shape {tuple(mask.shape)} does not match image shape {tuple(image.shape)}: "
                "the mask needs the image's batch size, height and width"
            )
        if mask.device != image.device:
            raise ValueError(f"{name} is on {mask.device} but the image is on {image.device}; move both to one device")
    return mask


def check_same_shape(a: Tensor, b: Tensor, names: tuple[str, str] = ("input", "target")) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{names[0]} shape {tuple(a.shape)} does not match {names[1]} shape {tuple(b.shape)}")


def composite(pred: Tensor, image: Tensor, mask: Tensor) -> Tensor:
    """The prediction in the hole, the image elsewhere: ``where(mask > 0.5, pred, image)``.

    The mask is thresholded, not blended: a soft mask value of 0.4 keeps the image's pixel, 0.6 takes
    the prediction's. Known pixels are copied from ``image`` exactly (``torch.where``, so they stay
    bit-identical even where ``pred`` is NaN or where float rounding would change them).

    >>> pred, image = torch.ones(1, 1, 1, 3), torch.zeros(1, 1, 1, 3)
    >>> composite(pred, image, torch.tensor([[[[0.4, 0.5, 0.6]]]]))
    tensor([[[[0., 0., 1.]]]])

    Shapes: pred (N,C,H,W), image (N,C,H,W), mask (N,1,H,W) -> (N,C,H,W).
    """
    check_same_shape(pred, image, ("pred", "image"))
    hole = mask > 0.5
    return torch.where(hole, pred, image)


def as_size(size: int | tuple[int, int] | list[int], name: str = "size") -> tuple[int, int]:
    """Normalise an int or (H, W) to a tuple of two positive ints."""
    if isinstance(size, int):
        size = (size, size)
    try:
        h, w = (int(s) for s in size)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an int or a pair (H, W), got {size!r}") from None
    if h <= 0 or w <= 0:
        raise ValueError(f"{name} must be positive, got {(h, w)}")
    return h, w
