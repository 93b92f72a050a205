"""The interface every inpainting generator implements."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from inpaintlab._checks import check_image, check_mask, composite


def masked_input(image: Tensor, mask: Tensor) -> Tensor:
    """The network input ``cat([image * (1 - mask), mask])``: the hole's pixels are zeroed, so they
    can never influence the output (even NaNs there are replaced by 0).

    Shapes: image (N,3,H,W), mask (N,1,H,W) -> (N,4,H,W).
    """
    known = torch.where(mask > 0.5, torch.zeros_like(image), image * (1 - mask))
    return torch.cat([known, mask.to(image.dtype)], dim=1)


class InpaintGenerator(nn.Module):
    """Base class of the inpainting generators.

    * ``predict(image, mask)`` -> raw prediction (N,3,H,W) in [0,1] for every pixel. The hole's
      pixels of ``image`` are ignored (zeroed before the network sees them).
    * ``forward(image, mask)`` -> ``composite(predict(image, mask), image, mask)``: the prediction in
      the hole, the known pixels copied bit-identically from ``image``; ``forward(image, mask, raw=True)``
      is ``predict`` through ``__call__`` (what training calls, so ``module.compile()`` covers it).

    Subclasses implement ``_predict(x)`` on the (N,4,H,W) network input from :func:`masked_input`
    and may override ``check_size(height, width)`` to reject sizes they cannot handle.

    Attributes:
        init_args: JSON-serialisable constructor arguments; ``type(m)(**m.init_args)`` rebuilds the
            architecture (the hub stores ``{"class": type(m).__name__, "init": m.init_args}``).
        native_resolution: the resolution the model was built/trained for, or None if unknown.

    Shapes: image (N,3,H,W) float in [0,1], mask (N,1,H,W) float, 1 = hole -> (N,3,H,W) in [0,1].
    """

    native_resolution: int | None = None

    def __init__(self) -> None:
        super().__init__()
        self.init_args: dict = {}

    def check_size(self, height: int, width: int) -> None:
        """Raise ``ValueError`` if this model cannot process an image of this size (default: any)."""

    def _predict(self, x: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} must implement _predict(x)")

    def predict(self, image: Tensor, mask: Tensor) -> Tensor:
        """Raw prediction (N,3,H,W) in [0,1] for every pixel (hole pixels of ``image`` ignored)."""
        image = check_image(image, "image")
        mask = check_mask(mask, image)
        self.check_size(int(image.shape[-2]), int(image.shape[-1]))
        return self._predict(masked_input(image, mask))

    def forward(self, image: Tensor, mask: Tensor, raw: bool = False) -> Tensor:
        """Inpainted image (N,3,H,W): prediction in the hole, known pixels exactly from ``image``
        (``raw=True``: the raw prediction of every pixel, as :meth:`predict`)."""
        pred = self.predict(image, mask)
        return pred if raw else composite(pred, image, mask)
