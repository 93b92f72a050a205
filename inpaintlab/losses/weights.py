"""Loss weights for a GAN inpainting objective, with presets from the papers."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from inpaintlab.losses.adversarial import ADVERSARIAL_KINDS
from inpaintlab.losses.reconstruction import RECONSTRUCTION_KINDS

__all__ = ["LossWeights"]

_WEIGHT_FIELDS = (
    "reconstruction",
    "adversarial",
    "style",
    "perceptual",
    "total_variation",
    "feature_matching",
    "hole_weight",
    "valid_weight",
)


@dataclass(frozen=True)
class LossWeights:
    """Weights of the generator's loss terms and the settings of the reconstruction/adversarial terms.

    The generator loss is ``reconstruction * masked_reconstruction_loss(hole_weight, valid_weight,
    reconstruction_kind) + adversarial * generator_loss(adversarial_kind) + style * ... + perceptual * ...
    + total_variation * ... + feature_matching * ...``; a term with weight 0 need not be computed.
    All weights must be finite and >= 0.
    """

    reconstruction: float = 1.0
    adversarial: float = 0.01
    style: float = 0.0
    perceptual: float = 0.0
    total_variation: float = 0.0
    feature_matching: float = 0.0
    hole_weight: float = 6.0
    valid_weight: float = 1.0
    reconstruction_kind: str = "l1"
    adversarial_kind: str = "hinge"

    def __post_init__(self) -> None:
        for name in _WEIGHT_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"LossWeights.{name} must be a number, got {type(value).__name__}")
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"LossWeights.{name} must be finite and >= 0, got {value}")
        if self.reconstruction_kind not in RECONSTRUCTION_KINDS:
            raise ValueError(
                f"LossWeights.reconstruction_kind must be one of {sorted(RECONSTRUCTION_KINDS)}, "
                f"got {self.reconstruction_kind!r}"
            )
        if self.adversarial_kind not in ADVERSARIAL_KINDS:
            raise ValueError(
                f"LossWeights.adversarial_kind must be one of {sorted(ADVERSARIAL_KINDS)}, "
                f"got {self.adversarial_kind!r}"
            )

    @classmethod
    def pathak(cls) -> LossWeights:
        """Context Encoders' joint loss (Pathak et al., CVPR 2016, Sec. 3.2 and 5.1).

        ``L = 0.999 * L_rec + 0.001 * L_adv`` with ``L_rec = ||M ⊙ (x - F((1 - M) ⊙ x))||_2^2``, M = 1 on
        the dropped region: a squared L2 on the hole only (``hole_weight=1, valid_weight=0, kind="l2"``;
        our mean over all elements is their "normalized" masked L2 up to a constant), and the standard
        GAN loss (``vanilla``; the generator side is the usual non-saturating form). Not reproduced: their
        prediction of a region 7 px larger than the hole with a 10x reconstruction weight on that border.
        """
        return cls(
            reconstruction=0.999,
            adversarial=0.001,
            hole_weight=1.0,
            valid_weight=0.0,
            reconstruction_kind="l2",
            adversarial_kind="vanilla",
        )

    @classmethod
    def liu(cls) -> LossWeights:
        """Partial-convolution loss (Liu et al., ECCV 2018, Eq. 7): valid 1, hole 6, perceptual 0.05,
        style 120, TV 0.1, no adversarial term (their model is not a GAN).

        They apply the perceptual and style terms to both the raw output and the composite; with a
        single call per term here, the weights are theirs per call.
        """
        return cls(
            reconstruction=1.0,
            adversarial=0.0,
            style=120.0,
            perceptual=0.05,
            total_variation=0.1,
            hole_weight=6.0,
            valid_weight=1.0,
            reconstruction_kind="l1",
            adversarial_kind="hinge",
        )

    def to_dict(self) -> dict[str, float | str]:
        """Plain dict of all fields (for logging hyper-parameters)."""
        return asdict(self)
