"""Datasets that decode image files and pair each image with an inpainting mask (the CPU path).

Items are dicts ``{"image": (3,S,S) float [0,1], "mask": (1,S,S) float {0,1}, "kind": str}``; the
default ``collate_fn`` turns them into batches ``{"image": (N,3,S,S), "mask": (N,1,S,S), "kind": list[str]}``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from inpaintlab.data.image_io import pil_to_uint8, read_image
from inpaintlab.data.seeding import fixed_val_mask, mix_seed
from inpaintlab.data.transforms import (
    DEFAULT_AUGMENTATION,
    Augmentation,
    centre_crop_resize,
    jitter_brightness_contrast,
    random_crop_resize,
    sample_augment_params,
)
from inpaintlab.masks.base import MaskSampler

# How many following files a dataset tries when a file that decoded at set-up fails later.
_MAX_SUBSTITUTES = 8


class _ImageFiles(Dataset):
    def __init__(
        self, files: Sequence[str | Path], image_size: int, masks: MaskSampler, seed: int = 0
    ) -> None:
        if not files:
            raise ValueError("files is empty; pass at least one image path")
        if not isinstance(masks, MaskSampler):
            raise TypeError(f"masks must be an inpaintlab MaskSampler, got {type(masks).__name__}")
        if int(image_size) <= 0:
            raise ValueError(f"image_size must be a positive int, got {image_size!r}")
        self.files = [Path(f) for f in files]
        self.image_size = int(image_size)
        self.masks = masks
        self.seed = int(seed)

    def __len__(self) -> int:
        return len(self.files)

    def _read(self, index: int, min_size: int) -> tuple[int, Image.Image]:
        """Decode file ``index``; if it fails (changed since set-up), warn and use the next file."""
        for step in range(_MAX_SUBSTITUTES):
            current = (index + step) % len(self.files)
            try:
                return current, read_image(self.files[current], min_size=min_size)
            except Exception as error:  # noqa: BLE001 - any PIL decoding failure
                warnings.warn(f"skipping unreadable image file {self.files[current]} ({error})", stacklevel=3)
        raise OSError(f"{_MAX_SUBSTITUTES} image files in a row from {self.files[index]} could not be read")


class TrainImageDataset(_ImageFiles):
    """Training images: random square crop (zoom), flip, brightness/contrast, a fresh mask per sample.

    Index with ``(index, sample_seed)`` (what ``EpochSeededSampler`` yields) or a plain ``index``
    (seed derived from ``seed`` and ``index``). All randomness of one item comes from
    ``torch.Generator().manual_seed(sample_seed)``: crop and jitter first, then the mask.
    ``augmentation=None``: centre crop, no flip or jitter (masks stay random).
    """

    def __init__(
        self,
        files: Sequence[str | Path],
        image_size: int,
        masks: MaskSampler,
        augmentation: Augmentation | None = DEFAULT_AUGMENTATION,
        seed: int = 0,
    ) -> None:
        super().__init__(files, image_size, masks, seed)
        self.augmentation = augmentation

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Tensor | str]:
        index, sample_seed = (
            key if isinstance(key, tuple) else (key, mix_seed("train-sample", self.seed, key))
        )
        generator = torch.Generator().manual_seed(int(sample_seed))
        params = sample_augment_params(1, self.augmentation, generator)
        zoom_max = 1.0 if self.augmentation is None else self.augmentation.zoom[1]
        _, image = self._read(int(index), min_size=int(self.image_size * zoom_max + 0.5))
        pixels = pil_to_uint8(random_crop_resize(image, self.image_size, params))
        if bool(params.flip[0]):
            pixels = pixels.flip(-1)
        tensor = pixels.unsqueeze(0).float() / 255.0
        if self.augmentation is not None:
            tensor = jitter_brightness_contrast(tensor, params.brightness, params.contrast)
        masks, kinds = self.masks.sample_with_kinds(1, self.image_size, generator=generator)
        return {"image": tensor[0], "mask": masks[0].to(torch.float32), "kind": kinds[0]}


class ValImageDataset(_ImageFiles):
    """Validation images: resize + centre crop, and the FIXED mask ``fixed_val_mask(masks, seed, index)``."""

    def __getitem__(self, index: int) -> dict[str, Tensor | str]:
        index = int(index)
        _, image = self._read(index, min_size=self.image_size)
        tensor = pil_to_uint8(centre_crop_resize(image, self.image_size)).float() / 255.0
        mask, kind = fixed_val_mask(self.masks, self.seed, index, self.image_size)
        return {"image": tensor, "mask": mask, "kind": kind}
