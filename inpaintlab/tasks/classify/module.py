"""``ClassifyModule``: cross-entropy training of the photo-vs-Monet style classifier (the router of
``load("auto")``).

``inpaintlab fit -c examples/configs/style-classifier.yaml`` trains it; ``inpaintlab export`` turns the
best checkpoint into the hub's ``style-classifier`` safetensors file. Validation accuracy overall and per
style (torchmetrics, so DDP ranks are summed exactly) and their minimum, ``val/acc_min``, which selects
the best checkpoint (the bar is 95% on each style).
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy

from inpaintlab.models import build_model
from inpaintlab.models.classifier import STYLES
from inpaintlab.tasks.classify.data import random_crops
from inpaintlab.training.checkpoint_io import write_checkpoint_info

ArchSpec = str | dict[str, Any]


class ClassifyModule(L.LightningModule):
    """Cross-entropy training of a style classifier; logs ``val/acc``, per-style accuracy and their minimum.

    Args:
        classifier: architecture spec (a classifier preset, e.g. ``"style_classifier.base"``, or
            ``{"preset": ..., "args": {...}}``).
        crop_size: side of the random training crops (at the pictures' own scale).
        lr, weight_decay: AdamW settings (cosine decay over the run's steps).
        class_weights: cross-entropy weight per style (order ``STYLES``); > 1 makes missing it costlier.
    """

    def __init__(
        self,
        classifier: ArchSpec = "style_classifier.base",
        crop_size: int = 96,
        lr: float = 2e-3,
        weight_decay: float = 1e-4,
        class_weights: tuple[float, float] = (1.0, 1.0),
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        if len(class_weights) != len(STYLES) or min(class_weights) <= 0:
            raise ValueError(f"class_weights must be {len(STYLES)} positive numbers (order {STYLES}), got {class_weights}")
        self.classifier = build_model(classifier, role="classifier")
        self.register_buffer("class_weights", torch.tensor(class_weights, dtype=torch.float32), persistent=False)
        self.val_loss = MeanMetric()  # exact under DDP with uneven shares (Lightning's gloo mean is not)
        self.val_acc = MulticlassAccuracy(num_classes=len(STYLES), average="micro")
        self.val_acc_per_style = MulticlassAccuracy(num_classes=len(STYLES), average=None)
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

    def validation_step(self, batch, batch_idx: int) -> None:
        images, labels = batch
        logits = self(self._as_float(images))
        self.val_loss.update(F.cross_entropy(logits, labels), weight=labels.shape[0])
        self.val_acc.update(logits, labels)
        self.val_acc_per_style.update(logits, labels)

    def on_validation_epoch_end(self) -> None:
        per_style = self.val_acc_per_style.compute()
        metrics = {"acc": self.val_acc.compute(), "acc_min": per_style.min()}  # the bar: min >= 95%
        metrics.update({f"acc_{style}": per_style[k] for k, style in enumerate(STYLES)})
        metrics["loss"] = self.val_loss.compute()
        for metric in (self.val_acc, self.val_acc_per_style, self.val_loss):
            metric.reset()
        self.log("val/acc", metrics["acc"], prog_bar=True)
        self.log_dict({f"val/{k}": v for k, v in metrics.items() if k != "acc"})
        if not self.trainer.sanity_checking:
            self.last_val_metrics = {f"val_{k}": round(float(v), 4) for k, v in metrics.items() if k != "loss"}

    def configure_optimizers(self):
        opt = torch.optim.AdamW(self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, self.trainer.estimated_stepping_batches))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        write_checkpoint_info(
            checkpoint, task="classify", model=self.classifier, image_size=None, mask_kind=None,
            style="+".join(STYLES), metrics=self.last_val_metrics, recipe=self.recipe,
        )  # fmt: skip
