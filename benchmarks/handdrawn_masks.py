"""Hand-drawn-like masks made independently of ``inpaintlab.masks``, to check region models off-distribution.

Users' real masks are scribbles over an object or a silhouette. These are drawn with PIL (a different
drawing method from the library's generator): a few polylines with random widths and bends, and
sometimes a filled polygon or ellipse, like a brush dragged over an object.
"""

from __future__ import annotations

import math
import random

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch import Tensor


def handdrawn_mask(size: int, seed: int, max_area: float = 0.35) -> Tensor:
    """One (1,size,size) float mask of 0/1, hole = 1, from ``seed``; covers 3% to ``max_area``."""
    rng = random.Random(seed)
    for _ in range(20):
        canvas = Image.new("L", (size, size), 0)
        draw = ImageDraw.Draw(canvas)
        for _ in range(rng.randint(1, 3)):
            x, y = rng.uniform(0.15, 0.85) * size, rng.uniform(0.15, 0.85) * size
            width = max(2, int(rng.uniform(0.02, 0.09) * size))
            angle = rng.uniform(0, 2 * math.pi)
            points = [(x, y)]
            for _ in range(rng.randint(3, 8)):
                angle += rng.uniform(-1.2, 1.2)
                step = rng.uniform(0.05, 0.2) * size
                x = min(max(x + step * math.cos(angle), 0), size - 1)
                y = min(max(y + step * math.sin(angle), 0), size - 1)
                points.append((x, y))
            draw.line(points, fill=255, width=width, joint="curve")
        if rng.random() < 0.4:  # an object silhouette
            cx, cy, r = rng.uniform(0.3, 0.7) * size, rng.uniform(0.3, 0.7) * size, rng.uniform(0.06, 0.18) * size
            poly = [
                (cx + r * rng.uniform(0.6, 1.3) * math.cos(t), cy + r * rng.uniform(0.6, 1.3) * math.sin(t))
                for t in np.linspace(0, 2 * math.pi, rng.randint(5, 9), endpoint=False)
            ]
            draw.polygon(poly, fill=255)
        mask = torch.from_numpy(np.asarray(canvas) > 0).float()[None]
        if 0.03 <= mask.mean().item() <= max_area:
            return mask
    return mask


def handdrawn_masks(count: int, size: int, seed: int = 0) -> Tensor:
    """``count`` masks (count,1,size,size), mask i drawn from seed ``(seed, i)``."""
    return torch.stack([handdrawn_mask(size, seed * 1_000_003 + i) for i in range(count)])
