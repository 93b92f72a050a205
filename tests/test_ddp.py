"""Two-process DDP (gloo, CPU) with manual optimisation and two models.

A script trains tiny G and D for a few steps with ``strategy="ddp_find_unused_parameters_true"``, ``devices=2`` (Lightning relaunches
the script for rank 1), then validates; every rank saves its weights. The test checks that both ranks
hold identical G, D and EMA weights and that the validation metrics (hole PSNR/SSIM/L1 and FID, whose
states are gathered from both ranks) equal those of a single process over the same images and weights.
A second fit uses a BatchNorm discriminator (run on the real and the fake batch separately).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch
from torch import nn

from inpaintlab.data import InpaintDataModule
from inpaintlab.masks import BlockMasks
from inpaintlab.module import InpaintGAN
from inpaintlab.training.synthetic import write_image_folder

REPO = Path(__file__).resolve().parents[1]

SCRIPT = r"""
import json, sys
from pathlib import Path

import lightning as L
import torch

from inpaintlab.data import InpaintDataModule
from inpaintlab.masks import BlockMasks
from inpaintlab.module import InpaintGAN


class ChannelStats(torch.nn.Module):
    num_features = 3

    def forward(self, images):
        return images.mean(dim=(2, 3))


out, data = Path(sys.argv[1]), Path(sys.argv[2])


def data_module():
    return InpaintDataModule(
        train_dir=str(data / "train"), val_dir=str(data / "val"), image_size=32, batch_size=2, num_workers=0,
        masks=BlockMasks(num_blocks=2), seed=0,
    )


def trainer():
    return L.Trainer(
        accelerator="cpu", devices=2, strategy="ddp_find_unused_parameters_true", max_epochs=1, limit_train_batches=3,
        logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        num_sanity_val_steps=0,
    )


L.seed_everything(0)
model = InpaintGAN(
    "unet.tiny", "patch.tiny", ema_decay=0.5, warmup_steps=1, diff_augment="color,translation",
    fid_every_n_epochs=1, fid_feature_extractor=ChannelStats(), num_grid_images=0,
)
t = trainer()
t.fit(model, data_module())
torch.save(model.state_dict(), out / f"rank{t.global_rank}.pt")
metrics = t.validate(model, data_module(), verbose=False)[0]
if t.global_rank == 0:
    (out / "metrics.json").write_text(json.dumps({k: float(v) for k, v in metrics.items()}))

bn_model = InpaintGAN(
    "unet.tiny",
    {"class": "PatchDiscriminator", "init": {"base_channels": 4, "num_layers": 2, "norm": "batch"}},
    fid_every_n_epochs=0, num_grid_images=0,
)
t = trainer()
t.fit(bn_model, data_module())
torch.save({k: v for k, v in bn_model.named_parameters()}, out / f"bn_rank{t.global_rank}.pt")
"""


class ChannelStats(nn.Module):
    num_features = 3

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images.mean(dim=(2, 3))


def test_two_process_ddp_matches_single_process(tmp_path):
    data = tmp_path / "data"
    write_image_folder(data / "train", 12, 32, seed=0)
    write_image_folder(data / "val", 8, 32, seed=1)
    script = tmp_path / "ddp_fit.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    env.pop("LOCAL_RANK", None)
    proc = subprocess.run(
        [sys.executable, str(script), str(tmp_path), str(data)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]

    rank0, rank1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert rank0.keys() == rank1.keys()
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), key
    fresh = InpaintGAN("unet.tiny", "patch.tiny", ema_decay=0.5).state_dict()
    assert any(not torch.equal(fresh[k], rank0[k]) for k in rank0 if k.startswith("generator."))
    assert any(not torch.equal(fresh[k], rank0[k]) for k in rank0 if k.startswith("discriminator."))
    assert any(not torch.equal(fresh[k], rank0[k]) for k in rank0 if k.startswith("generator_ema."))

    bn0, bn1 = (torch.load(tmp_path / f"bn_rank{r}.pt", weights_only=True) for r in (0, 1))
    for key in bn0:
        assert torch.equal(bn0[key], bn1[key]), key

    # the same weights and images in one process give the same validation numbers
    ddp_metrics = json.loads((tmp_path / "metrics.json").read_text())
    model = InpaintGAN(
        "unet.tiny", "patch.tiny", ema_decay=0.5, fid_every_n_epochs=1, fid_feature_extractor=ChannelStats(),
        num_grid_images=0,
    )  # fmt: skip
    model.load_state_dict(rank0)
    datamodule = InpaintDataModule(
        train_dir=str(data / "train"), val_dir=str(data / "val"), image_size=32, batch_size=2, num_workers=0,
        masks=BlockMasks(num_blocks=2), seed=0,
    )  # fmt: skip
    trainer = L.Trainer(
        accelerator="cpu", devices=1, logger=False, enable_progress_bar=False, enable_model_summary=False
    )
    single = trainer.validate(model, datamodule, verbose=False)[0]
    assert {"val/fid", "val/psnr_hole", "val/ssim_hole", "val/l1_hole"} <= set(single)
    assert ddp_metrics.keys() == single.keys()
    for key, value in single.items():
        assert ddp_metrics[key] == pytest.approx(float(value), rel=1e-5, abs=1e-6), key
