"""DiffAugment: parity with the paper's reference code, shared parameters, gradients, no clamping."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from inpaintlab.training.diffaugment import POLICIES, DiffAugment, diff_augment

# --- the paper's reference implementation (mit-han-lab/data-efficient-gans, DiffAugment_pytorch.py),
# copied verbatim except that every draw takes an explicit generator ---------------------------------


def ref_brightness(x, g):
    return x + (torch.rand(x.size(0), 1, 1, 1, generator=g, dtype=x.dtype) - 0.5)


def ref_saturation(x, g):
    x_mean = x.mean(dim=1, keepdim=True)
    return (x - x_mean) * (torch.rand(x.size(0), 1, 1, 1, generator=g, dtype=x.dtype) * 2) + x_mean


def ref_contrast(x, g):
    x_mean = x.mean(dim=[1, 2, 3], keepdim=True)
    return (x - x_mean) * (torch.rand(x.size(0), 1, 1, 1, generator=g, dtype=x.dtype) + 0.5) + x_mean


def ref_translation(x, g, ratio=0.125):
    shift_x, shift_y = int(x.size(2) * ratio + 0.5), int(x.size(3) * ratio + 0.5)
    translation_x = torch.randint(-shift_x, shift_x + 1, size=[x.size(0), 1, 1], generator=g)
    translation_y = torch.randint(-shift_y, shift_y + 1, size=[x.size(0), 1, 1], generator=g)
    grid_batch, grid_x, grid_y = torch.meshgrid(
        torch.arange(x.size(0)), torch.arange(x.size(2)), torch.arange(x.size(3)), indexing="ij"
    )
    grid_x = torch.clamp(grid_x + translation_x + 1, 0, x.size(2) + 1)
    grid_y = torch.clamp(grid_y + translation_y + 1, 0, x.size(3) + 1)
    x_pad = F.pad(x, [1, 1, 1, 1, 0, 0, 0, 0])
    return x_pad.permute(0, 2, 3, 1).contiguous()[grid_batch, grid_x, grid_y].permute(0, 3, 1, 2)


def ref_cutout(x, g, ratio=0.5):
    cutout_size = int(x.size(2) * ratio + 0.5), int(x.size(3) * ratio + 0.5)
    offset_x = torch.randint(0, x.size(2) + (1 - cutout_size[0] % 2), size=[x.size(0), 1, 1], generator=g)
    offset_y = torch.randint(0, x.size(3) + (1 - cutout_size[1] % 2), size=[x.size(0), 1, 1], generator=g)
    grid_batch, grid_x, grid_y = torch.meshgrid(
        torch.arange(x.size(0)), torch.arange(cutout_size[0]), torch.arange(cutout_size[1]), indexing="ij"
    )
    grid_x = torch.clamp(grid_x + offset_x - cutout_size[0] // 2, min=0, max=x.size(2) - 1)
    grid_y = torch.clamp(grid_y + offset_y - cutout_size[1] // 2, min=0, max=x.size(3) - 1)
    mask = torch.ones(x.size(0), x.size(2), x.size(3), dtype=x.dtype)
    mask[grid_batch, grid_x, grid_y] = 0
    return x * mask.unsqueeze(1)


REF_FNS = {
    "color": [ref_brightness, ref_saturation, ref_contrast],
    "translation": [ref_translation],
    "cutout": [ref_cutout],
}


def ref_diff_augment(x, policy, g):
    for name in policy.split(","):
        for fn in REF_FNS[name]:
            x = fn(x, g)
    return x


@pytest.mark.parametrize("policy", ["color", "translation", "cutout", "color,translation,cutout"])
@pytest.mark.parametrize("size", [(8, 8), (9, 12)])
def test_matches_paper_reference_with_same_generator(policy, size):
    x = torch.rand(5, 3, *size, generator=torch.Generator().manual_seed(1))
    ours = DiffAugment(policy)(x, generator=torch.Generator().manual_seed(7))
    ref = ref_diff_augment(x, policy, torch.Generator().manual_seed(7))
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-6)


def test_same_params_for_every_batch():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 3, 16, 16, generator=g)
    y = torch.rand(4, 3, 16, 16, generator=g)
    aug = DiffAugment()
    a, b = aug(x, x.clone(), generator=g)
    assert torch.equal(a, b)
    x_aug, y_aug = aug(x, y, generator=g)
    assert torch.equal(aug.apply(x, aug.last_params), x_aug)
    assert torch.equal(aug.apply(y, aug.last_params), y_aug)
    # and the recorded draw is what the paper's code computes from the same stream
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    aug(x, y, generator=g1)
    torch.testing.assert_close(aug.apply(y, aug.last_params), ref_diff_augment(y, aug.policy, g2), rtol=0, atol=1e-6)


def test_params_differ_between_samples():
    aug = DiffAugment("translation")
    aug(torch.rand(16, 3, 16, 16), generator=torch.Generator().manual_seed(0))
    shifts = aug.last_params[0]["shift_x"]
    assert shifts.unique().numel() > 1
    assert shifts.abs().max() <= 2  # round(16 / 8)


def test_seeded_reproducibility_and_seed_dependence():
    x = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    a = diff_augment(x, generator=torch.Generator().manual_seed(5))
    b = diff_augment(x, generator=torch.Generator().manual_seed(5))
    c = diff_augment(x, generator=torch.Generator().manual_seed(6))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


@pytest.mark.parametrize("policy", ["color", "translation", "cutout", "color,translation,cutout"])
def test_gradient_reaches_generator_output(policy):
    generator_net = torch.nn.Conv2d(3, 3, 3, padding=1)
    z = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    fake = generator_net(z)
    out = DiffAugment(policy)(fake, generator=torch.Generator().manual_seed(0))
    out.square().sum().backward()
    assert generator_net.weight.grad is not None
    assert generator_net.weight.grad.abs().sum() > 0


def test_translation_gradient_is_exact_shift():
    aug = DiffAugment("translation")
    x = torch.rand(2, 1, 8, 8, requires_grad=True)
    out = aug(x, generator=torch.Generator().manual_seed(2))
    out.sum().backward()
    # every output pixel reads one input pixel or zero: gradients are 0/1, ones = pixels still in view
    assert set(x.grad.unique().tolist()) <= {0.0, 1.0}
    assert x.grad.sum() == (out != 0).sum()


def test_brightness_not_clamped_and_gradient_above_one():
    aug = DiffAugment("color")
    x = torch.full((2, 3, 4, 4), 0.95, requires_grad=True)
    params = aug.sample_params(x.shape, torch.Generator().manual_seed(0))
    params[0]["brightness_factor"] = torch.tensor([1.5, 1.5])  # shift +0.5
    params[1]["saturation_factor"] = torch.tensor([1.0, 1.0])  # identity
    params[2]["contrast_factor"] = torch.tensor([1.0, 1.0])  # identity
    out = aug.apply(x, params)
    torch.testing.assert_close(out, torch.full_like(out, 1.45))
    out.sum().backward()
    torch.testing.assert_close(x.grad, torch.ones_like(x))


def test_saturation_and_contrast_are_unclamped_linear_maps():
    aug = DiffAugment("color")
    x = torch.tensor([0.0, 0.5, 1.0]).view(1, 3, 1, 1).expand(1, 3, 2, 2).contiguous()
    params = aug.sample_params(x.shape, torch.Generator().manual_seed(0))
    params[0]["brightness_factor"] = torch.tensor([1.0])
    params[1]["saturation_factor"] = torch.tensor([2.0])
    params[2]["contrast_factor"] = torch.tensor([1.0])
    out = aug.apply(x, params)
    # channel mean 0.5: (x - 0.5) * 2 + 0.5 -> -0.5, 0.5, 1.5
    torch.testing.assert_close(out[0, :, 0, 0], torch.tensor([-0.5, 0.5, 1.5]))
    params[1]["saturation_factor"] = torch.tensor([1.0])
    params[2]["contrast_factor"] = torch.tensor([1.5])
    torch.testing.assert_close(aug.apply(x, params)[0, :, 0, 0], torch.tensor([-0.25, 0.5, 1.25]))


def test_p_zero_is_identity():
    x = torch.rand(3, 3, 8, 8)
    y = torch.rand(3, 3, 8, 8)
    a, b = DiffAugment(p=0.0)(x, y, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, x) and torch.equal(b, y)


def test_partial_p_skips_samples_per_primitive():
    aug = DiffAugment("translation", p=0.5)
    x = torch.rand(32, 3, 8, 8) + 1.0  # no zeros, so any shift is visible
    out = aug(x, generator=torch.Generator().manual_seed(0))
    applied = aug.last_params[0]["batch_prob"]
    shifted = (aug.last_params[0]["shift_x"] != 0) | (aug.last_params[0]["shift_y"] != 0)
    assert 0 < applied.sum() < 32
    assert torch.equal(out[~applied], x[~applied])
    changed = (out != x).flatten(1).any(1)
    assert torch.equal(changed, applied & shifted)


def test_empty_policy_is_identity():
    x = torch.rand(2, 3, 8, 8)
    assert torch.equal(DiffAugment("")(x), x)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_shapes_and_dtypes_kept(dtype):
    x = torch.rand(2, 4, 12, 10).to(dtype)
    a, b = DiffAugment(p=0.7)(x, x, generator=torch.Generator().manual_seed(0))
    assert a.shape == x.shape and a.dtype == dtype and b.dtype == dtype


def test_is_a_module_with_kornia_children():
    aug = DiffAugment("color,cutout")
    assert isinstance(aug, torch.nn.Module)
    assert len(aug.ops) == len(POLICIES["color"]) + len(POLICIES["cutout"])
    assert sum(p.numel() for p in aug.parameters()) == 0
    assert aug.state_dict() == {}  # nothing in a LightningModule's checkpoint


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="unknown entry 'flip'"):
        DiffAugment("color,flip")
    with pytest.raises(ValueError, match=r"p must be a probability in \[0, 1\]"):
        DiffAugment(p=1.5)
    aug = DiffAugment()
    with pytest.raises(ValueError, match="same N, H and W"):
        aug(torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 9))
    with pytest.raises(ValueError, match=r"must have shape \(N,C,H,W\)"):
        aug(torch.rand(3, 8, 8))
    with pytest.raises(TypeError, match="at least one batch"):
        aug()
    with pytest.raises(ValueError, match="params has 1 entries"):
        aug.apply(torch.rand(1, 3, 8, 8), [{}])


@pytest.mark.gpu
def test_gpu_matches_cpu_with_cpu_generator():
    x = torch.rand(4, 3, 16, 16, requires_grad=True)
    aug = DiffAugment(p=0.8)
    cpu = aug(x, generator=torch.Generator().manual_seed(0))
    xg = x.detach().cuda().requires_grad_()
    gpu = aug(xg, generator=torch.Generator().manual_seed(0))
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-5, atol=1e-5)
    gpu.sum().backward()
    assert xg.grad.abs().sum() > 0


def test_colour_ops_leave_extra_channels_alone_and_geometric_ops_move_them():
    g = torch.Generator().manual_seed(0)
    image, mask = torch.rand(4, 3, 16, 16, generator=g), (torch.rand(4, 1, 16, 16, generator=g) > 0.5).float()
    both = torch.cat([image, mask], 1)
    colour = DiffAugment("color")
    out = colour(both, generator=torch.Generator().manual_seed(1))
    assert torch.equal(out[:, 3:], mask)
    torch.testing.assert_close(out[:, :3], colour(image, generator=torch.Generator().manual_seed(1)))
    shift = DiffAugment("translation")
    out = shift(both, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(out[:, 3:], shift.apply(mask, shift.last_params))
    torch.testing.assert_close(out[:, :3], shift.apply(image, shift.last_params))
    everything = DiffAugment("color", color_channels=None)(both, generator=torch.Generator().manual_seed(1))
    assert not torch.equal(everything[:, 3:], mask)
    with pytest.raises(ValueError, match="color_channels"):
        DiffAugment("color", color_channels=0)
