"""DilatedUNet: the fast 256 px generator (harmonic prefill + gated low-resolution correction)."""

from __future__ import annotations

import pytest
import torch

from inpaintlab.models import DilatedUNet, create_generator, pyramid_fill
from inpaintlab.models.dilated_unet import PREFILL_COARSE_ITERS, PREFILL_SOLVERS


def _hole_batch(size: int, n: int = 1, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(n, 3, size, size, generator=g)
    mask = torch.zeros(n, 1, size, size)
    mask[..., size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = 1
    return image, mask


def test_untrained_model_returns_the_converged_harmonic_prior():
    model = create_generator("dilated_unet.tiny", seed=0).eval()
    image, mask = _hole_batch(40)
    expected = pyramid_fill(image, mask, coarse_iters=PREFILL_COARSE_ITERS).clamp(1e-3, 1 - 1e-3)
    out = model(image, mask)
    assert torch.allclose(out[mask.expand_as(out) > 0], expected[mask.expand_as(out) > 0], atol=1e-6)


@pytest.mark.parametrize("size", [(1, 1), (5, 7), (37, 45), (64, 16)])
def test_any_size_and_known_pixels_bit_identical(size):
    model = create_generator("dilated_unet.tiny", seed=0)
    with torch.no_grad():
        model.prefill_gate.fill_(1.0)
    image = torch.rand(2, 3, *size)
    mask = (torch.rand(2, 1, *size) > 0.6).float()
    out = model(image, mask)
    assert out.shape == image.shape
    known = (mask == 0).expand_as(image)
    assert torch.equal(out[known], image[known])


def test_receptive_field_covers_a_128_pixel_hole_at_full_scale():
    """The centre of a 128x128 hole in a 256 px picture depends on pixels outside the hole."""
    torch.manual_seed(0)
    model = create_generator("dilated_unet.base", seed=0)
    with torch.no_grad():
        model.prefill_gate.fill_(1.0)
        for block in model.blocks:  # residual branches start at zero: open them
            block.mix.weight.normal_(0, 0.05)
    image, mask = _hole_batch(256)
    image.requires_grad_(True)
    out = model.predict(image, mask)
    out[0, :, 128, 128].sum().backward()
    grad = image.grad[0].abs().sum(0)
    # known pixels 60+ px outside the hole border on every side reach the centre
    assert grad[:4, :].sum() > 0 and grad[-4:, :].sum() > 0 and grad[:, :4].sum() > 0 and grad[:, -4:].sum() > 0


def test_output_does_not_depend_on_the_batch_or_the_picture_around_a_window():
    """No normalisation layers: a picture gives the same fill alone or in a batch (unlike batch norm)."""
    model = create_generator("dilated_unet.tiny", seed=0).eval()
    with torch.no_grad():
        model.prefill_gate.fill_(1.0)
    image, mask = _hole_batch(48, n=3)
    together = model(image, mask)
    alone = torch.cat([model(image[i : i + 1], mask[i : i + 1]) for i in range(3)])
    assert torch.allclose(together, alone, atol=1e-6)


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="channels must have 4 values"):
        DilatedUNet(channels=[8, 8, 8])
    with pytest.raises(ValueError, match="dilations"):
        DilatedUNet(dilations=[1, 0])


def test_torchscript_trace_matches_eager():
    model = create_generator("dilated_unet.tiny", seed=0).eval()
    with torch.no_grad():
        model.prefill_gate.fill_(1.0)
    image, mask = _hole_batch(32)
    traced = torch.jit.trace(model, (image, mask), check_trace=False)
    assert torch.allclose(traced(image, mask), model(image, mask), atol=1e-6)


def test_the_sor_prefill_is_the_same_network_with_another_prefill():
    """prefill_solver="sor" loads Jacobi weights, rebuilds from its spec with the SOR prefill, and fills
    differently from the Jacobi model with the same weights (nearer the converged harmonic fill)."""
    from inpaintlab.models import arch_of, build_model

    jacobi = create_generator("dilated_unet.tiny", seed=0).eval()
    sor = build_model({"preset": "dilated_unet.tiny", "args": {"prefill_solver": "sor"}}).eval()
    sor.load_state_dict(jacobi.state_dict())
    assert sor.prefill_options == {"smooth_iters": 4, "coarse_iters": 32, "over_relaxation": 1.8}
    yy, xx = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    image = (0.5 + 0.2 * torch.sin(xx / 9) * torch.cos(yy / 13)).expand(1, 3, 64, 64).contiguous()
    _, mask = _hole_batch(64)
    converged = pyramid_fill(image, mask, smooth_iters=2000).clamp(1e-3, 1 - 1e-3)
    hole = mask.expand_as(image) > 0
    with torch.no_grad():  # untrained (gate 0): each returns its own prior
        sor_error = (sor(image, mask) - converged)[hole].abs().mean()
        jacobi_error = (jacobi(image, mask) - converged)[hole].abs().mean()
    assert sor_error < 0.5 * jacobi_error
    base_sor = {"preset": "dilated_unet.base", "args": {"prefill_solver": "sor"}}
    assert arch_of(build_model(base_sor)) == base_sor  # a setting, not a preset of its own
    sor.prefill_options["over_relaxation"] = 1.5  # a model's options are its own
    assert build_model(base_sor).prefill_options["over_relaxation"] == 1.8
    with pytest.raises(ValueError, match="prefill_solver must be one of"):
        DilatedUNet(prefill_solver="gauss")


def test_the_sor8_prefill_is_nearer_the_converged_fill_than_sor():
    """prefill_solver="sor8" (8 SOR sweeps at full size doubling to 32) takes the same weights and fills a
    large hole closer to the converged harmonic fill than sor's 4 sweeps (doubling to 32)."""
    from inpaintlab.models import build_model

    def untrained(solver):
        return build_model({"preset": "dilated_unet.tiny", "args": {"prefill_solver": solver}}).eval()

    sor, sor8 = untrained("sor"), untrained("sor8")
    sor8.load_state_dict(sor.state_dict())
    assert sor8.prefill_options == {"smooth_iters": 8, "coarse_iters": 32, "over_relaxation": 1.8}
    yy, xx = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    image = (0.5 + 0.3 * torch.sin(xx / 11) * torch.cos(yy / 17)).expand(1, 3, 64, 64).contiguous()
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., 10:54, 10:54] = 1  # a 44 px hole: the coarse levels carry it
    converged = pyramid_fill(image, mask, smooth_iters=150, over_relaxation=1.8).clamp(1e-3, 1 - 1e-3)
    hole = mask.expand_as(image) > 0
    with torch.no_grad():  # untrained (gate 0): each returns its own prior
        sor_error = (sor(image, mask) - converged)[hole].abs().mean()
        sor8_error = (sor8(image, mask) - converged)[hole].abs().mean()
    assert sor8_error < 0.7 * sor_error  # measured: 0.0007 vs 0.0015 (1000 sweeps: the same)


def test_the_old_preset_names_of_written_files_read_as_the_network_with_its_setting():
    """The shipped files say dilated_unet.sor8 / sor8_fine_mid in their metadata, training checkpoints of
    the recipes dilated_unet.sor / sor_fine / sor_fine_mid: each builds the network it named, with its
    prefill solver, and a file of one stage loads into the next."""
    from inpaintlab.models import PRESETS, arch_of, build_model, normalize_arch

    expected = {
        "dilated_unet.sor": ("dilated_unet.base", {"prefill_solver": "sor"}),
        "dilated_unet.sor8": ("dilated_unet.base", {"prefill_solver": "sor8"}),
        "dilated_unet.sor_fine": ("dilated_unet.base", {"prefill_solver": "sor", "fine_dilations": [1, 2, 4]}),
        "dilated_unet.sor_fine_mid": ("dilated_unet.fine_mid", {"prefill_solver": "sor"}),
        "dilated_unet.sor8_fine_mid": ("dilated_unet.fine_mid", {"prefill_solver": "sor8"}),
    }
    for old, (preset, args) in expected.items():
        assert old not in PRESETS
        spec = {"preset": preset, "args": args}
        assert normalize_arch(old) == spec and arch_of(build_model(old)) == spec, old
        model = build_model({"preset": old, "args": {"seed": 0}})  # overrides still apply
        assert model.init_args["seed"] == 0 and model.prefill_options == PREFILL_SOLVERS[args["prefill_solver"]]
    build_model("dilated_unet.sor8").load_state_dict(build_model("dilated_unet.sor", seed=0).state_dict())
    build_model("dilated_unet.sor8_fine_mid").load_state_dict(build_model("dilated_unet.sor_fine_mid").state_dict())


@pytest.mark.parametrize(
    "option, blocks, scale",
    [("fine_dilations", "fine_blocks", 0), ("mid_dilations", "mid_blocks", 1)],  # encoder index: 0 = 1/2, 1 = 1/4
)
def test_added_blocks_start_as_identity_so_a_file_without_them_grows_into_them(option, blocks, scale):
    """A model with fine (1/2 scale) or mid (1/4 scale) blocks, given the weights of the same model without
    them, fills bit-identically until the blocks train; the blocks then change the fill, and they sit at
    their scale's width."""
    widths = [4, 6, 8, 10]  # one width per scale, so a block at the wrong scale would not fit
    plain = create_generator("dilated_unet.tiny", channels=widths, seed=0).eval()
    with torch.no_grad():
        plain.prefill_gate.fill_(1.0)
    grown = create_generator("dilated_unet.tiny", channels=widths, **{option: [1, 2]}).eval()
    result = grown.load_state_dict(plain.state_dict(), strict=False)
    assert not result.unexpected_keys
    assert sorted({k.rsplit(".", 2)[0] for k in result.missing_keys}) == [f"{blocks}.0", f"{blocks}.1"]
    image, mask = _hole_batch(48, n=2)
    with torch.no_grad():
        assert torch.equal(grown(image, mask), plain(image, mask))
        for block in getattr(grown, blocks):
            block.mix.weight.normal_(0, 0.1)
        changed = grown(image, mask)
    hole = mask.expand_as(image) > 0
    assert (changed - plain(image, mask))[hole].abs().max() > 1e-4
    assert torch.equal(changed[~hole], image[~hole])
    assert getattr(grown, blocks)[0].spatial.in_channels == grown.encoder[scale].out_channels
    with pytest.raises(ValueError, match=option):
        DilatedUNet(**{option: [0]})


def test_the_grown_networks_nest():
    """base's files load into base with fine blocks, those into fine_mid: each adds to the one before."""
    from inpaintlab.models import PRESETS

    assert PRESETS["dilated_unet.base"].kwargs == {}
    assert PRESETS["dilated_unet.fine_mid"].kwargs == {"fine_dilations": [1, 2, 4], "mid_dilations": [1, 2, 4]}
    networks = [create_generator("dilated_unet.base"), create_generator("dilated_unet.base", fine_dilations=[1, 2, 4])]
    keys = [set(g.state_dict()) for g in [*networks, create_generator("dilated_unet.fine_mid")]]
    assert keys[0] < keys[1] < keys[2]
    assert {k.split(".")[0] for k in keys[1] - keys[0]} == {"fine_blocks"}
    assert {k.split(".")[0] for k in keys[2] - keys[1]} == {"mid_blocks"}
