"""The "masked input / output / ground truth" image grid logged each validation epoch."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torchvision.utils import make_grid

from inpaintlab._checks import check_image, check_mask, check_same_shape

HOLE_COLOR: tuple[float, float, float] = (1.0, 0.0, 1.0)  # magenta: rare in photos and in Monet paintings


def make_image_grid(
    masked: Tensor,
    output: Tensor,
    target: Tensor,
    nrow: int = 8,
    mask: Tensor | None = None,
    hole_color: Sequence[float] = HOLE_COLOR,
    padding: int = 2,
) -> Tensor:
    """Grid of three rows: masked inputs, model outputs, ground truths; one column per sample.

    Args:
        masked: the masked input images (N,3,H,W) in [0,1].
        output: the model outputs (N,3,H,W) in [0,1].
        target: the ground-truth images (N,3,H,W) in [0,1].
        nrow: number of samples shown (columns); the first ``min(nrow, N)`` samples are used.
        mask: (N,1,H,W), 1 = hole. When given, the hole of the masked input is painted ``hole_color`` so it
            stands out whatever the fill value of the masked input (e.g. black).
        hole_color: RGB in [0,1] for the hole.
        padding: pixels between tiles (white).

    Returns:
        A detached float32 CPU tensor (3, 3*(H+padding)+padding, n*(W+padding)+padding) in [0,1], ready for
        ``wandb.Image`` / ``SummaryWriter.add_image``.
    """
    check_image(masked, "masked")
    check_image(output, "output")
    check_image(target, "target")
    check_same_shape(masked, output, ("masked", "output"))
    check_same_shape(masked, target, ("masked", "target"))
    if not isinstance(nrow, int) or nrow < 1:
        raise ValueError(f"nrow must be a positive int (number of samples shown), got {nrow!r}")
    if len(hole_color) != 3:
        raise ValueError(f"hole_color must be 3 RGB values in [0,1], got {hole_color!r}")
    n = min(nrow, masked.shape[0])
    masked, output, target = (x[:n].detach().float().cpu() for x in (masked, output, target))
    if mask is not None:
        check_mask(mask[:n].detach().cpu().float(), masked, "mask")
        hole = mask[:n].detach().cpu() > 0.5
        color = torch.tensor([float(c) for c in hole_color]).view(1, 3, 1, 1).expand_as(masked)
        masked = torch.where(hole, color, masked)
    tiles = torch.cat([masked, output, target]).clamp(0.0, 1.0)
    return make_grid(tiles, nrow=n, padding=padding, pad_value=1.0)
