"""PatchGAN discriminator (pix2pix's NLayerDiscriminator layout)."""

from __future__ import annotations

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


def patch_receptive_field(num_layers: int) -> int:
    """Receptive field of :class:`PatchDiscriminator` with ``num_layers`` strided convs:
    ``9 * 2**num_layers - 2`` (7, 16, 34, 70, 142, ...)."""
    return 9 * 2**num_layers - 2


class PatchDiscriminator(nn.Module):
    """PatchGAN discriminator: one real/fake logit per overlapping image patch.

    Layout (pix2pix ``NLayerDiscriminator``, all convs 4x4 with padding 1): ``num_layers`` stride-2
    convs (the first without norm), one stride-1 conv, then the stride-1 1-channel output conv;
    LeakyReLU(0.2) after every conv but the last. Widths ``base_channels * 2**i`` capped at
    ``max_channels``. Receptive field ``9 * 2**num_layers - 2``: 70x70 for ``num_layers=3`` (the
    standard PatchGAN), 34 for 2, 16 for 1, 7 for 0. See ``receptive_field.py``.

    Args:
        in_channels: 3 for RGB, 4 when conditioned on the mask (the caller concatenates it).
        base_channels: width of the first conv.
        num_layers: number of stride-2 convs (>= 0).
        max_channels: width cap (pix2pix: 8 * 64 = 512).
        norm: ``"instance"`` (default: safe under DDP with separate real/fake forward passes, see
            ``layers.py``), ``"spectral"``, ``"batch"``, ``"none"``. Spectral norm wraps every conv,
            the output conv included.
        init: weight init (see ``layers.init_weights``), default N(0, 0.02).
        seed: seeds the weight init; None uses the global RNG.

    Shapes: x (N, in_channels, H, W) with H, W >= ``min_input_size`` -> logits (N, 1, h, w) with
    ``h = H // 2**num_layers - 2`` (floor halving per strided conv). ``forward(x,
    return_features=True)`` returns ``(logits, features)``, ``features`` being the activation after
    each LeakyReLU (``num_layers + 1`` tensors), for feature matching.
    """

    @records_init_args
    def __init__(
        self,
        in_channels: int = 3,
        base_channels: int = 64,
        num_layers: int = 3,
        max_channels: int = 512,
        norm: str = "instance",
        init: str = "normal",
        seed: int | None = None,
    ) -> None:
        super().__init__()
        check_positive_int(in_channels, "in_channels")
        check_positive_int(base_channels, "base_channels")
        check_positive_int(num_layers, "num_layers", minimum=0)
        check_positive_int(max_channels, "max_channels")
        check_norm(norm)
        self.in_channels = in_channels
        self.num_layers = num_layers
        # after num_layers floor-halvings the two stride-1 4x4 convs need a map of at least 3
        self.min_input_size = 3 * 2**num_layers
        widths = [min(base_channels * 2**i, max_channels) for i in range(num_layers + 1)]
        strides = [2] * num_layers + [1]
        with seeded(seed):
            self.blocks = nn.ModuleList(leaky_conv_blocks(in_channels, widths, norm, strides))
            self.head = nn.Conv2d(widths[-1], 1, 4, stride=1, padding=1)
            init_weights(self, init)
            if norm == "spectral":
                apply_spectral_norm(self)

    def forward(self, x: Tensor, return_features: bool = False) -> Tensor | tuple[Tensor, list[Tensor]]:
        x = check_image(x, "x", channels=self.in_channels)
        if min(x.shape[-2:]) < self.min_input_size:
            raise ValueError(
                f"PatchDiscriminator(num_layers={self.num_layers}) needs inputs of at least "
                f"{self.min_input_size}x{self.min_input_size}, got {tuple(x.shape)}; use a larger image "
                f"or fewer layers"
            )
        x, features = run_blocks(self.blocks, x)
        logits = self.head(x)
        return (logits, features) if return_features else logits
