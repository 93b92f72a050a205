"""Generators, discriminators and their factory.

Names are resolved through explicit dicts (no registration at import time):

* ``GENERATORS`` / ``DISCRIMINATORS`` / ``TRANSLATORS`` (CycleGAN): class name -> class.
* ``GENERATOR_PRESETS`` / ``DISCRIMINATOR_PRESETS``: timm-style ``"arch.tag"`` -> ``(class name,
  kwargs)``. ``*.tiny`` presets are a few thousand parameters, for tests.

    >>> g = create_generator("unet.tiny")                  # a preset
    >>> g = create_generator("UNetGenerator", depth=4)     # a class name with kwargs
    >>> d = create_discriminator("patch.70", in_channels=4)
    >>> g2 = build_model({"class": type(g).__name__, "init": g.init_args})   # as the hub stores it
"""

from __future__ import annotations

from torch import nn

from inpaintlab.models.base import InpaintGenerator, masked_input
from inpaintlab.models.classifier import StyleClassifier
from inpaintlab.models.context_encoder import ContextEncoder
from inpaintlab.models.dilated_unet import DilatedUNet
from inpaintlab.models.global_discriminator import DualDiscriminator, GlobalDiscriminator
from inpaintlab.models.layers import NORM_KINDS, apply_spectral_norm, init_weights, make_norm
from inpaintlab.models.patch_discriminator import PatchDiscriminator, patch_receptive_field
from inpaintlab.models.prefill import PyramidFill, pyramid_fill
from inpaintlab.models.receptive_field import (
    num_layers_for_receptive_field,
    receptive_field,
    receptive_field_2d,
)
from inpaintlab.models.timm_unet import TimmUNetGenerator
from inpaintlab.models.translators import ResnetGenerator, UNetTranslator
from inpaintlab.models.unet import UNetGenerator

GENERATORS: dict[str, type[InpaintGenerator]] = {
    "UNetGenerator": UNetGenerator,
    "ContextEncoder": ContextEncoder,
    "TimmUNetGenerator": TimmUNetGenerator,
    "DilatedUNet": DilatedUNet,
}

CLASSIFIERS: dict[str, type[nn.Module]] = {"StyleClassifier": StyleClassifier}

TRANSLATORS: dict[str, type[nn.Module]] = {"ResnetGenerator": ResnetGenerator, "UNetTranslator": UNetTranslator}

DISCRIMINATORS: dict[str, type[nn.Module]] = {
    "PatchDiscriminator": PatchDiscriminator,
    "GlobalDiscriminator": GlobalDiscriminator,
    "DualDiscriminator": DualDiscriminator,
}

GENERATOR_PRESETS: dict[str, tuple[str, dict]] = {
    "unet.tiny": ("UNetGenerator", {"base_channels": 4, "depth": 3, "max_channels": 8}),
    "unet.base": ("UNetGenerator", {}),  # ~6.9M parameters
    "unet.learned_skips": ("UNetGenerator", {"skip": "learned"}),
    "unet.noise": ("UNetGenerator", {"noise_std": 0.1}),
    "unet.prefill": ("UNetGenerator", {"prefill": "pyramid"}),
    "dilated_unet.tiny": ("DilatedUNet", {"channels": [4, 4, 8, 8], "dilations": [1, 2]}),
    "dilated_unet.base": ("DilatedUNet", {}),  # ~2.9M parameters, 1.3 GMAC at 256 px
    "context_encoder.tiny": ("ContextEncoder", {"image_size": 32, "base_channels": 4, "max_channels": 8}),
    "context_encoder.base": ("ContextEncoder", {"image_size": 128, "base_channels": 64}),
    "timm_unet.tiny": (
        "TimmUNetGenerator",
        {"backbone": "test_efficientnet", "decoder_channels": [16, 16, 8, 8, 4]},
    ),
    # random init; pass pretrained=True for timm's ImageNet weights (downloads them)
    "timm_unet.resnet18": ("TimmUNetGenerator", {"backbone": "resnet18"}),
}

TRANSLATOR_PRESETS: dict[str, tuple[str, dict]] = {
    "resnet.tiny": ("ResnetGenerator", {"base_channels": 4, "n_blocks": 1}),
    "resnet.small": ("ResnetGenerator", {"base_channels": 32, "n_blocks": 6}),  # 2.0M, CPU recipes
    "resnet9.base": ("ResnetGenerator", {}),  # CycleGAN's 256 px generator, 11.4M parameters
    "resnet6.base": ("ResnetGenerator", {"n_blocks": 6}),  # CycleGAN's 128 px generator
    "unet_translator.tiny": ("UNetTranslator", {"base_channels": 4, "depth": 3, "max_channels": 8}),
    "unet_translator.base": ("UNetTranslator", {}),
}

DISCRIMINATOR_PRESETS: dict[str, tuple[str, dict]] = {
    "patch.tiny": ("PatchDiscriminator", {"base_channels": 4, "num_layers": 2}),
    "patch.70": ("PatchDiscriminator", {"num_layers": 3}),
    "patch.34": ("PatchDiscriminator", {"num_layers": 2}),
    "patch.16": ("PatchDiscriminator", {"num_layers": 1}),
    "patch.70.spectral": ("PatchDiscriminator", {"num_layers": 3, "norm": "spectral"}),
    "global.tiny": ("GlobalDiscriminator", {"image_size": 32, "base_channels": 4, "max_channels": 16}),
    "global.base": ("GlobalDiscriminator", {"image_size": 256}),
    "global.pooled": ("GlobalDiscriminator", {"image_size": None}),
    "dual.tiny": (
        "DualDiscriminator",
        {
            "global_disc": {"image_size": None, "base_channels": 4, "num_layers": 3, "max_channels": 16},
            "patch_disc": {"base_channels": 4, "num_layers": 2},
        },
    ),
    "dual.base": (
        "DualDiscriminator",
        {"global_disc": {"image_size": None}, "patch_disc": {"num_layers": 3}},
    ),
}


def _merge(base: dict, overrides: dict) -> dict:
    """``{**base, **overrides}``, merging one level deeper where both values are dicts."""
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def _create(name: str, classes: dict, presets: dict, kind: str, overrides: dict) -> nn.Module:
    if not isinstance(name, str):
        raise TypeError(f"{kind} name must be a str, got {type(name).__name__}")
    if name in presets:
        class_name, kwargs = presets[name]
        return classes[class_name](**_merge(kwargs, overrides))
    if name in classes:
        return classes[name](**overrides)
    raise KeyError(
        f"unknown {kind} {name!r}; valid presets: {sorted(presets)}; valid classes: {sorted(classes)}"
    )


def create_generator(name: str, **overrides) -> InpaintGenerator:
    """A generator from a preset name (``GENERATOR_PRESETS``) or a class name (``GENERATORS``);
    ``overrides`` replace the preset's keyword arguments. Unknown names raise ``KeyError``."""
    return _create(name, GENERATORS, GENERATOR_PRESETS, "generator", overrides)


def create_discriminator(name: str, **overrides) -> nn.Module:
    """A discriminator from a preset name (``DISCRIMINATOR_PRESETS``) or a class name
    (``DISCRIMINATORS``); ``overrides`` replace the preset's keyword arguments (dict-valued ones,
    like ``DualDiscriminator``'s ``patch_disc``, are merged key by key)."""
    return _create(name, DISCRIMINATORS, DISCRIMINATOR_PRESETS, "discriminator", overrides)


def create_translator(name: str, **overrides) -> nn.Module:
    """An image-to-image generator (CycleGAN) from a preset name (``TRANSLATOR_PRESETS``) or a class
    name (``TRANSLATORS``); ``overrides`` replace the preset's keyword arguments."""
    return _create(name, TRANSLATORS, TRANSLATOR_PRESETS, "translator", overrides)


def build_model(arch: dict) -> nn.Module:
    """Rebuild a model from ``{"class": class name, "init": init_args}`` (what the hub stores).

    The class is looked up in ``GENERATORS``, ``DISCRIMINATORS`` and ``CLASSIFIERS``; weights are freshly initialised
    (load a state dict afterwards).
    """
    if not isinstance(arch, dict) or "class" not in arch:
        raise ValueError(
            f"arch must be a dict {{'class': name, 'init': {{...}}}}, got {arch!r}; "
            f"build it as {{'class': type(model).__name__, 'init': model.init_args}}"
        )
    name = arch["class"]
    init = arch.get("init") or {}
    if not isinstance(init, dict):
        raise ValueError(f"arch['init'] must be a dict of constructor arguments, got {type(init).__name__}")
    classes = {**GENERATORS, **DISCRIMINATORS, **CLASSIFIERS, **TRANSLATORS}
    if name not in classes:
        raise KeyError(f"unknown model class {name!r}; valid classes: {sorted(classes)}")
    return classes[name](**init)


__all__ = [
    "PyramidFill",
    "ResnetGenerator",
    "TRANSLATORS",
    "TRANSLATOR_PRESETS",
    "UNetTranslator",
    "create_translator",
    "pyramid_fill",
    "CLASSIFIERS",
    "DISCRIMINATORS",
    "DISCRIMINATOR_PRESETS",
    "GENERATORS",
    "GENERATOR_PRESETS",
    "StyleClassifier",
    "NORM_KINDS",
    "ContextEncoder",
    "DilatedUNet",
    "DualDiscriminator",
    "GlobalDiscriminator",
    "InpaintGenerator",
    "PatchDiscriminator",
    "TimmUNetGenerator",
    "UNetGenerator",
    "apply_spectral_norm",
    "build_model",
    "create_discriminator",
    "create_generator",
    "init_weights",
    "make_norm",
    "masked_input",
    "num_layers_for_receptive_field",
    "patch_receptive_field",
    "receptive_field",
    "receptive_field_2d",
]
