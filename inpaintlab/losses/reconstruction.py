"""Masked pixel reconstruction loss with separate hole and valid weights (Liu et al., 2018).

Two families of kinds:

* per-element errors averaged over all elements (``l1``, ``l2``): Liu et al.'s normalisation, in which a
  larger hole weighs more;
* ``psnr``: the negative PSNR (dB, data range 1) of each image's hole, and of its known part, averaged over
  the batch. It trains for exactly what ``benchmarks/quality.py`` and the registry report, the mean over
  pictures of the hole PSNR: each image's gradient is its squared error divided by its own MSE, so a
  picture that is nearly right counts as much as one that is far off (an L1 or L2 mean lets the hardest
  pictures dominate), and the fill moves toward the per-pixel mean (the PSNR optimum) instead of L1's
  median.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from inpaintlab._checks import check_image, check_mask, check_same_shape

__all__ = ["PSNR_FLOOR_MSE", "RECONSTRUCTION_KINDS", "ReconstructionLoss", "masked_reconstruction_loss"]

#: ``psnr`` adds this to each image's MSE before the log (a 50 dB ceiling), so an exact region has a
#: finite loss and a bounded gradient.
PSNR_FLOOR_MSE = 1e-5
_DB_PER_NEPER = 10.0 / math.log(10.0)


def _mean_over_elements(error: Tensor, region: Tensor) -> Tensor:
    return (region * error).mean()


def _negative_psnr(error: Tensor, region: Tensor) -> Tensor:
    region = region.float()
    area = region.flatten(1).sum(1) * error.shape[1]
    mse = (region * error).flatten(1).sum(1) / area.clamp_min(1.0)
    has_region = (area > 0).float()  # an image without a pixel of the region does not count
    db = _DB_PER_NEPER * torch.log(mse + PSNR_FLOOR_MSE)
    return (db * has_region).sum() / has_region.sum().clamp_min(1.0)


def _absolute_error(pred: Tensor, target: Tensor) -> Tensor:
    return (pred - target).abs()


def _squared_error(pred: Tensor, target: Tensor) -> Tensor:
    return (pred - target).square()


def _squared_error_float32(pred: Tensor, target: Tensor) -> Tensor:
    # per-image sums of up to H*W*C terms follow: in float32 also for bfloat16 / float16 inputs
    return (pred.float() - target.float()).square()


RECONSTRUCTION_KINDS = {
    "l1": (_absolute_error, _mean_over_elements),
    "l2": (_squared_error, _mean_over_elements),
    "psnr": (_squared_error_float32, _negative_psnr),
}
"""``kind -> (per-element error, reduction over a region)``: ``l1`` = mean |pred - target|, ``l2`` = mean
(pred - target)^2 (both over ALL N*C*H*W elements), ``psnr`` = -PSNR of the region per image (dB), averaged
over the batch."""


def masked_reconstruction_loss(
    pred: Tensor,
    target: Tensor,
    mask: Tensor,
    *,
    hole_weight: float = 6.0,
    valid_weight: float = 1.0,
    kind: str = "l1",
) -> Tensor:
    """``hole_weight * L_hole + valid_weight * L_valid``, normalised as in Liu et al. 2018 (partial conv).

    For ``l1`` / ``l2``: ``L_hole = mean(mask * err)`` and ``L_valid = mean((1 - mask) * err)``, where
    ``err`` is the per-element error of ``kind`` and both means run over ALL N*C*H*W elements (not only
    the hole's), so a larger hole weighs more. Liu et al. use ``kind="l1"``, hole 6, valid 1; ``l2`` with
    valid 0 is Pathak et al.'s masked L2 (up to a constant factor). For ``psnr``: ``L_hole = mean_n
    10 log10(mse_hole_n + PSNR_FLOOR_MSE)`` over the images that have a hole pixel, i.e. minus their hole
    PSNR (negative values), and ``L_valid`` the same over the known pixels. A term of weight 0 is not computed.

    Shapes: pred, target (N,C,H,W); mask (N,1,H,W), 1 = hole, broadcast over C -> scalar.
    """
    pred = check_image(pred, "pred", channels=None)
    target = check_image(target, "target", channels=None)
    check_same_shape(pred, target, ("pred", "target"))
    mask = check_mask(mask, pred)
    if kind not in RECONSTRUCTION_KINDS:
        raise ValueError(f"kind must be one of {sorted(RECONSTRUCTION_KINDS)}, got {kind!r}")
    element_error, reduce = RECONSTRUCTION_KINDS[kind]
    error = element_error(pred, target)
    loss = hole_weight * reduce(error, mask)
    if valid_weight:
        loss = loss + valid_weight * reduce(error, 1.0 - mask)
    return loss


class ReconstructionLoss(nn.Module):
    """Module form of :func:`masked_reconstruction_loss`; ``forward(pred, target, mask) -> scalar``."""

    def __init__(self, hole_weight: float = 6.0, valid_weight: float = 1.0, kind: str = "l1") -> None:
        super().__init__()
        if kind not in RECONSTRUCTION_KINDS:
            raise ValueError(f"kind must be one of {sorted(RECONSTRUCTION_KINDS)}, got {kind!r}")
        self.hole_weight = float(hole_weight)
        self.valid_weight = float(valid_weight)
        self.kind = kind

    def forward(self, pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
        return masked_reconstruction_loss(
            pred, target, mask, hole_weight=self.hole_weight, valid_weight=self.valid_weight, kind=self.kind
        )

    def extra_repr(self) -> str:
        return f"hole_weight={self.hole_weight}, valid_weight={self.valid_weight}, kind={self.kind!r}"
