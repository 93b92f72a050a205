"""DiffAugment: differentiable augmentation for data-efficient GAN training (Zhao et al., 2020).

Both the real and the generated images are augmented, with the same random parameters, before the
discriminator sees them, and the augmentation is differentiable so the generator is trained through it:

    >>> aug = DiffAugment("color,translation,cutout")
    >>> real_aug, fake_aug = aug(real, fake, generator=g)
    >>> d_loss = discriminator_loss(disc(real_aug), disc(fake_aug))

Policies follow the paper's reference code (``DiffAugment_pytorch.py``) exactly:

* ``"color"``: brightness ``x + U(-0.5, 0.5)``, then saturation ``(x - mean_c) * U(0, 2) + mean_c``
  (``mean_c`` the per-pixel channel mean), then contrast ``(x - mean) * U(0.5, 1.5) + mean`` (``mean``
  over C, H, W of each sample). Nothing is clamped: values may leave [0, 1] and keep their gradient.
* ``"translation"``: an integer shift of up to ``round(H / 8)`` rows and ``round(W / 8)`` columns,
  uniform over ``[-s, s]``, with zero padding (exact, no interpolation).
* ``"cutout"``: a ``round(H / 2) x round(W / 2)`` rectangle set to zero, centred uniformly (clipped at
  the border as in the paper).

Each primitive is a ``kornia.augmentation`` module: kornia's :class:`~kornia.augmentation.RandomBrightness`
(``clip_output=False``) and :class:`~kornia.augmentation.RandomErasing`, and three subclasses of kornia's
public ``IntensityAugmentationBase2D`` / ``GeometricAugmentationBase2D`` below, where kornia's own
colour/translation ops do something else (kornia's saturation works in HSV and clamps,
its contrast scales about 0, its translation interpolates). Parameters are drawn here, from an explicit
``torch.Generator``, and handed to the kornia modules through their ``params=`` argument, because kornia
only samples from torch's global RNG.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from kornia.augmentation import (
    GeometricAugmentationBase2D,
    IntensityAugmentationBase2D,
    RandomBrightness,
    RandomErasing,
)
from torch import Tensor, nn

from inpaintlab._checks import check_image

__all__ = [
    "POLICIES",
    "DiffAugment",
    "RandomContrastScale",
    "RandomIntegerTranslate",
    "RandomSaturationScale",
    "diff_augment",
]

Params = dict[str, Tensor]

TRANSLATION_RATIO = 0.125
CUTOUT_RATIO = 0.5


class RandomSaturationScale(IntensityAugmentationBase2D):
    """Scale each pixel's distance from its channel mean: ``(x - x.mean(1)) * s + x.mean(1)``, no clamping.

    This is DiffAugment's saturation (a linear blend towards the per-pixel grey value), not kornia's
    HSV-based :class:`~kornia.augmentation.RandomSaturation`, which clamps to [0, 1].

    Params: ``saturation_factor`` (B,). Shape: (B, C, H, W) -> (B, C, H, W).
    """

    def apply_transform(
        self, input: Tensor, params: Params, flags: dict[str, Any], transform: Tensor | None = None
    ) -> Tensor:
        factor = params["saturation_factor"].to(input.device, input.dtype).view(-1, 1, 1, 1)
        mean = input.mean(dim=1, keepdim=True)
        return (input - mean) * factor + mean


class RandomContrastScale(IntensityAugmentationBase2D):
    """Scale each sample's distance from its mean over C, H, W: ``(x - x.mean()) * c + x.mean()``, no clamping.

    This is DiffAugment's contrast; kornia's :class:`~kornia.augmentation.RandomContrast` multiplies
    ``x`` itself (contrast about 0) and clamps by default.

    Params: ``contrast_factor`` (B,). Shape: (B, C, H, W) -> (B, C, H, W).
    """

    def apply_transform(
        self, input: Tensor, params: Params, flags: dict[str, Any], transform: Tensor | None = None
    ) -> Tensor:
        factor = params["contrast_factor"].to(input.device, input.dtype).view(-1, 1, 1, 1)
        mean = input.mean(dim=(1, 2, 3), keepdim=True)
        return (input - mean) * factor + mean


class RandomIntegerTranslate(GeometricAugmentationBase2D):
    """Shift each sample by a whole number of pixels with zero padding; exact, no interpolation.

    ``out[b, :, i, j] = x[b, :, i - shift_y[b], j - shift_x[b]]`` where that pixel exists, else 0.
    ``transform_matrix`` is the matching pixel translation, so kornia containers can move boxes and
    keypoints with it.

    Params: ``shift_x``, ``shift_y`` (B,) integer-valued. Shape: (B, C, H, W) -> (B, C, H, W).
    """

    def compute_transformation(self, input: Tensor, params: Params, flags: dict[str, Any]) -> Tensor:
        matrix = self.identity_matrix(input).clone()
        matrix[:, 0, 2] = params["shift_x"].to(matrix.device, matrix.dtype)
        matrix[:, 1, 2] = params["shift_y"].to(matrix.device, matrix.dtype)
        return matrix

    def apply_transform(
        self, input: Tensor, params: Params, flags: dict[str, Any], transform: Tensor | None = None
    ) -> Tensor:
        n, _, h, w = input.shape
        device = input.device
        shift_y = params["shift_y"].to(device, torch.long).view(n, 1, 1)
        shift_x = params["shift_x"].to(device, torch.long).view(n, 1, 1)
        # Source coordinates clamped into the 1-pixel zero border of the padded image (the paper's
        # gather; advanced indexing keeps the backward pass deterministic-capable on CUDA).
        rows = (torch.arange(h, device=device).view(1, h, 1) - shift_y + 1).clamp(0, h + 1)
        cols = (torch.arange(w, device=device).view(1, 1, w) - shift_x + 1).clamp(0, w + 1)
        batch = torch.arange(n, device=device).view(n, 1, 1)
        padded = nn.functional.pad(input, (1, 1, 1, 1)).permute(0, 2, 3, 1)  # (B, H+2, W+2, C)
        return padded[batch, rows, cols].permute(0, 3, 1, 2).contiguous()

    def inverse_transform(
        self,
        input: Tensor,
        flags: dict[str, Any],
        transform: Tensor | None = None,
        size: tuple[int, int] | None = None,
    ) -> Tensor:
        if transform is None:
            raise ValueError("transform must be the (B, 3, 3) matrix of the forward call")
        params = {"shift_x": -transform[:, 0, 2].round(), "shift_y": -transform[:, 1, 2].round()}
        return self.apply_transform(input, params, flags)


# --- parameter sampling (explicit generator; kornia only samples from the global RNG) ---------------


def _uniform(n: int, low: float, high: float, generator: torch.Generator | None) -> Tensor:
    device = generator.device if generator is not None else "cpu"
    return torch.rand(n, generator=generator, device=device) * (high - low) + low


def _randint(n: int, low: int, high: int, generator: torch.Generator | None) -> Tensor:
    """Integers uniform on ``[low, high)``, as float32 (kornia's params are float tensors)."""
    device = generator.device if generator is not None else "cpu"
    return torch.randint(low, high, (n,), generator=generator, device=device).float()


def _sample_brightness(n: int, h: int, w: int, generator: torch.Generator | None) -> Params:
    # kornia adds ``factor - 1``: factor ~ U(0.5, 1.5) is the paper's shift U(-0.5, 0.5).
    return {"brightness_factor": _uniform(n, 0.5, 1.5, generator)}


def _sample_saturation(n: int, h: int, w: int, generator: torch.Generator | None) -> Params:
    return {"saturation_factor": _uniform(n, 0.0, 2.0, generator)}


def _sample_contrast(n: int, h: int, w: int, generator: torch.Generator | None) -> Params:
    return {"contrast_factor": _uniform(n, 0.5, 1.5, generator)}


def _sample_translation(n: int, h: int, w: int, generator: torch.Generator | None) -> Params:
    max_y, max_x = int(h * TRANSLATION_RATIO + 0.5), int(w * TRANSLATION_RATIO + 0.5)
    # The paper samples the offset it reads from (``out[i] = x[i + t]``); the content moves by -t.
    # Drawing in its order and negating keeps the same generator giving the paper's exact images.
    return {
        "shift_y": -_randint(n, -max_y, max_y + 1, generator),
        "shift_x": -_randint(n, -max_x, max_x + 1, generator),
    }


def _sample_cutout(n: int, h: int, w: int, generator: torch.Generator | None) -> Params:
    """The paper's cutout box, as kornia RandomErasing's ``xs, ys, widths, heights, values``."""
    size_y, size_x = int(h * CUTOUT_RATIO + 0.5), int(w * CUTOUT_RATIO + 0.5)
    # Centre offsets exactly as the paper draws them, then the box clipped to the image.
    top = _randint(n, 0, h + (1 - size_y % 2), generator) - size_y // 2
    left = _randint(n, 0, w + (1 - size_x % 2), generator) - size_x // 2
    ys, xs = top.clamp(min=0), left.clamp(min=0)
    heights = (top + size_y).clamp(max=h) - ys
    widths = (left + size_x).clamp(max=w) - xs
    return {"xs": xs, "ys": ys, "widths": widths, "heights": heights, "values": torch.zeros_like(xs)}


@dataclass(frozen=True)
class _Primitive:
    """One augmentation step: how to build its kornia module (given p) and how to draw its params."""

    build: Callable[[float], nn.Module]
    sample: Callable[[int, int, int, torch.Generator | None], Params]


POLICIES: dict[str, tuple[_Primitive, ...]] = {
    "color": (
        _Primitive(lambda p: RandomBrightness((0.5, 1.5), clip_output=False, p=p), _sample_brightness),
        _Primitive(lambda p: RandomSaturationScale(p=p), _sample_saturation),
        _Primitive(lambda p: RandomContrastScale(p=p), _sample_contrast),
    ),
    "translation": (_Primitive(lambda p: RandomIntegerTranslate(p=p), _sample_translation),),
    "cutout": (_Primitive(lambda p: RandomErasing(value=0.0, p=p), _sample_cutout),),
}
"""Policy name -> its primitives, applied in order (the paper's ``AUGMENT_FNS``)."""


def _parse_policy(policy: str | Sequence[str]) -> list[str]:
    names = policy.split(",") if isinstance(policy, str) else list(policy)
    names = [name.strip() for name in names if name.strip()]
    for name in names:
        if name not in POLICIES:
            raise ValueError(
                f"policy has unknown entry {name!r} (from {policy!r}); "
                f"use a comma-separated subset of {sorted(POLICIES)}, e.g. 'color,translation,cutout'"
            )
    return names


class DiffAugment(nn.Module):
    """Differentiable augmentation applied identically to several batches (real and fake).

    Args:
        policy: comma-separated policy names from :data:`POLICIES` (or a list of them), applied in
            order; ``""`` is the identity.
        p: probability that each primitive (brightness, saturation, contrast, translation, cutout) is
            applied to a given sample, drawn independently per sample and per primitive, like kornia's and
            ADA's ``p``. ``p=1`` is the paper's DiffAugment; ``p=0`` returns the inputs unchanged.
        color_channels: how many leading channels the colour ops change (None: all of them).

    ``forward(*batches, generator=None)`` draws one set of per-sample parameters and applies it to every
    batch, so ``aug(x, x)`` gives two identical tensors. It returns a tensor for one batch and a tuple for
    several. The draw is kept in ``last_params`` (one dict per primitive) and can be replayed with
    :meth:`apply`. Randomness comes only from ``generator`` (a CPU generator works for GPU inputs; None
    uses torch's global RNG).

    Shapes: each batch (N, C, H, W) float, with equal N, H, W -> same shape and dtype. Any C works:
    colour ops change only the first ``color_channels`` channels (RGB), geometric ops (translation,
    cutout) move every channel, so a mask channel appended to the image (a 4-channel discriminator's
    input) stays aligned with the picture it describes.
    """

    def __init__(
        self,
        policy: str | Sequence[str] = "color,translation,cutout",
        p: float = 1.0,
        color_channels: int | None = 3,
    ) -> None:
        super().__init__()
        if not 0.0 <= float(p) <= 1.0:
            raise ValueError(f"p must be a probability in [0, 1], got {p}")
        if color_channels is not None and (isinstance(color_channels, bool) or int(color_channels) < 1):
            raise ValueError(f"color_channels must be an int >= 1 or None (all channels), got {color_channels!r}")
        self.color_channels = None if color_channels is None else int(color_channels)
        self.policy = ",".join(_parse_policy(policy))
        self.p = float(p)
        primitives = [prim for name in _parse_policy(policy) for prim in POLICIES[name]]
        self._samplers = [prim.sample for prim in primitives]
        self.ops = nn.ModuleList(prim.build(self.p) for prim in primitives)
        # kornia's own samplers (unused: parameters come from sample_params) keep their ranges in
        # buffers; keep them out of state_dict so a LightningModule's checkpoint does not depend on
        # whether DiffAugment is on.
        for module in self.ops.modules():
            for name, buffer in list(module.named_buffers(recurse=False)):
                module.register_buffer(name, buffer, persistent=False)
        self.last_params: list[Params] = []

    def sample_params(
        self, batch_shape: Sequence[int], generator: torch.Generator | None = None
    ) -> list[Params]:
        """Draw per-sample parameters for a (N, C, H, W) batch: one kornia params dict per primitive."""
        n, _, h, w = (int(s) for s in batch_shape)
        device = generator.device if generator is not None else "cpu"
        params = []
        for sample in self._samplers:
            if self.p < 1.0:
                batch_prob = torch.rand(n, generator=generator, device=device) < self.p
            else:
                batch_prob = torch.ones(n, dtype=torch.bool, device=device)
            draw = sample(n, h, w, generator)
            draw["batch_prob"] = batch_prob
            draw["forward_input_shape"] = torch.tensor(tuple(batch_shape), dtype=torch.long)
            params.append(draw)
        return params

    def apply(self, x: Tensor, params: list[Params]) -> Tensor:
        """Apply previously drawn ``params`` (from :meth:`sample_params` or ``last_params``) to ``x``."""
        x = check_image(x, "x", channels=None)
        if self.p == 0.0:
            return x
        if len(params) != len(self.ops):
            raise ValueError(
                f"params has {len(params)} entries but policy {self.policy!r} has {len(self.ops)} primitives; "
                "pass the list from this module's sample_params() or last_params"
            )
        c = self.color_channels
        for op, op_params in zip(self.ops, params):
            # kornia stores the dict it is given; pass a copy so replaying never edits the caller's draw.
            if isinstance(op, IntensityAugmentationBase2D) and c is not None and x.shape[1] > c:
                x = torch.cat([op(x[:, :c], params=dict(op_params)), x[:, c:]], dim=1)
            else:
                x = op(x, params=dict(op_params))
        return x

    def forward(self, *batches: Tensor, generator: torch.Generator | None = None) -> Tensor | tuple[Tensor, ...]:
        if not batches:
            raise TypeError("DiffAugment needs at least one batch, e.g. aug(real, fake)")
        first = check_image(batches[0], "batches[0]", channels=None)
        for i, batch in enumerate(batches[1:], start=1):
            batch = check_image(batch, f"batches[{i}]", channels=None)
            if batch.shape[0] != first.shape[0] or batch.shape[-2:] != first.shape[-2:]:
                raise ValueError(
                    f"batches[{i}] has shape {tuple(batch.shape)} but batches[0] has {tuple(first.shape)}; "
                    "all batches need the same N, H and W to share augmentation parameters"
                )
        self.last_params = self.sample_params(first.shape, generator) if self.p > 0.0 else []
        outputs = tuple(self.apply(batch, self.last_params) for batch in batches)
        return outputs[0] if len(outputs) == 1 else outputs


def diff_augment(
    x: Tensor, policy: str | Sequence[str] = "color,translation,cutout", generator: torch.Generator | None = None
) -> Tensor:
    """Functional DiffAugment of one batch (N, C, H, W) -> (N, C, H, W); see :class:`DiffAugment`.

    To augment real and fake batches with the same parameters, use ``DiffAugment(policy)(real, fake)``.
    """
    return DiffAugment(policy)(x, generator=generator)
