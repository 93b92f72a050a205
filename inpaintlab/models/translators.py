"""Image-to-image generators for style transfer (CycleGAN's photo -> Monet and back).

``ResnetGenerator`` is CycleGAN's generator (Johnson et al. 2016; Zhu et al. 2017): c7s1-64, two stride-2
downsamplings, ``n_blocks`` residual blocks (9 at 256 px), two upsamplings, c7s1-3, reflection padding and
instance norm. Upsampling is bilinear + 3x3 conv rather than transposed conv (no checkerboard artefacts).
``UNetTranslator`` is the U-Net alternative: the package's ``UNetGenerator`` run with an empty mask, so it
predicts every pixel.

Both take and return images (N,3,H,W) in [0,1] at any H, W (padded inside to a multiple of the total
stride, cropped back); they map to [-1,1] inside and end with tanh, as CycleGAN does.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from inpaintlab._checks import check_image
from inpaintlab.models.base import records_init_args
from inpaintlab.models.layers import (
    ConvNormAct,
    apply_spectral_norm,
    check_norm,
    check_positive_int,
    init_weights,
    pad_to_multiple,
    seeded,
)
from inpaintlab.models.unet import UNetGenerator


def _reflect_conv(in_channels: int, out_channels: int, kernel_size: int, norm: str, activation: str) -> nn.Sequential:
    return nn.Sequential(
        nn.ReflectionPad2d(kernel_size // 2),
        ConvNormAct(in_channels, out_channels, kernel_size, padding=0, norm=norm, activation=activation),
    )


class ResidualBlock(nn.Module):
    """``x + (reflect-pad, 3x3 conv, norm, ReLU, reflect-pad, 3x3 conv, norm)(x)``. Shapes: (N,C,H,W) -> same."""

    def __init__(self, channels: int, norm: str) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _reflect_conv(channels, channels, 3, norm, "relu"),
            _reflect_conv(channels, channels, 3, norm, "none"),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """CycleGAN's ResNet generator.

    Args:
        base_channels: channels of the first conv (64 in CycleGAN); doubled at each downsampling.
        n_blocks: residual blocks at the lowest resolution (9 for 256 px, 6 for 128 px in CycleGAN).
        n_downsampling: stride-2 convs (and matching upsamplings).
        norm: ``"instance"`` (default), ``"batch"``, ``"spectral"`` or ``"none"``.
        init: weight init (``layers.init_weights``), default N(0, 0.02) as in CycleGAN.
        seed: seeds the weight init; None uses the global RNG.

    Shapes: image (N,3,H,W) in [0,1] -> (N,3,H,W) in [0,1].
    """

    @records_init_args
    def __init__(
        self,
        base_channels: int = 64,
        n_blocks: int = 9,
        n_downsampling: int = 2,
        norm: str = "instance",
        init: str = "normal",
        seed: int | None = None,
    ) -> None:
        super().__init__()
        check_positive_int(base_channels, "base_channels")
        check_positive_int(n_blocks, "n_blocks", minimum=0)
        check_positive_int(n_downsampling, "n_downsampling", minimum=0)
        check_norm(norm)
        self.stride = 2**n_downsampling
        widths = [base_channels * 2**i for i in range(n_downsampling + 1)]
        with seeded(seed):
            layers: list[nn.Module] = [_reflect_conv(3, widths[0], 7, norm, "relu")]
            layers += [ConvNormAct(widths[i], widths[i + 1], 3, stride=2, norm=norm) for i in range(n_downsampling)]
            layers += [ResidualBlock(widths[-1], norm) for _ in range(n_blocks)]
            for i in range(n_downsampling, 0, -1):
                layers += [nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)]
                layers += [ConvNormAct(widths[i], widths[i - 1], 3, norm=norm)]
            layers += [nn.ReflectionPad2d(3), nn.Conv2d(widths[0], 3, 7)]
            self.net = nn.Sequential(*layers)
            init_weights(self, init)
            if norm == "spectral":
                apply_spectral_norm(self)

    def forward(self, image: Tensor) -> Tensor:
        image = check_image(image, "image")
        h, w = image.shape[-2:]
        if min(h, w) < 4:
            raise ValueError(f"ResnetGenerator needs images of at least 4x4 pixels, got {h}x{w}")
        x = pad_to_multiple(image * 2 - 1, self.stride)
        return (torch.tanh(self.net(x))[..., :h, :w] + 1) / 2


class UNetTranslator(UNetGenerator):
    """The U-Net alternative: :class:`UNetGenerator` (same arguments) predicting every pixel of ``image``.

    Shapes: image (N,3,H,W) in [0,1] -> (N,3,H,W) in [0,1].
    """

    def forward(self, image: Tensor) -> Tensor:  # type: ignore[override]
        image = check_image(image, "image")
        return self.predict(image, torch.zeros_like(image[:, :1]))


__all__ = ["ResidualBlock", "ResnetGenerator", "UNetTranslator"]
