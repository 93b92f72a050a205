"""``load("photo2monet")`` -> :class:`Stylizer`: a photo in, a Monet-style picture of the same size out."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from inpaintlab.api.io import Fill, to_picture_batch
from inpaintlab.hub.registry import CheckpointEntry


class Stylizer:
    """Runs a photo -> Monet translator (CycleGAN's ``G_pm``) on PIL / numpy / tensor pictures.

    The output has the input's type, size and dtype; grayscale stays grayscale (as luminance) and an
    alpha channel is copied through. Each picture is scaled so its shorter side is ``resolution`` (the
    scale the model was trained at, so brush strokes keep their size; None runs at the picture's own
    size), stylized, and scaled back.

    Args:
        model: a module mapping (1,3,H,W) in [0,1] to (1,3,H,W) in [0,1].
        entry: its registry entry, if any.
        device: where the model runs.
        resolution: shorter side the model sees (``load`` passes the entry's native resolution).
        name: what :attr:`name` reports.
    """

    def __init__(
        self,
        model: nn.Module,
        entry: CheckpointEntry | None = None,
        device: str | torch.device = "cpu",
        resolution: int | None = None,
        name: str | None = None,
    ) -> None:
        if resolution is not None and (isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 4):
            raise ValueError(f"resolution must be an int >= 4 or None (the picture's own size), got {resolution!r}")
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.entry = entry
        self.resolution = resolution
        self.name = name or (entry.name if entry else type(model).__name__)

    @torch.inference_mode()
    def _stylize(self, rgb: torch.Tensor) -> torch.Tensor:
        h, w = rgb.shape[-2:]
        x = rgb.to(self.device)
        if self.resolution and min(h, w) != self.resolution:
            scale = self.resolution / min(h, w)
            size = (max(4, round(h * scale)), max(4, round(w * scale)))
            x = F.interpolate(x, size=size, mode="area" if scale < 1 else "bilinear", align_corners=None if scale < 1 else False)
        y = self.model(x).float()
        if y.shape[-2:] != (h, w):
            y = F.interpolate(y, size=(h, w), mode="bilinear", align_corners=False)
        return y.clamp(0, 1).cpu()

    def __call__(self, image: Any) -> Any:
        """Stylize ``image``: PIL image, numpy array (HxW[xC]) or tensor ((C,H,W) / (N,C,H,W)) in [0,1]."""
        batch = to_picture_batch(image)
        n, h, w = batch.shape
        everywhere = torch.ones(h, w, dtype=torch.bool)
        fills = [Fill(i, 0, 0, everywhere, self._stylize(batch.rgb(i))[0].reshape(3, -1)) for i in range(n)]
        return batch.restore(fills)

    def __repr__(self) -> str:
        return f"Stylizer({self.name!r}, resolution={self.resolution}, device={self.device})"
