"""What an exported inpainter computes: the composited fill of one picture, at the picture's own size.

:class:`InpaintGraph` wraps any generator of :mod:`inpaintlab.models` (the interface
``model(image, mask) -> (N,3,H,W)``) into the function an ONNX or TorchScript file holds:

    image (N,3,H,W) float in [0,1], mask (N,1,H,W) float (nonzero = hole)
    -> where(hole, model(image with the hole zeroed, hole as 0/1), image)    (N,3,H,W) in [0,1]

which is what :class:`~inpaintlab.api.Inpainter` computes for one window at the model's native
resolution (the hole zeroed, a (-1,1) model's range converted, known pixels copied through).

**The harmonic prefill inside the graph.** :func:`~inpaintlab.models.prefill.pyramid_fill` walks an
image pyramid down to 1x1, so its depth depends on the input size: a trace would freeze the depth of
the size it was traced at. :func:`fixed_depth_pyramid_fill` computes the same fill with a fixed
number of levels (enough for ``max_side``; below that size the extra levels are 1x1 and change
nothing but float rounding, ~1e-7), with ceil-mode average pooling written as zero padding and an
explicit pixel count, whose semantics every runtime shares, and with each relaxation sweep's neighbour
sum as one depthwise convolution (a graph a third the size). :func:`exportable_prefill` puts it in
place of ``pyramid_fill`` in every ``inpaintlab.models`` module while a model is traced, so any
generator that calls ``pyramid_fill`` (directly, or through ``PyramidFill``) exports with the prefill
as plain graph operations, at any input size up to ``max_side``.
"""

from __future__ import annotations

import contextlib
import functools
import math
import sys
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from inpaintlab.models import prefill as _prefill

DEFAULT_MAX_SIDE = 4096


def pyramid_levels(side: int) -> int:
    """Number of pyramid levels ``pyramid_fill`` builds for a picture whose longer side is ``side``."""
    if side < 1:
        raise ValueError(f"side must be >= 1 pixel, got {side}")
    return 1 + math.ceil(math.log2(side)) if side > 1 else 1


def _pool_sum_count(x: Tensor, count: Tensor) -> tuple[Tensor, Tensor]:
    """2x2 ceil-mode pooling as sums: (sum of each 2x2 cell of ``x``, number of real pixels in it)."""
    h, w = x.shape[-2], x.shape[-1]
    pad = (0, w % 2, 0, h % 2)  # zeros on the bottom/right make every cell complete
    return F.avg_pool2d(F.pad(x, pad), 2) * 4, F.avg_pool2d(F.pad(count, pad), 2) * 4


def fixed_depth_pyramid_fill(
    image: Tensor,
    mask: Tensor,
    smooth_iters: int = 8,
    empty_value: float = 0.5,
    coarse_iters: int | None = None,
    over_relaxation: float | None = None,
    *,
    levels: int,
) -> Tensor:
    """:func:`~inpaintlab.models.prefill.pyramid_fill` with exactly ``levels`` pyramid levels.

    With ``levels >= pyramid_levels(max(H, W))`` the result equals ``pyramid_fill``'s up to float
    rounding: the levels past 1x1 stay 1x1 and repeat the coarsest fill. With fewer the coarsest level
    is larger than 1x1 and the fill differs from the harmonic one (a wider, blockier first guess).

    Shapes: image (N,C,H,W), mask (N,1,H,W) -> (N,C,H,W); known pixels bit-identical to ``image``.
    """
    if image.ndim != 4 or mask.ndim != 4 or mask.shape[1] != 1:
        raise ValueError(
            f"pyramid fill needs image (N,C,H,W) and mask (N,1,H,W); got {tuple(image.shape)}, {tuple(mask.shape)}"
        )
    if levels < 1:
        raise ValueError(f"levels must be >= 1, got {levels}")
    _prefill.check_over_relaxation(over_relaxation)
    hole = mask > 0.5
    weight = (~hole).to(image.dtype)
    color = torch.where(hole, torch.zeros_like(image), image)
    ones = torch.ones_like(weight)
    pyramid = [(color, weight)]
    for _ in range(levels - 1):
        c, w = pyramid[-1]
        c_sum, count = _pool_sum_count(c, ones)
        w_sum, _ = _pool_sum_count(w, ones)
        pyramid.append((c_sum / count, w_sum / count))
        ones = torch.ones_like(w_sum)
    c, w = pyramid[-1]
    fill = torch.where(w > 0, c / w.clamp_min(1e-12), torch.full_like(c, empty_value))
    # the 4-neighbour sum as one depthwise 3x3 convolution (2 graph operations instead of 9)
    channels = int(image.shape[1])
    cross = torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 1.0], [0.0, 1.0, 0.0]], dtype=image.dtype)
    kernel = cross.to(image.device).expand(channels, 1, 3, 3)

    def neighbour_sum(x: Tensor) -> Tensor:
        return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernel, groups=channels)

    for depth, (c, w) in reversed(list(enumerate(pyramid[:-1]))):  # depth 0 = the finest level
        fill = _prefill.fill_level(fill, c, w, depth, smooth_iters, coarse_iters, neighbour_sum, over_relaxation)
    return torch.where(hole, fill, image)


@contextlib.contextmanager
def exportable_prefill(levels: int) -> Iterator[list[int]]:
    """While active, every ``inpaintlab.models`` module's ``pyramid_fill`` is the fixed-depth one.

    Yields a one-item list counting the calls (0 after a trace: the model has no prefill). The
    originals are restored on exit, also after an error. Process-wide: do not run models in other
    threads meanwhile.
    """
    original = _prefill.pyramid_fill
    calls = [0]

    @functools.wraps(original)
    def replacement(image, mask, smooth_iters=8, empty_value=0.5, coarse_iters=None, over_relaxation=None):
        calls[0] += 1
        return fixed_depth_pyramid_fill(
            image, mask, smooth_iters, empty_value, coarse_iters, over_relaxation, levels=levels
        )

    patched = [
        module
        for name, module in list(sys.modules.items())
        if (name == "inpaintlab.models" or name.startswith("inpaintlab.models."))
        and getattr(module, "pyramid_fill", None) is original
    ]
    for module in patched:
        module.pyramid_fill = replacement
    try:
        yield calls
    finally:
        for module in patched:
            module.pyramid_fill = original


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
