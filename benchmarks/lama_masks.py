"""LaMa's thin / medium / thick evaluation masks at 256 px, drawn independently of ``inpaintlab.masks``.

A transcription of LaMa's ``make_random_irregular_mask`` + ``make_random_rectangle_mask``
(saic_mdal/lama, ``saicinpainting/training/data/masks.py``) with OpenCV lines (``cv2.line`` with a
square-ish brush, as LaMa draws them) and Python's ``random`` module, and the parameters of LaMa's
256 px evaluation sets (``configs/data_gen/random_{thin,medium,thick}_256.yaml``); a mask above 50% of
the picture is redrawn. The library's own training sampler (``inpaintlab.masks.StrokeMasks``) uses
the same families but another drawing method and random source, so the benchmark measures on masks the
models never saw.
"""

from __future__ import annotations

import random

import cv2
import numpy as np
import torch
from torch import Tensor

#: (irregular kwargs, box probability, box kwargs), LaMa's 256 px evaluation generators.
LAMA_EVAL_SETS = {
    "thin": (dict(max_angle=4, max_len=40, max_width=10, min_times=4, max_times=50), 0.0, {}),
    "medium": (
        dict(max_angle=4, max_len=100, max_width=50, min_times=4, max_times=5),
        0.3,
        dict(margin=0, bbox_min_size=10, bbox_max_size=50, min_times=1, max_times=5),
    ),
    "thick": (
        dict(max_angle=4, max_len=200, max_width=100, min_times=1, max_times=5),
        0.5,
        dict(margin=0, bbox_min_size=30, bbox_max_size=150, min_times=1, max_times=3),
    ),
}
MAX_AREA = 0.5


def _irregular(rng, size, max_angle, max_len, max_width, min_times, max_times):
    mask = np.zeros((size, size), np.float32)
    for i in range(rng.randint(min_times, max_times)):
        x, y = rng.randrange(size), rng.randrange(size)
        for _ in range(1 + rng.randrange(5)):
            angle = 0.01 + rng.randrange(max_angle)
            if i % 2 == 0:
                angle = 2 * 3.1415926 - angle
            length = 10 + rng.randrange(max_len)
            brush = 5 + rng.randrange(max_width)
            ex = int(np.clip(x + length * np.sin(angle), 0, size))
            ey = int(np.clip(y + length * np.cos(angle), 0, size))
            cv2.line(mask, (x, y), (ex, ey), 1.0, brush)
            x, y = ex, ey
    return mask


def _boxes(rng, size, margin, bbox_min_size, bbox_max_size, min_times, max_times):
    mask = np.zeros((size, size), np.float32)
    for _ in range(rng.randint(min_times, max_times)):
        bw, bh = rng.randrange(bbox_min_size, bbox_max_size), rng.randrange(bbox_min_size, bbox_max_size)
        x0 = rng.randrange(margin, size - margin - bw + 1)
        y0 = rng.randrange(margin, size - margin - bh + 1)
        mask[y0 : y0 + bh, x0 : x0 + bw] = 1
    return mask


def lama_mask(kind: str, size: int, seed: int) -> Tensor:
    """One (1,size,size) float 0/1 mask of LaMa's ``kind`` family ("thin", "medium", "thick")."""
    irregular, box_p, box = LAMA_EVAL_SETS[kind]
    rng = random.Random(seed)
    scale = size / 256
    irregular = {k: max(1, round(v * scale)) if k in ("max_len", "max_width") else v for k, v in irregular.items()}
    box = {k: max(1, round(v * scale)) if "size" in k else v for k, v in box.items()}
    for _ in range(50):
        mask = _irregular(rng, size, **irregular)
        if box and rng.random() < box_p:
            mask = np.maximum(mask, _boxes(rng, size, **box))
        if 0 < mask.mean() <= MAX_AREA:
            break
    return torch.from_numpy(mask > 0).float()[None]


def lama_masks(kind: str, count: int, size: int, seed: int = 0) -> Tensor:
    """``count`` masks (count,1,size,size); mask i depends only on (kind, seed, i)."""
    offset = {"thin": 1, "medium": 2, "thick": 3}[kind] * 7_919
    return torch.stack([lama_mask(kind, size, seed * 1_000_003 + offset + i) for i in range(count)])
