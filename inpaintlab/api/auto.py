"""``load("auto")``: route each picture to the checkpoint made for its style and mask kind.

:class:`AutoInpainter` gets its classifier and its loader from the caller
(:func:`inpaintlab.api.pretrained.load` gives the registry's), so this module needs no hub.

For every picture, a style classifier says ``"photo"`` or ``"monet"``, and
:func:`inpaintlab.masks.mask_kind` says ``"center"``, ``"blocks"`` or ``"region"``; the picture is
inpainted by the registry checkpoint ``"{style}-{kind}"`` (loaded once, on first use).
:attr:`AutoInpainter.last_models` tells which checkpoint ran for each picture of the last call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from inpaintlab.api.inpainter import Inpainter, prepare, resolve_device
from inpaintlab.api.io import PictureBatch
from inpaintlab.api.plan import check_strategy

CLASSIFIER_NAME = "style-classifier"
_PREVIEW_SIDE = 512

StyleClassifier = Callable[[Tensor], "str | list[str]"]


class AutoInpainter:
    """Inpaint each picture with ``{style}-{mask kind}``.

    Args:
        classifier: ``classifier(image (1,3,h,w) float in [0,1]) -> style`` (a ``str`` or a one-item
            list), e.g. a :class:`~inpaintlab.models.classifier.StyleClassifier`'s ``predict``. The
            picture is handed over downscaled to at most 512 pixels a side.
        loader: ``loader(name) -> Inpainter``, e.g. ``lambda name: inpaintlab.load(name)``
            (``load("auto")`` passes one that loads registry checkpoints on its device).
        mask_kind: ``mask_kind(mask (1,1,H,W)) -> "center" | "blocks" | "region"``
            (default :func:`inpaintlab.masks.mask_kind`).
        device: the device the inpainters run on (informational; the loader places them).
    """

    def __init__(
        self,
        classifier: StyleClassifier,
        loader: Callable[[str], Inpainter],
        *,
        mask_kind: Callable[[Tensor], str] | None = None,
        device: str | torch.device | None = None,
    ):
        if not callable(classifier):
            raise TypeError(f"classifier must be callable (image -> style), got {type(classifier).__name__}")
        if not callable(loader):
            raise TypeError(
                f"loader must be callable (registry name -> Inpainter), e.g. lambda name: inpaintlab.load(name); "
                f"got {type(loader).__name__}"
            )
        if mask_kind is None:
            from inpaintlab.masks import mask_kind
        self.classifier = classifier
        self.mask_kind = mask_kind
        self.device = resolve_device(device)
        self.loader = loader
        self.inpainters: dict[str, Inpainter] = {}
        self.last_models: list[str | None] = []

    @property
    def name(self) -> str:
        """The checkpoint(s) that ran in the last call, e.g. ``"monet-blocks"``; ``"auto"`` before any."""
        ran = [m for m in dict.fromkeys(self.last_models) if m]
        return "+".join(ran) if ran else "auto"

    def route(self, pictures: PictureBatch, hole: Tensor, index: int) -> str:
        """The checkpoint name for picture ``index``: ``"{style}-{kind}"``."""
        _, h, w = pictures.shape
        step = max(1, max(h, w) // _PREVIEW_SIDE)
        preview = pictures.rgb(index, step=step)
        if max(preview.shape[-2:]) > _PREVIEW_SIDE:
            scale = _PREVIEW_SIDE / max(preview.shape[-2:])
            size = (max(1, round(preview.shape[-2] * scale)), max(1, round(preview.shape[-1] * scale)))
            preview = F.interpolate(preview, size=size, mode="bilinear", antialias=True, align_corners=False)
        with torch.inference_mode():
            style = self.classifier(preview)
        style = style[0] if isinstance(style, (list, tuple)) else style
        kind = self.mask_kind(hole[index : index + 1].to(torch.float32))
        return f"{style}-{kind}"

    def inpainter(self, name: str) -> Inpainter:
        """The inpainter for ``name``, loaded on first use."""
        if name not in self.inpainters:
            self.inpainters[name] = self.loader(name)
        return self.inpainters[name]

    def __call__(
        self, image: Any, mask: Any, *, dilate: int = 0, threshold: float | None = None, strategy: str | None = None
    ) -> Any:
        """Like :meth:`Inpainter.__call__`; each picture goes to its own checkpoint (:attr:`last_models`)."""
        if strategy is not None:
            check_strategy(strategy)
        pictures, hole = prepare(image, mask, dilate, threshold)
        fills, self.last_models = [], []
        for index in range(hole.shape[0]):
            if not hole[index].numpy().any():
                self.last_models.append(None)
                continue
            name = self.route(pictures, hole, index)
            fills += self.inpainter(name).fill(pictures, hole, indices=[index], strategy=strategy)
            self.last_models.append(name)
        return pictures.restore(fills)
