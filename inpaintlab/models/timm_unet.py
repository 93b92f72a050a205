"""U-Net generator whose encoder is any timm backbone (``features_only=True``, ``in_chans=4``)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from inpaintlab.models.base import InpaintGenerator, records_init_args
from inpaintlab.models.layers import (
    ConvNormAct,
    apply_spectral_norm,
    check_norm,
    init_weights,
    pad_to_multiple,
    seeded,
)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class DecoderBlock(nn.Module):
    """Upsample to the skip's size, concatenate the skip, two 3x3 conv -> norm -> ReLU.

    Shapes: x (N, in_channels, h, w), skip (N, skip_channels, H, W) -> (N, out_channels, H, W).
    """

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int, norm: str) -> None:
        super().__init__()
        self.conv1 = ConvNormAct(in_channels + skip_channels, out_channels, 3, norm=norm, activation="relu")
        self.conv2 = ConvNormAct(out_channels, out_channels, 3, norm=norm, activation="relu")

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.conv2(self.conv1(torch.cat([x, skip], dim=1)))


class TimmUNetGenerator(InpaintGenerator):
    """U-Net with a timm encoder (e.g. ``resnet18``; any model supporting ``features_only=True``).

    The encoder gets 4 input channels (RGB with the hole zeroed + mask; with ``pretrained=True`` timm
    adapts the first conv's ImageNet weights to 4 channels). RGB is normalised with the backbone's
    ``pretrained_cfg`` mean/std (ImageNet's by default) and the mask mapped to [-1, 1]; the hole stays
    0 after normalisation. The decoder has one block per encoder feature map: from the deepest map,
    each block upsamples to the next shallower feature map and merges it; the last block upsamples to
    the input resolution and merges the 4-channel network input itself. Then a 3x3 conv to RGB and a
    sigmoid. Any H, W works (padded to a multiple of the encoder's largest stride, then cropped).

    Args:
        backbone: a timm model name (``timm.list_models()``), e.g. ``"resnet18"``, ``"resnet10t"``,
            ``"test_resnet"`` (tiny, random).
        pretrained: load timm's ImageNet weights for the encoder (downloads them). It only sets the
            initial weights, so ``init_args`` records ``pretrained=False``: rebuilding from
            ``init_args`` (as the hub does before loading trained weights) never downloads.
        decoder_channels: output channels of the decoder blocks, deepest first; one per encoder
            feature map (5 for ResNets).
        norm: decoder norm: ``"instance"`` (default), ``"batch"``, ``"spectral"``, ``"none"``. The
            encoder keeps its own norms.
        init: decoder weight init (see ``layers.init_weights``); the encoder keeps timm's init.
        seed: seeds the random init; None uses the global RNG.
        backbone_kwargs: extra keyword arguments for ``timm.create_model`` (e.g. ``out_indices``).

    Shapes: image (N,3,H,W), mask (N,1,H,W) -> (N,3,H,W) in [0,1].
    """

    @records_init_args
    def __init__(
        self,
        backbone: str = "resnet18",
        pretrained: bool = False,
        decoder_channels: Sequence[int] = (256, 128, 64, 32, 16),
        norm: str = "instance",
        init: str = "normal",
        seed: int | None = None,
        backbone_kwargs: dict | None = None,
    ) -> None:
        super().__init__()
        import timm  # heavy import, only needed here

        check_norm(norm)
        if not isinstance(backbone, str) or not timm.is_model(backbone):
            raise ValueError(
                f"backbone must be a timm model name, got {backbone!r}; see timm.list_models(), "
                f"e.g. 'resnet18' or 'resnet10t'"
            )
        decoder_channels = [int(c) for c in decoder_channels]
        backbone_kwargs = dict(backbone_kwargs or {})
        self.init_args["pretrained"] = False  # the trained weights supersede the ImageNet ones (docstring)

        with seeded(seed):
            self.encoder = timm.create_model(
                backbone, pretrained=pretrained, features_only=True, in_chans=4, **backbone_kwargs
            )
            enc_channels = list(self.encoder.feature_info.channels())
            self.pad_multiple = max(self.encoder.feature_info.reduction())
            if len(decoder_channels) != len(enc_channels):
                raise ValueError(
                    f"decoder_channels needs one entry per encoder feature map: backbone {backbone!r} has "
                    f"{len(enc_channels)} (channels {enc_channels}), got {len(decoder_channels)} "
                    f"({decoder_channels})"
                )
            # deepest map is the decoder input; skips are the shallower maps, then the network input
            skip_channels = [*reversed(enc_channels[:-1]), 4]
            blocks = []
            in_ch = enc_channels[-1]
            for skip_ch, out_ch in zip(skip_channels, decoder_channels):
                blocks.append(DecoderBlock(in_ch, skip_ch, out_ch, norm))
                in_ch = out_ch
            self.decoder = nn.ModuleList(blocks)
            self.head = nn.Conv2d(decoder_channels[-1], 3, 3, padding=1)
            init_weights(self.decoder, init)
            init_weights(self.head, init)
            if norm == "spectral":
                apply_spectral_norm(self.decoder)
                apply_spectral_norm(self.head)

        cfg = getattr(self.encoder, "pretrained_cfg", None) or {}
        mean = tuple(cfg.get("mean", IMAGENET_MEAN))[:3]
        std = tuple(cfg.get("std", IMAGENET_STD))[:3]
        self.register_buffer("rgb_mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("rgb_std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    def _predict(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        rgb, mask = x[:, :3], x[:, 3:4]
        rgb = (rgb - self.rgb_mean.to(rgb.dtype)) / self.rgb_std.to(rgb.dtype) * (1 - mask)
        x = pad_to_multiple(torch.cat([rgb, mask * 2 - 1], dim=1), self.pad_multiple)
        features = self.encoder(x)
        skips = [*reversed(features[:-1]), x]
        y = features[-1]
        for block, skip in zip(self.decoder, skips):
            y = block(y, skip)
        return torch.sigmoid(self.head(y))[..., :h, :w]
