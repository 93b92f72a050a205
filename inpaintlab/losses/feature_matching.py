"""Discriminator feature matching (Salimans et al., 2016; pix2pixHD's multi-scale form)."""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["FeatureMatchingLoss", "feature_matching_loss"]

Features = Tensor | Sequence["Features"]


def _flatten(features: Features, name: str) -> list[Tensor]:
    if isinstance(features, Tensor):
        return [features]
    if not isinstance(features, Sequence) or isinstance(features, str):
        raise TypeError(f"{name} must be a tensor or a (nested) list of tensors, got {type(features).__name__}")
    return [t for i, item in enumerate(features) for t in _flatten(item, f"{name}[{i}]")]


def feature_matching_loss(real_features: Features, fake_features: Features) -> Tensor:
    """Mean over feature maps of the L1 distance (mean over elements) between fake and DETACHED real features.

    The real features carry no gradient, so only the generator is pulled towards the real statistics.
    Accepts one tensor, a list (one discriminator's intermediate layers), or a list of lists (one list
    per discriminator of a multi-scale discriminator); both sides need the same structure and shapes.

    Shapes: matching tensors of any shape, e.g. lists of (N,C_i,H_i,W_i) -> scalar.
    """
    reals = _flatten(real_features, "real_features")
    fakes = _flatten(fake_features, "fake_features")
    if not reals or len(reals) != len(fakes):
        raise ValueError(
            f"real_features has {len(reals)} feature maps and fake_features {len(fakes)}; "
            "pass non-empty outputs of the same discriminator for real and fake images"
        )
    for i, (r, f) in enumerate(zip(reals, fakes)):
        if r.shape != f.shape:
            raise ValueError(
                f"feature map {i}: real shape {tuple(r.shape)} does not match fake shape {tuple(f.shape)}"
            )
    return sum(F.l1_loss(f, r.detach()) for r, f in zip(reals, fakes)) / len(reals)


class FeatureMatchingLoss(nn.Module):
    """Module form of :func:`feature_matching_loss`; ``forward(real_features, fake_features) -> scalar``."""

    def forward(self, real_features: Features, fake_features: Features) -> Tensor:
        return feature_matching_loss(real_features, fake_features)
