"""Synthetic image folders for smoke runs, tests and benchmarks (no real data needed).

The pictures are smooth colour gradients with a few soft blobs: enough structure for an inpainter to
learn something in a few steps, and they compress well, so writing them is fast.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image


def synthetic_image(size: int, seed: int) -> np.ndarray:
    """One (size, size, 3) uint8 picture: a random linear gradient plus three Gaussian blobs."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / max(size - 1, 1)
    angle = rng.uniform(0, 2 * math.pi)
    ramp = (np.cos(angle) * xx + np.sin(angle) * yy + 1.0) / 2.0
    image = rng.uniform(0.1, 0.6, size=3)[None, None, :] + 0.4 * ramp[..., None] * rng.uniform(-1, 1, size=3)
    for _ in range(3):
        cy, cx = rng.uniform(0, 1, size=2)
        radius = rng.uniform(0.08, 0.3)
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * radius**2))
        image = image + 0.5 * blob[..., None] * rng.uniform(-1, 1, size=3)
    return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def write_image_folder(
    folder: str | Path, count: int, size: int = 32, seed: int = 0, suffix: str = ".png"
) -> Path:
    """Write ``count`` synthetic pictures ``img_0000.png`` ... into ``folder`` (created); returns it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.fromarray(synthetic_image(size, seed * 100_003 + i)).save(folder / f"img_{i:04d}{suffix}")
    return folder
