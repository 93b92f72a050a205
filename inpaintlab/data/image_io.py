"""Find image files in folders and decode any of them to 8-bit RGB.

Policy for unusual inputs (every image leaves this module as a PIL ``RGB`` image, 8 bits per channel):

- grayscale (``1``, ``L``), palette (``P``), ``CMYK``, ``YCbCr`` and friends: converted with PIL.
- transparency (``RGBA``, ``LA``, ``PA``, palette or grayscale with a ``transparency`` entry):
  composited on a **white** background, so transparent pixels become white instead of whatever
  colour happens to hide under alpha 0.
- 16-bit grayscale (``I;16*``) is scaled to 8 bits (``round(v / 257)``); 32-bit ``I`` images are
  treated the same way when a value exceeds 255 (16-bit PNGs), else taken as 8-bit values; float
  ``F`` images are read as [0,1] when their maximum is <= 1, else as [0,255].
- EXIF orientation is applied, so photos come out upright.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from PIL import Image, ImageOps
from torch import Tensor

T = TypeVar("T")

# Extensions (lower case) that are listed as images; every one of them is readable by PIL.
IMAGE_EXTENSIONS: tuple[str, ...] = (
    ".jpg",
    ".jpeg",
    ".jpe",
    ".jfif",
    ".png",
    ".bmp",
    ".gif",
    ".tif",
    ".tiff",
    ".webp",
    ".ppm",
    ".pgm",
    ".pbm",
    ".pnm",
    ".tga",
    ".jp2",
    ".j2k",
    ".ico",
    ".dib",
    ".sgi",
)

WHITE = (255, 255, 255)
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
_ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")


def list_image_files(folder: str | Path, limit: int | None = None) -> list[Path]:
    """All image files under ``folder`` (recursive), sorted by relative path, at most ``limit``.

    Raises ``FileNotFoundError`` when the folder is missing or not a folder and ``ValueError`` when
    it holds no file with an image extension (see ``IMAGE_EXTENSIONS``); both name the path.
    """
    root = Path(folder).expanduser()
    if not root.exists():
        raise FileNotFoundError(
            f"image folder {str(root)!r} does not exist; check the path (cwd is {Path.cwd()})"
        )
    if not root.is_dir():
        raise FileNotFoundError(
            f"image folder {str(root)!r} is a file, not a folder; pass the folder that holds it"
        )
    files = sorted(
        (p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()),
        key=lambda p: p.relative_to(root).as_posix(),
    )
    if not files:
        raise ValueError(
            f"image folder {str(root)!r} contains no images (looked recursively for the extensions "
            f"{', '.join(IMAGE_EXTENSIONS)}); point it at a folder of images"
        )
    return files if limit is None else files[:limit]


def to_rgb(image: Image.Image, background: tuple[int, int, int] = WHITE) -> Image.Image:
    """Convert a PIL image of any mode to 8-bit ``RGB`` (see the module docstring for the policy)."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in _SIXTEEN_BIT_MODES or mode == "I":
        values = np.asarray(image).astype(np.float64)
        if mode in _SIXTEEN_BIT_MODES or values.max(initial=0) > 255:
            values = values / 257.0
        gray = np.clip(np.rint(values), 0, 255).astype(np.uint8)
        return Image.fromarray(gray, mode="L").convert("RGB")
    if mode == "F":
        values = np.asarray(image).astype(np.float64)
        scale = 255.0 if values.max(initial=0) <= 1.0 else 1.0
        gray = np.clip(np.rint(values * scale), 0, 255).astype(np.uint8)
        return Image.fromarray(gray, mode="L").convert("RGB")
    if mode in _ALPHA_MODES or "transparency" in image.info:
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (*background, 255))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    return image.convert("RGB")


def read_image(path: str | Path, min_size: int | None = None) -> Image.Image:
    """Decode one image file to an upright 8-bit ``RGB`` PIL image.

    ``min_size`` lets JPEG decoding skip resolution the caller does not need (PIL ``draft``): both
    sides of the result stay >= ``min_size`` (or the full size when the file is smaller).
    Raises whatever PIL raises for unreadable or truncated files (``OSError`` and others).
    """
    with Image.open(path) as opened:
        if min_size is not None:
            opened.draft("RGB", (min_size, min_size))
        opened.load()
        upright = ImageOps.exif_transpose(opened)
        return to_rgb(upright)


def pil_to_uint8(image: Image.Image) -> Tensor:
    """An ``RGB`` PIL image as a uint8 tensor (3,H,W)."""
    array = np.array(image, dtype=np.uint8, copy=True)
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()


def decode_readable(
    files: Sequence[Path], decode: Callable[[Path], T], num_threads: int = 2
) -> tuple[list[Path], list[T]]:
    """Run ``decode`` on every file (``num_threads`` threads); drop the files where it fails.

    Returns the readable files and their results, in order. The unreadable ones are named in ONE
    warning (all of them together), so a broken file never fails later in a DataLoader worker.
    """

    def attempt(path: Path) -> tuple[T | None, str | None]:
        try:
            return decode(path), None
        except Exception as error:  # noqa: BLE001 - PIL raises OSError, SyntaxError, ValueError, ...
            reason = str(error).replace(f"'{path}'", "").replace(str(path), "").strip()  # name the path once
            return None, f"{type(error).__name__}: {reason}"

    with ThreadPoolExecutor(max_workers=max(1, num_threads)) as pool:
        outcomes = list(pool.map(attempt, files))
    bad = [(path, problem) for path, (_, problem) in zip(files, outcomes) if problem is not None]
    if bad:
        warnings.warn(_unreadable_message(bad), stacklevel=3)
    good = [(path, result) for path, (result, problem) in zip(files, outcomes) if problem is None]
    return [path for path, _ in good], [result for _, result in good]


def _check_decodes(path: Path) -> None:
    read_image(path, min_size=32)


def drop_unreadable(files: Sequence[Path], num_threads: int = 2) -> list[Path]:
    """``files`` without those PIL cannot fully decode, with ONE warning naming all of those.

    Each file is decoded completely (JPEGs at reduced scale, which still reads every byte), so
    truncated files are found here too.
    """
    return decode_readable(files, _check_decodes, num_threads)[0]


def _unreadable_message(bad: Iterable[tuple[Path, str]], shown: int = 20) -> str:
    bad = list(bad)
    lines = [f"  {path}  ({problem})" for path, problem in bad[:shown]]
    if len(bad) > shown:
        lines.append(f"  ... and {len(bad) - shown} more")
    return f"skipping {len(bad)} unreadable image file(s); fix or delete them to use them:\n" + "\n".join(
        lines
    )
