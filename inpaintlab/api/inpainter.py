""":class:`Inpainter`, which inpaints pictures of any type, size and aspect (what ``load(name)`` returns
for an inpainting checkpoint, see :mod:`inpaintlab.api.pretrained`).

>>> from inpaintlab import load
>>> inpainter = load("monet-blocks")             # registry name, .safetensors or Lightning .ckpt
>>> out = inpainter(pil_image, pil_mask, dilate=4)  # same type and size as the input
>>> inpainter.name
'monet-blocks'
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import Tensor, nn

from inpaintlab.api.io import Fill, PictureBatch, to_hole, to_picture_batch
from inpaintlab.api.pictures import check_dilate, grow_hole
from inpaintlab.api.plan import Window, check_strategy, plan_settings, plan_windows, window_batches
from inpaintlab.api.window_tensors import window_input, window_values
from inpaintlab.hub.registry import CheckpointEntry
from inpaintlab.texture import resolve_texture, texture_window

DEFAULT_RESOLUTION = 256


class Inpainter:
    """A generator wrapped for users: any input type, any size, known pixels never changed.

    Args:
        model: generator, ``model(image (N,3,R,R) in [0,1], mask (N,1,R,R)) -> (N,3,R,R)``.
        entry: its registry entry, if it came from the registry.
        name: what :attr:`name` reports (default: the entry's name or the model's class name).
        device: where the model runs (default: CUDA if available, else CPU).
        resolution: native resolution R (default: entry, then ``model.native_resolution``, then 256).
        value_range: the model's pixel range, ``(0, 1)`` or ``(-1, 1)`` (default: the entry's or (0, 1)).
        batch_size: windows of one size per forward pass.
        strategy: where and at which scale the model runs (:mod:`inpaintlab.api.plan`): ``"auto"``
            (full scale wherever the hole allows, downscaled only around holes thicker than
            ``max_hole``), ``"original"`` (the whole picture at full scale), ``"crop"`` (windows around
            the holes at full scale) or ``"resize"`` (the whole picture with its longer side at the
            resolution); a call's ``strategy=`` overrides it.
        max_hole: the thickest hole (model pixels) that ``auto`` fills at full scale (default: the
            entry's, else half the resolution).
        max_window: largest window side in model pixels (default 4x the resolution).
        texture: detail copied from the picture into the fill (:mod:`inpaintlab.texture`): ``True``
            (default) the registry entry's settings, ``False`` the network's fill as it is (the
            PSNR-optimal blur), or a :class:`~inpaintlab.texture.TextureSettings`.

    Call: ``inpainter(image, mask, dilate=0)``; see :meth:`__call__`.
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        entry: CheckpointEntry | None = None,
        name: str | None = None,
        device: str | torch.device | None = None,
        resolution: int | None = None,
        value_range: tuple[float, float] | None = None,
        batch_size: int = 4,
        strategy: str = "auto",
        max_hole: int | None = None,
        max_window: int | None = None,
        texture: Any = True,
    ):
        self.device = resolve_device(device)
        self.model = model.to(self.device).eval()
        self.entry = entry
        self.name = name or (entry.name if entry else type(model).__name__)
        self.resolution = int(
            resolution
            or (entry.resolution if entry else None)
            or getattr(model, "native_resolution", None)
            or DEFAULT_RESOLUTION
        )
        self.value_range = tuple(value_range or (entry.value_range if entry else (0.0, 1.0)))
        if self.value_range not in ((0.0, 1.0), (-1.0, 1.0)):
            raise ValueError(f"value_range must be (0, 1) or (-1, 1), got {value_range}")
        self.batch_size, self.max_hole, self.max_window = plan_settings(
            self.resolution, batch_size, max_hole, max_window
        )
        self.strategy = check_strategy(strategy)
        self.input_size = getattr(model, "input_size", None)
        self.texture = resolve_texture(texture, entry.texture if entry else None)

    def __repr__(self) -> str:
        return f"Inpainter(name={self.name!r}, resolution={self.resolution}, device={str(self.device)!r})"

    def __call__(
        self, image: Any, mask: Any, *, dilate: int = 0, threshold: float | None = None, strategy: str | None = None
    ) -> Any:
        """Inpaint the hole of ``image``; returns the same type, size and dtype.

        Args:
            image: PIL image; numpy HxW / HxWxC (uint8, uint16 or float in [0,1]); tensor (C,H,W) or
                (N,C,H,W) (uint8 or float in [0,1]). C = 1 (gray), 2 (gray+alpha), 3, 4 (RGBA).
            mask: PIL image (any mode), numpy HxW / HxWxC or tensor (H,W)/(1,H,W)/(N,1,H,W);
                nonzero = hole for every type (an RGBA / LA mask with empty colour: its alpha), see
                :func:`inpaintlab.api.io.to_hole`.
            dilate: grow the hole by this many pixels first (hand-drawn masks are often tight).
            threshold: hole = mask value > threshold, in the mask's own units (default: nonzero).
            strategy: this call's inference strategy (default: the inpainter's ``strategy``).

        Known pixels of the result are bit-identical to the input; alpha is copied unchanged; an
        empty mask returns an unchanged copy; a mask covering a whole picture is a ``ValueError``.
        """
        strategy = self.strategy if strategy is None else check_strategy(strategy)
        pictures, hole = prepare(image, mask, dilate, threshold)
        return pictures.restore(self.fill(pictures, hole, strategy=strategy))

    def plan(self, hole: Tensor, indices=None, strategy: str | None = None) -> list[Window]:
        """The windows (:mod:`inpaintlab.api.plan`) for ``hole`` (N,1,H,W) bool on CPU (all pictures, or ``indices``)."""
        indices = range(hole.shape[0]) if indices is None else indices
        strategy = self.strategy if strategy is None else strategy
        return [
            win
            for i in indices
            for win in plan_windows(
                hole[i, 0].numpy(), i, self.resolution, strategy=strategy, max_hole=self.max_hole, max_window=self.max_window
            )
        ]

    def fill(
        self, pictures: PictureBatch, hole: Tensor, indices: list[int] | None = None, strategy: str | None = None
    ) -> list[Fill]:
        """Fills for the holes of ``pictures`` (all, or only ``indices``); ``hole`` (N,1,H,W) bool on CPU.

        Windows of one input size run together, ``batch_size`` at a time."""
        fills = []
        for batch in window_batches(self.plan(hole, indices, strategy), self.batch_size, self.input_size):
            fills += self._run(pictures, hole, batch)
        return fills

    @torch.inference_mode()
    def _run(self, pictures: PictureBatch, hole: Tensor, windows: list[Window]) -> list[Fill]:
        images, masks, valid, crops = [], [], [], []
        for win in windows:
            crop = pictures.rgb(win.index, win.top, win.left, win.height, win.width)
            crop_hole = hole[
                win.index : win.index + 1, :, win.top : win.top + win.height, win.left : win.left + win.width
            ]
            image, mask, size = window_input(crop, crop_hole.to(crop.device), win.scale, self.input_size)
            images.append(image)
            masks.append(mask)
            valid.append(size)
            crops.append((crop, crop_hole))
        image = torch.cat(images).to(self.device)
        mask = torch.cat(masks).to(self.device)
        if self.value_range == (-1.0, 1.0):
            output = (self.model(image * 2 - 1, mask) + 1) / 2
        else:
            output = self.model(image, mask)
        if not isinstance(output, Tensor) or output.shape != image.shape:
            raise ValueError(
                f"model {self.name!r} returned {getattr(output, 'shape', type(output))}, "
                f"expected a tensor of shape {tuple(image.shape)}"
            )
        output = output.float().cpu()
        fills = []
        for win, out, size, (crop, crop_hole) in zip(windows, output, valid, crops):
            hole_pixels = torch.from_numpy(win.fill)
            if self.texture.enabled:
                unknown = crop_hole[0, 0].cpu()
                structure = window_values(out, size, unknown).numpy()
                ran_at = win.scale if self.input_size is None else min(win.scale, self.input_size / max(win.height, win.width))
                values = texture_window(
                    crop[0].float().cpu().numpy(), unknown.numpy(), win.fill, structure, self.texture, ran_at
                )
                values = torch.from_numpy(values)
            else:
                values = window_values(out, size, hole_pixels)
            fills.append(Fill(win.index, win.top, win.left, hole_pixels, values))
        return fills


def prepare(
    image: Any, mask: Any, dilate: int = 0, threshold: float | None = None
) -> tuple[PictureBatch, Tensor]:
    """Validate and convert a user's picture and mask: (:class:`PictureBatch`, hole (N,1,H,W) bool)."""
    check_dilate(dilate)
    pictures = to_picture_batch(image)
    device = image.device if isinstance(image, Tensor) else None
    hole = to_hole(mask, pictures.shape, device=device, threshold=threshold)
    return pictures, torch.from_numpy(grow_hole(hole.numpy(), dilate)) if dilate else hole


def check_name_or_path(name_or_path: Any) -> None:
    """``TypeError`` / ``ValueError`` with the fix for what ``load()`` cannot take: None, non-strings, URLs."""
    if isinstance(name_or_path, os.PathLike):
        return
    if not isinstance(name_or_path, str):
        raise TypeError(
            "name_or_path must be a registry name (`inpaintlab models` lists them), 'auto', or the path "
            f"of a .safetensors / .ckpt file, got {type(name_or_path).__name__}"
        )
    if "://" in name_or_path:
        raise ValueError(
            f"load() takes a registry name or a local file, not the URL {name_or_path!r}; download the "
            "file first (or set INPAINTLAB_HUB_URL to a server that serves the registry's files)"
        )
    if not name_or_path.strip():
        raise ValueError("name_or_path is empty; give a registry name (`inpaintlab models`) or a file path")


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None`` -> CUDA if available else CPU; an unavailable or malformed device is a ``ValueError``."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(
            f"device {device!r} is not a valid torch device ({err}); use 'cpu' or 'cuda'"
        ) from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device {str(device)!r} requested but CUDA is not available here; use device='cpu'"
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(
                f"device {str(device)!r} does not exist: {torch.cuda.device_count()} CUDA device(s)"
            )
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device 'mps' requested but MPS is not available here; use device='cpu'")
    return device
