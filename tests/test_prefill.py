"""pyramid_fill (multigrid harmonic fill) and the U-Net's ``prefill="pyramid"`` option."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from inpaintlab.models import UNetGenerator, create_generator
from inpaintlab.models.prefill import PyramidFill, _neighbour_sum, checkerboard, pyramid_fill, relax, relax_in_place


def _square_mask(n=2, h=32, w=40, box=(8, 20, 10, 26)):
    mask = torch.zeros(n, 1, h, w)
    mask[..., box[0] : box[1], box[2] : box[3]] = 1
    return mask


def _harmonic_reference(image, mask, sweeps=4000):
    """Plain Jacobi iteration of the Laplace equation inside the hole, to convergence."""
    hole = mask > 0.5
    fill = torch.where(hole, torch.zeros_like(image), image)
    kernel = torch.tensor([[0.0, 0.25, 0.0], [0.25, 0.0, 0.25], [0.0, 0.25, 0.0]]).repeat(image.shape[1], 1, 1, 1)
    for _ in range(sweeps):
        neighbours = F.conv2d(F.pad(fill, (1, 1, 1, 1), mode="replicate"), kernel, groups=image.shape[1])
        fill = torch.where(hole, neighbours, image)
    return fill


def test_known_pixels_are_bit_identical_and_hole_nans_ignored():
    image = torch.rand(2, 3, 32, 40, generator=torch.Generator().manual_seed(0))
    mask = _square_mask()
    poisoned = torch.where(mask.bool().expand_as(image), torch.full_like(image, float("nan")), image)
    out = pyramid_fill(poisoned, mask)
    known = mask.expand_as(image) == 0
    assert torch.equal(out[known], image[known])
    assert torch.isfinite(out).all()
    assert 0 <= out.min() and out.max() <= 1  # a convex combination of known values


def test_constant_image_is_filled_with_its_constant_and_a_full_mask_with_empty_value():
    image = torch.full((1, 3, 24, 24), 0.3)
    assert torch.allclose(pyramid_fill(image, _square_mask(1, 24, 24, (2, 20, 3, 21))), image, atol=1e-6)
    full = pyramid_fill(image, torch.ones(1, 1, 24, 24), empty_value=0.7)
    assert torch.allclose(full, torch.full_like(image, 0.7))


def test_matches_the_harmonic_solution_and_reproduces_a_linear_ramp():
    image = torch.rand(2, 3, 32, 40, generator=torch.Generator().manual_seed(1))
    mask = _square_mask()
    reference = _harmonic_reference(image, mask)
    hole = mask.expand_as(image) > 0.5
    assert (pyramid_fill(image, mask, smooth_iters=8) - reference)[hole].abs().mean() < 0.02
    # more sweeps per level converge further; 0 sweeps is plain push-pull and much further off
    errors = [(pyramid_fill(image, mask, smooth_iters=k) - reference)[hole].abs().mean() for k in (0, 8, 64, 256)]
    assert errors[0] > errors[1] > errors[2] > errors[3] and errors[3] < 1e-3
    ramp = torch.linspace(0, 1, 40).expand(1, 3, 32, 40).contiguous()
    assert (pyramid_fill(ramp, mask[:1], smooth_iters=64) - ramp).abs().max() < 0.03


def test_gradients_reach_the_known_pixels():
    image = torch.rand(1, 3, 16, 16, requires_grad=True)
    mask = _square_mask(1, 16, 16, (4, 10, 4, 10))
    pyramid_fill(image, mask)[..., 4:10, 4:10].sum().backward()
    assert image.grad[..., 4:10, 4:10].abs().sum() == 0  # hole pixels are never read
    assert image.grad.abs().sum() > 0


def test_bad_input_is_named():
    with pytest.raises(ValueError, match=r"\(N,C,H,W\)"):
        pyramid_fill(torch.rand(3, 8, 8), torch.zeros(1, 8, 8))
    with pytest.raises(ValueError, match="differ"):
        pyramid_fill(torch.rand(1, 3, 8, 8), torch.zeros(1, 1, 8, 9))
    with pytest.raises(ValueError, match="smooth_iters"):
        pyramid_fill(torch.rand(1, 3, 8, 8), torch.zeros(1, 1, 8, 8), smooth_iters=-1)
    assert torch.equal(PyramidFill()(torch.ones(1, 3, 8, 8), torch.zeros(1, 1, 8, 8)), torch.ones(1, 3, 8, 8))


def test_unet_with_prefill_starts_near_the_fill_and_trains():
    torch.manual_seed(0)
    model = create_generator("unet.tiny", prefill="pyramid")
    assert model.init_args["prefill"] == "pyramid"
    rebuilt = UNetGenerator(**model.init_args)
    rebuilt.load_state_dict(model.state_dict())
    image = torch.rand(2, 3, 32, 40, generator=torch.Generator().manual_seed(2))
    mask = _square_mask()
    with torch.no_grad():
        pred = model.predict(image, mask)
        assert torch.equal(pred, rebuilt.predict(image, mask))
    hole = mask.expand_as(image) > 0.5
    assert torch.allclose(pred, pyramid_fill(image, mask).clamp(1e-3, 1 - 1e-3), atol=1e-5)  # gate starts at 0
    out = model(image, mask)
    assert torch.equal(out[~hole], image[~hole])
    out[hole].sum().backward()
    assert model.prefill_gate.grad.abs() > 0
    with pytest.raises(ValueError, match="prefill"):
        UNetGenerator(prefill="telea")


def test_coarse_iters_converge_closer_to_the_harmonic_solution():
    """Sweeps that double toward the coarse levels land nearer the converged solve than 8 everywhere
    (on a smooth picture, where the remaining error is the slow, coarse-scale part)."""
    yy, xx = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    image = (0.5 + 0.2 * torch.sin(xx / 9) * torch.cos(yy / 13)).expand(1, 3, 64, 64).contiguous()
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., 12:52, 12:52] = 1
    converged = pyramid_fill(image, mask, smooth_iters=3000)
    plain = (pyramid_fill(image, mask) - converged).abs().mean()
    doubled = (pyramid_fill(image, mask, coarse_iters=64) - converged).abs().mean()
    assert doubled < 0.8 * plain
    assert torch.equal(pyramid_fill(image, mask, coarse_iters=8), pyramid_fill(image, mask))
    with pytest.raises(ValueError, match="coarse_iters"):
        pyramid_fill(image, mask, smooth_iters=8, coarse_iters=4)


def test_red_black_sor_converges_to_the_same_harmonic_solution_faster():
    """over_relaxation: red-black SOR sweeps solve the same equation (same limit as Jacobi), and for the
    same work (one SOR sweep = two Jacobi sweeps) land much nearer the converged solution."""
    image = torch.rand(2, 3, 32, 40, generator=torch.Generator().manual_seed(1))
    mask = _square_mask()
    reference = _harmonic_reference(image, mask)
    hole = mask.expand_as(image) > 0.5
    assert (pyramid_fill(image, mask, smooth_iters=300, over_relaxation=1.8) - reference)[hole].abs().max() < 1e-4
    # a smooth picture and a large hole, where the remaining error is the slow part that SOR removes
    yy, xx = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    smooth = (0.5 + 0.2 * torch.sin(xx / 9) * torch.cos(yy / 13)).expand(1, 3, 64, 64).contiguous()
    square = torch.zeros(1, 1, 64, 64)
    square[..., 12:52, 12:52] = 1
    converged = pyramid_fill(smooth, square, smooth_iters=3000)
    jacobi = (pyramid_fill(smooth, square, smooth_iters=8, coarse_iters=64) - converged).abs().mean()
    sor = (pyramid_fill(smooth, square, smooth_iters=4, coarse_iters=32, over_relaxation=1.8) - converged).abs().mean()
    assert sor < 0.4 * jacobi  # measured: 0.25x
    known = ~hole
    out = pyramid_fill(image, mask, smooth_iters=4, over_relaxation=1.5)
    assert torch.equal(out[known], image[known])
    assert torch.equal(PyramidFill(smooth_iters=4, over_relaxation=1.5)(image, mask), out)
    for bad in (0, 2, -1.0, 2.5, True):
        with pytest.raises(ValueError, match=r"over_relaxation must be None \(Jacobi\) or a number in \(0, 2\)"):
            pyramid_fill(image, mask, over_relaxation=bad)
    with pytest.raises(ValueError, match="over_relaxation"):
        PyramidFill(over_relaxation=2)


def test_checkerboard_follows_the_input_size_in_every_dtype():
    board = checkerboard(torch.zeros(2, 3, 3, 4))
    expected = torch.tensor([[0.0, 1, 0, 1], [1, 0, 1, 0], [0, 1, 0, 1]])
    assert board.shape == (1, 1, 3, 4) and torch.equal(board[0, 0], expected)
    # bfloat16 counts exactly only to 256, float16 to 2048: the board must stay exact far beyond
    for dtype in (torch.bfloat16, torch.float16):
        wide = checkerboard(torch.zeros(1, 1, 3, 3000, dtype=dtype))
        assert wide.dtype == dtype
        assert torch.equal(wide[0, 0].float(), (torch.arange(3).view(-1, 1) + torch.arange(3000)).remainder(2).float())


@pytest.mark.parametrize("over_relaxation", [None, 1.8])
@pytest.mark.parametrize("shape", [(1, 3, 1, 1), (1, 3, 1, 5), (2, 3, 2, 2), (1, 3, 7, 3), (2, 1, 12, 9)])
def test_in_place_sweeps_match_the_functional_ones(shape, over_relaxation):
    generator = torch.Generator().manual_seed(3)
    fill, known = torch.rand(shape, generator=generator), torch.rand(shape, generator=generator)
    free = 0.25 * torch.rand(shape[0], 1, *shape[2:], generator=generator)
    expected = relax(fill, known, free, 6, _neighbour_sum, over_relaxation)
    result = relax_in_place(fill, known, free, 6, over_relaxation)
    assert result.is_contiguous() and not torch.equal(result, fill)
    torch.testing.assert_close(result, expected, rtol=0, atol=2e-6)
    assert torch.equal(relax(fill, known, free, 6, None, over_relaxation), result)  # None = these sweeps


def test_the_fill_with_and_without_gradients_agrees():
    image = torch.rand(2, 3, 37, 50, generator=torch.Generator().manual_seed(4))
    mask = _square_mask(2, 37, 50, (5, 30, 8, 41))
    options = {"smooth_iters": 8, "coarse_iters": 32, "over_relaxation": 1.8}
    with torch.no_grad():
        in_place = pyramid_fill(image, mask, **options)
    functional = pyramid_fill(image.clone().requires_grad_(), mask, **options)
    assert functional.requires_grad and not in_place.requires_grad
    torch.testing.assert_close(in_place, functional.detach(), rtol=0, atol=1e-5)


@pytest.mark.parametrize("box", [(3, 9, 4, 11), (4, 9, 4, 11), (0, 2, 0, 17), (11, 12, 16, 17)])
def test_in_place_sweeps_relax_only_the_hole_box_and_agree(box):
    generator = torch.Generator().manual_seed(5)
    fill, known = torch.rand(2, 3, 12, 17, generator=generator), torch.rand(2, 3, 12, 17, generator=generator)
    free = torch.zeros(2, 1, 12, 17)
    free[1, :, box[0] : box[1], box[2] : box[3]] = 0.25  # odd and even box origins, borders, one cell
    known = torch.where(free > 0, known, fill)  # a known cell's fill is its known value, as in fill_level
    for over_relaxation in (None, 1.8):
        expected = relax(fill, known, free, 5, _neighbour_sum, over_relaxation)
        result = relax_in_place(fill, known, free, 5, over_relaxation)
        torch.testing.assert_close(result, expected, rtol=1e-6, atol=1e-5)
        outside = (free == 0).expand_as(fill).clone()
        outside[..., max(box[0] - 1, 0) : box[1] + 1, max(box[2] - 1, 0) : box[3] + 1] = False
        assert torch.equal(result[outside], fill[outside])  # never touched
    assert torch.equal(relax_in_place(fill, known, torch.zeros_like(free), 5, 1.8), fill)


def test_a_trace_of_the_fill_follows_the_hole_it_is_given():
    image = torch.rand(1, 3, 24, 24, generator=torch.Generator().manual_seed(6))
    traced_with, other = _square_mask(1, 24, 24, (2, 6, 3, 9)), _square_mask(1, 24, 24, (12, 22, 10, 20))
    options = {"smooth_iters": 4, "coarse_iters": 16, "over_relaxation": 1.8}
    with torch.no_grad():
        traced = torch.jit.trace(lambda i, m: pyramid_fill(i, m, **options), (image, traced_with), check_trace=False)
        torch.testing.assert_close(traced(image, other), pyramid_fill(image, other, **options), rtol=0, atol=1e-5)


def test_a_compiled_fill_is_one_graph():
    image = torch.rand(1, 3, 20, 20, generator=torch.Generator().manual_seed(7))
    mask = _square_mask(1, 20, 20, (3, 9, 5, 14))
    options = {"smooth_iters": 2, "coarse_iters": 4, "over_relaxation": 1.8}
    compiled = torch.compile(lambda i, m: pyramid_fill(i, m, **options), backend="eager", fullgraph=True)
    with torch.no_grad():  # the in-place sweeps' hole box would break the graph (data-dependent sizes)
        torch.testing.assert_close(compiled(image, mask), pyramid_fill(image, mask, **options), rtol=0, atol=1e-5)


def test_half_precision_fills_are_finite():
    image = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(8))
    mask = _square_mask(1, 16, 16, (4, 12, 4, 12))
    half = pyramid_fill(image.half(), mask.half(), over_relaxation=1.8)
    assert half.dtype == torch.float16 and torch.isfinite(half).all()
    torch.testing.assert_close(half.float(), pyramid_fill(image, mask, over_relaxation=1.8), rtol=0, atol=1e-2)
