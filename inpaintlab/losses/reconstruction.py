"""Masked pixel reconstruction loss with separate hole and valid weights (Liu et al., 2018)."""

from __future__ import annotations

from torch import Tensor, nn

from inpaintlab._checks import check_image, check_mask, check_same_shape

__all__ = ["RECONSTRUCTION_KINDS", "ReconstructionLoss", "masked_reconstruction_loss"]


def _absolute_error(pred: Tensor, target: Tensor) -> Tensor:
    return (pred - target).abs()


def _squared_error(pred: Tensor, target: Tensor) -> Tensor:
    return (pred - target).square()


RECONSTRUCTION_KINDS = {"l1": _absolute_error, "l2": _squared_error}
"""Per-element error of each ``kind``: ``l1`` = |pred - target|, ``l2`` = (pred - target)^2."""


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

    ``L_hole = mean(mask * err)`` and ``L_valid = mean((1 - mask) * err)``, where ``err`` is the
    per-element error of ``kind`` and both means run over ALL N*C*H*W elements (not only the hole's),
    so a larger hole weighs more. Liu et al. use ``kind="l1"``, hole 6, valid 1; ``l2`` with valid 0 is
    Pathak et al.'s masked L2 (up to a constant factor).

    Shapes: pred, target (N,C,H,W); mask (N,1,H,W), 1 = hole, broadcast over C -> scalar.
    """
    pred = check_image(pred, "pred", channels=None)
    target = check_image(target, "target", channels=None)
    check_same_shape(pred, target, ("pred", "target"))
    mask = check_mask(mask, pred)
    if kind not in RECONSTRUCTION_KINDS:
        raise ValueError(f"kind must be one of {sorted(RECONSTRUCTION_KINDS)}, got {kind!r}")
    error = RECONSTRUCTION_KINDS[kind](pred, target)
    hole = (mask * error).mean()
    valid = ((1.0 - mask) * error).mean()
    return hole_weight * hole + valid_weight * valid


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
