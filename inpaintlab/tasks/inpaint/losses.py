"""The generator's image-level extra losses: style and perceptual (on a frozen feature network) and TV.

The frozen feature network (VGG by default) is a submodule, so it follows the LightningModule to its
device and precision, but its weights are left out of ``state_dict``: checkpoints stay small and only
hold what training changes.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from inpaintlab.losses import (
    FeatureNetwork,
    LossWeights,
    masked_reconstruction_loss,
    perceptual_loss,
    style_loss,
    total_variation_loss,
)

NETWORK_PREFIX = "network."


def reconstruction_loss(weights: LossWeights, pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """The masked reconstruction loss with the run's settings (unweighted by ``weights.reconstruction``)."""
    return masked_reconstruction_loss(
        pred,
        target,
        mask,
        hole_weight=weights.hole_weight,
        valid_weight=weights.valid_weight,
        kind=weights.reconstruction_kind,
    )


def _fill_network_weights(module: FeatureLosses, state_dict: dict, prefix: str, *args) -> None:
    """Load pre-hook: checkpoints do not hold the frozen network's weights; keep the current ones."""
    if module.network is not None:
        for key, value in module.network.state_dict(prefix=prefix + NETWORK_PREFIX).items():
            state_dict.setdefault(key, value)


class FeatureLosses(nn.Module):
    """Weighted style, perceptual and total-variation losses of a composited output.

    Args:
        weights: the run's :class:`~inpaintlab.losses.LossWeights` (``style``, ``perceptual``,
            ``total_variation``); terms with weight 0 are not computed, and the feature network is only
            built when ``style`` or ``perceptual`` is positive.
        feature_network: keyword arguments of :class:`~inpaintlab.losses.FeatureNetwork` (default: its
            defaults, i.e. pretrained VGG-16 relu1_2/relu2_2/relu3_3).

    ``forward(output, target, mask)`` -> dict of weighted terms ``{"style", "perceptual", "tv"}`` (only
    the enabled ones). Shapes: output, target (N,3,H,W) in [0,1]; mask (N,1,H,W).
    """

    def __init__(self, weights: LossWeights, feature_network: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.weights = weights
        needs_network = weights.style > 0 or weights.perceptual > 0
        self.network = FeatureNetwork(**(feature_network or {})) if needs_network else None
        self.register_load_state_dict_pre_hook(_fill_network_weights)

    def state_dict(self, *args, destination=None, prefix: str = "", keep_vars: bool = False):
        out = super().state_dict(destination=destination, prefix=prefix, keep_vars=keep_vars)
        for key in [k for k in out if k.startswith(prefix + NETWORK_PREFIX)]:
            del out[key]
        return out

    def forward(self, output: Tensor, target: Tensor, mask: Tensor) -> dict[str, Tensor]:
        w = self.weights
        terms: dict[str, Tensor] = {}
        if self.network is not None:
            output_features = self.network(output)
            target_features = [f.detach() for f in self.network(target.detach())]
            if w.style > 0:
                terms["style"] = w.style * style_loss(output_features, target_features)
            if w.perceptual > 0:
                terms["perceptual"] = w.perceptual * perceptual_loss(output_features, target_features)
        if w.total_variation > 0:
            terms["tv"] = w.total_variation * total_variation_loss(output, mask)
        return terms
