"""Unpaired photos and paintings for the CycleGAN (``StylizeDataModule``): ``{"photo": (N,3,S,S), "monet": (N,3,S,S)}`` batches in [0,1].

Both sets are decoded once into uint8 tensors (centre squares at ``load_size``); a training sample is a
random ``image_size`` crop with a random horizontal flip (CycleGAN's resize-and-crop jitter), drawn from
a per-sample seed, and batches become float on their device. The two sets are drawn independently, each
in its own seeded order per epoch (``EpochSeededSampler``: the same for any worker count, sharded under
DDP, exact after a resume) through Lightning's ``CombinedLoader`` (``max_size_cycle``: an epoch is one
pass over the larger set). Validation sees the whole val images at ``image_size``, both sets in full
(``max_size``).
"""

from __future__ import annotations

import lightning as L
import torch
from lightning.pytorch.utilities import CombinedLoader
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, TensorDataset

from inpaintlab.data.gpu_store import decode_folder
from inpaintlab.data.image_io import list_image_files
from inpaintlab.data.seeding import EpochSeededSampler, eval_sampler

DOMAINS = ("photo", "monet")


def random_crop_flip(image: Tensor, size: int, generator: torch.Generator | None = None) -> Tensor:
    """A random ``size`` x ``size`` crop of ``image`` (C,H,W), flipped left-right with probability 0.5."""
    _, h, w = image.shape
    if size > min(h, w):
        raise ValueError(f"crop size {size} is larger than the images ({h}x{w}); lower image_size or raise load_size")
    top = int(torch.randint(0, h - size + 1, (1,), generator=generator))
    left = int(torch.randint(0, w - size + 1, (1,), generator=generator))
    crop = image[:, top : top + size, left : left + size]
    return crop.flip(-1) if bool(torch.rand(1, generator=generator) < 0.5) else crop


class RandomCrops(Dataset):
    """Items ``(index, seed)`` (from ``EpochSeededSampler``) -> a seeded random crop of ``images[index]``."""

    def __init__(self, images: Tensor, size: int) -> None:
        self.images, self.size = images, size

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, key: tuple[int, int]) -> Tensor:
        index, seed = key
        return random_crop_flip(self.images[index], self.size, torch.Generator().manual_seed(seed))


class StylizeDataModule(L.LightningDataModule):
    """Photos and Monet paintings, unpaired.

    Args:
        photo_train, monet_train, photo_val, monet_val: image folders (any format PIL reads).
        image_size: side of the training crops and of the validation images.
        load_size: side the training images are decoded at before the random crop (default
            ``round(image_size * 1.12)``, CycleGAN's 286 for 256).
        batch_size: images of each domain per batch.
        limit: at most this many images per folder (quick runs, tests).
        seed: seeds the shuffles and the crops.
    """

    def __init__(
        self,
        photo_train: str,
        monet_train: str,
        photo_val: str,
        monet_val: str,
        image_size: int = 256,
        load_size: int | None = None,
        batch_size: int = 1,
        limit: int | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if load_size is not None and load_size < image_size:
            raise ValueError(f"load_size ({load_size}) must be >= image_size ({image_size})")
        self.save_hyperparameters()
        self.image_size = image_size
        self.load_size = load_size or round(image_size * 1.12)
        self.train_sets: dict[str, Tensor] = {}
        self.val_sets: dict[str, Tensor] = {}
        self.val_files: list = []

    def setup(self, stage: str | None = None) -> None:
        hp = self.hparams
        if stage in (None, "fit") and not self.train_sets:
            self.train_sets = {d: decode_folder(hp[f"{d}_train"], self.load_size, hp.limit) for d in DOMAINS}
        if not self.val_sets:
            self.val_sets = {d: decode_folder(hp[f"{d}_val"], self.image_size, hp.limit) for d in DOMAINS}
            self.val_files = list_image_files(hp.monet_val, limit=hp.limit)

    def train_dataloader(self) -> CombinedLoader:
        hp = self.hparams
        loaders = {}
        for salt, domain in enumerate(DOMAINS):
            images = self.train_sets[domain]
            loaders[domain] = DataLoader(
                RandomCrops(images, self.image_size), batch_size=hp.batch_size,
                sampler=EpochSeededSampler(len(images), seed=hp.seed * len(DOMAINS) + salt),
                drop_last=len(images) >= hp.batch_size,
            )  # fmt: skip
        return CombinedLoader(loaders, mode="max_size_cycle")

    def val_dataloader(self) -> CombinedLoader:
        loaders = {}
        for domain in DOMAINS:  # under DDP: each rank a share, no image twice (eval_sampler)
            dataset = TensorDataset(self.val_sets[domain])
            sampler = eval_sampler(dataset, self.trainer)
            loaders[domain] = DataLoader(dataset, batch_size=self.hparams.batch_size, sampler=sampler)
        return CombinedLoader(loaders, mode="max_size")

    def on_after_batch_transfer(self, batch: dict, dataloader_idx: int) -> dict[str, Tensor | None]:
        """uint8 -> float [0,1] on the batch's device (None stays None: the smaller val set ran out)."""
        out: dict[str, Tensor | None] = {}
        for domain in DOMAINS:
            item = batch.get(domain)
            images = item[0] if isinstance(item, (list, tuple)) else item
            out[domain] = None if images is None else images.float() / 255
        return out
