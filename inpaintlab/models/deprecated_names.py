"""The one deprecation table: architecture names that files already written use, and what they are now.

A preset names a network, as timm's model names do; how a file runs it (the prefill's solver) is an
argument, given in its registry entry. Names that said more (a prefill setting, a training stage), and
the class names of files written before presets existed (``{"class": ..., "init": {...}}``), are read
through :data:`DEPRECATED_NAMES` by :func:`inpaintlab.models.parse_arch`, so every such file loads and
computes what it did: the shipped weight files keep the names they were written with.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from inpaintlab.models.classifier import StyleClassifier
from inpaintlab.models.context_encoder import ContextEncoder
from inpaintlab.models.global_discriminator import DualDiscriminator, GlobalDiscriminator
from inpaintlab.models.patch_discriminator import PatchDiscriminator
from inpaintlab.models.timm_unet import TimmUNetGenerator
from inpaintlab.models.translators import ResnetGenerator, UNetTranslator
from inpaintlab.models.unet import UNetGenerator

DEPRECATED_NAMES: dict[str, dict[str, Any] | type[nn.Module]] = {
    # preset names -> the spec of the same network (the shipped inpainters' files say dilated_unet.sor8 and
    # dilated_unet.sor8_fine_mid; the sor ones are the training stages of examples/configs/cpu/)
    "dilated_unet.sor": {"preset": "dilated_unet.base", "args": {"prefill_solver": "sor"}},
    "dilated_unet.sor8": {"preset": "dilated_unet.base", "args": {"prefill_solver": "sor8"}},
    "dilated_unet.sor_fine": {
        "preset": "dilated_unet.base",
        "args": {"prefill_solver": "sor", "fine_dilations": [1, 2, 4]},
    },
    "dilated_unet.sor_fine_mid": {"preset": "dilated_unet.fine_mid", "args": {"prefill_solver": "sor"}},
    "dilated_unet.sor8_fine_mid": {"preset": "dilated_unet.fine_mid", "args": {"prefill_solver": "sor8"}},
    # class names of {"class": ..., "init": {...}} specs (files written before presets) -> the class; frozen:
    # a class may be renamed, these strings stay what those files say
    "UNetGenerator": UNetGenerator,
    "ContextEncoder": ContextEncoder,
    "TimmUNetGenerator": TimmUNetGenerator,
    "PatchDiscriminator": PatchDiscriminator,
    "GlobalDiscriminator": GlobalDiscriminator,
    "DualDiscriminator": DualDiscriminator,
    "ResnetGenerator": ResnetGenerator,
    "UNetTranslator": UNetTranslator,
    "StyleClassifier": StyleClassifier,
}
"""Old name -> a preset spec (``{"preset", "args"}``) for an old preset name, or the class for a class name."""

DROPPED_INIT_ARGUMENTS = ("native_resolution",)
"""Arguments of pre-preset ``init`` dicts that are no longer arguments (now recorded beside the weights)."""
