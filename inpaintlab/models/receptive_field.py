"""Analytic receptive field of a plain conv/pool chain, and PatchGAN depth selection."""

from __future__ import annotations

from torch import nn

from inpaintlab.models.patch_discriminator import patch_receptive_field

_GLOBAL_LAYERS = (nn.Linear, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)
_UNSUPPORTED = (nn.ConvTranspose2d, nn.Upsample)


def _pair(value: int | tuple[int, ...]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[-1]))


def receptive_field_2d(model: nn.Module) -> tuple[int, int]:
    """Receptive field (height, width) of one output pixel of ``model``.

    Walks ``model.modules()`` (registration order, which must be the forward order: a plain chain
    such as :class:`PatchDiscriminator`) and applies, for every ``Conv2d``/``MaxPool2d``/``AvgPool2d``,
    ``rf += (kernel - 1) * dilation * jump; jump *= stride``. Elementwise layers (norms, activations)
    do not change it. Instance/batch norm statistics are ignored (they span the whole map).

    Raises:
        ValueError: for models with layers that see the whole input (Linear, adaptive pooling: the
            field is the image) or that upsample (transposed convs).
    """
    rf, jump = [1, 1], [1, 1]
    for name, m in model.named_modules():
        if isinstance(m, _GLOBAL_LAYERS):
            raise ValueError(
                f"{type(model).__name__} has a global layer ({name}: {type(m).__name__}), so its receptive "
                f"field is the whole image; pass a fully convolutional model "
                f"(of a DualDiscriminator: .patch_disc)"
            )
        if isinstance(m, _UNSUPPORTED):
            raise ValueError(
                f"receptive_field only handles conv/pool chains, {type(model).__name__} has "
                f"{name}: {type(m).__name__}"
            )
        if isinstance(m, nn.Conv2d):
            kernel, stride, dilation = _pair(m.kernel_size), _pair(m.stride), _pair(m.dilation)
        elif isinstance(m, nn.MaxPool2d):
            kernel, stride, dilation = _pair(m.kernel_size), _pair(m.stride), _pair(m.dilation)
        elif isinstance(m, nn.AvgPool2d):
            kernel, stride, dilation = _pair(m.kernel_size), _pair(m.stride), (1, 1)
        else:
            continue
        for d in range(2):
            rf[d] += (kernel[d] - 1) * dilation[d] * jump[d]
            jump[d] *= stride[d]
    return rf[0], rf[1]


def receptive_field(model: nn.Module) -> int:
    """Receptive field (side, in input pixels) of one output pixel of a conv/pool chain.

    For non-square fields the larger side. See :func:`receptive_field_2d` for the rules; e.g. 70 for
    the standard 3-layer PatchGAN.
    """
    return max(receptive_field_2d(model))


def num_layers_for_receptive_field(target: int, at_least: bool = False, max_layers: int = 8) -> int:
    """The :class:`PatchDiscriminator` ``num_layers`` whose receptive field (7, 16, 34, 70, 142, ...)
    is closest to ``target`` (ties go to the smaller), or with ``at_least=True`` the smallest one whose
    field is >= ``target``. Searches ``0..max_layers``.

    >>> num_layers_for_receptive_field(70), num_layers_for_receptive_field(40), \
num_layers_for_receptive_field(40, at_least=True)
    (3, 2, 3)
    """
    if isinstance(target, bool) or not isinstance(target, int) or target < 1:
        raise ValueError(f"target must be a positive int (pixels), got {target!r}")
    candidates = range(max_layers + 1)
    if at_least:
        for n in candidates:
            if patch_receptive_field(n) >= target:
                return n
        raise ValueError(
            f"no PatchDiscriminator with num_layers <= {max_layers} has a receptive field >= {target} "
            f"(largest: {patch_receptive_field(max_layers)}); raise max_layers"
        )
    return min(candidates, key=lambda n: (abs(patch_receptive_field(n) - target), n))
