"""The deterministic mask-kind classifier: exact rules, every generated mask, independent free-form shapes."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from inpaintlab.masks import (
    MIN_STAIR_TURNS,
    blocks_mask,
    center_mask,
    mask_kind,
    mask_kinds,
    region_mask,
)
from inpaintlab.masks.kind import _has_staircase


def _rect(h: int, w: int, top: int, left: int, rh: int, rw: int) -> np.ndarray:
    m = np.zeros((h, w), dtype=bool)
    m[top : top + rh, left : left + rw] = True
    return m


def _chain(k: int, size: int = 64, side: int = 10, step: int = 3) -> np.ndarray:
    """k squares, each shifted (step, step) from the previous: a staircase of 2k - 1 turns per side."""
    m = np.zeros((size, size), dtype=bool)
    for i in range(k):
        m[5 + step * i : 5 + step * i + side, 5 + step * i : 5 + step * i + side] = True
    return m


# ---------------------------------------------------------------- exact rules on hand-made masks


@pytest.mark.parametrize(
    ("shape", "rect", "expected"),
    [
        ((16, 16), (4, 4, 8, 8), "center"),  # margins 4/4, 4/4
        ((17, 16), (4, 4, 8, 8), "center"),  # margins 4/5: within one pixel
        ((16, 16), (0, 0, 16, 16), "center"),  # full mask
        ((16, 16), (3, 4, 8, 8), "blocks"),  # margins 3/5 -> off by 2: not centred
        ((16, 16), (4, 6, 8, 8), "blocks"),
        ((32, 20), (10, 2, 12, 16), "center"),
    ],
)
def test_single_rectangle_is_center_only_when_centred(shape, rect, expected):
    m = _rect(*shape, *rect)
    assert mask_kind(m) == expected


def test_chained_blocks_follow_the_staircase_rule():
    # k chained squares give 2k - 1 alternating turns on each side: 3 chained -> 5 < 7 -> blocks;
    # 4 chained -> 7 -> region. MIN_STAIR_TURNS is 7.
    assert MIN_STAIR_TURNS == 7
    assert mask_kind(_chain(2)) == "blocks"
    assert mask_kind(_chain(3)) == "blocks"
    assert mask_kind(_chain(4)) == "region"
    assert _has_staircase(_chain(3), 5) and not _has_staircase(_chain(3), 6)
    assert _has_staircase(_chain(4), 7) and not _has_staircase(_chain(4), 8)


def test_rectilinear_unions_are_blocks():
    m = _rect(64, 64, 5, 5, 10, 30) | _rect(64, 64, 5, 5, 40, 10)  # an L
    m |= _rect(64, 64, 40, 40, 12, 12) | _rect(64, 64, 30, 50, 6, 6)  # a square, another touching block
    m |= _rect(64, 64, 58, 10, 6, 3)  # a block on the border
    assert mask_kind(m) == "blocks"
    ring = _rect(40, 40, 5, 5, 20, 20) & ~_rect(40, 40, 10, 10, 10, 10)  # a frame (with an inner boundary)
    assert mask_kind(ring) == "blocks"


def test_pixel_diagonals_and_curves_are_region():
    diag = np.eye(20, dtype=bool)  # 8-connected 1-px diagonal: turns alternate along both sides
    assert mask_kind(diag) == "region"
    yy, xx = np.mgrid[:64, :64]
    assert mask_kind((yy - 30) ** 2 + (xx - 33) ** 2 <= 10**2) == "region"
    # A staircase of 7 alternating turns carved into a rectangle's inner boundary is found too.
    frame = np.ones((40, 40), dtype=bool)
    frame[8:32, 8:32] = ~np.tri(24, dtype=bool)
    assert mask_kind(frame) == "region"


def test_input_formats_dtypes_and_thresholds():
    m = _rect(16, 16, 4, 4, 8, 8)
    for x in (
        m,
        m.astype(np.uint8) * 255,
        torch.from_numpy(m),
        torch.from_numpy(m).float()[None],
        torch.from_numpy(m).double()[None, None],
        torch.from_numpy(m).to(torch.int64)[None, None],
    ):
        assert mask_kind(x) == "center"
    soft = torch.from_numpy(m).float() * 0.6 + 0.3 * torch.from_numpy(_rect(16, 16, 0, 0, 3, 3)).float()
    assert mask_kind(soft) == "center"  # 0.3 is below the 0.5 threshold of float masks
    ints = (m * 1).astype(np.int32) + 0 * _rect(16, 16, 0, 0, 3, 3)
    ints[0, 0] = 2  # nonzero int: a hole
    assert mask_kind(ints) == "blocks"


def test_mask_kinds_batches_and_matches_mask_kind():
    batch = torch.cat([center_mask(32), blocks_mask(32, generator=torch.Generator().manual_seed(0))])
    assert mask_kinds(batch) == ["center", "blocks"] == [mask_kind(m) for m in batch]


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="empty"):
        mask_kind(torch.zeros(1, 1, 8, 8))
    with pytest.raises(ValueError, match=r"one mask of shape \(H,W\)"):
        mask_kind(torch.ones(2, 1, 8, 8))
    with pytest.raises(TypeError, match="torch.Tensor or numpy.ndarray"):
        mask_kind([[1, 0], [0, 1]])
    with pytest.raises(ValueError, match=r"\(N,1,H,W\)"):
        mask_kinds(torch.ones(8, 8))


# ---------------------------------------------------------------- every generated mask


def test_every_generated_mask_gets_its_own_kind():
    """2000+ masks over sizes 16..512, all kinds, widths, block counts/sizes and areas."""
    rng = np.random.default_rng(1234)
    g = torch.Generator().manual_seed(1234)
    small = [16, 17, 20, 24, 31, 32, 40, 48, 64, 96]
    large = [128, 200, 256, 512]
    counts: Counter[str] = Counter()
    mistakes: list[tuple] = []

    def check(masks: torch.Tensor, kind: str, params: tuple) -> None:
        for got in mask_kinds(masks):
            counts[kind] += 1
            if got != kind:
                mistakes.append((kind, got, params))

    for _ in range(600):  # center: sizes (also non-square, odd/even) and areas
        size = (int(rng.choice(small + large)), int(rng.choice(small + large)))
        area = float(rng.uniform(0.01, 1.0))
        check(center_mask(size, area=area), "center", (size, area))
    for _ in range(100):  # blocks: varied counts and sizes
        side = int(rng.choice(small)) if rng.random() < 0.85 else int(rng.choice(large))
        size = (side, side + int(rng.integers(0, 9)))
        num_blocks = int(rng.choice([1, 2, 3, 5, 8, 8, 12, 16, 24]))
        block = None if rng.random() < 0.5 else int(rng.integers(1, max(2, side // 3)))
        masks = blocks_mask(size, num_blocks=num_blocks, block_size=block, batch=8, generator=g)
        check(masks, "blocks", (size, num_blocks, block))
    widths = ["thin", "medium", "thick", "mixed"]
    for i in range(100):  # region: all widths and area ranges
        side = int(rng.choice(small)) if i % 5 else int(rng.choice(large))
        size = (side, side + int(rng.integers(0, 5)))
        lo = float(rng.uniform(0.02, 0.3))
        area = (lo, lo + float(rng.uniform(0.05, 0.3)))
        batch = 8 if i % 5 else 2
        check(
            region_mask(size, area=area, width=widths[i % 4], batch=batch, generator=g),
            "region",
            (size, area),
        )
    assert sum(counts.values()) >= 2000
    assert min(counts.values()) >= 600
    assert mistakes == []


# ---------------------------------------------------------------- independent free-form masks (PIL drawing)


def _pil_canvas(size: int) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    image = Image.new("L", (size, size), 0)
    return image, ImageDraw.Draw(image)


def _stroke(rng: np.random.Generator, size: int) -> np.ndarray:
    """A straight brush polyline whose first segment is at 20-70 degrees to the axes (a drawn line).

    (A short thin line within ~15 degrees of an axis has only a step or two and reads as blocks.)
    """
    image, draw = _pil_canvas(size)
    points = [tuple(rng.uniform(0.3 * size, 0.7 * size, 2))]
    angle = math.radians(rng.uniform(20, 70) + 90 * int(rng.integers(4)))
    for _ in range(int(rng.integers(1, 4))):
        length = rng.uniform(0.35, 0.5) * size
        x, y = points[-1]
        points.append((x + length * math.cos(angle), y + length * math.sin(angle)))
        angle = rng.uniform(0, 2 * math.pi)
    draw.line(points, fill=255, width=int(rng.integers(1, max(2, size // 10))), joint="curve")
    return np.asarray(image) > 0


def _scribble(rng: np.random.Generator, size: int) -> np.ndarray:
    """A hand-drawn-like wobbly brush line: a random walk with a drifting heading, turning back at the border."""
    image, draw = _pil_canvas(size)
    x, y = rng.uniform(0.2 * size, 0.8 * size, 2)
    heading = rng.uniform(0, 2 * math.pi)
    step = max(2.0, 0.04 * size)
    points = [(x, y)]
    for _ in range(int(rng.integers(15, 40))):
        heading += rng.normal(0, 0.4)
        nx, ny = x + step * math.cos(heading), y + step * math.sin(heading)
        if not (0 <= nx < size and 0 <= ny < size):
            heading += math.pi
            continue
        x, y = nx, ny
        points.append((x, y))
    draw.line(points, fill=255, width=int(rng.integers(2, max(3, size // 12))), joint="curve")
    return np.asarray(image) > 0


def _silhouette(rng: np.random.Generator, size: int) -> np.ndarray:
    """An object-like silhouette: a random star-shaped polygon plus an ellipse (head/body)."""
    image, draw = _pil_canvas(size)
    cx, cy = rng.uniform(0.35 * size, 0.65 * size, 2)
    n = int(rng.integers(5, 12))
    angles = np.sort(rng.uniform(0, 2 * math.pi, n))
    radii = rng.uniform(0.12, 0.3, n) * size
    draw.polygon([(cx + r * math.cos(a), cy + r * math.sin(a)) for a, r in zip(angles, radii)], fill=255)
    rx, ry = rng.uniform(0.06, 0.15, 2) * size
    ex, ey = cx + rng.uniform(-0.2, 0.2) * size, cy - 0.25 * size
    draw.ellipse([ex - rx, ey - ry, ex + rx, ey + ry], fill=255)
    return np.asarray(image) > 0


def _ellipse(rng: np.random.Generator, size: int) -> np.ndarray:
    image, draw = _pil_canvas(size)
    cx, cy = rng.uniform(0.3 * size, 0.7 * size, 2)
    rx, ry = rng.uniform(max(6.0, 0.1 * size), 0.3 * size, 2)
    draw.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=255)
    return np.asarray(image) > 0


@pytest.mark.parametrize("draw", [_stroke, _scribble, _silhouette, _ellipse])
def test_independently_drawn_free_form_masks_are_region(draw):
    rng = np.random.default_rng(7)
    wrong = []
    for i in range(60):
        size = int(rng.choice([32, 48, 64, 128, 256]))
        mask = draw(rng, size)
        assert mask.any()
        kind = mask_kind(torch.from_numpy(mask)[None, None].float())
        if kind != "region":
            wrong.append((i, size, kind))
    assert wrong == []


def test_classifier_is_deterministic():
    masks = region_mask(48, batch=6, generator=torch.Generator().manual_seed(3))
    assert mask_kinds(masks) == mask_kinds(masks.clone()) == ["region"] * 6
