"""Random mask augmentation (flips, small affine, dilation, erosion) to stretch a fixed mask set."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from inpaintlab._checks import check_mask
from inpaintlab.masks._common import check_generator
from inpaintlab.masks.base import MaskSampler
from inpaintlab.masks.kind import mask_kinds

__all__ = ["AugmentedMasks", "augment_mask"]


def _int_range(value: object, name: str) -> tuple[int, int]:
    try:
        lo, hi = (int(v) for v in value)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair of ints (min, max) in pixels, got {value!r}") from None
    if not 0 <= lo <= hi:
        raise ValueError(f"{name} must satisfy 0 <= min <= max, got {(lo, hi)}")
    return lo, hi


def _check_args(dilate, erode, hflip, vflip, degrees, translate, scale) -> tuple:
    dilate, erode = _int_range(dilate, "dilate"), _int_range(erode, "erode")
    for name, p in (("hflip", hflip), ("vflip", vflip)):
        if not 0.0 <= float(p) <= 1.0:
            raise ValueError(f"{name} must be a probability in [0, 1], got {p!r}")
    if not float(degrees) >= 0:
        raise ValueError(f"degrees must be >= 0 (rotation drawn from [-degrees, degrees]), got {degrees!r}")
    if not 0.0 <= float(translate) < 1.0:
        raise ValueError(f"translate must be a fraction of the size in [0, 1), got {translate!r}")
    try:
        s_lo, s_hi = (float(s) for s in scale)
    except (TypeError, ValueError):
        raise ValueError(f"scale must be a pair (min, max), got {scale!r}") from None
    if not 0.0 < s_lo <= s_hi:
        raise ValueError(f"scale must satisfy 0 < min <= max, got {(s_lo, s_hi)}")
    return dilate, erode, float(hflip), float(vflip), float(degrees), float(translate), (s_lo, s_hi)


def _uniform(n: int, lo: float, hi: float, generator: torch.Generator | None) -> Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=generator, dtype=torch.float64)


def _radii(n: int, bounds: tuple[int, int], generator: torch.Generator | None) -> list[int]:
    return torch.randint(bounds[0], bounds[1] + 1, (n,), generator=generator).tolist()


def _affine_theta(angle: Tensor, scale: Tensor, shift_x: Tensor, shift_y: Tensor, height: int, width: int):
    """affine_grid matrices (N,2,3): output pixel -> input pixel for rotate+scale about the centre, then shift.

    Built in pixel units and converted to normalised coordinates, so rotation keeps right angles on
    non-square images.
    """
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale  # inverse of scale * R(angle)
    half_w, half_h = width / 2, height / 2
    theta = torch.zeros(angle.shape[0], 2, 3, dtype=torch.float64)
    theta[:, 0, 0] = cos
    theta[:, 0, 1] = sin * half_h / half_w
    theta[:, 1, 0] = -sin * half_w / half_h
    theta[:, 1, 1] = cos
    theta[:, 0, 2] = -(cos * shift_x + sin * shift_y) / half_w
    theta[:, 1, 2] = -(-sin * shift_x + cos * shift_y) / half_h
    return theta


def _morph(hole: Tensor, radii: list[int], grow: bool) -> Tensor:
    """Dilate (grow) or erode each mask by a square of side 2r+1; the image border is not eroded."""
    out = hole.clone()
    for radius in sorted(set(radii)):
        if radius == 0:
            continue
        rows = [i for i, r in enumerate(radii) if r == radius]
        x = hole[rows] if grow else 1.0 - hole[rows]
        x = F.max_pool2d(x, kernel_size=2 * radius + 1, stride=1, padding=radius)
        out[rows] = x if grow else 1.0 - x
    return out


def augment_mask(
    mask: Tensor,
    *,
    generator: torch.Generator | None,
    dilate: tuple[int, int] = (0, 3),
    erode: tuple[int, int] = (0, 2),
    hflip: float = 0.5,
    vflip: float = 0.5,
    degrees: float = 10.0,
    translate: float = 0.05,
    scale: tuple[float, float] = (0.9, 1.1),
) -> Tensor:
    """Randomly flip, rotate/scale/shift, dilate and erode each mask; the result stays binary.

    Per mask, in this order: horizontal flip with probability ``hflip``, vertical flip with
    ``vflip``; rotation by an angle in ``[-degrees, degrees]`` and scaling by a factor in ``scale``
    about the centre, then a shift of up to ``translate`` times the width/height (bilinear, then
    ``> 0.5``; outside the image is known); dilation by a square of radius in ``dilate`` pixels; erosion
    by a square of radius in ``erode`` pixels (the image border does not erode holes touching it).
    A mask that would end up empty is returned unchanged (binarised) instead.

    Args:
        mask: (N,1,H,W) float masks, 1 = hole (``> 0.5`` counts as hole).
        generator: CPU ``torch.Generator``; the only source of randomness (torch's global RNG if None).
        dilate, erode: (min, max) radius in pixels, inclusive.
        hflip, vflip: flip probabilities.
        degrees: maximum rotation in degrees.
        translate: maximum shift as a fraction of the size.
        scale: (min, max) scale factor.

    Returns:
        float tensor (N,1,H,W) of 0/1 values on the mask's device, dtype of ``mask``.
    """
    mask = check_mask(mask)
    generator = check_generator(generator)
    dilate, erode, hflip, vflip, degrees, translate, scale = _check_args(
        dilate, erode, hflip, vflip, degrees, translate, scale
    )
    n, _, height, width = mask.shape
    hole = (mask > 0.5).to(torch.float32)

    flip_h = (torch.rand(n, generator=generator) < hflip).tolist()
    flip_v = (torch.rand(n, generator=generator) < vflip).tolist()
    angle = _uniform(n, -degrees, degrees, generator) * (math.pi / 180)
    factor = _uniform(n, *scale, generator)
    shift_x = _uniform(n, -translate, translate, generator) * width
    shift_y = _uniform(n, -translate, translate, generator) * height
    grow, shrink = _radii(n, dilate, generator), _radii(n, erode, generator)

    out = hole.clone()
    for i in range(n):
        dims = [d for d, flip in ((-1, flip_h[i]), (-2, flip_v[i])) if flip]
        if dims:
            out[i] = out[i].flip(dims)
    if degrees > 0 or translate > 0 or scale != (1.0, 1.0):
        theta = _affine_theta(angle, factor, shift_x, shift_y, height, width).to(out.device, torch.float32)
        grid = F.affine_grid(theta, [n, 1, height, width], align_corners=False)
        out = (
            F.grid_sample(out, grid, mode="bilinear", padding_mode="zeros", align_corners=False) > 0.5
        ).float()
    out = _morph(out, grow, grow=True)
    out = _morph(out, shrink, grow=False)
    empty = out.flatten(1).amax(1) == 0
    out = torch.where(empty[:, None, None, None], hole, out)
    return out.to(mask.dtype)


@dataclass
class AugmentedMasks(MaskSampler):
    """Masks from ``base`` passed through :func:`augment_mask` (same generator, drawn after them).

    ``kind`` is the base sampler's kind; ``sample_with_kinds`` classifies the augmented masks with
    :func:`~inpaintlab.masks.mask_kinds`: a rotated block mask is no longer made of axis-aligned
    rectangles and a shifted centre mask is no longer centred.
    """

    base: MaskSampler
    dilate: tuple[int, int] = (0, 3)
    erode: tuple[int, int] = (0, 2)
    hflip: float = 0.5
    vflip: float = 0.5
    degrees: float = 10.0
    translate: float = 0.05
    scale: tuple[float, float] = (0.9, 1.1)

    @property
    def kind(self) -> str:  # type: ignore[override]
        """The base sampler's kind (what a model trained on these masks is specialised for)."""
        return self.base.kind

    def __post_init__(self) -> None:
        if not isinstance(self.base, MaskSampler):
            raise TypeError(f"base must be a MaskSampler, got {type(self.base).__name__}")
        _check_args(self.dilate, self.erode, self.hflip, self.vflip, self.degrees, self.translate, self.scale)

    def __call__(
        self,
        batch: int,
        size: int | tuple[int, int],
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> Tensor:
        masks = self.base(batch, size, generator=generator, device=device)
        return augment_mask(
            masks,
            generator=generator,
            dilate=self.dilate,
            erode=self.erode,
            hflip=self.hflip,
            vflip=self.vflip,
            degrees=self.degrees,
            translate=self.translate,
            scale=self.scale,
        )

    def sample_with_kinds(
        self,
        batch: int,
        size: int | tuple[int, int],
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> tuple[Tensor, list[str]]:
        masks = self(batch, size, generator=generator, device=device)
        return masks, mask_kinds(masks)
