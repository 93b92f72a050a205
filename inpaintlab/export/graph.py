"""What an exported inpainter computes: the composited fill of one picture, at the picture's own size.

:class:`InpaintGraph` wraps any generator of :mod:`inpaintlab.models` (the interface
``model(image, mask) -> (N,3,H,W)``) into the function an ONNX or TorchScript file holds:

    image (N,3,H,W) float in [0,1], mask (N,1,H,W) float (nonzero = hole)
    -> where(hole, model(image with the hole zeroed, hole as 0/1), image)    (N,3,H,W) in [0,1]

which is what :class:`~inpaintlab.api.Inpainter` computes for one window at the model's native
resolution (the hole zeroed, a (-1,1) model's range converted, known pixels copied through).

The generator's harmonic prefill (:func:`~inpaintlab.models.prefill.pyramid_fill`) records itself for
export: in a trace it builds its pyramid to a fixed depth, exact for pictures up to 4096 px a side, so the
graph runs at any input size.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class InpaintGraph(nn.Module):
    """The composited fill of ``generator`` as one exportable function (see the module docstring).

    Args:
        generator: ``generator(image (N,3,H,W), mask (N,1,H,W)) -> (N,3,H,W)``, in eval mode.
        value_range: the generator's pixel range, ``(0, 1)`` or ``(-1, 1)`` (the registry entry's).

    Shapes: image (N,3,H,W) float in [0,1], mask (N,1,H,W) float, nonzero = hole -> (N,3,H,W).
    """

    def __init__(self, generator: nn.Module, value_range: tuple[float, float] = (0.0, 1.0)) -> None:
        super().__init__()
        value_range = tuple(float(v) for v in value_range)
        if value_range not in ((0.0, 1.0), (-1.0, 1.0)):
            raise ValueError(f"value_range must be (0, 1) or (-1, 1), got {value_range}")
        self.generator = generator
        self.signed = value_range == (-1.0, 1.0)

    def forward(self, image: Tensor, mask: Tensor) -> Tensor:
        hole = mask > 0
        known = torch.where(hole, torch.zeros_like(image), image)
        hole_f = hole.to(image.dtype)
        if self.signed:
            output = (self.generator(known * 2 - 1, hole_f) + 1) / 2
        else:
            output = self.generator(known, hole_f)
        return torch.where(hole, output.to(image.dtype).clamp(0, 1), image)
