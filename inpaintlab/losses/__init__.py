"""Losses for GAN inpainting: masked reconstruction, adversarial, style/perceptual, TV, feature matching.

Each loss is a plain function plus a thin ``nn.Module``; :class:`LossWeights` holds their weights.
"""

from inpaintlab.losses.adversarial import ADVERSARIAL_KINDS, AdversarialLoss, discriminator_loss, generator_loss
from inpaintlab.losses.feature_matching import FeatureMatchingLoss, feature_matching_loss
from inpaintlab.losses.feature_network import FeatureNetwork, load_state_dict_file
from inpaintlab.losses.reconstruction import (
    PSNR_FLOOR_MSE,
    RECONSTRUCTION_KINDS,
    ReconstructionLoss,
    masked_reconstruction_loss,
)
from inpaintlab.losses.style import (
    FEATURE_DISTANCES,
    PerceptualLoss,
    StyleLoss,
    gram_matrix,
    perceptual_loss,
    style_loss,
)
from inpaintlab.losses.total_variation import TotalVariationLoss, total_variation_loss
from inpaintlab.losses.weights import LossWeights

__all__ = [
    "ADVERSARIAL_KINDS",
    "FEATURE_DISTANCES",
    "PSNR_FLOOR_MSE",
    "RECONSTRUCTION_KINDS",
    "AdversarialLoss",
    "FeatureMatchingLoss",
    "FeatureNetwork",
    "LossWeights",
    "PerceptualLoss",
    "ReconstructionLoss",
    "StyleLoss",
    "TotalVariationLoss",
    "discriminator_loss",
    "feature_matching_loss",
    "generator_loss",
    "gram_matrix",
    "load_state_dict_file",
    "masked_reconstruction_loss",
    "perceptual_loss",
    "style_loss",
    "total_variation_loss",
]
