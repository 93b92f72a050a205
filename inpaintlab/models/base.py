"""The interface every inpainting generator implements, and how every model records its arguments."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from inpaintlab._checks import check_image, check_mask, composite


def _plain(value: Any) -> Any:
    """A constructor argument as JSON-ready data: tuples become lists, a model its ``init_args``."""
    if isinstance(value, nn.Module):
        return dict(getattr(value, "init_args", {}))
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def records_init_args(init: Callable[..., None]) -> Callable[..., None]:
    """Decorate a model's ``__init__`` so that ``self.init_args`` holds every constructor argument.

    The call is bound to the signature (``inspect.Signature.bind`` + ``apply_defaults``), so no argument
    can be forgotten and defaults are recorded too: ``type(m)(**m.init_args)`` rebuilds the architecture.
    ``init_args`` is set before the body runs, which may then adjust it (e.g. record ``pretrained=False``);
    in a subclass whose ``__init__`` is decorated too, the outermost call's arguments are kept.
    """
    signature = inspect.signature(init)

    @functools.wraps(init)
    def wrapper(self, *args: Any, **kwargs: Any) -> None:
        if "init_args" not in self.__dict__:  # the outermost decorated __init__ records its call
            bound = signature.bind(self, *args, **kwargs)
            bound.apply_defaults()
            recorded: dict[str, Any] = {}
            for name, value in list(bound.arguments.items())[1:]:
                kind = signature.parameters[name].kind
                if kind is inspect.Parameter.VAR_KEYWORD:
                    recorded.update(_plain(value))
                elif kind is not inspect.Parameter.VAR_POSITIONAL:
                    recorded[name] = _plain(value)
            object.__setattr__(self, "init_args", recorded)
        init(self, *args, **kwargs)

    return wrapper


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
        init_args: every constructor argument (recorded by :func:`records_init_args`);
            ``type(m)(**m.init_args)`` rebuilds the architecture, and ``inpaintlab.models.arch_of(m)``
            names it as a preset for the hub.
        native_resolution: the resolution the architecture is built for when it has one (a
            ``ContextEncoder``'s ``image_size``), else None: the resolution a checkpoint was trained at
            is recorded with its weights (registry entry, file metadata), not in the architecture.
        input_size: the only input side ``S`` the model accepts (``S x S``), or None for any size
            (fully convolutional models; the inference plan then runs them at the picture's own scale).

    Shapes: image (N,3,H,W) float in [0,1], mask (N,1,H,W) float, 1 = hole -> (N,3,H,W) in [0,1].
    """

    native_resolution: int | None = None
    input_size: int | None = None
    init_args: dict[str, Any]

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
