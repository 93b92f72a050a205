"""examples/configs/gpu/train-zoo.sh: the GPU recipes in order, each exported from the folder its recipe writes,
and each fine-tune started from a run the script made before it. Run with a stand-in `inpaintlab` that logs."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "examples" / "configs" / "gpu" / "train-zoo.sh"


def _commands(tmp_path: Path, *args: str) -> list[list[str]]:
    log = tmp_path / "calls.txt"
    stub = tmp_path / "inpaintlab"
    stub.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> {shlex.quote(str(log))}\n')
    stub.chmod(0o755)
    env = {**os.environ, "INPAINTLAB": str(stub), "PYTHON": sys.executable}
    subprocess.run(["bash", str(SCRIPT), *args], cwd=tmp_path, env=env, check=True, capture_output=True, timeout=60)
    return [line.split() for line in log.read_text().splitlines()]


def test_each_fit_is_exported_from_its_recipes_checkpoint_folder_with_the_fit_arguments(tmp_path):
    calls = _commands(tmp_path, "--trainer.max_epochs", "1")
    fits, exports = calls[0::2], calls[1::2]
    assert [c[0] for c in fits] == ["fit"] * 3 and [c[0] for c in exports] == ["export"] * 3
    assert [e[e.index("--name") + 1] for e in exports] == ["photo-universal", "monet-universal", "photo2monet"]
    for fit, export in zip(fits, exports):
        recipe = fit[fit.index("-c") + 1]
        assert fit[-2:] == ["--trainer.max_epochs", "1"]
        assert (REPO / recipe).is_file(), recipe
        dirpath = yaml.safe_load((REPO / recipe).read_text())["checkpoint"]["dirpath"]
        assert export[1] == f"{dirpath}/latest/best.ckpt"
        assert export[export.index("--recipe") + 1] == recipe


def test_every_fine_tune_starts_from_a_checkpoint_an_earlier_step_wrote(tmp_path):
    calls = _commands(tmp_path)
    written: list[str] = []
    for call in calls:
        if call[0] == "export":
            written.append(call[1])
            continue
        args = yaml.safe_load((REPO / call[call.index("-c") + 1]).read_text())["model"]["init_args"]
        init_from = args.get("init_from")
        assert init_from is None or init_from in written, (call, init_from)
    assert "runs/photo-universal/checkpoints/latest/best.ckpt" in written
