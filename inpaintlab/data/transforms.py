"""Crops, flips and colour jitter for training images, shared by the CPU and the device-cache paths.

Both paths draw the same random parameters with ``sample_augment_params`` (from a CPU generator);
the CPU path applies them to one PIL image at a time, the cache path to a whole batch on the device.

Zoom ``z`` means: the square crop covers ``1/z`` of the image's short side (``z = 1``: the whole
short side, shifted randomly along the long side), and is resized to ``image_size``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from inpaintlab._checks import check_image

_GRAY_WEIGHTS = (0.299, 0.587, 0.114)


@dataclass(frozen=True)
class Augmentation:
    """Training augmentation settings.

    Args:
        hflip: flip half of the images left-right.
        zoom: ``(min, max)`` zoom of the random square crop, both >= 1 (see the module docstring).
        brightness: brightness factor drawn from ``[1 - brightness, 1 + brightness]``.
        contrast: contrast factor drawn from ``[1 - contrast, 1 + contrast]`` (blend with the mean gray).
    """

    hflip: bool = True
    zoom: tuple[float, float] = (1.0, 1.25)
    brightness: float = 0.1
    contrast: float = 0.1

    def __post_init__(self) -> None:
        try:
            low, high = (float(z) for z in self.zoom)
        except (TypeError, ValueError):
            raise ValueError(f"zoom must be a pair (min, max), got {self.zoom!r}") from None
        if not 1.0 <= low <= high:
            raise ValueError(
                f"zoom must be a pair (min, max) with 1 <= min <= max, got {self.zoom!r}; "
                "use (1.0, 1.0) for crops that always cover the whole short side"
            )
        object.__setattr__(self, "zoom", (low, high))
        for name in ("brightness", "contrast"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {value!r}; use 0 to switch it off")


DEFAULT_AUGMENTATION = Augmentation()


@dataclass(frozen=True)
class AugmentParams:
    """Per-image random parameters, each a CPU tensor (N,): zoom >= 1, crop offsets in [0,1]
    (fraction of the free space left/top of the crop), flip (bool), brightness and contrast factors."""

    zoom: Tensor
    offset_x: Tensor
    offset_y: Tensor
    flip: Tensor
    brightness: Tensor
    contrast: Tensor


def sample_augment_params(
    n: int, augmentation: Augmentation | None, generator: torch.Generator | None = None
) -> AugmentParams:
    """Draw the parameters of ``n`` images; ``augmentation=None`` gives a centre crop and no jitter.

    Always draws the same amount of randomness, so a generator's later draws (the masks) do not
    depend on the augmentation settings.
    """
    u = torch.rand(n, 6, generator=generator, dtype=torch.float64)
    if augmentation is None:
        half, one = torch.full((n,), 0.5, dtype=torch.float64), torch.ones(n, dtype=torch.float64)
        return AugmentParams(one, half, half, torch.zeros(n, dtype=torch.bool), one, one)
    low, high = augmentation.zoom
    return AugmentParams(
        zoom=low + (high - low) * u[:, 0],
        offset_x=u[:, 1],
        offset_y=u[:, 2],
        flip=(u[:, 3] < 0.5) & augmentation.hflip,
        brightness=1.0 + augmentation.brightness * (2.0 * u[:, 4] - 1.0),
        contrast=1.0 + augmentation.contrast * (2.0 * u[:, 5] - 1.0),
    )


def crop_box(width: int, height: int, zoom: float, offset_x: float, offset_y: float) -> tuple[float, ...]:
    """The square crop ``(left, top, right, bottom)`` in pixels for one image of ``width x height``."""
    side = min(width, height) / zoom
    left = offset_x * (width - side)
    top = offset_y * (height - side)
    return (left, top, left + side, top + side)


def centre_crop_resize(image: Image.Image, size: int) -> Image.Image:
    """Resize so the short side is ``size`` and cut the centre square (deterministic; validation)."""
    return image.resize((size, size), Image.Resampling.BICUBIC, box=crop_box(*image.size, 1.0, 0.5, 0.5))


def random_crop_resize(image: Image.Image, size: int, params: AugmentParams, i: int = 0) -> Image.Image:
    """Cut the square crop of ``params`` (image ``i``) from a PIL image and resize it to ``size``."""
    box = crop_box(*image.size, float(params.zoom[i]), float(params.offset_x[i]), float(params.offset_y[i]))
    return image.resize((size, size), Image.Resampling.BICUBIC, box=box)


def crop_resize_batch(images: Tensor, size: int, params: AugmentParams) -> Tensor:
    """Batched crop + resize + flip of square images on their device (bilinear ``grid_sample``).

    Shapes: images (N,C,S,S) uint8 or float -> (N,C,size,size) float in [0,1].
    """
    if images.ndim != 4 or images.shape[-1] != images.shape[-2]:
        raise ValueError(f"images must be square (N,C,S,S), got {tuple(images.shape)}")
    n, device = images.shape[0], images.device
    x = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
    scale = (1.0 / params.zoom).to(device, torch.float32)  # crop side / image side
    # crop centre in normalised [-1, 1] coordinates: offset 0 -> touches the left/top edge
    centre_x = (2.0 * params.offset_x.to(device, torch.float32) - 1.0) * (1.0 - scale)
    centre_y = (2.0 * params.offset_y.to(device, torch.float32) - 1.0) * (1.0 - scale)
    sign_x = 1.0 - 2.0 * params.flip.to(device, torch.float32)
    theta = torch.zeros(n, 2, 3, device=device)
    theta[:, 0, 0] = scale * sign_x
    theta[:, 0, 2] = centre_x
    theta[:, 1, 1] = scale
    theta[:, 1, 2] = centre_y
    grid = F.affine_grid(theta, [n, x.shape[1], size, size], align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out.clamp_(0.0, 1.0)


def jitter_brightness_contrast(images: Tensor, brightness: Tensor, contrast: Tensor) -> Tensor:
    """Scale brightness, then blend with each image's mean gray by the contrast factor (torchvision
    semantics, clamped to [0,1] after each step).

    Shapes: images (N,3,H,W) float in [0,1], brightness (N,), contrast (N,) -> (N,3,H,W).
    """
    check_image(images, "images")
    factors_b = brightness.to(images.device, images.dtype).view(-1, 1, 1, 1)
    factors_c = contrast.to(images.device, images.dtype).view(-1, 1, 1, 1)
    out = (images * factors_b).clamp(0.0, 1.0)
    weights = torch.tensor(_GRAY_WEIGHTS, device=images.device, dtype=images.dtype).view(1, 3, 1, 1)
    mean_gray = (out * weights).sum(dim=1, keepdim=True).mean(dim=(2, 3), keepdim=True)
    return (factors_c * out + (1.0 - factors_c) * mean_gray).clamp(0.0, 1.0)
