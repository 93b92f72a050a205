"""Exponential moving average (EMA) of a model's weights.

After every generator update ``ema = decay * ema + (1 - decay) * weights`` for each floating-point
parameter and buffer; integer buffers (e.g. BatchNorm's ``num_batches_tracked``) are copied. The EMA
copy is what validation and export use: it is smoother than the raw generator of a GAN.

The decay is warmed up as in timm's ``ModelEmaV3``: update ``n`` (from 0) uses
``min(decay, (1 + n) / (10 + n))`` (:func:`warmed_up_decay`), so the copy follows the early, fast-moving
weights instead of keeping the initialisation: with a fixed 0.999, a 1,000-step run would still hold
``0.999 ** 1000 = 37%`` of the random initial weights; warmed up, the initialisation's share after
``N`` updates is ``9! N! / (N + 9)!`` (below 1% after 6 updates).
"""

from __future__ import annotations

import copy

import torch
from torch import nn


def create_ema(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` with ``requires_grad=False`` to hold the EMA weights.

    It keeps ``model``'s train/eval mode and follows its parent's ``.train()`` / ``.eval()`` like any
    submodule; it is never run in a training step, so call ``.eval()`` before using it for inference
    (Lightning does that for validation and prediction).
    """
    ema = copy.deepcopy(model)
    ema.requires_grad_(False)
    return ema


def warmed_up_decay(decay: float, updates: int) -> float:
    """The decay of EMA update number ``updates`` (0 for the first): ``min(decay, (1 + n) / (10 + n))``."""
    if updates < 0:
        raise ValueError(f"updates must be >= 0, got {updates}")
    return min(float(decay), (1.0 + updates) / (10.0 + updates))


@torch.no_grad()
def ema_update_(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """In place: ``ema_p <- decay * ema_p + (1 - decay) * p`` for every parameter and float buffer.

    Args:
        ema: the EMA copy (same architecture as ``model``).
        model: the trained model.
        decay: in [0, 1]; 0 copies ``model``, 1 keeps ``ema`` unchanged.

    Raises:
        ValueError: ``decay`` outside [0, 1] or the two models' state does not line up.
    """
    if not 0.0 <= decay <= 1.0:
        raise ValueError(f"decay must be in [0, 1], got {decay}; typical values are 0.999 or 0.9999")
    ema_params, params = list(ema.parameters()), list(model.parameters())
    if len(ema_params) != len(params):
        raise ValueError(
            f"ema has {len(ema_params)} parameters but model has {len(params)}; "
            "build ema with create_ema(model)"
        )
    ema_float = [e for e, p in zip(ema_params, params) if e.is_floating_point()]
    model_float = [p.detach().to(e.dtype) for e, p in zip(ema_params, params) if e.is_floating_point()]
    if ema_float:
        torch._foreach_lerp_(ema_float, model_float, 1.0 - decay)
    for ema_buffer, buffer in zip(ema.buffers(), model.buffers()):
        if ema_buffer.is_floating_point():
            ema_buffer.lerp_(buffer.to(ema_buffer.dtype), 1.0 - decay)
        else:
            ema_buffer.copy_(buffer)
