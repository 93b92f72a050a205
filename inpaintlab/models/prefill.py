"""Multigrid harmonic fill of a hole: a cheap classical first guess a generator can refine.

Push-pull: the known pixels are averaged down an image pyramid (premultiplied by their coverage) down
to 1x1, then the pyramid is walked back up: at each level the coarser fill is upsampled and relaxed
with ``smooth_iters`` Jacobi sweeps of the 5-point Laplace equation: a cell keeps its own average in
proportion to how much of it was known and takes the rest from its 4 neighbours. The result converges to
the harmonic interpolation of the hole from its border (what OpenCV's Navier-Stokes / Telea
inpainters approximate, and as good on hole PSNR/SSIM: see ``benchmarks/quality.py``), in O(HW) time,
on any device, differentiable, with fully known pixels left exactly as they were.

A generator built with ``prefill="pyramid"`` sees this fill instead of zeros in the hole and predicts a
correction to it, so it starts from a classical inpainter's quality instead of from grey.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from inpaintlab._checks import check_image, check_mask

#: The longest side, in pixels, that a traced or exported fill is exact for (see ``pyramid_fill``'s levels).
EXPORT_MAX_SIDE = 4096


def pyramid_levels(side: int) -> int:
    """Number of pyramid levels :func:`pyramid_fill` builds for a picture whose longer side is ``side``
    (halving down to 1x1, the picture's own level included)."""
    if side < 1:
        raise ValueError(f"side must be >= 1 pixel, got {side}")
    return 1 + math.ceil(math.log2(side)) if side > 1 else 1


def is_exporting() -> bool:
    """Whether this call is being recorded into a graph that will run at other input sizes: a
    ``torch.jit.trace``, a ``torch.onnx.export`` (its TorchScript-based exporter traces) or a ``torch.export``
    (kornia's ``is_exporting`` pattern)."""
    return torch.jit.is_tracing() or torch.onnx.is_in_onnx_export() or torch.compiler.is_exporting()


def _neighbour_sum(x: Tensor) -> Tensor:
    """Sum of the 4 neighbours (replicated border), in as few tensor ops as possible: at coarse pyramid
    levels the tensors are tiny and the per-op overhead is the cost."""
    p = F.pad(x, (1, 1, 1, 1), mode="replicate")
    total = p[..., :-2, 1:-1] + p[..., 2:, 1:-1]
    total += p[..., 1:-1, :-2]
    total += p[..., 1:-1, 2:]
    return total


def _neighbour_sum_as_convolution(like: Tensor):
    """:func:`_neighbour_sum` for tensors of ``like``'s channels, dtype and device as one depthwise 3x3
    convolution: 2 operations of an exported graph instead of 9 (a graph a third the size)."""
    channels = int(like.shape[1])
    cross = torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 1.0], [0.0, 1.0, 0.0]], dtype=like.dtype)
    kernel = cross.to(like.device).expand(channels, 1, 3, 3)

    def neighbour_sum(x: Tensor) -> Tensor:
        return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernel, groups=channels)

    return neighbour_sum


def _halve(color: Tensor, weight: Tensor) -> tuple[Tensor, Tensor]:
    """One level down the pyramid: 2x2 average pooling of ``color`` and ``weight``, the last row and column
    averaged over the pixels they have (ceil mode)."""
    return F.avg_pool2d(color, 2, ceil_mode=True), F.avg_pool2d(weight, 2, ceil_mode=True)


def _halve_for_export(color: Tensor, weight: Tensor) -> tuple[Tensor, Tensor]:
    """:func:`_halve` (the same averages up to float rounding) as zero padding to even sizes, plain average
    pooling and an explicit share of real pixels per cell, operations whose semantics every runtime shares
    (unlike ceil mode's partial last cells); a trace records the padding from the input's size."""
    h, w = weight.shape[-2], weight.shape[-1]
    pad = (0, w % 2, 0, h % 2)  # zeros on the bottom/right make every cell complete
    share = F.avg_pool2d(F.pad(torch.ones_like(weight), pad), 2)
    return F.avg_pool2d(F.pad(color, pad), 2) / share, F.avg_pool2d(F.pad(weight, pad), 2) / share


def pyramid_fill(
    image: Tensor,
    mask: Tensor,
    smooth_iters: int = 8,
    empty_value: float = 0.5,
    coarse_iters: int | None = None,
    over_relaxation: float | None = None,
    levels: int | None = None,
) -> Tensor:
    """Fill the hole of ``image`` by multigrid harmonic interpolation from the known pixels.

    Args:
        image: (N,C,H,W) float; the hole's pixels are ignored (even NaN there).
        mask: (N,1,H,W), 1 (> 0.5) = hole.
        smooth_iters: relaxation sweeps per pyramid level (Jacobi, or SOR with ``over_relaxation``;
            0 = plain push-pull, blockier); with ``coarse_iters``, the sweeps at the finest level.
        empty_value: the value of an image whose mask covers everything.
        coarse_iters: if set, the sweeps double at each coarser level, up to this many: coarse levels
            are cheap (a quarter of the pixels per level), and converging them is what brings the fill
            close to the converged harmonic solution (at 256 px about +0.25 dB hole PSNR on large holes
            over 8 sweeps everywhere, for about 1.5x the time). None: ``smooth_iters`` at every level.
        over_relaxation: None: Jacobi sweeps. A factor in (0, 2): red-black successive over-relaxation
            (SOR) sweeps instead, each updating the cells of one checkerboard colour, then the other (twice
            a Jacobi sweep's work). With 1.8 it converges far faster: at 256 px, 4 sweeps (coarse 32) come
            within 0.03 dB hole PSNR of the solution that 150 Jacobi sweeps per level reach, where 8 Jacobi
            sweeps (coarse 64), the same work, stay 0.1-0.18 dB short.
        levels: the pyramid's depth, the picture's own level included. None: down to 1x1
            (:func:`pyramid_levels` of the longer side); in a trace or export (:func:`is_exporting`), where
            the depth cannot follow the input's size, ``pyramid_levels(EXPORT_MAX_SIDE)``, so the graph is
            exact for every picture up to 4096 px a side. Levels past 1x1 stay 1x1 and change the fill by
            float rounding only (~1e-7); fewer leave the coarsest level larger than 1x1 (a blockier fill).

    Returns:
        (N,C,H,W): known pixels equal to ``image`` (bit-identical), hole pixels filled.

    In a trace or export the fill is recorded in operations whose semantics every runtime shares, each
    sweep's neighbour sum as one convolution, at the fixed depth above: the graph follows the input's size.

    Shapes: image (N,C,H,W), mask (N,1,H,W) -> (N,C,H,W).
    """
    if image.ndim != 4 or mask.ndim != 4 or mask.shape[1] != 1:
        raise ValueError(f"pyramid_fill needs image (N,C,H,W) and mask (N,1,H,W); got {tuple(image.shape)}, {tuple(mask.shape)}")
    if image.shape[0] != mask.shape[0] or image.shape[-2:] != mask.shape[-2:]:
        raise ValueError(f"image {tuple(image.shape)} and mask {tuple(mask.shape)} differ in batch or size")
    if int(smooth_iters) != smooth_iters or smooth_iters < 0:
        raise ValueError(f"smooth_iters must be an integer >= 0, got {smooth_iters!r}")
    if coarse_iters is not None and (int(coarse_iters) != coarse_iters or coarse_iters < smooth_iters):
        raise ValueError(f"coarse_iters must be None or an integer >= smooth_iters, got {coarse_iters!r}")
    if levels is not None and (isinstance(levels, bool) or int(levels) != levels or levels < 1):
        raise ValueError(f"levels must be None (down to 1x1) or an integer >= 1, got {levels!r}")
    check_over_relaxation(over_relaxation)
    exporting = is_exporting()
    if levels is None and exporting:
        levels = pyramid_levels(EXPORT_MAX_SIDE)
    halve = _halve_for_export if exporting else _halve
    hole = mask > 0.5
    weight = (~hole).to(image.dtype)
    color = torch.where(hole, torch.zeros_like(image), image)  # premultiplied by weight (0 or 1)
    pyramid = [(color, weight)]
    while (len(pyramid) < levels) if levels is not None else (max(pyramid[-1][1].shape[-2:]) > 1):
        pyramid.append(halve(*pyramid[-1]))
    c, w = pyramid[-1]
    # the smallest normal number of the dtype, not 1e-12 (0 in float16, which made every fill NaN)
    fill = torch.where(w > 0, c / w.clamp_min(torch.finfo(w.dtype).tiny), torch.full_like(c, empty_value))
    # the in-place sweeps (relax_in_place) in plain eager runs; the functional ones where a gradient flows through
    # the fill, or in a trace, export or compiled graph (which would record one picture's hole box as a constant)
    if exporting:
        neighbour_sum = _neighbour_sum_as_convolution(image)
    elif torch.compiler.is_compiling() or (torch.is_grad_enabled() and image.requires_grad):
        neighbour_sum = _neighbour_sum
    else:
        neighbour_sum = None
    for depth, (c, w) in reversed(list(enumerate(pyramid[:-1]))):  # depth 0 = the finest level
        fill = fill_level(fill, c, w, depth, smooth_iters, coarse_iters, neighbour_sum, over_relaxation)
    return torch.where(hole, fill, image)


def check_over_relaxation(over_relaxation: float | None) -> None:
    """``ValueError`` unless None or a number in (0, 2) (where SOR converges)."""
    if over_relaxation is not None and (isinstance(over_relaxation, bool) or not 0 < over_relaxation < 2):
        raise ValueError(f"over_relaxation must be None (Jacobi) or a number in (0, 2), got {over_relaxation!r}")


def checkerboard(x: Tensor) -> Tensor:
    """1 on the cells whose row + column is odd, 0 on the others, from ``x``'s size by tensor ops only (so
    a traced or exported graph follows the input's size).

    Shapes: x (N,C,h,w) -> (1,1,h,w).
    """
    ones = torch.ones_like(x[:1, :1], dtype=torch.float32)  # counts exactly far past bfloat16's 256
    index_sum = ones.cumsum(-1) + ones.cumsum(-2)
    return (index_sum - 2 * torch.floor(index_sum / 2)).to(x.dtype)


def fill_level(
    fill: Tensor,
    color: Tensor,
    weight: Tensor,
    depth: int,
    smooth_iters: int,
    coarse_iters: int | None,
    neighbour_sum,
    over_relaxation: float | None = None,
) -> Tensor:
    """One step up the pyramid: the coarser level's ``fill`` upsampled to this level (``depth`` 0 = the
    finest), each cell's known part put in, then :func:`relax`ed for ``smooth_iters`` sweeps (doubling per
    coarser level up to ``coarse_iters`` when set). ``color`` is premultiplied by ``weight``, the known
    share of each cell. A step of :func:`pyramid_fill`.

    Shapes: fill (N,C,h',w'), color (N,C,h,w), weight (N,1,h,w) -> (N,C,h,w).
    """
    sweeps = smooth_iters if coarse_iters is None else min(coarse_iters, smooth_iters * 2**depth)
    known = weight * (color / weight.clamp_min(torch.finfo(weight.dtype).tiny))  # own average x known share
    fill = F.interpolate(fill, size=color.shape[-2:], mode="bilinear", align_corners=False)
    fill = known + (1 - weight) * fill
    return relax(fill, known, 0.25 * (1 - weight), sweeps, neighbour_sum, over_relaxation)


def relax(
    fill: Tensor, known: Tensor, free: Tensor, sweeps: int, neighbour_sum, over_relaxation: float | None = None
) -> Tensor:
    """``sweeps`` relaxation sweeps of one pyramid level's equation ``fill = known + free * neighbour_sum(fill)``
    (a cell keeps its known part and takes the rest from its 4 neighbours).

    ``over_relaxation`` None: Jacobi (every cell from the previous sweep's neighbours). A factor w:
    red-black SOR, each colour of the :func:`checkerboard` in turn moved ``w`` times its Gauss-Seidel step.
    ``neighbour_sum(fill)`` is the sum of the 4 neighbours (a depthwise convolution in exported graphs).

    ``neighbour_sum`` None: the same sweeps by :func:`relax_in_place` (eager mode only; its precondition,
    which :func:`fill_level` meets: ``fill`` equals ``known`` wherever ``free`` is 0).

    Shapes: fill, known (N,C,h,w); free (N,1,h,w) -> (N,C,h,w).
    """
    if neighbour_sum is None:
        return relax_in_place(fill, known, free, sweeps, over_relaxation)
    if over_relaxation is None:
        for _ in range(sweeps):
            fill = torch.addcmul(known, free, neighbour_sum(fill))
        return fill
    odd = checkerboard(fill)
    steps = (over_relaxation * (1 - odd), over_relaxation * odd)
    for _ in range(sweeps):
        for step in steps:
            fill = torch.addcmul(fill, step, torch.addcmul(known, free, neighbour_sum(fill)) - fill)
    return fill


def relax_in_place(
    fill: Tensor, known: Tensor, free: Tensor, sweeps: int, over_relaxation: float | None = None
) -> Tensor:
    """:func:`relax`'s sweeps (the same values up to float rounding) in 5 tensor ops per update instead of 7
    and no indexing: at the coarse pyramid levels each op costs its overhead, not its arithmetic, and at
    the fine ones its memory traffic (a 256 px ``sor8`` fill: about 24 -> 12 ms on 2 CPU cores).

    On CPU only the hole's bounding box at this level is relaxed, with the ring of cells around it that
    its neighbour sums read: the cells outside have nothing to move (``free`` = 0 there). A 64x64 hole in a
    256 px picture: 12 -> 8.6 ms. On other devices the whole level (finding the box would cost a sync).
    Precondition (as :func:`fill_level` leaves it): ``fill`` equals ``known`` wherever ``free`` is 0; the
    functional sweeps would move such cells to ``known``, these leave them as they are. Not for
    ``torch.func.vmap`` (the box depends on the data).

    Shapes: fill, known (N,C,h,w); free (N,1,h,w) -> (N,C,h,w).
    """
    if fill.device.type != "cpu":
        return _relax_buffered(fill, known, free, sweeps, over_relaxation)
    box = _hole_box(free)
    if box is None:  # no hole cell at this level
        return fill.clone()
    rows, cols = box
    if (rows.stop - rows.start, cols.stop - cols.start) == tuple(fill.shape[-2:]):
        return _relax_buffered(fill, known, free, sweeps, over_relaxation)
    out = fill.clone()
    out[..., rows, cols] = _relax_buffered(
        fill[..., rows, cols],
        known[..., rows, cols],
        free[..., rows, cols],
        sweeps,
        over_relaxation,
        odd_origin=(rows.start + cols.start) % 2 == 1,
    )
    return out


def _hole_box(free: Tensor) -> tuple[slice, slice] | None:
    """Rows and columns of the cells with ``free`` > 0 in any picture, grown by one cell on each side (within
    the level); None when there are none. Shapes: free (N,1,h,w)."""
    hole = free.amax(dim=(0, 1)) > 0
    rows, cols = hole.any(1).nonzero().flatten(), hole.any(0).nonzero().flatten()
    if rows.numel() == 0:
        return None
    h, w = hole.shape
    return (
        slice(max(int(rows[0]) - 1, 0), min(int(rows[-1]) + 2, h)),
        slice(max(int(cols[0]) - 1, 0), min(int(cols[-1]) + 2, w)),
    )


def _relax_buffered(
    fill: Tensor,
    known: Tensor,
    free: Tensor,
    sweeps: int,
    over_relaxation: float | None = None,
    odd_origin: bool = False,
) -> Tensor:
    """The sweeps of :func:`relax_in_place` over the whole of ``fill``; ``odd_origin``: ``fill`` is a crop whose
    first cell has an odd row + column in the level, so the checkerboard's colours swap.

    The fill lives inside a zero-bordered buffer whose four shifted views (built once) are the neighbours;
    the replicated border is folded into the per-cell factors (a border cell is its own neighbour outside
    the picture, counted ``outside`` times), and each update is ``moved + keep * fill + pull * neighbours``
    with those factors computed once per level. In-place writes: not for autograd or traced graphs.

    Shapes: fill, known (N,C,h,w); free (N,1,h,w) -> (N,C,h,w).
    """
    n, c, h, w = fill.shape
    buffer = fill.new_zeros(n, c, h + 2, w + 2)
    inner = buffer[..., 1:-1, 1:-1]
    inner.copy_(fill)
    up, down, left, right = buffer[..., :-2, 1:-1], buffer[..., 2:, 1:-1], buffer[..., 1:-1, :-2], buffer[..., 1:-1, 2:]
    outside = torch.zeros(h, w, dtype=fill.dtype, device=fill.device)
    outside[0] += 1
    outside[-1] += 1
    outside[:, 0] += 1
    outside[:, -1] += 1
    if over_relaxation is None:  # Jacobi: every cell at once, from the previous sweep's neighbours
        updates = [(known, free * outside, free)]
    else:  # red-black SOR: fill + step * (known + free * neighbours - fill), one colour at a time
        odd = checkerboard(fill)
        if odd_origin:
            odd = 1 - odd
        updates = []
        for colour in (1 - odd, odd):
            step = over_relaxation * colour
            pull = step * free
            updates.append((step * known, 1 - step + pull * outside, pull))
    neighbours, kept = torch.empty_like(fill), torch.empty_like(fill)
    for _ in range(sweeps):
        for moved, keep, pull in updates:
            torch.add(up, down, out=neighbours)
            neighbours.add_(left).add_(right)
            torch.addcmul(moved, keep, inner, out=kept)
            torch.addcmul(kept, pull, neighbours, out=inner)
    return inner.clone()


#: Prior values are kept this far inside (0, 1), so their logit is finite.
PRIOR_EPS = 1e-3


def prefill_prior(x: Tensor, **fill_options) -> Tensor:
    """The classical first guess of a prefill generator: :func:`pyramid_fill` of the known pixels of
    the network input ``x`` = ``cat([known, mask])`` (see ``models.base.masked_input``), clamped to
    ``[PRIOR_EPS, 1 - PRIOR_EPS]`` so that :func:`gated_correction` can work in logit space.
    ``fill_options``: :func:`pyramid_fill`'s ``smooth_iters``, ``coarse_iters``, ``over_relaxation``
    (none: 8 Jacobi sweeps at every level).

    Shapes: x (N,4,H,W) -> (N,3,H,W).
    """
    return pyramid_fill(x[:, :3], x[:, 3:4], **fill_options).clamp(PRIOR_EPS, 1 - PRIOR_EPS)


def gated_correction(logits: Tensor, prior: Tensor, gate: Tensor) -> Tensor:
    """``sigmoid(gate * logits + logit(prior))``: a learned correction of the prior in logit space,
    scaled by a gate (a scalar parameter that starts at 0, so an untrained model returns the prior).

    Shapes: logits, prior (N,3,H,W), gate () -> (N,3,H,W) in (0, 1).
    """
    return torch.sigmoid(gate * logits + torch.logit(prior))


class PyramidFill(nn.Module):
    """Module form of :func:`pyramid_fill` (no parameters).

    Shapes: image (N,C,H,W), mask (N,1,H,W) -> (N,C,H,W).
    """

    def __init__(self, smooth_iters: int = 8, empty_value: float = 0.5, over_relaxation: float | None = None) -> None:
        super().__init__()
        check_over_relaxation(over_relaxation)
        self.smooth_iters = smooth_iters
        self.empty_value = float(empty_value)
        self.over_relaxation = over_relaxation

    def forward(self, image: Tensor, mask: Tensor) -> Tensor:
        image = check_image(image, "image")
        mask = check_mask(mask, image)
        return pyramid_fill(image, mask, self.smooth_iters, self.empty_value, over_relaxation=self.over_relaxation)
