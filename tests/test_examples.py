"""The README's run command: examples/inpaint.py on the shipped painting, with a test-made checkpoint."""

import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from inpaintlab.hub.weights import save_weights
from inpaintlab.models import create_generator

REPO = Path(__file__).resolve().parents[1]


def test_example_writes_a_before_after_picture(tmp_path):
    model = create_generator("unet.tiny")
    weights = save_weights(model.state_dict(), tmp_path / "tiny.safetensors", "unet.tiny", metadata={"resolution": 64})
    out = tmp_path / "before-after.png"
    run = subprocess.run(
        [sys.executable, str(REPO / "examples" / "inpaint.py"), "--model", str(weights), "--output", str(out)],
        capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert f"wrote {out}" in run.stdout
    sheet = np.array(Image.open(out))
    painting = np.array(Image.open(REPO / "examples" / "assets" / "monet.jpg").convert("RGB"))
    h, w, _ = painting.shape
    assert sheet.shape == (h + 18, 3 * w + 20, 3)
    assert np.array_equal(sheet[18:, 2 * (w + 10) : 2 * (w + 10) + w], painting)  # the original panel
    assert (sheet[18:, :w] == (255, 0, 255)).all(-1).mean() > 0.01  # the hole is drawn in the input panel


def test_example_names_a_missing_model(tmp_path):
    run = subprocess.run(
        [sys.executable, str(REPO / "examples" / "inpaint.py"), "--model", "no-such-model", "--output", str(tmp_path / "x.png")],
        capture_output=True, text=True, timeout=300,
    )
    assert run.returncode != 0
    assert "no-such-model" in run.stderr


def test_auto_routes_the_shipped_painting_to_the_monet_checkpoints(monkeypatch):
    """The shipped style classifier calls the example painting Monet; mask_kind picks the kind."""
    import torch

    from inpaintlab import load
    from inpaintlab.masks import MASK_SAMPLERS

    monkeypatch.setenv("INPAINTLAB_OFFLINE", "1")
    painting = Image.open(REPO / "examples" / "assets" / "monet.jpg").convert("RGB")
    auto = load("auto", device="cpu")
    for kind in ("center", "blocks", "region"):
        mask = MASK_SAMPLERS[kind]()(1, (painting.height, painting.width), generator=torch.Generator().manual_seed(1))
        hole = mask[0, 0].numpy() > 0.5
        out = auto(painting, hole)
        assert auto.name == f"monet-{kind}"
        assert np.array_equal(np.array(out)[~hole], np.array(painting)[~hole])
        assert not np.array_equal(np.array(out)[hole], np.array(painting)[hole])
