"""Rectangle masks: one centred rectangle (``center``) and random blocks (``blocks``)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from inpaintlab._checks import as_size
from inpaintlab.masks._common import check_batch, check_generator, mask_rngs, to_masks
from inpaintlab.masks.base import MaskSampler
from inpaintlab.masks.kind import mask_kind

__all__ = ["BlockMasks", "CenterMasks", "blocks_mask", "center_mask", "default_block_size"]

# A whole draw is repeated this many times before blocks are placed one at a time.
_FULL_DRAWS = 4
# Positions tried for one block in the one-at-a-time fallback before the block is left out.
_BLOCK_TRIES = 16


def center_mask(
    size: int | tuple[int, int],
    *,
    area: float = 0.25,
    batch: int = 1,
    device: torch.device | str | None = None,
) -> Tensor:
    """One axis-aligned rectangle in the middle of the image, covering ``area`` of it.

    The rectangle has the image's aspect ratio, sides ``round(H * sqrt(area))`` by
    ``round(W * sqrt(area))`` (at least 1 pixel), and its top/bottom (left/right) margins differ by at
    most one pixel, so :func:`~inpaintlab.masks.mask_kind` calls it ``"center"``.

    Args:
        size: output size, an int or (H, W).
        area: fraction of the image in the hole, in (0, 1].
        batch: number of (identical) masks.
        device: device of the returned tensor (CPU when None).

    Returns:
        float tensor (batch,1,H,W) of 0/1, 1 = hole.
    """
    height, width = as_size(size)
    batch = check_batch(batch)
    if isinstance(area, bool) or not isinstance(area, (int, float)) or not 0.0 < area <= 1.0:
        raise ValueError(f"area must be a fraction in (0, 1], got {area!r}; e.g. area=0.25 for a quarter")
    side = math.sqrt(area)
    hole_h = min(height, max(1, round(height * side)))
    hole_w = min(width, max(1, round(width * side)))
    top, left = (height - hole_h) // 2, (width - hole_w) // 2
    holes = np.zeros((batch, height, width), dtype=bool)
    holes[:, top : top + hole_h, left : left + hole_w] = True
    return to_masks(holes, device)


def default_block_size(size: int | tuple[int, int]) -> int:
    """32 pixels at 256, scaled with the shorter side: ``max(1, round(min(H, W) * 32 / 256))``."""
    height, width = as_size(size)
    return max(1, round(min(height, width) * 32 / 256))


def _block_shape(block_size: int | tuple[int, int] | None, height: int, width: int) -> tuple[int, int]:
    if block_size is None:
        side = default_block_size((height, width))
        block_h, block_w = min(side, height), min(side, width)
    else:
        block_h, block_w = as_size(block_size, name="block_size")
    if block_h > height or block_w > width:
        raise ValueError(
            f"block_size {(block_h, block_w)} does not fit in size {(height, width)}; use smaller blocks"
        )
    if height - block_h < 2 and width - block_w < 2:
        raise ValueError(
            f"block_size {(block_h, block_w)} leaves no room to move a block in size {(height, width)}: every "
            "block would be a centred rectangle (a 'center' mask); use blocks at least 2 pixels smaller"
        )
    return block_h, block_w


def _draw_position(rng: np.random.Generator, room_h: int, room_w: int) -> tuple[int, int]:
    return int(rng.integers(0, room_h + 1)), int(rng.integers(0, room_w + 1))


def _is_blocks(hole: np.ndarray) -> bool:
    return bool(hole.any()) and mask_kind(hole) == "blocks"


def _one_blocks_mask(
    rng: np.random.Generator, height: int, width: int, num_blocks: int, block_h: int, block_w: int
) -> np.ndarray:
    room_h, room_w = height - block_h, width - block_w
    hole = np.zeros((height, width), dtype=bool)
    for _ in range(_FULL_DRAWS):
        hole[:] = False
        for _ in range(num_blocks):
            top, left = _draw_position(rng, room_h, room_w)
            hole[top : top + block_h, left : left + block_w] = True
        if _is_blocks(hole):
            return hole
    # Rare (many blocks, or 5+ chained corner to corner): add blocks one at a time, keeping the mask
    # a valid "blocks" mask after each; a block with no valid position among the tries is left out.
    hole[:] = False
    for index in range(num_blocks):
        for _ in range(_BLOCK_TRIES if index else 10_000):
            top, left = _draw_position(rng, room_h, room_w)
            trial = hole.copy()
            trial[top : top + block_h, left : left + block_w] = True
            if _is_blocks(trial):
                hole = trial
                break
    return hole


def blocks_mask(
    size: int | tuple[int, int],
    *,
    num_blocks: int = 8,
    block_size: int | tuple[int, int] | None = None,
    batch: int = 1,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """``num_blocks`` random axis-aligned rectangles, possibly overlapping.

    Each block has its top-left corner drawn uniformly so that it lies fully inside the image.
    Guarantee (so :func:`~inpaintlab.masks.mask_kind` says ``"blocks"``): the mask is never one
    centred rectangle and never has a boundary staircase of 7 turns (4 or more blocks chained corner to
    corner). Such draws are re-drawn; if that keeps happening (very many blocks), blocks are placed
    one at a time and a block that cannot be placed is left out, so a mask holds at most
    ``num_blocks`` blocks and at least one.

    Args:
        size: output size, an int or (H, W).
        num_blocks: blocks per mask, >= 1.
        block_size: block side (int) or (height, width); default 32 px at 256 px, scaled with
            ``min(H, W)`` (see :func:`default_block_size`). Must leave at least 2 pixels of room.
        batch: number of masks.
        generator: CPU ``torch.Generator``; the only source of randomness (torch's global RNG if None).
        device: device of the returned tensor (CPU when None).

    Returns:
        float tensor (batch,1,H,W) of 0/1, 1 = hole.
    """
    height, width = as_size(size)
    batch = check_batch(batch)
    num_blocks = check_batch(num_blocks, "num_blocks")
    generator = check_generator(generator)
    block_h, block_w = _block_shape(block_size, height, width)
    holes = np.stack(
        [
            _one_blocks_mask(rng, height, width, num_blocks, block_h, block_w)
            for rng in mask_rngs(batch, generator)
        ]
    )
    return to_masks(holes, device)


@dataclass
class CenterMasks(MaskSampler):
    """Sampler of :func:`center_mask` (deterministic; the generator is not used)."""

    area: float = 0.25
    kind = "center"

    def __post_init__(self) -> None:
        center_mask(8, area=self.area)  # validate early, with the function's message

    def __call__(
        self,
        batch: int,
        size: int | tuple[int, int],
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> Tensor:
        check_generator(generator)
        return center_mask(size, area=self.area, batch=batch, device=device)


@dataclass
class BlockMasks(MaskSampler):
    """Sampler of :func:`blocks_mask`."""

    num_blocks: int = 8
    block_size: int | tuple[int, int] | None = None
    kind = "blocks"

    def __post_init__(self) -> None:
        check_batch(self.num_blocks, "num_blocks")
        if self.block_size is not None:
            as_size(self.block_size, name="block_size")

    def __call__(
        self,
        batch: int,
        size: int | tuple[int, int],
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> Tensor:
        return blocks_mask(
            size,
            num_blocks=self.num_blocks,
            block_size=self.block_size,
            batch=batch,
            generator=generator,
            device=device,
        )
