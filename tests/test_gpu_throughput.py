"""benchmarks/train_throughput.py, the GPU throughput benchmark: it builds a recipe's model and feeds it the
batches its task takes. CPU, tiny batches; no timing."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
import train_throughput  # noqa: E402


def test_throughput_feeds_unpaired_batches_to_the_stylize_recipe():
    """train_throughput.py tells a CycleGAN recipe by its data class (a StylizeDataModule), so the GPU run's
    stylize throughput gets {photo, monet} batches (it once fed it inpainting batches: KeyError 'photo')."""
    stylize = train_throughput.Recipe(REPO / "examples" / "configs" / "gpu" / "cyclegan-monet.yaml")
    inpaint = train_throughput.Recipe(REPO / "examples" / "configs" / "photo-center.yaml")
    assert stylize.unpaired and not inpaint.unpaired
    assert set(train_throughput.DeviceBatches(1, 2, 8, "cpu", stylize.unpaired)[0]) == {"photo", "monet"}
    assert {"image", "mask"} <= set(train_throughput.DeviceBatches(1, 2, 8, "cpu", inpaint.unpaired)[0])
