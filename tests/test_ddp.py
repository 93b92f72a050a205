"""Two-process DDP (gloo, CPU) with manual optimisation, gradient accumulation and FID.

A script trains tiny G and D with ``strategy="ddp_find_unused_parameters_true"``, ``devices=2`` (Lightning
relaunches it for rank 1) on an uneven validation set (5 images for 2 ranks), then validates. The test
checks that both ranks hold identical weights; that a batch that only accumulates keeps its gradients
local (no all-reduce before the stepping batch); that the non-finite check reads the device once and
agrees across ranks; that FID's real statistics are cached from exactly the 5 validation images; and that
the validation metrics equal those of a single process over the same images and weights.
"""

from __future__ import annotations

import json

import lightning as L
import pytest
import torch
from conftest import ChannelStats

from inpaintlab.data.synthetic import write_image_folder
from inpaintlab.masks import BlockMasks
from inpaintlab.tasks.inpaint import InpaintDataModule, InpaintModule

SCRIPT = r"""
import json, sys
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

from conftest import ChannelStats
from inpaintlab.tasks.inpaint import InpaintDataModule
from inpaintlab.masks import BlockMasks
from inpaintlab.tasks.inpaint import InpaintModule

out, data = Path(sys.argv[1]), Path(sys.argv[2])


class Probe(Callback):
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        rank = trainer.global_rank
        if batch_idx == 0:  # accumulate_grad_batches=2: no optimizer step after this batch
            grads = {n: p.grad.clone() for n, p in pl_module.generator.named_parameters() if p.grad is not None}
            torch.save(grads, out / f"micro{rank}.pt")
        if batch_idx == 1:  # host reads of one non-finite check (NaN on rank 1 only)
            reads = []
            item, boolean = torch.Tensor.item, torch.Tensor.__bool__
            torch.Tensor.item = lambda t: reads.append(1) or item(t)
            torch.Tensor.__bool__ = lambda t: reads.append(1) or boolean(t)
            try:
                finite = pl_module._finite_everywhere(torch.tensor(float("nan") if rank else 1.0))
            finally:
                torch.Tensor.item, torch.Tensor.__bool__ = item, boolean
            (out / f"check{rank}.json").write_text(json.dumps({"reads": len(reads), "finite": finite}))


def data_module():
    return InpaintDataModule(
        train_dir=str(data / "train"), val_dir=str(data / "val"), image_size=32, batch_size=2, num_workers=0,
        masks=BlockMasks(num_blocks=2), seed=0,
    )


L.seed_everything(0)
model = InpaintModule(
    "unet.tiny", "patch.tiny", ema_decay=0.5, accumulate_grad_batches=2, diff_augment="color,translation",
    fid_every_n_epochs=1, fid_feature_extractor=ChannelStats(), num_grid_images=0,
)
t = L.Trainer(
    accelerator="cpu", devices=2, strategy="ddp_find_unused_parameters_true", max_epochs=1,
    limit_train_batches=4, logger=False, enable_checkpointing=False, enable_progress_bar=False,
    enable_model_summary=False, num_sanity_val_steps=0, callbacks=[Probe()],
)
t.fit(model, data_module())
rank = t.global_rank
torch.save(model.state_dict(), out / f"rank{rank}.pt")
(out / f"fid{rank}.json").write_text(json.dumps({"cached": int(model.fid._real_cache["features"].shape[0])}))
metrics = t.validate(model, data_module(), verbose=False)[0]
if rank == 0:
    (out / "metrics.json").write_text(json.dumps({k: float(v) for k, v in metrics.items()}))
"""


def test_two_process_ddp_matches_single_process(tmp_path, run_script):
    data = tmp_path / "data"
    write_image_folder(data / "train", 12, 32, seed=0)
    write_image_folder(data / "val", 5, 32, seed=1)  # uneven: 3 images on rank 0, 2 on rank 1
    run_script(SCRIPT, tmp_path, data, timeout=400)

    rank0, rank1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert rank0.keys() == rank1.keys()
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), key
    fresh = InpaintModule("unet.tiny", "patch.tiny", ema_decay=0.5).state_dict()
    for prefix in ("generator.", "discriminator.", "generator_ema."):
        assert any(not torch.equal(fresh[k], rank0[k]) for k in rank0 if k.startswith(prefix)), prefix

    # an accumulating batch does not all-reduce: each rank still holds the gradient of its own images
    micro0, micro1 = (torch.load(tmp_path / f"micro{r}.pt", weights_only=True) for r in (0, 1))
    assert micro0.keys() == micro1.keys() and micro0
    assert any(not torch.allclose(micro0[k], micro1[k]) for k in micro0)

    # one device read per non-finite check, and every rank skips when one rank's loss is NaN
    for r in (0, 1):
        assert json.loads((tmp_path / f"check{r}.json").read_text()) == {"reads": 1, "finite": False}
        # the real statistics come from the 5 validation images, none counted twice
        assert json.loads((tmp_path / f"fid{r}.json").read_text()) == {"cached": 5}

    # the same weights and images in one process give the same validation numbers
    ddp_metrics = json.loads((tmp_path / "metrics.json").read_text())
    model = InpaintModule(
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
    assert {"val/fid", "val/psnr_hole", "val/ssim_hole", "val/l1_hole", "val/loss_rec"} <= set(single)
    assert ddp_metrics.keys() == single.keys()
    for key, value in single.items():
        assert ddp_metrics[key] == pytest.approx(float(value), rel=1e-5, abs=1e-6), key
