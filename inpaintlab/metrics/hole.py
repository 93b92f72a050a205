"""Reconstruction metrics restricted to the hole: PSNR, SSIM and L1.

Definitions (``hole = mask > 0.5``, pixels of one image, ``C = 3`` channels, data range 1):

- ``l1_hole   = sum(|pred - target| * hole) / (C * sum(hole))``
- ``psnr_hole = 10 * log10(1 / mse_hole)`` with ``mse_hole = sum((pred - target)^2 * hole) / (C * sum(hole))``
  (torchmetrics' PSNR formula applied to the hole pixels only; ``+inf`` where the hole is reproduced exactly,
  as in torchmetrics).
- ``ssim_hole = sum(ssim_map * hole) / (C * sum(hole))`` where ``ssim_map`` (N,C,H,W) is torchmetrics'
  ``structural_similarity_index_measure(..., data_range=1.0, return_full_image=True)`` (11x11 Gaussian
  window, sigma 1.5, reflect padding). It is averaged over the hole pixels themselves, not over the hole's
  bounding box: a bounding box would count known pixels (which are copied from the target and score ~1)
  and inflate the score for thin, scattered masks.

``pred`` is first composited into ``target`` (``mask * pred + (1 - mask) * target``), so the SSIM windows
that straddle the hole border see the true known pixels, as in the final inpainted image. L1 and PSNR only
read hole pixels, so compositing does not change them.

An image whose mask has no hole pixel has no defined hole metric: the per-image functions return NaN for
it and :class:`HoleMetrics` skips it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.functional.image import structural_similarity_index_measure

from inpaintlab._checks import check_image, check_mask, check_same_shape, composite

METRIC_NAMES: tuple[str, ...] = ("psnr_hole", "ssim_hole", "l1_hole")
DEFAULT_MASK_KINDS: tuple[str, ...] = ("center", "blocks", "region")
# torchmetrics' default Gaussian SSIM window: sigma 1.5 -> 11 px kernel -> 5 px reflect padding, which
# needs images larger than 5 px on each side.
_SSIM_MIN_SIDE = 6


def _check_inputs(pred: Tensor, target: Tensor, mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Validate and return float32 copies: pred, target (N,3,H,W), hole (N,1,H,W) of 0/1."""
    check_image(pred, "pred")
    check_image(target, "target")
    check_same_shape(pred, target, ("pred", "target"))
    check_mask(mask, target, "mask")
    hole = (mask > 0.5).float()
    return pred.float(), target.float(), hole


def _hole_mean(values: Tensor, hole: Tensor) -> Tensor:
    """Mean of ``values`` (N,C,H,W) over hole pixels and channels -> (N,); NaN where the hole is empty."""
    channels = values.shape[1]
    total = (values * hole).sum(dim=(1, 2, 3))
    count = hole.sum(dim=(1, 2, 3)) * channels
    return torch.where(count > 0, total / count.clamp_min(1), torch.full_like(total, float("nan")))


def l1_hole(pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """Mean absolute error over hole pixels, per image.

    Shapes: pred, target (N,3,H,W) in [0,1]; mask (N,1,H,W), 1 = hole -> (N,) (NaN where the mask is empty).
    """
    pred, target, hole = _check_inputs(pred, target, mask)
    return _hole_mean((pred - target).abs(), hole)


def psnr_hole(pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """PSNR (dB, data range 1) of the hole pixels, per image.

    Shapes: pred, target (N,3,H,W) in [0,1]; mask (N,1,H,W), 1 = hole -> (N,) (NaN where the mask is empty,
    ``+inf`` where the hole is reproduced exactly).
    """
    pred, target, hole = _check_inputs(pred, target, mask)
    return _psnr_from_mse(_hole_mean((pred - target) ** 2, hole))


def _psnr_from_mse(mse: Tensor) -> Tensor:
    # Same formula as torchmetrics' _psnr_compute with data_range 1 and base 10.
    return -10.0 * torch.log10(mse)


def ssim_hole(pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """SSIM map (torchmetrics, 11x11 Gaussian window) averaged over hole pixels, per image.

    ``pred`` is composited into ``target`` first (known pixels come from ``target``).

    Shapes: pred, target (N,3,H,W) in [0,1], H and W at least 6; mask (N,1,H,W), 1 = hole -> (N,)
    (NaN where the mask is empty).
    """
    pred, target, hole = _check_inputs(pred, target, mask)
    return _ssim_hole(composite(pred, target, hole), target, hole)


def _ssim_hole(pred: Tensor, target: Tensor, hole: Tensor) -> Tensor:
    height, width = pred.shape[-2:]
    if min(height, width) < _SSIM_MIN_SIDE:
        raise ValueError(
            f"ssim_hole needs images of at least {_SSIM_MIN_SIDE}x{_SSIM_MIN_SIDE} pixels (SSIM uses an "
            f"11x11 Gaussian window with reflect padding), got pred of shape {tuple(pred.shape)}; "
            "evaluate on larger images"
        )
    with torch.autocast(device_type=pred.device.type, enabled=False):
        _, ssim_map = structural_similarity_index_measure(
            pred, target, data_range=1.0, reduction="none", return_full_image=True
        )
    return _hole_mean(ssim_map, hole)


def hole_metrics(
    pred: Tensor,
    target: Tensor,
    mask: Tensor,
    reduction: Literal["none", "mean"] = "none",
) -> dict[str, Tensor]:
    """PSNR, SSIM and L1 of the hole (see the module docstring for the exact definitions).

    Args:
        pred: model output (N,3,H,W) in [0,1]; it is composited into ``target`` before SSIM.
        target: ground truth (N,3,H,W) in [0,1]; H and W at least 6.
        mask: (N,1,H,W), 1 = hole.
        reduction: ``"none"``: per-image values (N,), NaN for images with an empty hole;
            ``"mean"``: mean over the images that have a hole (scalar; NaN only if none has one).

    Returns:
        ``{"psnr_hole": ..., "ssim_hole": ..., "l1_hole": ...}``.
    """
    if reduction not in ("none", "mean"):
        raise ValueError(f"reduction must be 'none' or 'mean', got {reduction!r}")
    pred, target, hole = _check_inputs(pred, target, mask)
    diff = pred - target
    per_image = {
        "psnr_hole": _psnr_from_mse(_hole_mean(diff**2, hole)),
        "ssim_hole": _ssim_hole(composite(pred, target, hole), target, hole),
        "l1_hole": _hole_mean(diff.abs(), hole),
    }
    if reduction == "none":
        return per_image
    valid = hole.flatten(1).any(dim=1)
    return {name: values[valid].mean() for name, values in per_image.items()}


class HoleMetrics(Metric):
    """Accumulates :func:`hole_metrics` over an epoch, overall and per mask kind.

    ``update(pred, target, mask, kinds)`` adds each image's PSNR/SSIM/L1 to running sums and counts (one
    row per mask kind plus an overall row); ``kinds`` names each image's mask kind (``None``: the images
    count only towards the overall values). Images with an empty hole are skipped. All states are sums
    (``dist_reduce_fx="sum"``), so under DDP the ranks' states add up to the states of one process that saw
    every image, and ``compute()`` gives the same numbers on every rank.

    ``compute()`` returns the mean over images (each image weighs the same, whatever its hole size)::

        {"psnr_hole": ..., "ssim_hole": ..., "l1_hole": ...,
         "psnr_hole/center": ..., "ssim_hole/center": ..., "l1_hole/center": ..., ...}

    with per-kind entries only for the kinds that received at least one image. If no image had a hole the
    overall values are NaN. A single image whose hole is reproduced exactly has PSNR ``+inf`` and makes the
    PSNR mean ``+inf``.

    Args:
        kinds: the mask kinds to track (names used in ``update``'s ``kinds``).
        **kwargs: passed to :class:`torchmetrics.Metric` (``sync_on_compute``, ``process_group``, ...).

    Example:
        >>> metric = HoleMetrics()
        >>> metric.update(pred, target, mask, kinds=["center", "blocks"])  # doctest: +SKIP
        >>> metric.compute()["psnr_hole/center"]  # doctest: +SKIP
    """

    is_differentiable = False
    full_state_update = False

    def __init__(self, kinds: Sequence[str] = DEFAULT_MASK_KINDS, **kwargs) -> None:
        super().__init__(**kwargs)
        if isinstance(kinds, str) or not all(isinstance(k, str) for k in kinds):
            raise TypeError(
                f"kinds must be a sequence of strings such as ('center', 'blocks'), got {kinds!r}"
            )
        if len(set(kinds)) != len(kinds):
            raise ValueError(f"kinds must not repeat a name, got {tuple(kinds)}")
        self.kinds: tuple[str, ...] = tuple(kinds)
        self._kind_index = {kind: i for i, kind in enumerate(self.kinds)}
        n_metrics = len(METRIC_NAMES)
        # float64: sums over many images keep full precision. Row order of the sums: METRIC_NAMES.
        self.add_state("total_sum", torch.zeros(n_metrics, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("total_count", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        n_kinds = len(self.kinds)
        self.add_state("kind_sum", torch.zeros(n_kinds, n_metrics, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("kind_count", torch.zeros(n_kinds, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, pred: Tensor, target: Tensor, mask: Tensor, kinds: list[str] | None = None) -> None:
        """Add a batch. Shapes: pred, target (N,3,H,W); mask (N,1,H,W); kinds: N names or None."""
        values = hole_metrics(pred, target, mask)
        n_images = pred.shape[0]
        index = None
        if kinds is not None:
            if isinstance(kinds, str) or len(kinds) != n_images:
                raise ValueError(
                    f"kinds must list one mask kind per image ({n_images} names), got {kinds!r}; "
                    "pass kinds=None to count the images only towards the overall values"
                )
            unknown = sorted({k for k in kinds if k not in self._kind_index})
            if unknown:
                raise ValueError(
                    f"unknown mask kinds {unknown}; this HoleMetrics tracks {list(self.kinds)}; "
                    "add them with HoleMetrics(kinds=...)"
                )
            index = torch.tensor([self._kind_index[k] for k in kinds], device=self.kind_sum.device)
        per_image = torch.stack([values[name] for name in METRIC_NAMES], dim=1).to(torch.float64)  # (N, 3)
        valid = (mask > 0.5).flatten(1).any(dim=1)
        valid_f = valid.to(torch.float64)
        # Skip images without a hole: their NaNs become zeros that their zero count does not weigh.
        per_image = torch.where(valid[:, None], per_image, torch.zeros_like(per_image))
        self.total_sum += per_image.sum(dim=0)
        self.total_count += valid_f.sum()
        if index is not None:
            self.kind_sum.index_add_(0, index, per_image)
            self.kind_count.index_add_(0, index, valid_f)

    def compute(self) -> dict[str, Tensor]:
        """Means over images: overall, and per kind for the kinds seen."""
        out = {}
        overall = self.total_sum / self.total_count  # NaN when no image had a hole
        for j, name in enumerate(METRIC_NAMES):
            out[name] = overall[j]
        for i, kind in enumerate(self.kinds):
            if self.kind_count[i] > 0:
                means = self.kind_sum[i] / self.kind_count[i]
                for j, name in enumerate(METRIC_NAMES):
                    out[f"{name}/{kind}"] = means[j]
        return out
