"""Global (whole-image) discriminator and the global + patch ``DualDiscriminator``."""

from __future__ import annotations

import math

from torch import Tensor, nn

from inpaintlab._checks import check_image
from inpaintlab.models.base import records_init_args
from inpaintlab.models.layers import (
    apply_spectral_norm,
    check_norm,
    check_positive_int,
    init_weights,
    leaky_conv_blocks,
    run_blocks,
    seeded,
)
from inpaintlab.models.patch_discriminator import PatchDiscriminator


class GlobalDiscriminator(nn.Module):
    """One real/fake logit per image (Iizuka et al. 2017's global discriminator, 4x4 convs).

    ``num_layers`` 4x4 stride-2 convs (LeakyReLU 0.2, no norm on the first), then the head:

    * ``image_size`` an int: flatten + linear. Inputs must be exactly ``image_size`` square.
      ``num_layers`` defaults to the number of halvings that bring ``image_size`` down to <= 4.
    * ``image_size=None``: global average pooling + linear, so any size >= ``min_input_size`` works
      (``num_layers`` defaults to 5).

    Args:
        in_channels: 3 for RGB, 4 when conditioned on the mask.
        image_size: input side for the linear head, or None for the pooled head.
        base_channels: width of the first conv; doubled per layer up to ``max_channels``.
        num_layers: number of stride-2 convs (see above for the default).
        max_channels: width cap.
        norm: ``"instance"`` (default, DDP-safe, see ``layers.py``), ``"spectral"``, ``"batch"``,
            ``"none"``.
        init: weight init (see ``layers.init_weights``).
        seed: seeds the weight init; None uses the global RNG.

    Shapes: x (N, in_channels, H, W) -> logits (N, 1). ``forward(x, return_features=True)`` returns
    ``(logits, features)``: the activation after each conv block.
    """

    @records_init_args
    def __init__(
        self,
        in_channels: int = 3,
        image_size: int | None = 256,
        base_channels: int = 64,
        num_layers: int | None = None,
        max_channels: int = 512,
        norm: str = "instance",
        init: str = "normal",
        seed: int | None = None,
    ) -> None:
        super().__init__()
        check_positive_int(in_channels, "in_channels")
        check_positive_int(base_channels, "base_channels")
        check_positive_int(max_channels, "max_channels")
        check_norm(norm)
        if image_size is not None:
            check_positive_int(image_size, "image_size", minimum=2)
        if num_layers is None:
            num_layers = 5 if image_size is None else max(1, math.ceil(math.log2(image_size / 4)))
        check_positive_int(num_layers, "num_layers")
        self.in_channels = in_channels
        self.image_size = image_size
        self.num_layers = num_layers
        # the last map must have >= 1 pixel, >= 2 where instance norm normalises it
        self.min_input_size = 2 ** (num_layers + (1 if norm == "instance" else 0))
        if image_size is not None and image_size < self.min_input_size:
            raise ValueError(
                f"image_size={image_size} is too small for num_layers={num_layers} with norm={norm!r} "
                f"(needs >= {self.min_input_size}); pass fewer num_layers"
            )
        widths = [min(base_channels * 2**i, max_channels) for i in range(num_layers)]
        with seeded(seed):
            self.blocks = nn.ModuleList(leaky_conv_blocks(in_channels, widths, norm))
            in_ch = widths[-1]
            if image_size is None:
                self.pool: nn.Module = nn.AdaptiveAvgPool2d(1)
                self.head = nn.Linear(in_ch, 1)
            else:
                final = image_size
                for _ in range(num_layers):
                    final //= 2
                self.pool = nn.Identity()
                self.head = nn.Linear(in_ch * final * final, 1)
            init_weights(self, init)
            if norm == "spectral":
                apply_spectral_norm(self)

    def forward(self, x: Tensor, return_features: bool = False) -> Tensor | tuple[Tensor, list[Tensor]]:
        x = check_image(x, "x", channels=self.in_channels)
        h, w = x.shape[-2:]
        if self.image_size is not None and (h, w) != (self.image_size, self.image_size):
            raise ValueError(
                f"GlobalDiscriminator(image_size={self.image_size}) needs "
                f"{self.image_size}x{self.image_size} inputs, got {tuple(x.shape)}; resize them or "
                f"build it with image_size=None (pooled head)"
            )
        if min(h, w) < self.min_input_size:
            raise ValueError(
                f"GlobalDiscriminator(num_layers={self.num_layers}) needs inputs of at least "
                f"{self.min_input_size}x{self.min_input_size}, got {tuple(x.shape)}; use fewer num_layers"
            )
        x, features = run_blocks(self.blocks, x)
        logits = self.head(self.pool(x).flatten(1))
        return (logits, features) if return_features else logits


def _build_part(
    part: dict | nn.Module | None, cls: type, name: str, defaults: dict, in_channels: int | None
) -> nn.Module:
    if isinstance(part, cls):
        if in_channels is not None and part.in_channels != in_channels:
            raise ValueError(
                f"{name} has in_channels={part.in_channels} but in_channels={in_channels} was passed"
            )
        return part
    if part is not None and not isinstance(part, dict):
        raise TypeError(
            f"{name} must be a dict of {cls.__name__} arguments or a {cls.__name__}, "
            f"got {type(part).__name__}"
        )
    kwargs = {**defaults, **(part or {})}
    if in_channels is not None:
        kwargs["in_channels"] = in_channels
    return cls(**kwargs)


class DualDiscriminator(nn.Module):
    """A global and a patch discriminator on the same input, for one adversarial loss.

    Built from keyword dicts (so it works from a config); ready modules are used as they are
    (``init_args`` then records their ``init_args``). The default global branch uses the pooled
    head (``image_size=None``) so any input size works.

    Args:
        global_disc: :class:`GlobalDiscriminator` kwargs (or a module).
        patch_disc: :class:`PatchDiscriminator` kwargs (or a module).
        in_channels: if given, overrides both branches' ``in_channels``; they must agree.
        seed: seeds the construction of both branches (a branch's own ``seed`` still wins); None
            uses the global RNG.

    Shapes: x (N, C, H, W) -> ``[global logits (N,1), patch logits (N,1,h,w)]`` (a list, which the
    adversarial losses accept). ``forward(x, return_features=True)`` returns ``(logits_list,
    features)`` with ``features`` = global features followed by patch features (one flat list).
    """

    @records_init_args
    def __init__(
        self,
        global_disc: dict | GlobalDiscriminator | None = None,
        patch_disc: dict | PatchDiscriminator | None = None,
        in_channels: int | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        with seeded(seed):
            self.global_disc = _build_part(
                global_disc, GlobalDiscriminator, "global_disc", {"image_size": None}, in_channels
            )
            self.patch_disc = _build_part(patch_disc, PatchDiscriminator, "patch_disc", {}, in_channels)
        if self.global_disc.in_channels != self.patch_disc.in_channels:
            raise ValueError(
                f"global_disc and patch_disc see the same input, but have in_channels "
                f"{self.global_disc.in_channels} and {self.patch_disc.in_channels}; "
                f"pass in_channels=... to DualDiscriminator"
            )
        self.in_channels = self.patch_disc.in_channels

    def forward(
        self, x: Tensor, return_features: bool = False
    ) -> list[Tensor] | tuple[list[Tensor], list[Tensor]]:
        x = check_image(x, "x", channels=self.in_channels)
        if not return_features:
            return [self.global_disc(x), self.patch_disc(x)]
        g_logits, g_feats = self.global_disc(x, return_features=True)
        p_logits, p_feats = self.patch_disc(x, return_features=True)
        return [g_logits, p_logits], g_feats + p_feats
