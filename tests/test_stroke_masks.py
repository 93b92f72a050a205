"""LaMa-style stroke masks (inpaintlab.masks.strokes)."""

from __future__ import annotations

import pytest
import torch

from inpaintlab.masks import STROKE_PRESETS, MixedMasks, StrokeMasks, stroke_mask


@pytest.mark.parametrize("style", sorted(STROKE_PRESETS))
def test_masks_are_binary_nonempty_and_within_max_area(style):
    g = torch.Generator().manual_seed(0)
    masks = stroke_mask(64, style=style, batch=16, max_area=0.5, generator=g)
    assert masks.shape == (16, 1, 64, 64) and masks.dtype == torch.float32
    assert set(masks.unique().tolist()) <= {0.0, 1.0}
    area = masks.mean(dim=(1, 2, 3))
    assert torch.all(area > 0) and torch.all(area <= 0.5)


def test_families_differ_as_lama_defines_them():
    """Thin masks have many narrow strokes: at equal area, far more hole border than thick masks."""
    g = torch.Generator().manual_seed(1)

    def border_per_hole_pixel(style):
        m = stroke_mask(128, style=style, batch=32, generator=g)[:, 0]
        edges = (m[:, 1:, :] != m[:, :-1, :]).sum() + (m[:, :, 1:] != m[:, :, :-1]).sum()
        return float(edges) / float(m.sum())

    thin, thick = border_per_hole_pixel("thin"), border_per_hole_pixel("thick")
    assert thin > 2 * thick


def test_same_generator_state_same_masks_and_sizes_scale():
    a = stroke_mask((48, 80), style="medium", batch=4, generator=torch.Generator().manual_seed(5))
    b = StrokeMasks(style="medium")(4, (48, 80), generator=torch.Generator().manual_seed(5))
    assert a.shape == (4, 1, 48, 80) and torch.equal(a, b)


def test_mixed_with_seed_kinds_reports_region():
    sampler = MixedMasks(weights={"thin": 1.0}, samplers={"thin": StrokeMasks(style="thin")})
    masks, kinds = sampler.sample_with_kinds(3, 32, generator=torch.Generator().manual_seed(0))
    assert kinds == ["region"] * 3 and masks.shape == (3, 1, 32, 32)


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="style must be one of"):
        stroke_mask(64, style="huge")
    with pytest.raises(ValueError, match="max_area"):
        StrokeMasks(max_area=0.0)
    with pytest.raises(ValueError, match="too small"):
        stroke_mask(4)
