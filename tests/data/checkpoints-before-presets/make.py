"""Run with the PRE-REFACTOR code (commit f6e89ef) on PYTHONPATH: writes tiny training checkpoints of the
three tasks and the outputs of their exported models, plus reference outputs of the shipped hub models."""

import json
import sys
from pathlib import Path

import lightning as L
import torch
from safetensors.torch import save_file

from inpaintlab.api.inpainter import load, load_model
from inpaintlab.checkpointing import AtomicCheckpointIO
from inpaintlab.classify import StyleClassifierModule, StyleDataModule
from inpaintlab.data import InpaintDataModule
from inpaintlab.hub import load_registry
from inpaintlab.masks import BlockMasks
from inpaintlab.module import InpaintGAN
from inpaintlab.stylize import CycleGAN, UnpairedDataModule
from inpaintlab.training.synthetic import write_image_folder

out = Path(sys.argv[1])
work = Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)


def trainer(root, steps):
    return L.Trainer(
        accelerator="cpu", devices=1, max_steps=steps, limit_val_batches=1, logger=False,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
        enable_checkpointing=False, plugins=[AtomicCheckpointIO()], default_root_dir=str(root),
    )


def probe(size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(1, 3, size, size, generator=g)
    mask = BlockMasks(num_blocks=2)(1, (size, size), generator=torch.Generator().manual_seed(seed + 1))
    return image, mask


expected = {}
# ---- inpaint: a legacy dict spec with native_resolution and the pyramid prefill, EMA, DiffAugment
write_image_folder(work / "img/train", 8, 32, seed=0)
write_image_folder(work / "img/val", 4, 32, seed=1)
L.seed_everything(0)
model = InpaintGAN(
    {"class": "UNetGenerator", "init": {"base_channels": 4, "depth": 3, "max_channels": 8,
                                        "native_resolution": 32, "prefill": "pyramid"}},
    "patch.tiny", ema_decay=0.9, diff_augment="color,translation", fid_every_n_epochs=0,
    num_grid_images=0, style="photo",
)
data = InpaintDataModule(train_dir=str(work / "img/train"), val_dir=str(work / "img/val"), image_size=32,
                         batch_size=4, num_workers=0, masks=BlockMasks(num_blocks=2), seed=0)
t = trainer(work / "inpaint", 4)
t.fit(model, data)
t.save_checkpoint(out / "inpaint.ckpt")
image, mask = probe()
inpainter = load(out / "inpaint.ckpt", device="cpu")
expected["inpaint"] = inpainter(image, mask)

# ---- stylize
for d, s, n in (("photo", "train", 4), ("monet", "train", 4), ("photo", "val", 2), ("monet", "val", 2)):
    write_image_folder(work / d / s, n, 20, seed=hash((d, s)) % 1000)
L.seed_everything(0)
cyc = CycleGAN("resnet.tiny", "patch.tiny", fid_every_n_epochs=0, num_grid_images=0)
dm = UnpairedDataModule(*(str(work / d / s) for s in ("train", "val") for d in ("photo", "monet")),
                        image_size=16, load_size=18, batch_size=2)
t = trainer(work / "stylize", 4)
t.fit(cyc, dm)
t.save_checkpoint(out / "stylize.ckpt")
stylizer = load(out / "stylize.ckpt", device="cpu")
expected["stylize"] = stylizer(image)

# ---- classify
L.seed_everything(0)
clf = StyleClassifierModule(base_channels=4, depth=2, crop_size=16)
sdm = StyleDataModule(*(str(work / d / s) for s in ("train", "val") for d in ("photo", "monet")),
                      image_size=20, batch_size=4)
t = trainer(work / "classify", 2)
t.fit(clf, sdm)
t.save_checkpoint(out / "classify.ckpt")
from inpaintlab.hub.weights import build_model, load_training_checkpoint

state, info = load_training_checkpoint(out / "classify.ckpt")
classifier = build_model(info["arch"])
classifier.load_state_dict(state)
classifier.eval()
with torch.no_grad():
    expected["classify"] = classifier(image)

expected["probe_image"], expected["probe_mask"] = image, mask
save_file({k: v.contiguous() for k, v in expected.items()}, str(out / "expected.safetensors"))

# ---- the shipped hub models: outputs on a fixed picture (for the format-change test)
shipped = {}
for name, entry in load_registry().items():
    if entry.task == "inpaint":
        img, m = probe(size=32, seed=3)
        shipped[name] = load(name, device="cpu")(img, m)
    elif entry.task == "classify":
        img, _ = probe(size=32, seed=3)
        with torch.no_grad():
            shipped[name] = load_model(name, "cpu")(img)
shipped["probe_image"], shipped["probe_mask"] = probe(size=32, seed=3)
save_file({k: v.contiguous() for k, v in shipped.items()}, str(out / "shipped-outputs.safetensors"))
print(json.dumps({k: list(v.shape) for k, v in {**expected, **shipped}.items()}))
