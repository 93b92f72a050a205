"""Losses: hand-computed values on tiny tensors, formulas, errors, the frozen feature network."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F
from torchmetrics.functional.image import peak_signal_noise_ratio as psnr

from inpaintlab import losses
from inpaintlab.losses import (
    AdversarialLoss,
    FeatureMatchingLoss,
    FeatureNetwork,
    PSNR_FLOOR_MSE,
    LossWeights,
    PerceptualLoss,
    ReconstructionLoss,
    StyleLoss,
    TotalVariationLoss,
    discriminator_loss,
    feature_matching_loss,
    generator_loss,
    gram_matrix,
    masked_reconstruction_loss,
    perceptual_loss,
    style_loss,
    total_variation_loss,
)

TINY_NET = "test_efficientnet"  # 82k parameters, features_only, ImageNet mean/std


# --- reconstruction -----------------------------------------------------------------------------


def test_reconstruction_hand_computed_2x2():
    pred = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    target = torch.tensor([[[[0.0, 0.0], [0.0, 0.0]]]])
    mask = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])  # hole = top-left pixel
    # hole term: |1| / 4 = 0.25; valid term: (2 + 3 + 4) / 4 = 2.25 -> 6 * 0.25 + 1 * 2.25 = 3.75
    loss = masked_reconstruction_loss(pred, target, mask)
    assert loss.item() == pytest.approx(3.75)
    # l2: hole 1/4, valid (4 + 9 + 16)/4 = 7.25
    loss = masked_reconstruction_loss(pred, target, mask, hole_weight=2.0, valid_weight=0.5, kind="l2")
    assert loss.item() == pytest.approx(2 * 0.25 + 0.5 * 7.25)


def test_reconstruction_hole_error_scaled_by_hole_weight():
    g = torch.Generator().manual_seed(0)
    target = torch.rand(2, 3, 8, 8, generator=g)
    mask = (torch.rand(2, 1, 8, 8, generator=g) > 0.5).float()
    pred = target + mask * 0.3  # error only inside the hole
    base = masked_reconstruction_loss(pred, target, mask, hole_weight=1.0, valid_weight=1.0)
    scaled = masked_reconstruction_loss(pred, target, mask, hole_weight=6.0, valid_weight=1.0)
    torch.testing.assert_close(scaled, 6 * base)
    expected = 0.3 * mask.expand_as(pred).sum() / pred.numel()  # mean over ALL elements
    torch.testing.assert_close(base, expected)
    assert masked_reconstruction_loss(pred, target, mask, hole_weight=0.0).item() == pytest.approx(0.0, abs=1e-7)


def test_reconstruction_module_and_gradient():
    pred = torch.rand(2, 3, 4, 4, requires_grad=True)
    target = torch.rand(2, 3, 4, 4)
    mask = torch.ones(2, 1, 4, 4)
    loss = ReconstructionLoss(hole_weight=2.0, valid_weight=1.0, kind="l2")(pred, target, mask)
    torch.testing.assert_close(loss, 2 * F.mse_loss(pred, target))
    loss.backward()
    torch.testing.assert_close(pred.grad, 2 * 2 * (pred - target).detach() / pred.numel())


def test_psnr_kind_is_minus_the_mean_hole_psnr():
    """kind="psnr": hole term = -mean over images of the hole PSNR (torchmetrics' formula), valid term the
    same over the known pixels; an exact image is capped by PSNR_FLOOR_MSE, an image without a hole pixel
    does not count."""
    g = torch.Generator().manual_seed(0)
    target, pred = torch.rand(3, 3, 16, 16, generator=g), torch.rand(3, 3, 16, 16, generator=g)
    mask = (torch.rand(3, 1, 16, 16, generator=g) > 0.6).float()
    floor = PSNR_FLOOR_MSE
    mse_hole = ((pred - target) ** 2 * mask).flatten(1).sum(1) / (3 * mask.flatten(1).sum(1))
    mse_valid = ((pred - target) ** 2 * (1 - mask)).flatten(1).sum(1) / (3 * (1 - mask).flatten(1).sum(1))
    expected_hole = (10 * torch.log10(mse_hole + floor)).mean()
    expected_valid = (10 * torch.log10(mse_valid + floor)).mean()
    loss = masked_reconstruction_loss(pred, target, mask, hole_weight=2.0, valid_weight=0.5, kind="psnr")
    torch.testing.assert_close(loss, 2.0 * expected_hole + 0.5 * expected_valid)
    # against torchmetrics' PSNR of the hole pixels (up to the floor)
    hole = mask[:, 0] > 0
    reference = torch.stack([psnr(pred[i][:, hole[i]], target[i][:, hole[i]], data_range=1.0) for i in range(3)])
    only_hole = masked_reconstruction_loss(pred, target, mask, hole_weight=1.0, valid_weight=0.0, kind="psnr")
    assert abs(float(only_hole) + float(reference.mean())) < 0.01
    exact = masked_reconstruction_loss(target, target, mask, hole_weight=1.0, valid_weight=0.0, kind="psnr")
    torch.testing.assert_close(exact, torch.tensor(10 * math.log10(floor)))
    pred.requires_grad_()
    empty = masked_reconstruction_loss(pred, target, torch.zeros_like(mask), hole_weight=1.0, valid_weight=0.0, kind="psnr")
    empty.backward()
    assert torch.count_nonzero(pred.grad) == 0
    partly = mask.clone()
    partly[1] = 0  # the second picture has no hole: the mean runs over the other two
    expected = (10 * torch.log10(mse_hole[[0, 2]] + floor)).mean()
    torch.testing.assert_close(
        masked_reconstruction_loss(pred, target, partly, hole_weight=1.0, valid_weight=0.0, kind="psnr"), expected
    )
    # bfloat16 inputs (a bf16-mixed run) give the float32 value within bfloat16's rounding of the inputs
    low = masked_reconstruction_loss(pred.detach().bfloat16(), target.bfloat16(), mask.bfloat16(), hole_weight=1.0, valid_weight=0.0, kind="psnr")
    assert low.dtype == torch.float32 and abs(float(low) - float(only_hole)) < 0.05
    # ReconstructionLoss is the same loss
    torch.testing.assert_close(ReconstructionLoss(1.0, 0.0, kind="psnr")(target, target, mask), exact)


def test_reconstruction_errors():
    x = torch.rand(1, 3, 4, 4)
    with pytest.raises(ValueError, match="pred shape .* does not match target shape"):
        masked_reconstruction_loss(x, torch.rand(1, 3, 4, 5), torch.ones(1, 1, 4, 4))
    with pytest.raises(ValueError, match="mask shape .* does not match image shape"):
        masked_reconstruction_loss(x, x, torch.ones(1, 1, 2, 2))
    with pytest.raises(ValueError, match=r"kind must be one of \['l1', 'l2', 'psnr'\], got 'huber'"):
        masked_reconstruction_loss(x, x, torch.ones(1, 1, 4, 4), kind="huber")
    with pytest.raises(ValueError, match="kind must be one of"):
        ReconstructionLoss(kind="l3")


# --- adversarial --------------------------------------------------------------------------------

REAL = torch.tensor([2.0, -0.5, 0.3, 1.5])
FAKE = torch.tensor([-1.0, 0.8, -2.0, 0.1])


def test_hinge_against_formula():
    d = discriminator_loss(REAL, FAKE, kind="hinge")
    expected_d = torch.clamp(1 - REAL, min=0).mean() + torch.clamp(1 + FAKE, min=0).mean()
    # by hand: relu(1-r) = [0, 1.5, 0.7, 0] -> 0.55; relu(1+f) = [0, 1.8, 0, 1.1] -> 0.725
    assert d.item() == pytest.approx(0.55 + 0.725)
    torch.testing.assert_close(d, expected_d)
    assert generator_loss(FAKE, kind="hinge").item() == pytest.approx(-FAKE.mean().item())


def test_lsgan_against_formula():
    d = discriminator_loss(REAL, FAKE, kind="lsgan")
    torch.testing.assert_close(d, ((REAL - 1) ** 2).mean() + (FAKE**2).mean())
    torch.testing.assert_close(generator_loss(FAKE, kind="lsgan"), ((FAKE - 1) ** 2).mean())


def test_vanilla_matches_bce_on_sigmoid():
    d = discriminator_loss(REAL, FAKE, kind="vanilla")
    expected = F.binary_cross_entropy(torch.sigmoid(REAL), torch.ones(4)) + F.binary_cross_entropy(
        torch.sigmoid(FAKE), torch.zeros(4)
    )
    torch.testing.assert_close(d, expected)
    g = generator_loss(FAKE, kind="vanilla")
    torch.testing.assert_close(g, F.binary_cross_entropy(torch.sigmoid(FAKE), torch.ones(4)))


def test_vanilla_is_stable_for_huge_logits():
    real = torch.tensor([200.0, -200.0], requires_grad=True)
    fake = torch.tensor([-200.0, 200.0], requires_grad=True)
    d = discriminator_loss(real, fake, kind="vanilla")
    # softplus(-200) ~ 0, softplus(200) = 200: mean over each -> 100 + 100
    assert torch.isfinite(d) and d.item() == pytest.approx(200.0)
    d.backward()
    assert torch.isfinite(real.grad).all() and torch.isfinite(fake.grad).all()
    assert torch.isfinite(generator_loss(fake, kind="vanilla"))


@pytest.mark.parametrize("kind", ["vanilla", "lsgan", "hinge"])
def test_list_of_logits_is_averaged(kind):
    reals = [REAL, torch.tensor([[0.5, -1.0], [1.0, 2.0]])]
    fakes = [FAKE, torch.tensor([[0.2, 0.4], [-3.0, 0.0]])]
    d = discriminator_loss(reals, fakes, kind=kind)
    expected = (discriminator_loss(reals[0], fakes[0], kind) + discriminator_loss(reals[1], fakes[1], kind)) / 2
    torch.testing.assert_close(d, expected)
    g = generator_loss(fakes, kind=kind)
    torch.testing.assert_close(g, (generator_loss(fakes[0], kind) + generator_loss(fakes[1], kind)) / 2)


def test_adversarial_module_dispatch_and_gradient():
    loss = AdversarialLoss("lsgan")
    fake = FAKE.clone().requires_grad_()
    torch.testing.assert_close(loss.generator(fake), generator_loss(fake, "lsgan"))
    torch.testing.assert_close(loss(fake), generator_loss(fake, "lsgan"))
    torch.testing.assert_close(loss.discriminator(REAL, fake), discriminator_loss(REAL, fake, "lsgan"))
    torch.testing.assert_close(loss(fake, REAL), discriminator_loss(REAL, fake, "lsgan"))
    loss.generator(fake).backward()
    torch.testing.assert_close(fake.grad, 2 * (FAKE - 1) / 4)


def test_adversarial_errors():
    with pytest.raises(ValueError, match=r"kind must be one of \['hinge', 'lsgan', 'vanilla'\], got 'wgan'"):
        generator_loss(FAKE, kind="wgan")
    with pytest.raises(ValueError, match="kind must be one of"):
        AdversarialLoss("wgan")
    with pytest.raises(ValueError, match="real_logits has 2 outputs but fake_logits has 1"):
        discriminator_loss([REAL, REAL], [FAKE])
    with pytest.raises(ValueError, match="fake_logits is an empty list"):
        generator_loss([])
    with pytest.raises(TypeError, match=r"fake_logits\[1\] must be a torch.Tensor"):
        generator_loss([FAKE, 1.0])


# --- style / perceptual ---------------------------------------------------------------------------


def test_gram_matrix_against_loop_and_einsum():
    f = torch.randn(2, 3, 4, 5, generator=torch.Generator().manual_seed(0))
    g = gram_matrix(f)
    assert g.shape == (2, 3, 3)
    loop = torch.zeros(2, 3, 3)
    for n in range(2):
        for i in range(3):
            for j in range(3):
                loop[n, i, j] = (f[n, i] * f[n, j]).sum() / (3 * 4 * 5)
    torch.testing.assert_close(g, loop)
    torch.testing.assert_close(g, torch.einsum("nihw,njhw->nij", f, f) / 60)


def test_gram_matrix_hand_value_and_half_precision():
    f = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])  # (1, 2, 1, 2)
    # [[1+4, 3+8], [3+8, 9+16]] / (2*1*2)
    torch.testing.assert_close(gram_matrix(f), torch.tensor([[[5.0, 11.0], [11.0, 25.0]]]) / 4)
    big = torch.full((1, 2, 64, 64), 100.0, dtype=torch.float16)  # sums overflow float16
    g = gram_matrix(big)
    assert g.dtype == torch.float32 and torch.isfinite(g).all()
    assert g[0, 0, 0].item() == pytest.approx(100.0 * 100.0 / 2)
    with pytest.raises(ValueError, match=r"features must have shape \(N,C,H,W\)"):
        gram_matrix(torch.rand(2, 3, 4))


def test_style_and_perceptual_sum_of_layer_means():
    g = torch.Generator().manual_seed(0)
    pred = [torch.rand(2, 3, 4, 4, generator=g), torch.rand(2, 5, 2, 2, generator=g)]
    target = [torch.rand(2, 3, 4, 4, generator=g), torch.rand(2, 5, 2, 2, generator=g)]
    expected_style = sum((gram_matrix(p) - gram_matrix(t)).abs().mean() for p, t in zip(pred, target))
    torch.testing.assert_close(style_loss(pred, target), expected_style)
    expected_l2 = sum(((gram_matrix(p) - gram_matrix(t)) ** 2).mean() for p, t in zip(pred, target))
    torch.testing.assert_close(style_loss(pred, target, kind="l2"), expected_l2)
    expected_perc = sum((p - t).abs().mean() for p, t in zip(pred, target))
    torch.testing.assert_close(perceptual_loss(pred, target), expected_perc)
    assert style_loss(pred, pred).item() == 0.0 and perceptual_loss(pred, pred).item() == 0.0


def test_style_perceptual_errors():
    a = [torch.rand(1, 3, 4, 4)]
    with pytest.raises(ValueError, match="layer 0: pred_feats shape .* does not match target_feats"):
        style_loss(a, [torch.rand(1, 3, 4, 5)])
    with pytest.raises(ValueError, match="pred_feats has 1 layers and target_feats 2"):
        perceptual_loss(a, a + a)
    with pytest.raises(TypeError, match="must be lists of feature maps"):
        perceptual_loss(a[0], a[0])
    with pytest.raises(ValueError, match="kind must be one of"):
        style_loss(a, a, kind="cosine")


@pytest.fixture(scope="module")
def tiny_net() -> FeatureNetwork:
    torch.manual_seed(0)
    return FeatureNetwork(TINY_NET, layers=(0, 1, 2), pretrained=False)


def test_feature_network_frozen_eval_but_input_gets_gradient(tiny_net):
    assert all(not p.requires_grad for p in tiny_net.parameters())
    tiny_net.train()  # a parent's .train() must not unfreeze batch-norm
    assert not tiny_net.training and not tiny_net.model.training
    x = torch.rand(2, 3, 32, 32, requires_grad=True)
    feats = tiny_net(x)
    assert [f.shape[1] for f in feats] == [16, 24, 32]
    assert [f.shape[-1] for f in feats] == [16, 8, 4]
    sum(f.square().sum() for f in feats).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in tiny_net.parameters())


def test_feature_network_normalises_with_imagenet_stats(tiny_net):
    x = torch.rand(1, 3, 32, 32)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    raw = tiny_net.model((x - mean) / std)
    for ours, ref in zip(tiny_net(x), raw):
        torch.testing.assert_close(ours, ref)
    with pytest.raises(ValueError, match="image must have 3 channels"):
        tiny_net(torch.rand(1, 1, 32, 32))


def test_style_and_perceptual_modules_share_network(tiny_net):
    pred = torch.rand(2, 3, 32, 32, requires_grad=True)
    target = torch.rand(2, 3, 32, 32)
    style, perc = StyleLoss(tiny_net), PerceptualLoss(tiny_net)
    assert style.feature_net is perc.feature_net
    s = style(pred, target)
    p = perc(pred, target)
    with torch.no_grad():
        torch.testing.assert_close(s, style_loss(tiny_net(pred), tiny_net(target)))
        torch.testing.assert_close(p, perceptual_loss(tiny_net(pred), tiny_net(target)))
    (s + p).backward()
    assert pred.grad.abs().sum() > 0
    assert style(target, target).item() == 0.0
    with pytest.raises(ValueError, match="pred shape .* does not match target shape"):
        perc(pred, target[:1])


def test_feature_network_loads_local_weights(tmp_path):
    timm = pytest.importorskip("timm")
    from safetensors.torch import save_file

    torch.manual_seed(1)
    full = timm.create_model(TINY_NET)  # a full-model checkpoint, as published
    save_file(full.state_dict(), str(tmp_path / "model.safetensors"))
    torch.save(full.state_dict(), tmp_path / "model.pth")
    a = FeatureNetwork(TINY_NET, layers=(0, 1), weights_path=tmp_path / "model.safetensors")
    b = FeatureNetwork(TINY_NET, layers=(0, 1), weights_path=tmp_path / "model.pth")
    torch.testing.assert_close(a.model.conv_stem.weight, full.conv_stem.weight)
    x = torch.rand(1, 3, 32, 32)
    for fa, fb in zip(a(x), b(x)):
        torch.testing.assert_close(fa, fb)
    # a state dict of the feature model itself loads too
    torch.save(a.model.state_dict(), tmp_path / "features.pt")
    c = FeatureNetwork(TINY_NET, layers=(0, 1), weights_path=tmp_path / "features.pt")
    for fa, fc in zip(a(x), c(x)):
        torch.testing.assert_close(fa, fc)
    assert all(not p.requires_grad for p in c.parameters())


def test_feature_network_errors(tmp_path, monkeypatch):
    timm = pytest.importorskip("timm")

    def offline_create_model(name, pretrained=False, **kwargs):
        if pretrained:
            raise ConnectionError("Name or service not known")
        return real_create_model(name, pretrained=False, **kwargs)

    real_create_model = timm.create_model
    monkeypatch.setattr(timm, "create_model", offline_create_model)
    with pytest.raises(RuntimeError, match="could not download .* pass weights_path="):
        FeatureNetwork(TINY_NET, pretrained=True)
    with pytest.raises(ValueError, match="'not_a_model' is not a timm model"):
        FeatureNetwork("not_a_model", pretrained=False)
    with pytest.raises(FileNotFoundError, match="weights_path .* does not exist"):
        FeatureNetwork(TINY_NET, weights_path=tmp_path / "missing.safetensors")
    torch.save([1, 2, 3], tmp_path / "junk.pth")
    with pytest.raises(ValueError, match="does not hold a state dict"):
        FeatureNetwork(TINY_NET, weights_path=tmp_path / "junk.pth")


# --- total variation ------------------------------------------------------------------------------


def test_tv_constant_image_is_zero():
    assert total_variation_loss(torch.full((2, 3, 5, 5), 0.7)).item() == 0.0
    assert total_variation_loss(torch.full((2, 3, 5, 5), 0.7), torch.ones(2, 1, 5, 5)).item() == 0.0


def test_tv_hand_value():
    image = torch.tensor([[[[0.0, 1.0], [2.0, 4.0]]]])
    # horizontal |1-0|, |4-2| -> mean 1.5; vertical |2-0|, |4-1| -> mean 2.5
    assert total_variation_loss(image).item() == pytest.approx(4.0)
    assert TotalVariationLoss()(image).item() == pytest.approx(4.0)
    # an all-ones mask changes nothing; a 1-pixel hole dilates over this whole 2x2 image
    assert total_variation_loss(image, torch.ones(1, 1, 2, 2)).item() == pytest.approx(4.0)
    assert total_variation_loss(image, torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])).item() == pytest.approx(4.0)


def test_tv_mask_uses_hole_dilated_by_one_pixel():
    row = torch.tensor([0.0, 1.0, 3.0, 6.0, 10.0]).view(1, 1, 1, 5)
    hole = torch.tensor([1.0, 0.0, 0.0, 0.0, 0.0]).view(1, 1, 1, 5)
    # dilated hole = pixels 0, 1: only the pair (0, 1) counts -> |1 - 0| / 4 pairs; no vertical pairs
    assert total_variation_loss(row, hole).item() == pytest.approx(0.25)
    assert total_variation_loss(row).item() == pytest.approx(10.0 / 4)
    hole_mid = torch.tensor([0.0, 0.0, 1.0, 0.0, 0.0]).view(1, 1, 1, 5)
    # dilated = pixels 1..3: pairs (1,2) and (2,3) -> (2 + 3) / 4
    assert total_variation_loss(row, hole_mid).item() == pytest.approx(1.25)


def test_tv_gradient_and_errors():
    x = torch.rand(1, 3, 4, 4, requires_grad=True)
    total_variation_loss(x).backward()
    assert x.grad.abs().sum() > 0
    with pytest.raises(ValueError, match=r"mask must have shape \(N,1,H,W\)"):
        total_variation_loss(torch.rand(1, 3, 4, 4), torch.ones(1, 3, 4, 4))
    with pytest.raises(ValueError, match=r"image must have shape \(N,C,H,W\)"):
        total_variation_loss(torch.rand(3, 4, 4))


# --- feature matching ---------------------------------------------------------------------------


def test_feature_matching_value_and_real_detached():
    real = [torch.tensor([1.0, 2.0], requires_grad=True), torch.tensor([[0.0, 0.0]], requires_grad=True)]
    fake = [torch.tensor([2.0, 0.0], requires_grad=True), torch.tensor([[3.0, -1.0]], requires_grad=True)]
    loss = feature_matching_loss(real, fake)
    # layer means: (1 + 2)/2 = 1.5 and (3 + 1)/2 = 2 -> average 1.75
    assert loss.item() == pytest.approx(1.75)
    loss.backward()
    assert real[0].grad is None and real[1].grad is None
    torch.testing.assert_close(fake[0].grad, torch.tensor([0.25, -0.25]))
    torch.testing.assert_close(FeatureMatchingLoss()(real, fake), loss.detach())


def test_feature_matching_nested_lists_and_errors():
    a = [[torch.ones(1, 2, 2, 2), torch.zeros(1, 2)], [torch.ones(1, 3)]]
    b = [[torch.zeros(1, 2, 2, 2), torch.zeros(1, 2)], [torch.full((1, 3), 3.0)]]
    assert feature_matching_loss(a, b).item() == pytest.approx((1 + 0 + 2) / 3)
    with pytest.raises(ValueError, match="real_features has 3 feature maps and fake_features 2"):
        feature_matching_loss(a, b[0])
    with pytest.raises(ValueError, match="feature map 0: real shape"):
        feature_matching_loss([torch.ones(2)], [torch.ones(3)])


# --- weights --------------------------------------------------------------------------------------


def test_loss_weights_defaults_and_presets():
    w = LossWeights()
    assert (w.reconstruction, w.adversarial, w.style, w.perceptual) == (1.0, 0.01, 0.0, 0.0)
    assert (w.total_variation, w.feature_matching, w.hole_weight, w.valid_weight) == (0.0, 0.0, 6.0, 1.0)
    assert (w.reconstruction_kind, w.adversarial_kind) == ("l1", "hinge")
    p = LossWeights.pathak()
    assert (p.reconstruction, p.adversarial) == (0.999, 0.001)
    assert (p.hole_weight, p.valid_weight, p.reconstruction_kind, p.adversarial_kind) == (1.0, 0.0, "l2", "vanilla")
    # hole-only L2: an error outside the hole costs nothing
    target = torch.zeros(1, 3, 2, 2)
    mask = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
    outside = masked_reconstruction_loss(
        target + (1 - mask), target, mask,
        hole_weight=p.hole_weight, valid_weight=p.valid_weight, kind=p.reconstruction_kind,
    )
    assert outside.item() == 0.0
    liu = LossWeights.liu()
    assert (liu.hole_weight, liu.valid_weight, liu.style, liu.perceptual, liu.total_variation) == (6, 1, 120, 0.05, 0.1)
    assert LossWeights(style=2.0).to_dict()["style"] == 2.0
    assert dataclasses.replace(w, adversarial=0.1).adversarial == 0.1


def test_loss_weights_validation():
    with pytest.raises(ValueError, match=r"LossWeights.style must be finite and >= 0, got -1"):
        LossWeights(style=-1.0)
    with pytest.raises(ValueError, match="LossWeights.adversarial must be finite"):
        LossWeights(adversarial=float("nan"))
    with pytest.raises(TypeError, match="LossWeights.reconstruction must be a number"):
        LossWeights(reconstruction="1")
    with pytest.raises(ValueError, match="LossWeights.adversarial_kind must be one of"):
        LossWeights(adversarial_kind="wgan")
    with pytest.raises(ValueError, match="LossWeights.reconstruction_kind must be one of"):
        LossWeights(reconstruction_kind="l3")


def test_every_public_name_exists_and_says_what_it_computes():
    """Each name of ``__all__`` resolves, and each function / module documents itself (kornia style: a
    function + thin nn.Module pair, docstrings with shapes)."""
    for name in losses.__all__:
        obj = getattr(losses, name)
        assert (obj.__doc__ or "").strip(), name
    pairs = [("total_variation_loss", "TotalVariationLoss"), ("feature_matching_loss", "FeatureMatchingLoss"),
             ("style_loss", "StyleLoss"), ("perceptual_loss", "PerceptualLoss")]  # fmt: skip
    for function, module in pairs:
        assert callable(getattr(losses, function)) and issubclass(getattr(losses, module), torch.nn.Module)
