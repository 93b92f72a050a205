"""Discriminators: output shapes, features, receptive fields (analytic vs gradient probing), norms,
init, seeds, errors and the factory."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from inpaintlab.models import (
    PRESETS,
    DualDiscriminator,
    GlobalDiscriminator,
    PatchDiscriminator,
    arch_of,
    build_model,
    create_discriminator,
    num_layers_for_receptive_field,
    patch_receptive_field,
    receptive_field,
    receptive_field_2d,
)


def _images(n: int, c: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, c, h, w, generator=torch.Generator().manual_seed(seed))


def probe_receptive_field(model: nn.Module, in_channels: int, size: int) -> tuple[int, int]:
    """Measure the receptive field: constant positive weights, backprop from the central output pixel,
    count the input rows/columns with a nonzero gradient."""
    model = model.double().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(0.05)
    x = torch.ones(1, in_channels, size, size, dtype=torch.float64, requires_grad=True)
    out = model(x)
    h, w = out.shape[-2:]
    out[0, 0, h // 2, w // 2].backward()
    touched = x.grad[0].abs().sum(0) > 0
    rows = touched.any(1).nonzero().flatten()
    cols = touched.any(0).nonzero().flatten()
    # contiguous and not clipped by the border
    assert rows.min() > 0 and rows.max() < size - 1 and cols.min() > 0 and cols.max() < size - 1
    assert len(rows) == rows.max() - rows.min() + 1
    return int(len(rows)), int(len(cols))


@pytest.mark.parametrize(
    "num_layers, size, expected",
    [(3, (32, 32), (2, 2)), (2, (32, 32), (6, 6)), (1, (32, 32), (14, 14)), (0, (32, 32), (30, 30)),
     (2, (37, 45), (7, 9)), (3, (24, 24), (1, 1))],
)
def test_patch_output_shape(num_layers, size, expected):
    d = PatchDiscriminator(base_channels=4, num_layers=num_layers, seed=0)
    assert d(_images(2, 3, *size)).shape == (2, 1, *expected)


def test_patch_features_and_mask_conditioning():
    d = PatchDiscriminator(in_channels=4, base_channels=4, num_layers=3, seed=0)
    x = _images(2, 4, 32, 32)
    logits, feats = d(x, return_features=True)
    assert torch.equal(logits, d(x))
    assert [f.shape[1:] for f in feats] == [(4, 16, 16), (8, 8, 8), (16, 4, 4), (32, 3, 3)]
    with pytest.raises(ValueError, match="4 channels"):
        d(_images(2, 3, 32, 32))


def test_patch_too_small_input_is_a_clear_error():
    d = PatchDiscriminator(base_channels=4, num_layers=3)
    with pytest.raises(ValueError, match="at least 24x24"):
        d(_images(1, 3, 23, 40))
    with pytest.raises(ValueError, match="num_layers must be an int >= 0"):
        PatchDiscriminator(num_layers=-1)
    with pytest.raises(ValueError, match="norm must be one of"):
        PatchDiscriminator(norm="layer")


@pytest.mark.parametrize("num_layers, expected", [(0, 7), (1, 16), (2, 34), (3, 70), (4, 142)])
def test_receptive_field_analytic_matches_gradient_probe(num_layers, expected):
    d = PatchDiscriminator(base_channels=2, num_layers=num_layers, norm="none", seed=0)
    assert receptive_field(d) == expected == patch_receptive_field(num_layers)
    size = 2 * expected + 2 ** (num_layers + 2)
    assert probe_receptive_field(d, 3, size) == (expected, expected)


def test_receptive_field_standard_patchgan_and_spectral():
    assert receptive_field(create_discriminator("patch.70")) == 70
    assert receptive_field(create_discriminator("patch.70.spectral")) == 70
    assert receptive_field(create_discriminator("patch.34")) == 34
    assert receptive_field(create_discriminator("patch.16")) == 16


def test_receptive_field_of_a_hand_built_chain():
    # conv3 -> rf 3; avgpool 2/2 -> 4, jump 2; conv3 dilation 2 -> 4 + 2*2*2 = 12; conv (1,3) -> (12, 16)
    chain = nn.Sequential(
        nn.Conv2d(1, 1, 3),
        nn.ReLU(),
        nn.AvgPool2d(2),
        nn.Conv2d(1, 1, 3, dilation=2),
        nn.Conv2d(1, 1, (1, 3)),
    )
    assert receptive_field_2d(chain) == (12, 16)
    assert receptive_field(chain) == 16
    assert probe_receptive_field(chain, 1, 40) == (12, 16)


def test_receptive_field_rejects_global_and_upsampling_models():
    with pytest.raises(ValueError, match="whole image"):
        receptive_field(create_discriminator("global.tiny"))
    with pytest.raises(ValueError, match="patch_disc"):
        receptive_field(create_discriminator("dual.tiny"))
    assert receptive_field(create_discriminator("dual.tiny").patch_disc) == 34
    with pytest.raises(ValueError, match="ConvTranspose2d"):
        receptive_field(nn.Sequential(nn.Conv2d(1, 1, 3), nn.ConvTranspose2d(1, 1, 2, 2)))


def test_num_layers_for_receptive_field():
    assert [num_layers_for_receptive_field(rf) for rf in (7, 16, 34, 70, 142)] == [0, 1, 2, 3, 4]
    assert num_layers_for_receptive_field(40) == 2  # 34 is closer than 70
    assert num_layers_for_receptive_field(40, at_least=True) == 3
    assert num_layers_for_receptive_field(14) == 1 and num_layers_for_receptive_field(1) == 0
    assert num_layers_for_receptive_field(25) == 1  # tie 16 vs 34 goes to the smaller
    with pytest.raises(ValueError, match="raise max_layers"):
        num_layers_for_receptive_field(1000, at_least=True, max_layers=4)
    with pytest.raises(ValueError, match="positive int"):
        num_layers_for_receptive_field(0)


def test_global_discriminator_linear_and_pooled_heads():
    d = GlobalDiscriminator(image_size=32, base_channels=4, seed=0)
    assert d.num_layers == 3  # 32 -> 4
    logits, feats = d(_images(2, 3, 32, 32), return_features=True)
    assert logits.shape == (2, 1) and len(feats) == 3 and feats[-1].shape == (2, 16, 4, 4)
    with pytest.raises(ValueError, match=r"needs 32x32 inputs.*image_size=None"):
        d(_images(2, 3, 40, 32))
    pooled = GlobalDiscriminator(image_size=None, base_channels=4, num_layers=3, seed=0)
    for size in [(16, 16), (40, 56)]:
        assert pooled(_images(2, 3, *size)).shape == (2, 1)
    with pytest.raises(ValueError, match="at least 16x16"):
        pooled(_images(2, 3, 8, 8))
    with pytest.raises(ValueError, match="too small"):
        GlobalDiscriminator(image_size=8, num_layers=4)


def test_dual_discriminator_returns_a_list():
    d = create_discriminator("dual.tiny", seed=0)
    x = _images(2, 3, 32, 32)
    out = d(x)
    assert isinstance(out, list) and [o.shape for o in out] == [(2, 1), (2, 1, 6, 6)]
    logits, feats = d(x, return_features=True)
    assert len(feats) == d.global_disc.num_layers + d.patch_disc.num_layers + 1
    assert torch.equal(logits[1], d.patch_disc(x))
    d4 = create_discriminator("dual.tiny", in_channels=4)
    assert d4.global_disc.in_channels == d4.patch_disc.in_channels == 4
    assert [o.shape for o in d4(_images(1, 4, 24, 24))] == [(1, 1), (1, 1, 4, 4)]
    with pytest.raises(ValueError, match="3 channels"):
        d(_images(2, 4, 32, 32))


def test_dual_from_modules_and_conflicts():
    g = GlobalDiscriminator(image_size=32, base_channels=4, seed=0)
    p = PatchDiscriminator(base_channels=4, num_layers=1, seed=0)
    d = DualDiscriminator(g, p)
    assert d.global_disc is g and d.patch_disc is p
    assert d.init_args["patch_disc"] == p.init_args
    with pytest.raises(ValueError, match="in_channels 3 and 4"):
        DualDiscriminator({"image_size": None, "num_layers": 2}, {"in_channels": 4})
    with pytest.raises(TypeError, match="patch_disc must be a dict"):
        DualDiscriminator(None, "patch.70")


def test_overrides_merge_into_nested_presets():
    d = create_discriminator("dual.tiny", patch_disc={"num_layers": 1})
    assert d.patch_disc.num_layers == 1 and d.patch_disc.init_args["base_channels"] == 4
    assert create_discriminator("patch.70", in_channels=4).in_channels == 4


@pytest.mark.parametrize("name", ["patch.tiny", "global.tiny", "dual.tiny"])
@pytest.mark.parametrize("norm", ["instance", "spectral", "batch", "none"])
def test_gradients_reach_every_parameter(name, norm):
    overrides = {"norm": norm}
    if name == "dual.tiny":
        overrides = {"patch_disc": {"norm": norm}, "global_disc": {"norm": norm}}
    d = create_discriminator(name, seed=0, **overrides).train()
    out = d(_images(2, 3, 32, 32))
    loss = sum(o.mean() for o in out) if isinstance(out, list) else out.mean()
    loss.backward()
    missing = [n for n, p in d.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


def test_default_norm_keeps_no_running_buffers():
    """Real and fake in two forward passes before one backward (as under DDP): the default
    discriminators keep no buffers that a forward pass updates (unlike BatchNorm)."""
    narrow = {"base_channels": 2}
    for d in [PatchDiscriminator(**narrow), GlobalDiscriminator(**narrow), DualDiscriminator(narrow, narrow)]:
        assert list(d.buffers()) == [], type(d).__name__
    d = create_discriminator("patch.tiny", seed=0).train()
    real, fake = _images(2, 3, 32, 32, seed=1), _images(2, 3, 32, 32, seed=2)
    loss = nn.functional.softplus(-d(real)).mean() + nn.functional.softplus(d(fake)).mean()
    loss.backward()
    assert all(p.grad is not None for p in d.parameters())
    batch = create_discriminator("patch.tiny", norm="batch")
    assert any(isinstance(m, nn.BatchNorm2d) for m in batch.modules())


def test_spectral_norm_bounds_each_conv():
    d = PatchDiscriminator(base_channels=8, num_layers=2, norm="spectral", seed=0).train()
    convs = [m for m in d.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 4 and all(parametrize.is_parametrized(m, "weight") for m in convs)
    for _ in range(5):  # a few power iterations
        d(_images(1, 3, 32, 32))
    d.eval()
    for m in convs:
        sigma = torch.linalg.matrix_norm(m.weight.flatten(1), ord=2)
        assert sigma.item() == pytest.approx(1.0, abs=0.05)


def test_normal_init_and_seeds():
    d = create_discriminator("patch.70", seed=0)
    w = d.blocks[2][0].weight  # 128 -> 256, 4x4: 524k weights
    assert abs(w.std().item() - 0.02) < 0.0005 and abs(w.mean().item()) < 0.0005
    norm_scale = d.blocks[2][1].weight
    assert abs(norm_scale.mean().item() - 1.0) < 0.01
    state = torch.get_rng_state()
    a = create_discriminator("dual.tiny", patch_disc={"seed": 5}, global_disc={"seed": 6}).state_dict()
    b = create_discriminator("dual.tiny", patch_disc={"seed": 5}, global_disc={"seed": 6}).state_dict()
    c = create_discriminator("dual.tiny", patch_disc={"seed": 7}, global_disc={"seed": 6}).state_dict()
    e = create_discriminator("dual.tiny", seed=1).state_dict()
    f = create_discriminator("dual.tiny", seed=1).state_dict()
    assert all(torch.equal(e[k], f[k]) for k in e)
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a if k.startswith("patch_disc"))
    default = PatchDiscriminator(base_channels=4, num_layers=1, init="default", seed=0)
    assert default.blocks[0][0].bias.abs().sum() > 0  # PyTorch's init, biases not zeroed
    with pytest.raises(ValueError, match="init must be one of"):
        PatchDiscriminator(init="zeros")


@pytest.mark.parametrize("name", ["patch.tiny", "global.tiny", "dual.tiny"])
def test_init_args_round_trip(name):
    d = create_discriminator(name, seed=0).eval()
    arch = json.loads(json.dumps(arch_of(d)))
    rebuilt = build_model(arch)
    rebuilt.load_state_dict(d.state_dict())
    rebuilt.eval()
    x = _images(2, 3, 32, 32)
    a, b = d(x), rebuilt(x)
    for u, v in zip(a if isinstance(a, list) else [a], b if isinstance(b, list) else [b]):
        assert torch.equal(u, v)


def test_factory_names_and_errors():
    discriminators = {n for n, p in PRESETS.items() if p.role == "discriminator"}
    assert {"patch.tiny", "patch.70", "patch.34", "patch.16", "global.base", "dual.base"} <= discriminators
    wider = create_discriminator("patch.16", base_channels=2)
    assert isinstance(wider, PatchDiscriminator) and wider.num_layers == 1
    with pytest.raises(KeyError, match=r"unknown architecture preset 'patch\.99'.*patch\.70"):
        create_discriminator("patch.99")
    with pytest.raises(TypeError, match="an architecture is a preset name"):
        create_discriminator(3)


@pytest.mark.gpu
def test_dual_on_gpu():
    d = create_discriminator("dual.tiny", seed=0).cuda()
    out = d(_images(2, 3, 32, 32).cuda())
    assert [o.shape for o in out] == [(2, 1), (2, 1, 6, 6)] and out[0].is_cuda
