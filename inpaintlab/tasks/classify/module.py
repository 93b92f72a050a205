"""Training the photo-vs-Monet style classifier (the router's first stage) with Lightning.

``inpaintlab fit -c examples/configs/style-classifier.yaml`` trains it; ``inpaintlab export`` turns the
best checkpoint into the hub's ``style-classifier`` safetensors file.

Data: one folder of photos and one of paintings per split. All images are decoded once into a
uint8 tensor at ``image_size`` (the sets are small: 3,500 images at 256 px are 690 MB), batches are
drawn class-balanced (there are 2.5 photos per painting). Training sees random ``crop_size`` crops
at the images' own scale (texture is the cue) with flips; validation sees whole images.
"""

from __future__ import annotations

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader, TensorDataset, WeightedRandomSampler

from inpaintlab.data.gpu_store import decode_folder
from inpaintlab.data.seeding import eval_sampler
from inpaintlab.models.classifier import STYLES, StyleClassifier


class StyleDataModule(L.LightningDataModule):
    """Photos (label 0) and Monet paintings (label 1); batches ``{"image": (N,3,S,S) [0,1], "label": (N,)}``."""

    def __init__(
        self,
        photo_train: str,
        monet_train: str,
        photo_val: str,
        monet_val: str,
        image_size: int = 256,
        batch_size: int = 64,
        limit_per_class: int | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.train_set: TensorDataset | None = None
        self.val_set: TensorDataset | None = None

    def _load(self, photo_dir: str, monet_dir: str) -> TensorDataset:
        size, limit = self.hparams.image_size, self.hparams.limit_per_class
        photos, paintings = decode_folder(photo_dir, size, limit), decode_folder(monet_dir, size, limit)
        labels = torch.cat([torch.zeros(len(photos)), torch.ones(len(paintings))]).long()
        return TensorDataset(torch.cat([photos, paintings]), labels)

    def setup(self, stage: str | None = None) -> None:
        if stage in (None, "fit") and self.train_set is None:
            self.train_set = self._load(self.hparams.photo_train, self.hparams.monet_train)
        if self.val_set is None:
            self.val_set = self._load(self.hparams.photo_val, self.hparams.monet_val)

    def train_dataloader(self) -> DataLoader:
        labels = self.train_set.tensors[1]
        counts = torch.bincount(labels, minlength=len(STYLES)).double()
        weights = (1.0 / counts)[labels]
        sampler = WeightedRandomSampler(
            weights, num_samples=len(labels), generator=torch.Generator().manual_seed(self.hparams.seed)
        )
        return DataLoader(self.train_set, batch_size=self.hparams.batch_size, sampler=sampler, drop_last=True)

    def val_dataloader(self) -> DataLoader:
        sampler = eval_sampler(self.val_set, self.trainer)  # under DDP: no image counted twice
        return DataLoader(self.val_set, batch_size=self.hparams.batch_size, sampler=sampler)


def random_crops(images: Tensor, crop_size: int, generator: torch.Generator | None = None) -> Tensor:
    """A random ``crop_size`` crop of each image (no resizing) with a random horizontal flip.

    Shapes: (N,C,S,S) -> (N,C,crop_size,crop_size).
    """
    n, _, h, w = images.shape
    if crop_size > min(h, w):
        raise ValueError(f"crop_size {crop_size} is larger than the images ({h}x{w}); lower crop_size")
    tops = torch.randint(0, h - crop_size + 1, (n,), generator=generator).tolist()
    lefts = torch.randint(0, w - crop_size + 1, (n,), generator=generator).tolist()
    flips = (torch.rand(n, generator=generator) < 0.5).tolist()
    crops = []
    for image, top, left, flip in zip(images, tops, lefts, flips):
        crop = image[:, top : top + crop_size, left : left + crop_size]
        crops.append(crop.flip(-1) if flip else crop)
    return torch.stack(crops)


class StyleClassifierModule(L.LightningModule):
    """Cross-entropy training of a ``StyleClassifier``; logs ``val/acc``, per-style accuracy and their minimum."""

    def __init__(
        self,
        base_channels: int = 16,
        depth: int = 4,
        crop_size: int = 96,
        lr: float = 2e-3,
        weight_decay: float = 1e-4,
        class_weights: tuple[float, float] = (1.0, 1.0),
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        if len(class_weights) != len(STYLES) or min(class_weights) <= 0:
            raise ValueError(f"class_weights must be {len(STYLES)} positive numbers (order {STYLES}), got {class_weights}")
        self.classifier = StyleClassifier(base_channels=base_channels, depth=depth)
        # cross-entropy weight per style: >1 for a style makes missing it costlier (see the recipe)
        self.register_buffer("class_weights", torch.tensor(class_weights, dtype=torch.float32), persistent=False)
        self._val_correct = torch.zeros(len(STYLES))
        self._val_count = torch.zeros(len(STYLES))
        self.last_val_metrics: dict[str, float] = {}  # written into checkpoints, exported to the registry
        self.recipe: dict[str, str] = {}  # set by the CLI: the config file and data folders of this run

    def forward(self, image: Tensor) -> Tensor:
        return self.classifier(image)

    @staticmethod
    def _as_float(images: Tensor) -> Tensor:
        return images.float() / 255.0

    def training_step(self, batch, batch_idx: int) -> Tensor:
        images, labels = batch
        logits = self(self._as_float(random_crops(images, self.hparams.crop_size)))
        loss = F.cross_entropy(logits, labels, weight=self.class_weights)
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def on_validation_epoch_start(self) -> None:
        self._val_correct.zero_()
        self._val_count.zero_()

    def validation_step(self, batch, batch_idx: int) -> None:
        images, labels = batch
        logits = self(self._as_float(images))
        self.log("val/loss", F.cross_entropy(logits, labels), prog_bar=True)
        correct = (logits.argmax(1) == labels).float().cpu()
        for k in range(len(STYLES)):
            here = labels.cpu() == k
            self._val_correct[k] += correct[here].sum()
            self._val_count[k] += here.sum()

    def on_validation_epoch_end(self) -> None:
        correct = self.all_gather(self._val_correct.to(self.device)).reshape(-1, len(STYLES)).sum(0)
        count = self.all_gather(self._val_count.to(self.device)).reshape(-1, len(STYLES)).sum(0)
        per_style = correct / count.clamp(min=1)
        metrics = {"acc": correct.sum() / count.sum().clamp(min=1), "acc_min": per_style.min()}  # bar: min >= 95%
        metrics.update({f"acc_{style}": per_style[k] for k, style in enumerate(STYLES)})
        self.log("val/acc", metrics["acc"], prog_bar=True)
        self.log_dict({f"val/{k}": v for k, v in metrics.items() if k != "acc"})
        if not self.trainer.sanity_checking:
            self.last_val_metrics = {f"val_{k}": round(float(v), 4) for k, v in metrics.items()}

    def configure_optimizers(self):
        opt = torch.optim.AdamW(self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, self.trainer.estimated_stepping_batches))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        c = self.classifier
        checkpoint["inpaintlab"] = {
            "classifier_arch": {"class": type(c).__name__, "init": dict(c.init_args)},
            "image_size": None,
            "mask_kind": None,
            "style": "+".join(STYLES),
            "metrics": dict(self.last_val_metrics),
            "recipe": dict(self.recipe),
        }
