"""Photo-vs-Monet style classifier: the router's first stage (``load("auto")``).

A small fully convolutional network with global average + max pooling. It looks at the picture at
its own scale (brush strokes and canvas texture are the strongest cue, and downscaling blurs them),
only shrinking pictures whose longer side exceeds ``max_side``; it trains on random crops.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from inpaintlab._checks import check_image
from inpaintlab.models.base import records_init_args

STYLES = ("photo", "monet")


def _conv_block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    )


class StyleClassifier(nn.Module):
    """Classify pictures as ``"photo"`` or ``"monet"``.

    Args:
        base_channels: width of the first block; each later block doubles it (capped at 8x).
        depth: number of conv blocks (each halves the resolution).
        max_side: pictures whose longer side is larger are downscaled (antialiased) to it first.
        dropout: before the linear head.

    Shapes:
        forward: image (N,3,H,W) in [0,1], H, W >= 2**depth -> logits (N,2), class order ``STYLES``.
    """

    @records_init_args
    def __init__(self, base_channels: int = 16, depth: int = 4, max_side: int = 512, dropout: float = 0.2):
        super().__init__()
        if depth < 1 or base_channels < 1 or max_side < 2**depth:
            raise ValueError(
                f"StyleClassifier needs depth >= 1, base_channels >= 1 and max_side >= 2**depth, "
                f"got depth={depth}, base_channels={base_channels}, max_side={max_side}"
            )
        self.max_side = max_side
        self.min_side = 2**depth
        self.classes = STYLES
        widths = [min(base_channels * 2**i, base_channels * 8) for i in range(depth)]
        blocks, cin = [], 3
        for cout in widths:
            blocks.append(_conv_block(cin, cout))
            cin = cout
        self.features = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(2 * cin, len(STYLES)))
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1), persistent=False)

    def forward(self, image: Tensor) -> Tensor:
        check_image(image)
        h, w = image.shape[-2:]
        if min(h, w) < self.min_side:
            raise ValueError(f"StyleClassifier needs pictures of at least {self.min_side} px a side, got {h}x{w}")
        if max(h, w) > self.max_side:
            scale = self.max_side / max(h, w)
            size = (max(self.min_side, round(h * scale)), max(self.min_side, round(w * scale)))
            image = F.interpolate(image, size=size, mode="bilinear", antialias=True, align_corners=False)
        x = self.features((image - self.mean) / self.std)
        # average and max pooling together: colour statistics and the strongest brush-stroke responses
        pooled = torch.cat([F.adaptive_avg_pool2d(x, 1), F.adaptive_max_pool2d(x, 1)], dim=1)
        return self.head(pooled)

    @torch.no_grad()
    def predict(self, image: Tensor) -> list[str]:
        """The style of each picture: a list of ``"photo"`` / ``"monet"``."""
        return [self.classes[i] for i in self(image).argmax(dim=1).tolist()]
