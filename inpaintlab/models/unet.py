"""U-Net inpainting generator with configurable depth, width, norm and skip connections."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from inpaintlab.models.base import InpaintGenerator, records_init_args
from inpaintlab.models.layers import (
    ConvNormAct,
    _check_choice,
    apply_spectral_norm,
    check_norm,
    check_positive_int,
    init_weights,
    pad_to_multiple,
    seeded,
)
from inpaintlab.models.prefill import gated_correction, prefill_prior

SKIP_MODES = ("concat", "learned", "fixed", "none")
PREFILL_MODES = ("none", "pyramid")


class UpBlock(nn.Module):
    """Bilinear x2 upsampling, optional (weighted) skip concatenation, 3x3 conv -> norm -> ReLU.

    Shapes: x (N, in_channels, h, w), skip (N, skip_channels, H, W) -> (N, out_channels, H, W);
    without a skip the output is (N, out_channels, 2h, 2w).
    """

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int, norm: str) -> None:
        super().__init__()
        self.conv = ConvNormAct(in_channels + skip_channels, out_channels, 3, norm=norm, activation="relu")

    def forward(self, x: Tensor, skip: Tensor | None = None) -> Tensor:
        size = skip.shape[-2:] if skip is not None else (2 * x.shape[-2], 2 * x.shape[-1])
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        if skip is not None:
            x = torch.cat([x, skip], dim=1)
        return self.conv(x)


class UNetGenerator(InpaintGenerator):
    """Encoder-decoder with skip connections (pix2pix-style U-Net) for inpainting.

    Encoder: a 3x3 stem at full resolution, then ``depth`` stride-2 3x3 convs (channels
    ``min(base_channels * 2**i, max_channels)``) and a 3x3 bottleneck conv. Decoder: ``depth``
    bilinear-upsample + 3x3 conv blocks, each merging the encoder feature map of its resolution, then a
    3x3 conv to RGB and a sigmoid. The innermost down conv and the bottleneck have no norm (their
    maps can be 1x1, where instance norm is undefined), as in pix2pix.

    Any H, W works: the input is padded (reflect, or replicate when too small) at the bottom/right to
    a multiple of ``2**depth`` and the output cropped back.

    The defaults have about 7M parameters (``unet.base``); ``unet.tiny`` has a few thousand.

    Args:
        base_channels: channels at full resolution.
        depth: number of stride-2 downsamplings.
        max_channels: cap on the channels of the deeper levels.
        norm: ``"instance"`` (default), ``"batch"``, ``"spectral"`` or ``"none"``.
        skip: how encoder features reach the decoder: ``"concat"`` (plain concatenation),
            ``"learned"`` (concatenation of the skip times a learned per-level scalar, initialised to
            ``skip_weight``), ``"fixed"`` (skip times the constant ``skip_weight``), ``"none"`` (no
            skip connections: a plain encoder-decoder).
        skip_weight: initial (``learned``) or constant (``fixed``) skip scale; unused otherwise.
        noise_std: if > 0, Gaussian noise N(0, noise_std^2) is added to the RGB channels inside the
            hole, in training mode only (eval is deterministic). The noise is drawn on the CPU from
            the module's own ``torch.Generator`` (seeded from ``seed``, or from the global RNG at
            construction when ``seed`` is None; reset it with :meth:`reset_noise`), so it never
            touches the global RNG. Under DDP every rank starts from the same noise seed.
        init: weight init (see ``layers.init_weights``), default ``"normal"`` = N(0, 0.02).
        prefill: what the network sees in the hole: ``"none"`` (zeros, as in Pathak et al.) or
            ``"pyramid"`` (the multigrid harmonic fill of :func:`inpaintlab.models.prefill.pyramid_fill`, a smooth
            classical first guess; the network then predicts a correction to it in logit space, so an
            untrained model already returns that fill and training starts from a classical
            inpainter's quality; the correction is scaled by a learned gate that starts at 0).
        seed: seeds the weight init (and the noise RNG); None uses the global RNG.

    Shapes: image (N,3,H,W), mask (N,1,H,W) -> (N,3,H,W) in [0,1].
    """

    @records_init_args
    def __init__(
        self,
        base_channels: int = 32,
        depth: int = 6,
        max_channels: int = 256,
        norm: str = "instance",
        skip: str = "concat",
        skip_weight: float = 1.0,
        noise_std: float = 0.0,
        init: str = "normal",
        prefill: str = "none",
        seed: int | None = None,
    ) -> None:
        super().__init__()
        check_positive_int(base_channels, "base_channels")
        check_positive_int(depth, "depth")
        check_positive_int(max_channels, "max_channels")
        check_norm(norm)
        _check_choice(skip, SKIP_MODES, "skip")
        _check_choice(prefill, PREFILL_MODES, "prefill")
        if not float(noise_std) >= 0:
            raise ValueError(f"noise_std must be >= 0, got {noise_std!r}")
        self.prefill = prefill
        self.depth = depth
        self.skip = skip
        self.noise_std = float(noise_std)
        channels = [min(base_channels * 2**i, max_channels) for i in range(depth + 1)]
        self.channels = channels

        with seeded(seed):
            self.stem = ConvNormAct(4, channels[0], 3, norm=norm, activation="leaky_relu")
            self.downs = nn.ModuleList(
                ConvNormAct(
                    channels[i - 1],
                    channels[i],
                    3,
                    stride=2,
                    norm=norm if i < depth else "none",
                    activation="leaky_relu",
                )
                for i in range(1, depth + 1)
            )
            self.bottleneck = ConvNormAct(channels[depth], channels[depth], 3, norm="none", activation="relu")
            skip_channels = [0 if skip == "none" else channels[i - 1] for i in range(depth, 0, -1)]
            self.ups = nn.ModuleList(
                UpBlock(channels[i], skip_channels[depth - i], channels[i - 1], norm)
                for i in range(depth, 0, -1)
            )
            self.head = nn.Conv2d(channels[0], 3, 3, padding=1)
            init_weights(self, init)
            if norm == "spectral":
                apply_spectral_norm(self)
            # one scalar per decoder level, ordered like self.ups (deepest first)
            if skip == "learned":
                self.skip_weights = nn.Parameter(torch.full((depth,), float(skip_weight)))
            else:
                fixed = torch.full((depth,), float(skip_weight))
                self.register_buffer("skip_weights", fixed, persistent=False)
            noise_seed = int(torch.randint(0, 2**62, (1,)).item())
        if prefill != "none":
            # ReZero-style gate on the correction: an untrained model returns the prefill exactly
            self.prefill_gate = nn.Parameter(torch.zeros(()))
        self._noise_seed = noise_seed
        self.noise_generator = torch.Generator().manual_seed(noise_seed)

    def reset_noise(self, seed: int | None = None) -> None:
        """Restart the hole-noise RNG (from ``seed``, or from the seed it was created with)."""
        self.noise_generator.manual_seed(self._noise_seed if seed is None else seed)

    def _merge_skip(self, level: int, feature: Tensor) -> Tensor | None:
        if self.skip == "none":
            return None
        if self.skip == "concat":
            return feature
        return feature * self.skip_weights[level].to(feature.dtype)

    def _predict(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        prior = None
        if self.prefill == "pyramid":
            prior = prefill_prior(x)
            x = torch.cat([prior, x[:, 3:4]], dim=1)
        if self.training and self.noise_std > 0:
            mask = x[:, 3:4]
            noise = torch.randn(x[:, :3].shape, generator=self.noise_generator)
            noise = noise.to(device=x.device, dtype=x.dtype) * self.noise_std
            x = torch.cat([x[:, :3] + mask * noise, mask], dim=1)
        x = pad_to_multiple(x, 2**self.depth)
        features = [self.stem(x)]
        for down in self.downs:
            features.append(down(features[-1]))
        y = self.bottleneck(features[-1])
        for level, up in enumerate(self.ups):
            y = up(y, self._merge_skip(level, features[self.depth - 1 - level]))
        logits = self.head(y)[..., :h, :w]
        if prior is not None:
            return gated_correction(logits, prior, self.prefill_gate)
        return torch.sigmoid(logits)
