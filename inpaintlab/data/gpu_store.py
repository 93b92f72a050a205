"""All images decoded once into uint8 tensors on the training device; batches built with tensor ops.

The DataLoader of this path yields only index batches (``collate_index_batch``):
``{"index": (N,) int64, "batch_seed": int, "split": "train" | "val"}``. After Lightning moves one to
the device, ``DeviceImageStore.make_batch`` gathers, crops, flips and jitters the images and draws
the masks there, returning the same batch dicts as the CPU path.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import Dataset

from inpaintlab.data.image_io import decode_readable, list_image_files, pil_to_uint8, read_image
from inpaintlab.data.seeding import fixed_val_mask, mix_seed
from inpaintlab.data.transforms import (
    Augmentation,
    centre_crop_resize,
    crop_resize_batch,
    jitter_brightness_contrast,
    sample_augment_params,
)
from inpaintlab.masks.base import MaskSampler

# Training images are cached this much larger than image_size, so random crops keep detail.
CACHE_SCALE = 1.125


def decode_centre_square(path: str | Path, size: int) -> Tensor:
    """One file as its centre square of side ``size``: uint8 (3,size,size).

    Same resize and crop as the CPU validation path, so the pixels are identical to it.
    """
    return pil_to_uint8(centre_crop_resize(read_image(path, min_size=size), size))


def decode_centre_squares(
    files: Sequence[Path], size: int, num_threads: int = 2
) -> tuple[list[Path], Tensor]:
    """Decode ``files`` to centre squares: the readable files and a uint8 tensor (N,3,size,size).

    Unreadable files are dropped with one warning naming them (``decode_readable``).
    """
    readable, squares = decode_readable(files, partial(decode_centre_square, size=size), num_threads)
    if not squares:
        return readable, torch.zeros(0, 3, size, size, dtype=torch.uint8)
    return readable, torch.stack(squares)


def decode_folder(folder: str | Path, size: int, limit: int | None = None) -> Tensor:
    """Every readable image of ``folder`` (at most ``limit``) as a centre square: uint8 (N,3,size,size).

    Raises ``FileNotFoundError`` naming the folder when it is missing or holds no image.
    """
    return decode_centre_squares(list_image_files(folder, limit=limit), size)[1]


class IndexDataset(Dataset):
    """A dataset whose items are their own keys (ints or ``(index, sample_seed)`` pairs)."""

    def __init__(self, length: int) -> None:
        self.length = int(length)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, key: int | tuple[int, int]) -> int | tuple[int, int]:
        return key


def collate_index_batch(keys: list[int | tuple[int, int]], split: str) -> dict[str, Tensor | int | str]:
    """Index batch ``{"index": (N,) int64, "batch_seed": int, "split": split}`` from dataset keys."""
    pairs = [key if isinstance(key, tuple) else (key, key) for key in keys]
    index = torch.tensor([int(i) for i, _ in pairs], dtype=torch.int64)
    batch_seed = mix_seed("train-batch", *(int(s) for _, s in pairs))
    return {"index": index, "batch_seed": batch_seed, "split": split}


def index_collate(split: str):
    """A picklable ``collate_fn`` for index batches of ``split``."""
    return partial(collate_index_batch, split=split)


def is_index_batch(batch: object) -> bool:
    return isinstance(batch, dict) and set(batch) == {"index", "batch_seed", "split"}


class DeviceImageStore:
    """Decoded train and val images (uint8) and the fixed val masks, kept on one device.

    Args:
        train_images: uint8 (N,3,S,S) training squares (S somewhat larger than ``image_size``).
        val_images: uint8 (M,3,image_size,image_size) validation images.
        val_masks: bool (M,1,image_size,image_size) fixed validation masks (True = hole).
        val_kinds: the kind of each validation mask.
        image_size: side of the images in the batches.
        masks: training mask sampler.
        augmentation: training augmentation, None for centre crops without jitter.
    """

    def __init__(
        self,
        train_images: Tensor,
        val_images: Tensor,
        val_masks: Tensor,
        val_kinds: list[str],
        image_size: int,
        masks: MaskSampler,
        augmentation: Augmentation | None,
    ) -> None:
        if len(val_kinds) != val_images.shape[0] or val_masks.shape[0] != val_images.shape[0]:
            raise ValueError("val_images, val_masks and val_kinds must have one entry per validation image")
        self.train_images = train_images
        self.val_images = val_images
        self.val_masks = val_masks
        self.val_kinds = list(val_kinds)
        self.image_size = int(image_size)
        self.masks = masks
        self.augmentation = augmentation
        self.train_files: list[Path] = []  # set by from_files
        self.val_files: list[Path] = []

    @classmethod
    def from_files(
        cls,
        train_files: Sequence[Path],
        val_files: Sequence[Path],
        image_size: int,
        masks: MaskSampler,
        val_masks: MaskSampler,
        augmentation: Augmentation | None,
        seed: int = 0,
        num_threads: int = 2,
    ) -> DeviceImageStore:
        """Decode every file once (CPU threads), dropping unreadable ones with a warning, and draw the
        fixed val masks. The files kept are in ``store.train_files`` and ``store.val_files``."""
        cache_size = math.ceil(image_size * CACHE_SCALE)
        train_kept, train = decode_centre_squares(train_files, cache_size, num_threads)
        val_kept, val = decode_centre_squares(val_files, image_size, num_threads)
        drawn = [fixed_val_mask(val_masks, seed, i, image_size) for i in range(len(val_kept))]
        if drawn:
            fixed = torch.stack([mask for mask, _ in drawn]) > 0.5
        else:
            fixed = torch.zeros(0, 1, image_size, image_size, dtype=torch.bool)
        store = cls(train, val, fixed, [kind for _, kind in drawn], image_size, masks, augmentation)
        store.train_files, store.val_files = train_kept, val_kept
        return store

    @property
    def device(self) -> torch.device:
        return self.train_images.device

    def to(self, device: torch.device | str) -> DeviceImageStore:
        """A store with the same images on ``device`` (``self`` when they are there already)."""
        device = torch.device(device)
        if self.train_images.device == device and self.val_images.device == device:
            return self
        moved = DeviceImageStore(
            self.train_images.to(device),
            self.val_images.to(device),
            self.val_masks.to(device),
            self.val_kinds,
            self.image_size,
            self.masks,
            self.augmentation,
        )
        moved.train_files, moved.val_files = self.train_files, self.val_files
        return moved

    def make_batch(self, index_batch: dict) -> dict[str, Tensor | list[str]]:
        """The image batch for an index batch (on the store's device; move the store first)."""
        index = index_batch["index"].to(self.device)
        if index_batch["split"] == "val":
            return {
                "image": self.val_images[index].float() / 255.0,
                "mask": self.val_masks[index].float(),
                "kind": [self.val_kinds[i] for i in index.tolist()],
            }
        if index_batch["split"] != "train":
            raise ValueError(f"index batch split must be 'train' or 'val', got {index_batch['split']!r}")
        generator = torch.Generator().manual_seed(int(index_batch["batch_seed"]))
        params = sample_augment_params(index.shape[0], self.augmentation, generator)
        images = crop_resize_batch(self.train_images[index], self.image_size, params)
        if self.augmentation is not None:
            images = jitter_brightness_contrast(images, params.brightness, params.contrast)
        masks, kinds = self.masks.sample_with_kinds(
            index.shape[0], self.image_size, generator=generator, device=self.device
        )
        return {"image": images, "mask": masks.to(self.device, torch.float32), "kind": list(kinds)}
