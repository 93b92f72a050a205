"""Generators, discriminators, translators, the style classifier, and the one way to build them.

Every architecture has a stable **preset** name (as timm names its models): ``"unet.prefill"``,
``"patch.70"``, ``"resnet9.base"``... (:data:`PRESETS`, an explicit dict: no registration at import
time; ``*.tiny`` presets have a few thousand parameters, for tests). An **architecture spec** names a
preset, optionally with argument overrides; it is what recipes, training checkpoints, hub files and
registry entries store, so renaming a class never breaks a published file:

    "unet.prefill.small"                                    # a preset
    {"preset": "patch.34", "args": {"base_channels": 32}}   # a preset with overrides

    >>> g = build_model("unet.tiny")                        # the one builder
    >>> d = build_model({"preset": "patch.70", "args": {"in_channels": 4}}, role="discriminator")
    >>> arch_of(g)                                          # the spec of a model, from its init_args
    'unet.tiny'

A preset names a network (as timm's do), not how it is run or trained: a setting such as a
``DilatedUNet``'s prefill solver is an argument override, which a registry entry gives for its file.
Names that files already written use for what is now an argument, and the class names of files written
before presets, are read through the one deprecation table,
:data:`~inpaintlab.models.deprecated_names.DEPRECATED_NAMES`.

``create_generator`` / ``create_discriminator`` / ``create_translator`` are ``build_model`` for one role.
The resolution a checkpoint was trained at is not part of the architecture (the hub records it beside
the weights).
"""

from __future__ import annotations

import copy
import inspect
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from inpaintlab.models.base import InpaintGenerator, masked_input, records_init_args
from inpaintlab.models.classifier import StyleClassifier
from inpaintlab.models.context_encoder import ContextEncoder
from inpaintlab.models.deprecated_names import DEPRECATED_NAMES, DROPPED_INIT_ARGUMENTS
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

ROLES = ("generator", "discriminator", "translator", "classifier")


@dataclass(frozen=True)
class Preset:
    """One named architecture: ``cls(**kwargs)``, used in the ``role`` (a key of :data:`ROLES`)."""

    cls: type[nn.Module]
    role: str
    kwargs: dict[str, Any] = field(default_factory=dict)


_G, _D, _T, _C = ROLES

PRESETS: dict[str, Preset] = {
    # inpainting generators: (image, mask) -> image
    "unet.tiny": Preset(UNetGenerator, _G, {"base_channels": 4, "depth": 3, "max_channels": 8}),
    "unet.base": Preset(UNetGenerator, _G),  # ~6.9M parameters
    "unet.learned_skips": Preset(UNetGenerator, _G, {"skip": "learned"}),
    "unet.prefill": Preset(UNetGenerator, _G, {"prefill": "pyramid"}),
    # the shipped CPU first versions (1.2M parameters)
    "unet.prefill.small": Preset(
        UNetGenerator, _G, {"base_channels": 16, "depth": 5, "max_channels": 128, "prefill": "pyramid"}
    ),
    # the 256 px zoo's generator: harmonic prefill + a gated dilated-residual correction at 1/2..1/16 scale
    "dilated_unet.tiny": Preset(DilatedUNet, _G, {"channels": [4, 4, 8, 8], "dilations": [1, 2]}),
    # 2.8M parameters, 2.7 GFLOP per 256x256 picture (the centre-hole files'); the prefill solver is an
    # argument (prefill_solver: jacobi by default, sor, sor8: see dilated_unet.PREFILL_SOLVERS)
    "dilated_unet.base": Preset(DilatedUNet, _G),
    # base with three residual blocks at 1/2 scale and three at 1/4 scale (dilations 1, 2, 4), for small holes
    # (2.9M parameters; the blocks and region files'); base's files load into it, the added blocks at identity
    "dilated_unet.fine_mid": Preset(DilatedUNet, _G, {"fine_dilations": [1, 2, 4], "mid_dilations": [1, 2, 4]}),
    "context_encoder.tiny": Preset(ContextEncoder, _G, {"image_size": 32, "base_channels": 4, "max_channels": 8}),
    "context_encoder.base": Preset(ContextEncoder, _G, {"image_size": 128, "base_channels": 64}),
    "timm_unet.tiny": Preset(
        TimmUNetGenerator, _G, {"backbone": "test_efficientnet", "decoder_channels": [16, 16, 8, 8, 4]}
    ),
    # random init; pass pretrained=True for timm's ImageNet weights (downloads them)
    "timm_unet.resnet18": Preset(TimmUNetGenerator, _G, {"backbone": "resnet18"}),
    # discriminators: image (3 or 4 channels) -> logits
    "patch.tiny": Preset(PatchDiscriminator, _D, {"base_channels": 4, "num_layers": 2}),
    "patch.70": Preset(PatchDiscriminator, _D, {"num_layers": 3}),
    "patch.34": Preset(PatchDiscriminator, _D, {"num_layers": 2}),
    "patch.16": Preset(PatchDiscriminator, _D, {"num_layers": 1}),
    "patch.70.spectral": Preset(PatchDiscriminator, _D, {"num_layers": 3, "norm": "spectral"}),
    "global.tiny": Preset(GlobalDiscriminator, _D, {"image_size": 32, "base_channels": 4, "max_channels": 16}),
    "global.base": Preset(GlobalDiscriminator, _D, {"image_size": 256}),
    "dual.tiny": Preset(
        DualDiscriminator,
        _D,
        {
            "global_disc": {"image_size": None, "base_channels": 4, "num_layers": 3, "max_channels": 16},
            "patch_disc": {"base_channels": 4, "num_layers": 2},
        },
    ),
    "dual.base": Preset(DualDiscriminator, _D, {"global_disc": {"image_size": None}, "patch_disc": {"num_layers": 3}}),
    # CycleGAN translators: image -> image
    "resnet.tiny": Preset(ResnetGenerator, _T, {"base_channels": 4, "n_blocks": 1}),
    "resnet.small": Preset(ResnetGenerator, _T, {"base_channels": 32, "n_blocks": 6}),  # 2.0M, CPU recipes
    "resnet9.base": Preset(ResnetGenerator, _T),  # CycleGAN's 256 px generator, 11.4M parameters
    "unet_translator.tiny": Preset(UNetTranslator, _T, {"base_channels": 4, "depth": 3, "max_channels": 8}),
    "unet_translator.base": Preset(UNetTranslator, _T),
    # the photo / Monet style classifier (load("auto")'s router)
    "style_classifier.tiny": Preset(StyleClassifier, _C, {"base_channels": 4, "depth": 2}),
    "style_classifier.base": Preset(StyleClassifier, _C),  # 0.3M parameters, the shipped one
}
"""Preset name -> architecture. Names are stable: published checkpoints refer to them (a renamed one stays
readable through :data:`~inpaintlab.models.deprecated_names.DEPRECATED_NAMES`)."""

TASK_OF_ROLE = {"generator": "inpaint", "translator": "stylize", "classifier": "classify"}
"""The hub task of a model that is exported alone (discriminators never are)."""

ArchSpec = str | dict[str, Any]


def _merge(base: dict, overrides: dict) -> dict:
    """``{**base, **overrides}``, merging one level deeper where both values are dicts."""
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def _full_args(cls: type[nn.Module], kwargs: dict[str, Any]) -> dict[str, Any] | None:
    """``kwargs`` completed with ``cls``'s defaults (None if they do not bind): comparable across specs."""
    try:
        bound = inspect.signature(cls).bind(**kwargs)
    except TypeError:
        return None
    bound.apply_defaults()
    return {k: list(v) if isinstance(v, tuple) else v for k, v in bound.arguments.items()}


def _spec(name: str, args: dict[str, Any]) -> ArchSpec:
    return {"preset": name, "args": dict(args)} if args else name


def canonical_arch(cls: type[nn.Module], init: dict[str, Any]) -> ArchSpec:
    """The shortest spec of ``cls(**init)``: the preset with exactly these arguments, else the preset of
    ``cls`` needing the fewest overrides (ties: the preset with fewer arguments of its own, then by
    name). ``ValueError`` when ``cls`` has no preset."""
    full = _full_args(cls, init)
    if full is None:
        raise ValueError(f"{init!r} are not arguments of {cls.__name__}")
    candidates = []
    for name, preset in PRESETS.items():
        if preset.cls is cls:
            base = _full_args(cls, preset.kwargs) or {}
            diff = {k: v for k, v in full.items() if base.get(k) != v}
            candidates.append((len(diff), len(preset.kwargs), name, diff))
    if not candidates:
        raise ValueError(
            f"{cls.__name__} has no preset in inpaintlab.models.PRESETS, so the hub cannot name its "
            "architecture; add one"
        )
    _, _, name, diff = min(candidates, key=lambda c: c[:3])
    return _spec(name, diff)


def arch_of(model: nn.Module) -> ArchSpec:
    """The spec that rebuilds ``model``'s architecture, from the arguments it recorded (``init_args``)."""
    init = getattr(model, "init_args", None)
    if not isinstance(init, dict):
        raise TypeError(f"{type(model).__name__} records no init_args; decorate its __init__ with records_init_args")
    return canonical_arch(type(model), init)


def parse_arch(spec: Any) -> tuple[str, dict[str, Any]]:
    """``(preset name, argument overrides)`` of a spec: a preset name, ``{"preset", "args"}``, or the
    ``{"class", "init"}`` of checkpoints written before presets; an old name (of :data:`DEPRECATED_NAMES`)
    is replaced by the spec of the same network. Raises ``KeyError`` for an unknown preset and
    ``TypeError`` / ``ValueError`` for a malformed spec."""
    if isinstance(spec, str):
        name, args = spec, {}
    elif isinstance(spec, dict) and "preset" in spec and set(spec) <= {"preset", "args"}:
        name, args = spec["preset"], spec.get("args") or {}
    elif isinstance(spec, dict) and "class" in spec and set(spec) <= {"class", "init"}:
        cls = DEPRECATED_NAMES.get(spec["class"])
        if not isinstance(cls, type):
            known = sorted(k for k, v in DEPRECATED_NAMES.items() if isinstance(v, type))
            raise KeyError(f"unknown model class {spec['class']!r} in {spec!r}; known: {known}")
        init = {k: v for k, v in (spec.get("init") or {}).items() if k not in DROPPED_INIT_ARGUMENTS}
        return parse_arch(canonical_arch(cls, init))
    else:
        raise TypeError(
            f"an architecture is a preset name such as 'unet.prefill' or "
            f"{{'preset': 'unet.prefill', 'args': {{...}}}}, got {spec!r}"
        )
    renamed = DEPRECATED_NAMES.get(name) if isinstance(name, str) else None
    if not isinstance(renamed, dict) and (not isinstance(name, str) or name not in PRESETS):
        raise KeyError(f"unknown architecture preset {name!r}; valid presets: {sorted(PRESETS)}")
    if not isinstance(args, dict):
        raise TypeError(f"the 'args' of architecture {name!r} must be a dict of overrides, got {args!r}")
    if isinstance(renamed, dict):  # an old preset name: its network's preset, the old name's settings as args
        return renamed["preset"], _merge(copy.deepcopy(renamed["args"]), args)
    return name, dict(args)


def normalize_arch(spec: Any) -> ArchSpec:
    """``spec`` in its canonical (shortest) form; equal architectures give equal specs."""
    name, args = parse_arch(spec)
    preset = PRESETS[name]
    return canonical_arch(preset.cls, _merge(preset.kwargs, args))


def arch_role(spec: Any) -> str:
    """The role (``generator``, ``discriminator``, ``translator``, ``classifier``) of a spec's preset."""
    return PRESETS[parse_arch(spec)[0]].role


def build_model(spec: Any, role: str | None = None, **overrides: Any) -> nn.Module:
    """The model of an architecture spec (freshly initialised: load a state dict afterwards).

    Args:
        spec: a preset name, ``{"preset": name, "args": {...}}`` or a pre-preset ``{"class", "init"}``.
        role: if given, the preset must have this role (``"generator"``, ...): a clear error otherwise.
        **overrides: more argument overrides (dict-valued ones, like ``DualDiscriminator``'s
            ``patch_disc``, are merged key by key).
    """
    name, args = parse_arch(spec)
    preset = PRESETS[name]
    if role is not None and preset.role != role:
        valid = sorted(n for n, p in PRESETS.items() if p.role == role)
        raise ValueError(f"{name!r} is a {preset.role} preset, not a {role}; valid {role} presets: {valid}")
    return preset.cls(**_merge(_merge(preset.kwargs, args), overrides))


def create_generator(name: ArchSpec, **overrides: Any) -> InpaintGenerator:
    """An inpainting generator: ``build_model(name, role="generator", **overrides)``."""
    return build_model(name, "generator", **overrides)


def create_discriminator(name: ArchSpec, **overrides: Any) -> nn.Module:
    """A discriminator: ``build_model(name, role="discriminator", **overrides)``."""
    return build_model(name, "discriminator", **overrides)


def create_translator(name: ArchSpec, **overrides: Any) -> nn.Module:
    """A CycleGAN translator: ``build_model(name, role="translator", **overrides)``."""
    return build_model(name, "translator", **overrides)


__all__ = [
    "NORM_KINDS",
    "PRESETS",
    "ROLES",
    "TASK_OF_ROLE",
    "ArchSpec",
    "ContextEncoder",
    "DilatedUNet",
    "DualDiscriminator",
    "GlobalDiscriminator",
    "InpaintGenerator",
    "PatchDiscriminator",
    "Preset",
    "PyramidFill",
    "ResnetGenerator",
    "StyleClassifier",
    "TimmUNetGenerator",
    "UNetGenerator",
    "UNetTranslator",
    "apply_spectral_norm",
    "arch_of",
    "arch_role",
    "build_model",
    "canonical_arch",
    "create_discriminator",
    "create_generator",
    "create_translator",
    "init_weights",
    "make_norm",
    "masked_input",
    "normalize_arch",
    "num_layers_for_receptive_field",
    "parse_arch",
    "patch_receptive_field",
    "pyramid_fill",
    "receptive_field",
    "receptive_field_2d",
    "records_init_args",
]
