"""Masks read from a folder of PNG files (e.g. the NVIDIA irregular-mask set), nonzero = hole."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from inpaintlab._checks import as_size
from inpaintlab.masks._common import check_batch, check_generator, mask_rngs, to_masks
from inpaintlab.masks.base import MaskSampler
from inpaintlab.masks.kind import MASK_KINDS, mask_kind

__all__ = ["FolderMasks", "read_mask_file"]

_CROP_TRIES = 8  # random crops/files tried before falling back to resizing a whole mask


def read_mask_file(path: str | Path) -> np.ndarray:
    """Read one mask image as a (H, W) bool array, True = hole.

    A pixel is a hole where its value is nonzero: any colour channel for RGB images, and for images
    with transparency (RGBA, LA, palette) only where it is also visible (alpha > 0). 1-bit, 8-bit,
    16-bit and 32-bit greyscale PNGs are read at full depth.

    Raises:
        OSError: the file cannot be read as an image (PIL's error).
    """
    with Image.open(path) as image:
        image.load()
        if image.mode == "P":
            image = image.convert("RGBA")
        array = np.asarray(image)
    if array.ndim == 2:
        return array != 0
    colour, alpha = array[..., :-1], array[..., -1]
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        return (colour != 0).any(axis=-1) & (alpha != 0)
    return (array != 0).any(axis=-1)


def _resize_nearest(hole: np.ndarray, height: int, width: int) -> np.ndarray:
    tensor = torch.from_numpy(hole).to(torch.float32)[None, None]
    return F.interpolate(tensor, size=(height, width), mode="nearest-exact")[0, 0].numpy() > 0.5


def _fit(hole: np.ndarray, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """Scale so the mask covers (height, width) keeping its aspect ratio, then crop at random."""
    src_h, src_w = hole.shape
    scale = max(height / src_h, width / src_w)
    new_h, new_w = max(height, round(src_h * scale)), max(width, round(src_w * scale))
    if (new_h, new_w) != (src_h, src_w):
        hole = _resize_nearest(hole, new_h, new_w)
    top = int(rng.integers(0, new_h - height + 1))
    left = int(rng.integers(0, new_w - width + 1))
    return hole[top : top + height, left : left + width]


def _squeeze(hole: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize the whole mask to (height, width); a cell is a hole if any source pixel in it is."""
    tensor = torch.from_numpy(hole).to(torch.float32)[None, None]
    return F.adaptive_max_pool2d(tensor, (height, width))[0, 0].numpy() > 0.5


@dataclass
class FolderMasks(MaskSampler):
    """Masks drawn at random from the PNG files under ``root`` (searched recursively, sorted).

    Each mask: a file picked uniformly, scaled (nearest) so it covers the requested size keeping its
    aspect ratio, and cropped at a random place; crops with no hole are re-drawn (after a few, the
    whole file is resized to the size, keeping every hole). Files that cannot be read, or that have
    no hole pixel, are skipped with a warning (once per file).

    Args:
        root: folder of mask PNGs (nonzero = hole; any size, mode and bit depth).
        kind: kind reported by ``sample_with_kinds``: ``"region"`` (default), ``"blocks"``,
            ``"center"``, or ``"auto"`` to classify each mask with :func:`~inpaintlab.masks.mask_kind`.
        pattern: glob pattern of the files, relative to ``root``.
    """

    root: str
    kind: Literal["region", "blocks", "center", "auto"] = "region"
    pattern: str = "**/*.png"
    _files: list[Path] = field(init=False, repr=False, compare=False)
    _bad: set[Path] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in (*MASK_KINDS, "auto"):
            raise ValueError(f"kind must be one of {[*MASK_KINDS, 'auto']}, got {self.kind!r}")
        folder = Path(self.root).expanduser()
        if not folder.is_dir():
            raise FileNotFoundError(
                f"root: mask folder {str(folder)!r} does not exist or is not a folder; "
                "pass the folder that holds the mask PNGs"
            )
        self._files = sorted(p for p in folder.glob(self.pattern) if p.is_file())
        if not self._files:
            raise FileNotFoundError(
                f"root: no files matching {self.pattern!r} in mask folder {str(folder)!r}; "
                "put mask PNGs there (nonzero = hole) or set pattern"
            )
        self._bad = set()

    def __len__(self) -> int:
        return len(self._files)

    def _read(self, path: Path) -> np.ndarray | None:
        try:
            hole = read_mask_file(path)
        except (OSError, ValueError, SyntaxError) as error:  # PIL raises these on broken files
            reason = f"cannot be read ({type(error).__name__}: {error})"
            hole = None
        else:
            reason = "has no hole pixel (all zero)"
        if hole is None or not hole.any():
            self._bad.add(path)
            warnings.warn(f"FolderMasks: skipping mask file {str(path)!r}: it {reason}", stacklevel=3)
            return None
        return hole

    def _one(self, rng: np.random.Generator, height: int, width: int) -> np.ndarray:
        last = None
        for _ in range(_CROP_TRIES):
            good = [p for p in self._files if p not in self._bad]
            if not good:
                break
            hole = self._read(good[int(rng.integers(len(good)))])
            if hole is None:
                continue
            last = hole
            crop = _fit(hole, height, width, rng)
            if crop.any():
                return crop
        if last is not None:
            return _squeeze(last, height, width)
        for path in [p for p in self._files if p not in self._bad]:
            hole = self._read(path)
            if hole is not None:
                return _squeeze(hole, height, width)
        raise RuntimeError(
            f"root: none of the {len(self._files)} files in mask folder {self.root!r} is a readable mask "
            "with a hole; check the files (nonzero = hole)"
        )

    def __call__(
        self,
        batch: int,
        size: int | tuple[int, int],
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> Tensor:
        height, width = as_size(size)
        batch = check_batch(batch)
        generator = check_generator(generator)
        holes = np.stack([self._one(rng, height, width) for rng in mask_rngs(batch, generator)])
        return to_masks(holes, device)

    def sample_with_kinds(
        self,
        batch: int,
        size: int | tuple[int, int],
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> tuple[Tensor, list[str]]:
        """Masks plus their kinds: ``kind`` for each, or each mask's :func:`mask_kind` with ``"auto"``."""
        masks = self(batch, size, generator=generator, device=device)
        if self.kind == "auto":
            return masks, [mask_kind(m) for m in masks.cpu()]
        return masks, [self.kind] * batch
