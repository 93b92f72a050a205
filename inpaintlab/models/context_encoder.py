"""Context Encoder generator (Pathak et al., CVPR 2016), decoding the full image."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from inpaintlab.models.base import InpaintGenerator, records_init_args
from inpaintlab.models.layers import (
    ChannelWiseLinear,
    apply_spectral_norm,
    check_norm,
    check_positive_int,
    conv_uses_bias,
    init_weights,
    leaky_conv_blocks,
    make_norm,
    seeded,
)

BOTTLENECK_SIZE = 4  # the encoder stops at a 4x4 map, as in the paper


class ContextEncoder(InpaintGenerator):
    """Pathak et al.'s Context Encoder: strided-conv encoder, channel-wise fully connected
    bottleneck, transposed-conv decoder back to the FULL image size (not only the centre).

    Encoder: ``log2(image_size / 4)`` 4x4 stride-2 convs (channels ``base_channels * 2**i`` capped at
    ``max_channels``; LeakyReLU 0.2; no norm on the first) down to a 4x4 map. Bottleneck: a
    :class:`~inpaintlab.models.layers.ChannelWiseLinear` layer (one dense layer per channel over the
    16 positions), dropout, then a 1x1 conv mixing the channels into ``bottleneck_channels``. Decoder:
    as many 4x4 stride-2 transposed convs (norm + ReLU), a 3x3 conv to RGB and a sigmoid.

    The fully connected bottleneck fixes the input size: images must be exactly
    ``image_size`` x ``image_size`` (a power of two >= 8); other sizes raise ``ValueError``.

    Args:
        image_size: side of the (square) input images.
        base_channels: channels of the first encoder conv.
        bottleneck_channels: channels after the 1x1 mixing conv (default: the encoder's last width).
        max_channels: cap on the encoder/decoder widths.
        norm: ``"batch"`` (the paper's choice, default), ``"instance"``, ``"spectral"``, ``"none"``.
        dropout: dropout probability after the channel-wise layer (paper: 0.5 in its code; 0 here).
        init: weight init (see ``layers.init_weights``).
        seed: seeds the weight init; None uses the global RNG.

    Shapes: image (N,3,S,S), mask (N,1,S,S) -> (N,3,S,S) in [0,1], S = image_size.
    """

    @records_init_args
    def __init__(
        self,
        image_size: int = 128,
        base_channels: int = 64,
        bottleneck_channels: int | None = None,
        max_channels: int = 512,
        norm: str = "batch",
        dropout: float = 0.0,
        init: str = "normal",
        seed: int | None = None,
    ) -> None:
        super().__init__()
        check_positive_int(image_size, "image_size", minimum=2 * BOTTLENECK_SIZE)
        if image_size & (image_size - 1):
            raise ValueError(
                f"image_size must be a power of two >= {2 * BOTTLENECK_SIZE} (the encoder halves it down "
                f"to {BOTTLENECK_SIZE}x{BOTTLENECK_SIZE}), got {image_size}; use e.g. 64, 128 or 256"
            )
        check_positive_int(base_channels, "base_channels")
        check_positive_int(max_channels, "max_channels")
        check_norm(norm)
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        num_downs = (image_size // BOTTLENECK_SIZE).bit_length() - 1
        widths = [min(base_channels * 2**i, max_channels) for i in range(num_downs)]
        if bottleneck_channels is None:
            bottleneck_channels = widths[-1]
        check_positive_int(bottleneck_channels, "bottleneck_channels")
        self.image_size = image_size
        self.native_resolution = self.input_size = image_size

        with seeded(seed):
            # flattened into one Sequential (state-dict keys encoder.0, encoder.1, ...)
            self.encoder = nn.Sequential(*(m for block in leaky_conv_blocks(4, widths, norm) for m in block))
            self.channel_wise = ChannelWiseLinear(widths[-1], (BOTTLENECK_SIZE, BOTTLENECK_SIZE))
            self.bottleneck = nn.Sequential(
                nn.Dropout(float(dropout)),
                nn.Conv2d(widths[-1], bottleneck_channels, 1, bias=conv_uses_bias(norm)),
                make_norm(norm, bottleneck_channels),
                nn.ReLU(),
            )
            decoder: list[nn.Module] = []
            in_ch = bottleneck_channels
            for out_ch in [*reversed(widths[:-1]), widths[0]]:
                decoder += [
                    nn.ConvTranspose2d(in_ch, out_ch, 4, stride=2, padding=1, bias=conv_uses_bias(norm)),
                    make_norm(norm, out_ch),
                    nn.ReLU(),
                ]
                in_ch = out_ch
            self.decoder = nn.Sequential(*decoder)
            self.head = nn.Conv2d(widths[0], 3, 3, padding=1)
            init_weights(self, init)
            if norm == "spectral":
                apply_spectral_norm(self)

    def check_size(self, height: int, width: int) -> None:
        if (height, width) != (self.image_size, self.image_size):
            raise ValueError(
                f"ContextEncoder was built for image_size={self.image_size}, so image must be "
                f"{self.image_size}x{self.image_size}, got {height}x{width}; resize the input "
                f"(e.g. with F.interpolate) or build ContextEncoder(image_size=...) for this size"
            )

    def _predict(self, x: Tensor) -> Tensor:
        y = self.channel_wise(self.encoder(x))
        y = self.decoder(self.bottleneck(y))
        return torch.sigmoid(self.head(y))
