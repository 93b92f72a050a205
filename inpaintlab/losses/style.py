"""Style (Gram matrix) and perceptual (feature) losses on lists of feature maps (Gatys; Johnson; Liu et al.).

The functions take lists of feature maps, one per layer, such as a :class:`FeatureNetwork` returns;
the modules run the network themselves. Following Liu et al. 2018, each layer contributes the MEAN
per-element distance and the layers are SUMMED:

* perceptual: ``sum_p mean |phi_p(pred) - phi_p(target)|``
* style: ``sum_p mean |G_p(pred) - G_p(target)|`` with ``G_p = phi_p phi_p^T / (C_p H_p W_p)``

``kind="l2"`` uses the mean squared difference instead of the mean absolute one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["FEATURE_DISTANCES", "PerceptualLoss", "StyleLoss", "gram_matrix", "perceptual_loss", "style_loss"]

FEATURE_DISTANCES: dict[str, Callable[[Tensor, Tensor], Tensor]] = {"l1": F.l1_loss, "l2": F.mse_loss}
"""``kind`` -> per-layer distance (mean over all elements)."""


def gram_matrix(features: Tensor) -> Tensor:
    """Gram matrix of each sample's channels, normalised by C*H*W.

    ``G[n, i, j] = sum_{h,w} F[n, i, h, w] * F[n, j, h, w] / (C * H * W)``. Half-precision input is
    computed in float32 (sums over H*W overflow float16), so the result is at least float32.

    Shapes: features (N,C,H,W) -> (N,C,C).
    """
    if not isinstance(features, Tensor):
        raise TypeError(f"features must be a torch.Tensor, got {type(features).__name__}")
    if features.ndim != 4:
        raise ValueError(f"features must have shape (N,C,H,W), got {tuple(features.shape)}")
    n, c, h, w = features.shape
    flat = features.reshape(n, c, h * w)
    if flat.dtype in (torch.float16, torch.bfloat16):
        flat = flat.float()
    with torch.autocast(device_type=flat.device.type, enabled=False):
        return torch.bmm(flat, flat.transpose(1, 2)) / (c * h * w)


def _check_feature_lists(pred_feats: Sequence[Tensor], target_feats: Sequence[Tensor], kind: str) -> None:
    if kind not in FEATURE_DISTANCES:
        raise ValueError(f"kind must be one of {sorted(FEATURE_DISTANCES)}, got {kind!r}")
    if isinstance(pred_feats, Tensor) or isinstance(target_feats, Tensor):
        raise TypeError("pred_feats and target_feats must be lists of feature maps (one per layer), not tensors")
    if len(pred_feats) == 0 or len(pred_feats) != len(target_feats):
        raise ValueError(
            f"pred_feats has {len(pred_feats)} layers and target_feats {len(target_feats)}; "
            "pass non-empty lists from the same feature network"
        )
    for i, (p, t) in enumerate(zip(pred_feats, target_feats)):
        if p.shape != t.shape:
            raise ValueError(
                f"layer {i}: pred_feats shape {tuple(p.shape)} does not match target_feats shape {tuple(t.shape)}; "
                "pred and target images must have the same size"
            )


def style_loss(pred_feats: Sequence[Tensor], target_feats: Sequence[Tensor], kind: str = "l1") -> Tensor:
    """Sum over layers of the mean ``kind`` distance between Gram matrices -> scalar.

    Shapes: two equally long lists of (N,C_p,H_p,W_p) feature maps, layer p of both the same shape.
    """
    _check_feature_lists(pred_feats, target_feats, kind)
    distance = FEATURE_DISTANCES[kind]
    return sum(distance(gram_matrix(p), gram_matrix(t)) for p, t in zip(pred_feats, target_feats))


def perceptual_loss(pred_feats: Sequence[Tensor], target_feats: Sequence[Tensor], kind: str = "l1") -> Tensor:
    """Sum over layers of the mean ``kind`` distance between feature maps -> scalar (shapes as style_loss)."""
    _check_feature_lists(pred_feats, target_feats, kind)
    distance = FEATURE_DISTANCES[kind]
    return sum(distance(p, t) for p, t in zip(pred_feats, target_feats))


class _FeatureLoss(nn.Module):
    def __init__(self, feature_net: nn.Module, kind: str = "l1") -> None:
        super().__init__()
        if kind not in FEATURE_DISTANCES:
            raise ValueError(f"kind must be one of {sorted(FEATURE_DISTANCES)}, got {kind!r}")
        self.feature_net = feature_net
        self.kind = kind

    def _features(self, pred: Tensor, target: Tensor) -> tuple[list[Tensor], list[Tensor]]:
        if pred.shape != target.shape:
            raise ValueError(f"pred shape {tuple(pred.shape)} does not match target shape {tuple(target.shape)}")
        with torch.no_grad():  # the target is data: no graph through it
            target_feats = [f.detach() for f in self.feature_net(target)]
        return list(self.feature_net(pred)), target_feats

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}"


class StyleLoss(_FeatureLoss):
    """:func:`style_loss` of ``feature_net(pred)`` vs ``feature_net(target)``; target gets no gradient.

    ``feature_net`` (e.g. a :class:`FeatureNetwork`) maps (N,3,H,W) images in [0,1] to a list of feature
    maps; pass the same instance to :class:`PerceptualLoss` to share it.
    ``forward(pred, target)``: (N,3,H,W), (N,3,H,W) -> scalar.
    """

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        return style_loss(*self._features(pred, target), kind=self.kind)


class PerceptualLoss(_FeatureLoss):
    """:func:`perceptual_loss` of ``feature_net(pred)`` vs ``feature_net(target)``; target gets no gradient.

    ``forward(pred, target)``: (N,3,H,W), (N,3,H,W) -> scalar.
    """

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        return perceptual_loss(*self._features(pred, target), kind=self.kind)
