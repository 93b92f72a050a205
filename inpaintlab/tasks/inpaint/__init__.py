"""Inpainting: a generator fills the hole of a picture against a discriminator (``InpaintModule``), on
image folders with sampled masks (``InpaintDataModule``); the EMA generator is what ``inpaintlab export``
publishes and ``load(name)`` runs."""

from inpaintlab.tasks.inpaint.data import InpaintDataModule
from inpaintlab.tasks.inpaint.losses import FeatureLosses, reconstruction_loss
from inpaintlab.tasks.inpaint.module import InpaintModule

__all__ = ["FeatureLosses", "InpaintDataModule", "InpaintModule", "reconstruction_loss"]
