"""Photos (label 0) and Monet paintings (label 1) for the style classifier (``ClassifyDataModule``).

All images are decoded once into a uint8 tensor at ``image_size`` (the sets are small: 3,500 images at
256 px are 690 MB), batches are drawn class-balanced (there are 2.5 photos per painting). Training sees
random ``crop_size`` crops at the images' own scale (texture is the cue) with flips (:func:`random_crops`,
applied by the module); validation sees whole images.
"""

from __future__ import annotations

import lightning as L
import torch
from torch import Tensor
from torch.utils.data import DataLoader, TensorDataset, WeightedRandomSampler

from inpaintlab.data.gpu_store import decode_folder
from inpaintlab.data.seeding import eval_sampler
from inpaintlab.models.classifier import STYLES


class ClassifyDataModule(L.LightningDataModule):
    """Photos (label 0) and Monet paintings (label 1); batches ``(images (N,3,S,S) uint8, labels (N,))``."""

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
