"""Total variation (smoothness) loss, optionally restricted to the hole's 1-pixel dilation (Liu et al., 2018)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from inpaintlab._checks import check_image, check_mask

__all__ = ["TotalVariationLoss", "total_variation_loss"]


def _mean_over_pairs(weighted_diffs: Tensor) -> Tensor:
    # An image one pixel wide (or high) has no pairs along that axis: that term is 0, not NaN.
    if weighted_diffs.numel() == 0:
        return weighted_diffs.sum()
    return weighted_diffs.mean()


def total_variation_loss(image: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean absolute difference of horizontal neighbours plus that of vertical neighbours.

    ``mean |x[..., :, j+1] - x[..., :, j]| + mean |x[..., i+1, :] - x[..., i, :]|``, each mean over all
    N*C*H*(W-1) (resp. N*C*(H-1)*W) neighbour pairs. With a ``mask`` (1 = hole), only pairs whose two
    pixels both lie in the hole dilated by one pixel (3x3) count, as in Liu et al.'s L_tv; the other
    pairs contribute 0 but still count in the mean, so an all-ones mask gives the unmasked value.

    Shapes: image (N,C,H,W); mask (N,1,H,W) or None -> scalar.
    """
    image = check_image(image, "image", channels=None)
    dx = (image[..., :, 1:] - image[..., :, :-1]).abs()
    dy = (image[..., 1:, :] - image[..., :-1, :]).abs()
    if mask is not None:
        mask = check_mask(mask, image)
        region = F.max_pool2d(mask, kernel_size=3, stride=1, padding=1)
        dx = dx * (region[..., :, 1:] * region[..., :, :-1])
        dy = dy * (region[..., 1:, :] * region[..., :-1, :])
    return _mean_over_pairs(dx) + _mean_over_pairs(dy)


class TotalVariationLoss(nn.Module):
    """Module form of :func:`total_variation_loss`; ``forward(image, mask=None) -> scalar``."""

    def forward(self, image: Tensor, mask: Tensor | None = None) -> Tensor:
        return total_variation_loss(image, mask)
