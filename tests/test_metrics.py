"""Hole PSNR/SSIM/L1, the HoleMetrics accumulator, and the validation image grid."""

from __future__ import annotations

import math

import kornia
import pytest
import torch
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

from inpaintlab.metrics.grid import HOLE_COLOR, make_image_grid
from inpaintlab.metrics.hole import HoleMetrics, hole_metrics, l1_hole, psnr_hole, ssim_hole


def _batch(n: int = 2, size: int = 32, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    target = torch.rand(n, 3, size, size, generator=g)
    pred = (target + 0.2 * torch.randn(n, 3, size, size, generator=g)).clamp(0, 1)
    mask = torch.zeros(n, 1, size, size)
    for i in range(n):  # a different interior rectangle per image
        top, left = 8 + i, 6 + 2 * i
        mask[i, :, top : top + 12, left : left + 10] = 1.0
    return pred, target, mask


# --- hand-computed values --------------------------------------------------------------------------------


def test_l1_and_psnr_by_hand_on_2x2():
    target = torch.arange(12, dtype=torch.float32).reshape(1, 3, 2, 2) / 12
    pred = torch.zeros_like(target)
    mask = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])
    # hole pixels (0,0) and (1,1): values 4c/12 and (4c+3)/12 for channel c = 0, 1, 2
    l1 = (0 + 3 + 4 + 7 + 8 + 11) / 12 / (3 * 2)
    mse = (0 + 9 + 16 + 49 + 64 + 121) / 144 / (3 * 2)
    assert l1_hole(pred, target, mask).item() == pytest.approx(l1)  # 11/24
    assert l1 == pytest.approx(11 / 24)
    assert psnr_hole(pred, target, mask).item() == pytest.approx(10 * math.log10(1 / mse), rel=1e-6)


def test_mask_of_ones_equals_torchmetrics_full_image_metrics():
    pred, target, _ = _batch(3)
    ones = torch.ones(3, 1, 32, 32)
    got = hole_metrics(pred, target, ones)
    ref_psnr = peak_signal_noise_ratio(pred, target, data_range=1.0, reduction="none", dim=(1, 2, 3))
    ref_ssim = structural_similarity_index_measure(pred, target, data_range=1.0, reduction="none")
    torch.testing.assert_close(got["psnr_hole"], ref_psnr, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got["ssim_hole"], ref_ssim, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(got["l1_hole"], (pred - target).abs().mean(dim=(1, 2, 3)))


def test_ssim_hole_matches_kornia_ssim_map_averaged_over_the_hole():
    pred, target, mask = _batch(2)
    composited = torch.where(mask > 0.5, pred, target)
    ref_map = kornia.metrics.ssim(composited, target, window_size=11, max_val=1.0, eps=0.0)  # reflect padding
    hole = mask.expand_as(ref_map)
    ref = torch.stack([ref_map[i][hole[i] > 0.5].mean() for i in range(2)])
    torch.testing.assert_close(ssim_hole(pred, target, mask), ref, rtol=1e-4, atol=1e-5)


def test_only_hole_pixels_count():
    pred, target, mask = _batch(2)
    g = torch.Generator().manual_seed(1)
    # same hole, other known pixels
    other = torch.where(mask > 0.5, pred, torch.rand(pred.shape, generator=g))
    a, b = hole_metrics(pred, target, mask), hole_metrics(other, target, mask)
    for name in a:
        torch.testing.assert_close(a[name], b[name])
    exact = torch.where(mask > 0.5, target, pred)  # hole reproduced exactly, garbage outside
    perfect = hole_metrics(exact, target, mask)
    assert torch.all(perfect["l1_hole"] == 0)
    assert torch.all(torch.isinf(perfect["psnr_hole"]))
    torch.testing.assert_close(perfect["ssim_hole"], torch.ones(2))


def test_empty_hole_gives_nan_per_image_and_is_skipped_by_the_mean():
    pred, target, mask = _batch(3)
    mask[1] = 0
    per_image = hole_metrics(pred, target, mask)
    mean = hole_metrics(pred, target, mask, reduction="mean")
    for name, values in per_image.items():
        assert torch.isnan(values[1]) and torch.isfinite(values[[0, 2]]).all()
        torch.testing.assert_close(mean[name], values[[0, 2]].mean())


def test_l1_hole_gradient_flows_only_through_hole_pixels():
    pred, target, mask = _batch(1)
    pred.requires_grad_(True)
    l1_hole(pred, target, mask).sum().backward()
    grad = pred.grad.abs().sum(dim=1, keepdim=True)
    assert torch.all(grad[mask == 0] == 0)
    assert torch.all(grad[mask == 1] > 0)


def test_input_errors_name_the_argument():
    pred, target, mask = _batch(2)
    with pytest.raises(ValueError, match="mask must have shape"):
        hole_metrics(pred, target, mask[:, 0])
    with pytest.raises(ValueError, match="pred shape .* does not match target"):
        hole_metrics(pred[:, :, :16], target, mask)
    with pytest.raises(ValueError, match="mask shape .* does not match image"):
        hole_metrics(pred, target, mask[:1])
    with pytest.raises(ValueError, match="at least 6x6"):
        ssim_hole(pred[..., :4, :4], target[..., :4, :4], mask[..., :4, :4])
    with pytest.raises(ValueError, match="reduction must be"):
        hole_metrics(pred, target, mask, reduction="sum")
    with pytest.raises(TypeError, match="pred must be a torch.Tensor"):
        hole_metrics(pred.numpy(), target, mask)


# --- HoleMetrics ----------------------------------------------------------------------------------------


def test_hole_metrics_per_kind_bookkeeping():
    pred, target, mask = _batch(4)
    kinds = ["center", "blocks", "center", "blocks"]
    metric = HoleMetrics()
    metric.update(pred[:2], target[:2], mask[:2], kinds[:2])
    metric.update(pred[2:], target[2:], mask[2:], kinds[2:])
    out = metric.compute()
    per_image = hole_metrics(pred, target, mask)
    assert set(out) == {f"{m}{k}" for m in per_image for k in ("", "/center", "/blocks")}  # no "region"
    for name, values in per_image.items():
        v = values.double()
        torch.testing.assert_close(out[name], v.mean())
        torch.testing.assert_close(out[f"{name}/center"], v[[0, 2]].mean())
        torch.testing.assert_close(out[f"{name}/blocks"], v[[1, 3]].mean())


def test_hole_metrics_skips_empty_masks_and_images_without_kind():
    pred, target, mask = _batch(3)
    mask[2] = 0
    metric = HoleMetrics(kinds=("center", "region"))
    metric.update(pred[:2], target[:2], mask[:2], None)  # overall only
    metric.update(pred[2:], target[2:], mask[2:], ["region"])  # empty hole: skipped everywhere
    out = metric.compute()
    assert set(out) == {"psnr_hole", "ssim_hole", "l1_hole"}
    per_image = hole_metrics(pred[:2], target[:2], mask[:2], reduction="mean")
    for name, value in per_image.items():
        assert torch.isfinite(out[name])
        torch.testing.assert_close(out[name], value.double())


@pytest.mark.filterwarnings("ignore:The ``compute`` method of metric HoleMetrics was called before")
def test_hole_metrics_ddp_style_merge_equals_single_process():
    pred, target, mask = _batch(6, seed=3)
    kinds = ["center", "blocks", "region", "center", "region", "region"]
    whole = HoleMetrics()
    whole.update(pred, target, mask, kinds)
    rank0, rank1 = HoleMetrics(), HoleMetrics()
    rank0.update(pred[:3], target[:3], mask[:3], kinds[:3])
    rank1.update(pred[3:], target[3:], mask[3:], kinds[3:])
    # what dist_reduce_fx="sum" does across ranks: add every state
    merged = HoleMetrics()
    for name in ("total_sum", "total_count", "kind_sum", "kind_count"):
        setattr(merged, name, getattr(rank0, name) + getattr(rank1, name))
    rank0.merge_state(rank1)  # torchmetrics' own merge gives the same
    expected = whole.compute()
    for metric in (merged, rank0):
        got = metric.compute()
        assert got.keys() == expected.keys()
        for key in expected:
            torch.testing.assert_close(got[key], expected[key])


def test_hole_metrics_reset_and_kind_errors():
    pred, target, mask = _batch(2)
    metric = HoleMetrics()
    with pytest.raises(ValueError, match="unknown mask kinds \\['ring'\\]"):
        metric.update(pred, target, mask, ["center", "ring"])
    with pytest.raises(ValueError, match="one mask kind per image"):
        metric.update(pred, target, mask, ["center"])
    assert metric.total_count.item() == 0  # a rejected batch leaves no trace
    with pytest.raises(ValueError, match="must not repeat"):
        HoleMetrics(kinds=("center", "center"))
    with pytest.raises(TypeError, match="sequence of strings"):
        HoleMetrics(kinds="center")
    metric.update(pred, target, mask, ["center", "center"])
    metric.reset()
    assert metric.total_count.item() == 0 and metric.kind_count.sum().item() == 0


# --- image grid -----------------------------------------------------------------------------------------


def test_make_image_grid_layout_and_hole_colour():
    pred, target, mask = _batch(4, size=16)
    masked = target * (1 - mask)
    grid = make_image_grid(masked, pred, target, nrow=3, mask=mask, padding=2)
    assert grid.shape == (3, 3 * 18 + 2, 3 * 18 + 2)
    assert grid.min() >= 0 and grid.max() <= 1

    def tile(row: int, col: int) -> torch.Tensor:
        top, left = 2 + row * 18, 2 + col * 18
        return grid[:, top : top + 16, left : left + 16]

    for col in range(3):
        hole = mask[col, 0] > 0.5
        colour = torch.tensor(HOLE_COLOR).view(3, 1)
        torch.testing.assert_close(tile(0, col)[:, hole], colour.expand(3, int(hole.sum())))
        torch.testing.assert_close(tile(0, col)[:, ~hole], masked[col][:, ~hole])
        torch.testing.assert_close(tile(1, col), pred[col])
        torch.testing.assert_close(tile(2, col), target[col])


def test_make_image_grid_without_mask_and_errors():
    pred, target, mask = _batch(2, size=16)
    grid = make_image_grid(target * (1 - mask), pred, target, nrow=8, padding=0)
    assert grid.shape == (3, 48, 32)  # nrow larger than the batch: all samples, one per column
    torch.testing.assert_close(grid[:, :16, :16], target[0] * (1 - mask[0]))
    with pytest.raises(ValueError, match="nrow must be a positive int"):
        make_image_grid(pred, pred, target, nrow=0)
    with pytest.raises(ValueError, match="masked shape .* does not match output"):
        make_image_grid(pred[:1], pred, target)
    with pytest.raises(ValueError, match="hole_color must be 3 RGB"):
        make_image_grid(pred, pred, target, mask=mask, hole_color=(1.0, 0.0))


@pytest.mark.gpu
def test_hole_metrics_on_cuda_match_cpu():
    pred, target, mask = _batch(4)
    kinds = ["center", "blocks", "center", "region"]
    cpu, gpu = HoleMetrics(), HoleMetrics().to("cuda")
    cpu.update(pred, target, mask, kinds)
    gpu.update(pred.cuda(), target.cuda(), mask.cuda(), kinds)
    expected = cpu.compute()
    got = gpu.compute()
    for key in expected:
        torch.testing.assert_close(got[key].cpu(), expected[key], rtol=1e-5, atol=1e-6)
