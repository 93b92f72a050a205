"""Inpainting masks: generators, samplers for training configs, augmentation and the kind classifier.

Masks are float tensors (N,1,H,W) of 0/1 values, 1 = hole. Randomness comes only from an explicit
CPU ``torch.Generator``.

    >>> import torch
    >>> from inpaintlab.masks import MixedMasks, mask_kinds
    >>> g = torch.Generator().manual_seed(0)
    >>> masks, kinds = MixedMasks().sample_with_kinds(4, 256, generator=g)
    >>> mask_kinds(masks) == kinds
    True
"""

from __future__ import annotations

from inpaintlab.masks.augment import AugmentedMasks, augment_mask
from inpaintlab.masks.base import MaskSampler
from inpaintlab.masks.folder import FolderMasks, read_mask_file
from inpaintlab.masks.kind import MASK_KINDS, MIN_STAIR_TURNS, mask_kind, mask_kinds
from inpaintlab.masks.mixed import MixedMasks, default_samplers
from inpaintlab.masks.region import MIN_REGION_SIZE, REGION_WIDTHS, RegionMasks, region_mask
from inpaintlab.masks.strokes import STROKE_PRESETS, StrokeMasks, stroke_mask
from inpaintlab.masks.shapes import BlockMasks, CenterMasks, blocks_mask, center_mask, default_block_size

#: Sampler class of each name (for configs and command lines).
MASK_SAMPLERS: dict[str, type[MaskSampler]] = {
    "center": CenterMasks,
    "blocks": BlockMasks,
    "region": RegionMasks,
    "folder": FolderMasks,
    "mixed": MixedMasks,
    "strokes": StrokeMasks,
}

__all__ = [
    "MASK_KINDS",
    "MASK_SAMPLERS",
    "MIN_REGION_SIZE",
    "MIN_STAIR_TURNS",
    "REGION_WIDTHS",
    "STROKE_PRESETS",
    "StrokeMasks",
    "stroke_mask",
    "AugmentedMasks",
    "BlockMasks",
    "CenterMasks",
    "FolderMasks",
    "MaskSampler",
    "MixedMasks",
    "RegionMasks",
    "augment_mask",
    "blocks_mask",
    "center_mask",
    "default_block_size",
    "default_samplers",
    "mask_kind",
    "mask_kinds",
    "read_mask_file",
    "region_mask",
]
