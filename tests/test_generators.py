"""Generators: shapes, [0,1] output, known pixels kept, hole content ignored, gradients, init_args,
seeds, errors, and the factory."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from torch import nn

from inpaintlab.models import (
    PRESETS,
    ContextEncoder,
    TimmUNetGenerator,
    UNetGenerator,
    arch_of,
    build_model,
    create_generator,
    init_weights,
    make_norm,
    masked_input,
)
from inpaintlab.models.layers import ChannelWiseLinear, pad_to_multiple

TINY = ["unet.tiny", "context_encoder.tiny", "timm_unet.tiny", "dilated_unet.tiny"]


def _batch(h: int, w: int, n: int = 2, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(n, 3, h, w, generator=g)
    mask = torch.zeros(n, 1, h, w)
    mask[:, :, h // 4 : h // 4 + h // 2, w // 3 : w // 3 + w // 2] = 1.0
    return image, mask


def _size_for(name: str) -> tuple[int, int]:
    return (32, 32) if name.startswith("context_encoder") else (37, 45)


@pytest.fixture(scope="module", params=TINY)
def tiny(request) -> tuple[str, nn.Module]:
    return request.param, create_generator(request.param, seed=0)


@pytest.mark.parametrize(
    "size, skip",
    [((16, 16), "concat"), ((37, 45), "concat"), ((64, 32), "concat"), ((5, 7), "concat"),
     ((37, 45), "learned"), ((37, 45), "fixed"), ((37, 45), "none"), ((3, 2), "none")],
)
def test_unet_shapes_any_size(size, skip):
    model = create_generator("unet.tiny", skip=skip, seed=0)
    image, mask = _batch(*size)
    out = model(image, mask)
    assert out.shape == image.shape
    assert model.predict(image, mask).shape == image.shape


@pytest.mark.parametrize("size", [(16, 16), (37, 45), (33, 64)])
def test_timm_unet_shapes_any_size(size):
    model = create_generator("timm_unet.tiny", seed=0)
    image, mask = _batch(*size)
    assert model(image, mask).shape == image.shape


def test_output_in_unit_range_and_known_pixels_bit_identical(tiny):
    name, model = tiny
    image, mask = _batch(*_size_for(name))
    pred = model.predict(image, mask)
    out = model(image, mask)
    assert pred.min() >= 0 and pred.max() <= 1
    known = (mask == 0).expand_as(image)
    assert torch.equal(out[known], image[known])
    assert torch.equal(out[~known], pred[~known])


def test_hole_pixels_of_input_are_ignored(tiny):
    name, model = tiny
    model.eval()
    image, mask = _batch(*_size_for(name))
    other = image.clone()
    hole = (mask > 0).expand_as(image)
    other[hole] = torch.rand(int(hole.sum()), generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        a = model(image, mask)
        b = model(other, mask)
        other[hole] = float("nan")  # even NaNs in the hole do not leak
        c = model(other, mask)
    assert torch.equal(a, b)
    assert torch.equal(a, c)
    model.train()


def test_masked_input_zeroes_hole_and_appends_mask():
    image, mask = _batch(8, 8)
    image[mask.expand_as(image) > 0] = float("nan")
    x = masked_input(image, mask)
    assert x.shape == (2, 4, 8, 8)
    assert torch.equal(x[:, 3:], mask)
    assert torch.all(x[:, :3][mask.expand(-1, 3, -1, -1) > 0] == 0)
    known = mask.expand(-1, 3, -1, -1) == 0
    assert torch.equal(x[:, :3][known], image[known])


def test_gradients_reach_every_parameter(tiny):
    name, model = tiny
    model = copy.deepcopy(model).train()
    image, mask = _batch(*_size_for(name))
    if name.startswith("dilated_unet"):  # gate and residual branches start at 0 (ReZero): one step opens them
        for _ in range(2):
            model.zero_grad()
            model(image, mask).square().mean().backward()
            torch.optim.SGD(model.parameters(), lr=0.1).step()
    model.zero_grad()
    model(image, mask).square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


def test_unet_learned_skip_weights_get_gradients():
    model = create_generator("unet.tiny", skip="learned", seed=0)
    assert isinstance(model.skip_weights, nn.Parameter) and model.skip_weights.shape == (3,)
    image, mask = _batch(16, 16)
    model.predict(image, mask).mean().backward()
    assert model.skip_weights.grad is not None and model.skip_weights.grad.abs().sum() > 0


def test_unet_skip_modes_semantics():
    image, mask = _batch(16, 16)
    kwargs = dict(base_channels=4, depth=3, max_channels=8, seed=3)
    fixed = UNetGenerator(skip="fixed", skip_weight=0.5, **kwargs).eval()
    learned = UNetGenerator(skip="learned", skip_weight=0.5, **kwargs).eval()
    concat = UNetGenerator(skip="concat", **kwargs).eval()
    with torch.no_grad():
        # same seed -> same weights; a learned weight at its initial value equals the fixed one
        assert torch.equal(fixed.predict(image, mask), learned.predict(image, mask))
        assert not torch.equal(fixed.predict(image, mask), concat.predict(image, mask))
        # fixed with weight 1 is plain concatenation
        fixed_one = UNetGenerator(skip="fixed", skip_weight=1.0, **kwargs).eval()
        assert torch.equal(fixed_one.predict(image, mask), concat.predict(image, mask))
    def count(s: str) -> int:
        return sum(p.numel() for p in UNetGenerator(skip=s, **kwargs).parameters())

    n = {s: count(s) for s in ("concat", "learned")}
    assert n["learned"] == n["concat"] + 3
    no_skip = UNetGenerator(skip="none", **kwargs)
    assert sum(p.numel() for p in no_skip.parameters()) < n["concat"]


def test_unet_noise_in_training_only_and_from_own_rng():
    kwargs = dict(base_channels=4, depth=3, max_channels=8, seed=1)
    noisy = UNetGenerator(noise_std=0.5, **kwargs)
    clean = UNetGenerator(noise_std=0.0, **kwargs)
    image, mask = _batch(16, 16)
    noisy.eval(), clean.eval()
    with torch.no_grad():
        assert torch.equal(noisy.predict(image, mask), clean.predict(image, mask))
    noisy.train()
    state = torch.get_rng_state()
    with torch.no_grad():
        noisy.reset_noise(7)
        a = noisy.predict(image, mask)
        b = noisy.predict(image, mask)
        noisy.reset_noise(7)
        c = noisy.predict(image, mask)
    assert torch.equal(torch.get_rng_state(), state)  # the global RNG is untouched
    assert not torch.equal(a, b)
    assert torch.equal(a, c)
    twin = copy.deepcopy(noisy)  # e.g. an EMA copy: its own RNG, same state
    with torch.no_grad():
        assert torch.equal(twin.predict(image, mask), noisy.predict(image, mask))


def test_unet_base_parameter_count():
    n = sum(p.numel() for p in create_generator("unet.base").parameters())
    assert 6_000_000 <= n <= 8_000_000, n
    tiny = sum(p.numel() for p in create_generator("unet.tiny").parameters())
    assert 1_000 <= tiny <= 10_000, tiny


@pytest.mark.parametrize("name", TINY + ["unet.learned_skips"])
def test_init_args_round_trip_through_json(name):
    overrides = {"base_channels": 4, "depth": 2} if name == "unet.learned_skips" else {}
    model = create_generator(name, seed=0, **overrides).eval()
    arch = json.loads(json.dumps(arch_of(model)))  # what checkpoints and hub files store
    assert arch == ({"preset": name, "args": {"seed": 0, **overrides}})
    rebuilt = type(model)(**model.init_args)
    from_arch = build_model(arch)
    assert type(from_arch) is type(model)
    from_arch.load_state_dict(model.state_dict())  # strict: same architecture
    rebuilt.load_state_dict(model.state_dict())
    from_arch.eval(), rebuilt.eval()
    image, mask = _batch(*_size_for(name))
    with torch.no_grad():
        assert torch.equal(from_arch(image, mask), model(image, mask))
        assert torch.equal(rebuilt(image, mask), model(image, mask))


def test_timm_unet_init_args_never_ask_for_a_download():
    model = TimmUNetGenerator("test_efficientnet", decoder_channels=(8, 8, 8, 8, 8), seed=0)
    assert model.init_args["pretrained"] is False
    assert model.rgb_mean.flatten().tolist() == pytest.approx([0.485, 0.456, 0.406])
    assert model.rgb_std.flatten().tolist() == pytest.approx([0.229, 0.224, 0.225])


@pytest.mark.parametrize("name", TINY)
def test_seed_reproducible_and_global_rng_untouched(name):
    state = torch.get_rng_state()
    a = create_generator(name, seed=11).state_dict()
    assert torch.equal(torch.get_rng_state(), state)
    b = create_generator(name, seed=11).state_dict()
    c = create_generator(name, seed=12).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a if a[k].is_floating_point())


def test_seed_none_follows_global_rng():
    torch.manual_seed(4)
    a = create_generator("unet.tiny").state_dict()
    torch.manual_seed(4)
    b = create_generator("unet.tiny").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_native_resolution_is_no_architecture_argument():
    """Only a structural size is the model's (the context encoder's); the resolution a checkpoint was
    trained at is recorded beside its weights (registry entry, file metadata), not in the architecture."""
    assert create_generator("context_encoder.tiny").native_resolution == 32
    assert create_generator("unet.tiny").native_resolution is None
    with pytest.raises(TypeError, match="native_resolution"):
        create_generator("unet.tiny", native_resolution=256)


def test_context_encoder_wrong_size_is_a_clear_error():
    model = create_generator("context_encoder.tiny")
    image, mask = _batch(64, 64)
    with pytest.raises(ValueError, match=r"image_size=32.*got 64x64"):
        model(image, mask)
    with pytest.raises(ValueError, match="power of two"):
        ContextEncoder(image_size=48)


def test_context_encoder_bottleneck_is_channel_wise():
    layer = ChannelWiseLinear(3, (2, 2))
    x = torch.randn(2, 3, 2, 2, generator=torch.Generator().manual_seed(0))
    y = layer(x)
    # reference: an independent dense layer per channel over the 4 positions
    ref = torch.stack([x[:, c].flatten(1) @ layer.weight[c] + layer.bias[c] for c in range(3)], 1)
    torch.testing.assert_close(y, ref.view(2, 3, 2, 2))
    x2 = x.clone()
    x2[:, 0] += 1.0
    y2 = layer(x2)
    assert not torch.equal(y2[:, 0], y[:, 0]) and torch.equal(y2[:, 1:], y[:, 1:])
    ce = create_generator("context_encoder.tiny")
    assert ce.channel_wise.weight.shape == (8, 16, 16)  # 4x4 bottleneck, max_channels=8


@pytest.mark.parametrize("name", TINY)
def test_bad_inputs_raise(name):
    model = create_generator(name)
    image, mask = _batch(*_size_for(name))
    with pytest.raises(ValueError, match="3 channels"):
        model(torch.cat([image, mask], 1), mask)
    with pytest.raises(ValueError, match="does not match image shape"):
        model(image, mask[:, :, :-1])
    with pytest.raises(ValueError, match=r"\(N,1,H,W\)"):
        model(image, mask.expand(-1, 3, -1, -1))
    with pytest.raises(ValueError, match="unsqueeze"):
        model(image[0], mask[0])
    with pytest.raises(TypeError, match="torch.Tensor"):
        model(image.numpy(), mask)


def test_bad_constructor_arguments_raise():
    with pytest.raises(ValueError, match="skip must be one of"):
        UNetGenerator(skip="add")
    with pytest.raises(ValueError, match="norm must be one of"):
        UNetGenerator(norm="group")
    with pytest.raises(ValueError, match="depth must be an int >= 1"):
        UNetGenerator(depth=0)
    with pytest.raises(ValueError, match="init must be one of"):
        UNetGenerator(base_channels=2, depth=1, init="uniform")
    with pytest.raises(ValueError, match="noise_std must be >= 0"):
        UNetGenerator(noise_std=-1)
    with pytest.raises(ValueError, match="timm model name"):
        TimmUNetGenerator("no_such_backbone")
    with pytest.raises(ValueError, match="one entry per encoder feature map"):
        TimmUNetGenerator("test_efficientnet", decoder_channels=(8, 8))


def test_presets_build_their_role_and_errors_name_the_fix():
    generators = {n for n, p in PRESETS.items() if p.role == "generator"}
    assert {"unet.tiny", "unet.base", "unet.prefill", "unet.prefill.small", "context_encoder.tiny",
            "context_encoder.base", "timm_unet.tiny", "timm_unet.resnet18", "dilated_unet.tiny",
            "dilated_unet.base"} <= generators  # fmt: skip
    model = create_generator("unet.tiny", depth=2)
    assert isinstance(model, UNetGenerator) and model.init_args["depth"] == 2
    assert model.init_args["base_channels"] == 4  # the preset's value survives
    assert arch_of(model) == {"preset": "unet.tiny", "args": {"depth": 2}}
    assert build_model({"preset": "unet.tiny", "args": {"depth": 2}}).channels == model.channels
    with pytest.raises(KeyError, match=r"unknown architecture preset 'unet\.huge'.*unet\.tiny"):
        create_generator("unet.huge")
    with pytest.raises(ValueError, match="'patch.70' is a discriminator preset, not a generator"):
        create_generator("patch.70")
    with pytest.raises(KeyError, match="unknown model class 'ResNet'"):
        build_model({"class": "ResNet", "init": {}})
    with pytest.raises(TypeError, match="an architecture is a preset name"):
        build_model({"init": {}})
    with pytest.raises(TypeError, match="unexpected keyword"):
        create_generator("unet.tiny", widht=3)


def test_checkpoints_of_before_presets_name_their_architecture():
    """{"class", "init"} (what files written before presets hold) maps to the preset of that class with
    exactly those arguments; the old native_resolution argument is dropped."""
    from inpaintlab.models import normalize_arch

    shipped = {"base_channels": 16, "depth": 5, "max_channels": 128, "norm": "instance", "skip": "concat",
               "skip_weight": 1.0, "noise_std": 0.0, "init": "normal", "native_resolution": 64,
               "prefill": "pyramid", "seed": None}  # fmt: skip
    assert normalize_arch({"class": "UNetGenerator", "init": shipped}) == "unet.prefill.small"
    legacy = {"class": "PatchDiscriminator", "init": {"base_channels": 32, "num_layers": 2}}
    assert normalize_arch(legacy) == {"preset": "patch.34", "args": {"base_channels": 32}}
    assert type(build_model(legacy)).__name__ == "PatchDiscriminator"


def test_every_constructor_argument_is_recorded_by_signature_binding():
    import inspect

    from inpaintlab.models import records_init_args

    for name in ("unet.tiny", "context_encoder.tiny", "timm_unet.tiny", "patch.tiny", "global.tiny",
                 "dual.tiny", "resnet.tiny", "unet_translator.tiny", "style_classifier.tiny"):  # fmt: skip
        model = build_model(name)
        assert set(model.init_args) == set(inspect.signature(type(model)).parameters), name
        assert arch_of(model) == name

    class Wider(UNetGenerator):  # a new argument is recorded without anyone listing it
        @records_init_args
        def __init__(self, extra: int = 3, **kwargs):
            super().__init__(**kwargs)

    wide = Wider(extra=5, depth=2, base_channels=2)
    assert wide.init_args["extra"] == 5 and wide.init_args["depth"] == 2 and "base_channels" in wide.init_args


def test_layers_norms_init_and_padding():
    assert isinstance(make_norm("batch", 4), nn.BatchNorm2d)
    assert isinstance(make_norm("instance", 4), nn.InstanceNorm2d) and make_norm("instance", 4).affine
    assert isinstance(make_norm("spectral", 4), nn.Identity)
    assert isinstance(make_norm("none", 4), nn.Identity)
    with pytest.raises(ValueError, match="norm must be one of"):
        make_norm("layer", 4)
    conv = nn.Conv2d(64, 64, 5)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        init_weights(conv, "normal")
    assert abs(conv.weight.std().item() - 0.02) < 0.001 and abs(conv.weight.mean().item()) < 0.001
    assert torch.all(conv.bias == 0)
    x = torch.arange(15.0).view(1, 1, 3, 5)
    padded = pad_to_multiple(x, 4)
    assert padded.shape == (1, 1, 4, 8)
    assert torch.equal(padded[..., :3, :5], x)
    assert torch.equal(padded[0, 0, 3, :5], x[0, 0, 1])  # reflect: row 3 mirrors row 1
    tiny = pad_to_multiple(x, 8)  # padding larger than the image: replicate
    assert tiny.shape == (1, 1, 8, 8) and torch.equal(tiny[0, 0, 7, :5], x[0, 0, 2])


@pytest.mark.gpu
def test_unet_on_gpu():
    model = create_generator("unet.tiny", seed=0).cuda()
    image, mask = _batch(37, 45)
    out = model(image.cuda(), mask.cuda())
    assert out.is_cuda and out.shape == image.shape
    known = (mask == 0).expand_as(image).cuda()
    assert torch.equal(out[known], image.cuda()[known])
