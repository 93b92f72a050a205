"""``InpaintDataModule``: image folders -> batches ``{"image", "mask", "kind"}`` for Lightning.

Two paths with the same batch format:

- CPU (default): DataLoader workers decode files, crop, augment and draw a mask per sample.
- ``gpu_cache=True``: every image is decoded once into uint8 tensors kept on the training device;
  the DataLoader yields index batches and ``on_after_batch_transfer`` builds the batch there with
  batched tensor ops (see ``inpaintlab.data.gpu_store``).

Validation is deterministic in both: resize + centre crop, and the mask of validation image ``i``
drawn from ``torch.Generator().manual_seed(mix_seed("val-mask", seed, i))``.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path

import lightning as L
import torch
from jsonargparse import lazy_instance
from torch.utils.data import DataLoader

from inpaintlab.data.folder_dataset import TrainImageDataset, ValImageDataset
from inpaintlab.data.gpu_store import DeviceImageStore, IndexDataset, index_collate, is_index_batch
from inpaintlab.data.image_io import drop_unreadable, list_image_files
from inpaintlab.data.seeding import EpochSeededSampler, eval_sampler, mix_seed
from inpaintlab.data.synthetic import write_image_folder
from inpaintlab.data.transforms import Augmentation
from inpaintlab.masks import BlockMasks
from inpaintlab.masks.base import MaskSampler

log = logging.getLogger(__name__)


def _plain_instance(sampler: MaskSampler) -> MaskSampler:
    """A plain instance for a jsonargparse ``lazy_instance`` (the default; those do not pickle,
    and DataLoader workers started with spawn/forkserver need to pickle the datasets)."""
    if hasattr(sampler, "lazy_get_init_args"):
        return sampler._lazy_class_type(**sampler.lazy_get_init_args().as_dict())
    return sampler


class InpaintDataModule(L.LightningDataModule):
    """Images from folders, masks from a ``MaskSampler``, for training and validating inpainters.

    Args:
        train_dir: folder of training images (searched recursively).
        val_dir: folder of validation images.
        image_dir: one folder split into train/val by a seeded shuffle (instead of train_dir/val_dir).
        val_fraction: share of ``image_dir`` used for validation.
        extra_train_dirs: more training folders (e.g. stylised photos), added to the training set.
        image_size: side of the square images in a batch.
        batch_size: training batch size.
        val_batch_size: validation batch size (None: ``batch_size``).
        num_workers: DataLoader workers of the CPU path (and decoding threads of the cache).
        masks: training mask sampler (default ``BlockMasks()``).
        val_masks: validation mask sampler (None: ``masks``).
        augment: False switches all augmentation off (centre crops, no flip or jitter).
        hflip, zoom, brightness, contrast: augmentation settings, see ``Augmentation``.
        gpu_cache: decode everything once and build batches on the training device.
        seed: seed of the split, the training order, augmentation and every mask.
        limit_train, limit_val: use only the first K files (smoke runs).
        synthetic: instead of folders, this many generated training pictures (smooth gradients with soft
            blobs, :mod:`inpaintlab.data.synthetic`) and a quarter as many validation pictures (at least
            2), written to a temporary folder at set-up: a smoke run needs no data and works from anywhere.

    Batches: ``{"image": (N,3,S,S) float [0,1], "mask": (N,1,S,S) float {0,1}, "kind": list[str]}``.
    """

    def __init__(
        self,
        train_dir: str | None = None,
        val_dir: str | None = None,
        image_dir: str | None = None,
        val_fraction: float = 0.1,
        extra_train_dirs: Sequence[str] = (),
        image_size: int = 256,
        batch_size: int = 16,
        val_batch_size: int | None = None,
        num_workers: int = 2,
        masks: MaskSampler = lazy_instance(BlockMasks),  # noqa: B008 - LightningCLI's way to default a class
        val_masks: MaskSampler | None = None,
        augment: bool = True,
        hflip: bool = True,
        zoom: tuple[float, float] = (1.0, 1.25),
        brightness: float = 0.1,
        contrast: float = 0.1,
        gpu_cache: bool = False,
        seed: int = 0,
        limit_train: int | None = None,
        limit_val: int | None = None,
        synthetic: int | None = None,
    ) -> None:
        super().__init__()
        if synthetic is not None:
            if isinstance(synthetic, bool) or not isinstance(synthetic, int) or synthetic < 1:
                raise ValueError(f"synthetic must be a number of pictures >= 1 or None, got {synthetic!r}")
            if image_dir is not None or train_dir is not None or val_dir is not None:
                raise ValueError(
                    f"pass either synthetic={synthetic} (generated pictures) or image folders, not both; got "
                    f"image_dir={image_dir!r}, train_dir={train_dir!r}, val_dir={val_dir!r} (on the command "
                    "line add --data.synthetic null to use folders with a synthetic recipe)"
                )
            if not isinstance(image_size, int) or image_size < 8:
                raise ValueError(f"image_size must be an int >= 8 for synthetic pictures, got {image_size!r}")
            # removed when this data module is garbage-collected or the process ends
            self._synthetic_dir = tempfile.TemporaryDirectory(prefix="inpaintlab-synthetic-")
            root = Path(self._synthetic_dir.name)
            train_dir, val_dir = str(root / "train"), str(root / "val")
            write_image_folder(train_dir, synthetic, image_size, seed=seed)
            write_image_folder(val_dir, max(2, synthetic // 4), image_size, seed=seed + 1)
        if image_dir is not None and (train_dir is not None or val_dir is not None):
            raise ValueError(
                f"pass either image_dir (split by val_fraction) or train_dir/val_dir, not both; got "
                f"image_dir={image_dir!r}, train_dir={train_dir!r}, val_dir={val_dir!r}"
            )
        if image_dir is None and train_dir is None and val_dir is None:
            raise ValueError("no images given: pass train_dir and val_dir, or image_dir with val_fraction")
        if isinstance(extra_train_dirs, str):
            raise TypeError(
                f"extra_train_dirs must be a list of folders, got the string {extra_train_dirs!r}"
            )
        if not 0.0 < val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
        for name, value in (("image_size", image_size), ("batch_size", batch_size)):
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if val_batch_size is not None and (not isinstance(val_batch_size, int) or val_batch_size <= 0):
            raise ValueError(f"val_batch_size must be a positive int or None, got {val_batch_size!r}")
        if num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {num_workers!r}")
        for name, limit in (("limit_train", limit_train), ("limit_val", limit_val)):
            if limit is not None and limit <= 0:
                raise ValueError(f"{name} must be a positive int or None, got {limit!r}")
        for name, sampler in (("masks", masks), ("val_masks", val_masks)):
            if sampler is not None and not isinstance(sampler, MaskSampler):
                raise TypeError(
                    f"{name} must be an inpaintlab MaskSampler (e.g. inpaintlab.masks.BlockMasks()), "
                    f"got {type(sampler).__name__}"
                )
        self.save_hyperparameters(ignore=["masks", "val_masks"])
        self.train_dir, self.val_dir, self.image_dir = train_dir, val_dir, image_dir
        self.val_fraction = float(val_fraction)
        self.extra_train_dirs = [str(d) for d in extra_train_dirs]
        self.image_size = image_size
        self.batch_size = batch_size
        self.val_batch_size = val_batch_size or batch_size
        self.num_workers = int(num_workers)
        self.masks = _plain_instance(masks)
        self.val_masks = _plain_instance(val_masks) if val_masks is not None else self.masks
        self.augmentation = Augmentation(hflip, zoom, brightness, contrast) if augment else None
        self.gpu_cache = gpu_cache
        self.seed = int(seed)
        self.limit_train, self.limit_val = limit_train, limit_val
        self.train_files: list[Path] | None = None
        self.val_files: list[Path] | None = None
        self.train_dataset: TrainImageDataset | None = None
        self.val_dataset: ValImageDataset | None = None
        self.store: DeviceImageStore | None = None

    # ----------------------------------------------------------------------------------- set-up
    def _find_files(self) -> tuple[list[Path], list[Path]]:
        """Train and val files: listed once, split and limited (not yet checked to decode)."""
        train: list[Path] = []
        val: list[Path] = []
        if self.image_dir is not None:
            files = list_image_files(self.image_dir)
            if len(files) < 2:
                raise ValueError(
                    f"image_dir {self.image_dir!r} has {len(files)} image; a split needs at least 2"
                )
            order = torch.randperm(
                len(files), generator=torch.Generator().manual_seed(mix_seed("split", self.seed))
            )
            n_val = min(len(files) - 1, max(1, round(self.val_fraction * len(files))))
            chosen = set(order[:n_val].tolist())
            val = [f for i, f in enumerate(files) if i in chosen]
            train = [f for i, f in enumerate(files) if i not in chosen]
        else:
            if self.train_dir is not None:
                train = list_image_files(self.train_dir)
            if self.val_dir is not None:
                val = list_image_files(self.val_dir)
        for folder in self.extra_train_dirs:
            train += list_image_files(folder)
        return train[: self.limit_train], val[: self.limit_val]

    def _check_found(self, train: list[Path], val: list[Path]) -> None:
        if (self.train_dir is not None or self.image_dir is not None) and not train:
            raise ValueError(f"no readable training images in {self.train_dir or self.image_dir!r}")
        if self.val_dir is not None and not val:
            raise ValueError(f"no readable validation images in {self.val_dir!r}")

    def setup(self, stage: str | None = None) -> None:
        """List and check the files (once, however often Lightning calls this); build the datasets."""
        if self.train_files is not None:
            return
        train, val = self._find_files()
        threads = max(1, self.num_workers)
        if self.gpu_cache:  # decoding for the cache also finds the unreadable files
            self.store = DeviceImageStore.from_files(
                train, val, self.image_size, self.masks, self.val_masks, self.augmentation, self.seed, threads
            )
            train, val = self.store.train_files, self.store.val_files
        else:
            readable = set(drop_unreadable(train + val, num_threads=threads))
            train, val = [f for f in train if f in readable], [f for f in val if f in readable]
        self._check_found(train, val)
        self.train_files, self.val_files = train, val
        log.info(
            "inpaintlab data: %d training and %d validation images",
            len(self.train_files),
            len(self.val_files),
        )
        if self.train_files:
            self.train_dataset = TrainImageDataset(
                self.train_files, self.image_size, self.masks, self.augmentation, self.seed
            )
        if self.val_files:
            self.val_dataset = ValImageDataset(self.val_files, self.image_size, self.val_masks, self.seed)

    # ------------------------------------------------------------------------------ dataloaders
    def _pin_memory(self) -> bool:
        trainer = self.trainer
        if trainer is not None:
            return trainer.strategy.root_device.type == "cuda"
        return torch.cuda.is_available()

    def _workers(self) -> dict:
        workers = 0 if self.gpu_cache else self.num_workers
        return {"num_workers": workers, "persistent_workers": workers > 0}

    def train_dataloader(self) -> DataLoader:
        if self.train_files is None:
            self.setup("fit")
        if not self.train_files:
            raise ValueError("no training images: pass train_dir or image_dir to InpaintDataModule")
        n = len(self.train_files)
        drop_last = n >= self.batch_size
        if not drop_last:
            log.warning(
                "only %d training images for batch_size %d: keeping the partial batch", n, self.batch_size
            )
        sampler = EpochSeededSampler(n, seed=self.seed)
        if self.gpu_cache:
            return DataLoader(
                IndexDataset(n),
                batch_size=self.batch_size,
                sampler=sampler,
                drop_last=drop_last,
                collate_fn=index_collate("train"),
                **self._workers(),
            )
        return DataLoader(
            self.train_dataset,
            batch_size=self.batch_size,
            sampler=sampler,
            drop_last=drop_last,
            pin_memory=self._pin_memory(),
            **self._workers(),
        )

    def val_dataloader(self) -> DataLoader | list:
        """Validation batches in file order (an empty list when there are no validation images); under DDP
        each rank takes every world-size-th image, none twice (:func:`~inpaintlab.data.seeding.eval_sampler`)."""
        if self.val_files is None:
            self.setup("validate")
        if not self.val_files:
            return []
        trainer = self.trainer
        if self.gpu_cache:
            dataset = IndexDataset(len(self.val_files))
            return DataLoader(
                dataset,
                batch_size=self.val_batch_size,
                sampler=eval_sampler(dataset, trainer),
                collate_fn=index_collate("val"),
                **self._workers(),
            )
        return DataLoader(
            self.val_dataset,
            batch_size=self.val_batch_size,
            sampler=eval_sampler(self.val_dataset, trainer),
            pin_memory=self._pin_memory(),
            **self._workers(),
        )

    def test_dataloader(self) -> DataLoader | list:
        """``inpaintlab test``: the validation images with their fixed masks."""
        return self.val_dataloader()

    def predict_dataloader(self) -> DataLoader | list:
        """``inpaintlab predict``: the validation images with their fixed masks."""
        return self.val_dataloader()

    # ------------------------------------------------------------------------ device-side batches
    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        """Turn index batches (``gpu_cache=True``) into image batches on the batch's device."""
        if not is_index_batch(batch):
            return batch
        if self.store is None:
            raise RuntimeError("got an index batch but the image cache is not built; call setup() first")
        self.store = self.store.to(batch["index"].device)
        return self.store.make_batch(batch)

    def teardown(self, stage: str | None = None) -> None:
        """Move the cache back to the CPU after fitting, so device memory is free again."""
        if self.store is not None and stage == "fit":
            self.store = self.store.to("cpu")
