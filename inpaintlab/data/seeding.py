"""Seeds for the data pipeline: stable per-sample seeds, fixed validation masks, a seeded sampler.

Every random choice in ``inpaintlab.data`` comes from a ``torch.Generator`` seeded here, so results
depend only on ``seed`` (and the epoch), never on batch size, ``num_workers`` or DDP sharding.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import torch
from torch import Tensor
from torch.utils.data import Dataset, Sampler

from inpaintlab._checks import as_size
from inpaintlab.masks.base import MaskSampler

_SEED_MASK = (1 << 63) - 1


def mix_seed(*parts: int | str) -> int:
    """A 63-bit seed from ``parts``, the same in every process and run (unlike ``hash`` of a str)."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & _SEED_MASK


def val_mask_generator(seed: int, index: int) -> torch.Generator:
    """The CPU generator that draws the fixed validation mask of image ``index``."""
    return torch.Generator().manual_seed(mix_seed("val-mask", int(seed), int(index)))


def fixed_val_mask(
    sampler: MaskSampler, seed: int, index: int, size: int | tuple[int, int]
) -> tuple[Tensor, str]:
    """The validation mask of image ``index``: float (1,H,W) of 0/1, and its kind.

    It is drawn from ``val_mask_generator(seed, index)`` alone, so it is the same every epoch and
    run, for any batch size, worker count or DDP rank.
    """
    masks, kinds = sampler.sample_with_kinds(1, as_size(size), generator=val_mask_generator(seed, index))
    return masks[0].to(torch.float32), kinds[0]


class EpochSeededSampler(Sampler[tuple[int, int]]):
    """Yields ``(index, sample_seed)`` pairs: a seeded shuffle of ``range(num_samples)`` per epoch.

    The order and the per-sample seeds come from ``mix_seed("train-order", seed, epoch)``. The epoch
    advances by one after every full iteration, and Lightning's ``set_epoch`` sets it explicitly
    (under DDP Lightning wraps this sampler and each rank sees the same sequence, sharded).
    """

    def __init__(self, num_samples: int, seed: int = 0, shuffle: bool = True) -> None:
        if num_samples <= 0:
            raise ValueError(f"num_samples must be positive, got {num_samples}")
        self.num_samples = int(num_samples)
        self.seed = int(seed)
        self.shuffle = shuffle
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self) -> Iterator[tuple[int, int]]:
        generator = torch.Generator().manual_seed(mix_seed("train-order", self.seed, self.epoch))
        self.epoch += 1
        if self.shuffle:
            order = torch.randperm(self.num_samples, generator=generator)
        else:
            order = torch.arange(self.num_samples)
        sample_seeds = torch.randint(0, 1 << 62, (self.num_samples,), generator=generator)
        yield from zip(order.tolist(), sample_seeds.tolist())


def eval_sampler(dataset: Dataset, trainer) -> Sampler | None:
    """The sampler of a validation / test loader: under DDP each rank's share of ``dataset`` in order,
    **without** the repeats a ``DistributedSampler`` pads the shares with (which would enter the metrics
    twice), so the ranks together see every image exactly once; ranks may run one batch less. None (a
    plain in-order loader) on one process. Lightning keeps a sampler it is given for DDP as it is."""
    if trainer is None or trainer.world_size <= 1:
        return None
    from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler

    return UnrepeatedDistributedSampler(dataset, num_replicas=trainer.world_size, rank=trainer.global_rank, shuffle=False)
