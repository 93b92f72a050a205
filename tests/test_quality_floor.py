"""The shipped checkpoints are never worse than their own classical prior on thin strokes, at any size.

The lesson of the 64 px zoo: downscaling a picture for the model erases the thin structures a local fill
keeps, and the fill lost 0.4-2.7 dB to a plain harmonic fill at 256 px. The inference plan now runs thin
holes at full scale; this checks it on the shipped public-domain painting with LaMa-like thin strokes at
256, 512 and 1024 px. It checks the network's own fill (``texture=False``): the texture stage adds detail
that is not the hole's own and trades PSNR for realism by design (docs/texture.md, measured there).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from inpaintlab import load
from inpaintlab.masks import stroke_mask
from inpaintlab.metrics.hole import hole_metrics
from inpaintlab.models.prefill import pyramid_fill

PAINTING = Path(__file__).resolve().parents[1] / "examples" / "assets" / "monet.jpg"
TOLERANCE_DB = 0.1


@pytest.fixture(scope="module")
def painting() -> torch.Tensor:
    rgb = np.asarray(Image.open(PAINTING).convert("RGB"), dtype=np.float32) / 255
    return torch.from_numpy(rgb).permute(2, 0, 1)[None].contiguous()


@pytest.mark.parametrize("size", [256, 512, 1024])
@pytest.mark.parametrize("name", ["photo-region", "monet-region"])
def test_region_checkpoint_is_never_worse_than_the_harmonic_fill_on_thin_strokes(painting, name, size):
    image = F.interpolate(painting, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1)
    mask = stroke_mask(size, style="thin", generator=torch.Generator().manual_seed(size))
    with torch.inference_mode():
        ours = load(name, device="cpu", texture=False)(image, mask)
    ours_db = float(hole_metrics(ours, image, mask, reduction="mean")["psnr_hole"])
    prior_db = float(hole_metrics(pyramid_fill(image, mask), image, mask, reduction="mean")["psnr_hole"])
    assert ours_db >= prior_db - TOLERANCE_DB, f"{name} at {size} px: {ours_db:.2f} dB vs prior {prior_db:.2f} dB"
