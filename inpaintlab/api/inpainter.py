"""``load(name_or_path)`` -> :class:`Inpainter`, which inpaints pictures of any type, size and aspect.

>>> from inpaintlab import load
>>> inpainter = load("monet-blocks")             # registry name, .safetensors or Lightning .ckpt
>>> out = inpainter(pil_image, pil_mask, dilate=4)  # same type and size as the input
>>> inpainter.name
'monet-blocks'
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from inpaintlab.api.io import Fill, PictureBatch, check_hole, to_hole, to_picture_batch
from inpaintlab.api.stylizer import Stylizer
from inpaintlab.api.tiling import Window, dilate_hole, plan_windows, window_input, window_values
from inpaintlab.hub import cache, registry, weights
from inpaintlab.hub.download import sha256_file
from inpaintlab.hub.registry import CheckpointEntry

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
        batch_size: windows per forward pass.
        context: window side / hole side (see :mod:`inpaintlab.api.tiling`).
        max_windows: more hole groups than this -> the whole picture is processed downscaled.

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
        context: float = 2.0,
        max_windows: int = 16,
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
        if batch_size < 1 or max_windows < 1 or context < 1:
            raise ValueError(
                f"batch_size and max_windows must be >= 1 and context >= 1, "
                f"got {batch_size}, {max_windows}, {context}"
            )
        self.batch_size, self.context, self.max_windows = batch_size, context, max_windows

    def __repr__(self) -> str:
        return f"Inpainter(name={self.name!r}, resolution={self.resolution}, device={str(self.device)!r})"

    def __call__(self, image: Any, mask: Any, *, dilate: int = 0, threshold: float | None = None) -> Any:
        """Inpaint the hole of ``image``; returns the same type, size and dtype.

        Args:
            image: PIL image; numpy HxW / HxWxC (uint8, uint16 or float in [0,1]); tensor (C,H,W) or
                (N,C,H,W) (uint8 or float in [0,1]). C = 1 (gray), 2 (gray+alpha), 3, 4 (RGBA).
            mask: PIL image (any mode), numpy HxW / HxWxC or tensor (H,W)/(1,H,W)/(N,1,H,W);
                nonzero = hole for every type (an RGBA / LA mask with empty colour: its alpha), see
                :func:`inpaintlab.api.io.to_hole`.
            dilate: grow the hole by this many pixels first (hand-drawn masks are often tight).
            threshold: hole = mask value > threshold, in the mask's own units (default: nonzero).

        Known pixels of the result are bit-identical to the input; alpha is copied unchanged; an
        empty mask returns an unchanged copy; a mask covering a whole picture is a ``ValueError``.
        """
        pictures, hole = prepare(image, mask, dilate, threshold)
        return pictures.restore(self.fill(pictures, hole))

    def fill(self, pictures: PictureBatch, hole: Tensor, indices: list[int] | None = None) -> list[Fill]:
        """Fills for the holes of ``pictures`` (all, or only ``indices``); ``hole`` (N,1,H,W) bool on CPU."""
        indices = range(hole.shape[0]) if indices is None else indices
        windows = [
            win
            for i in indices
            for win in plan_windows(hole[i, 0], i, self.resolution, self.context, self.max_windows)
        ]
        fills = []
        for start in range(0, len(windows), self.batch_size):
            fills += self._run(pictures, hole, windows[start : start + self.batch_size])
        return fills

    @torch.inference_mode()
    def _run(self, pictures: PictureBatch, hole: Tensor, windows: list[Window]) -> list[Fill]:
        images, masks, valid = [], [], []
        for win in windows:
            crop = pictures.rgb(win.index, win.top, win.left, win.height, win.width)
            crop_hole = hole[
                win.index : win.index + 1, :, win.top : win.top + win.height, win.left : win.left + win.width
            ]
            image, mask, size = window_input(crop, crop_hole.to(crop.device), self.resolution)
            images.append(image)
            masks.append(mask)
            valid.append(size)
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
        return [
            Fill(win.index, win.top, win.left, win.fill, window_values(out, size, win.fill))
            for win, out, size in zip(windows, output, valid)
        ]


def prepare(
    image: Any, mask: Any, dilate: int = 0, threshold: float | None = None
) -> tuple[PictureBatch, Tensor]:
    """Validate and convert a user's picture and mask: (:class:`PictureBatch`, hole (N,1,H,W) bool)."""
    if isinstance(dilate, bool) or not isinstance(dilate, int) or dilate < 0:
        raise ValueError(f"dilate must be an int >= 0 (pixels), got {dilate!r}")
    pictures = to_picture_batch(image)
    device = image.device if isinstance(image, Tensor) else None
    hole = to_hole(mask, pictures.shape, device=device, threshold=threshold)
    if dilate:
        hole = torch.stack([dilate_hole(h[0], dilate) for h in hole])[:, None]
        check_hole(hole)
    return pictures, hole


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


def load_model(name_or_path: str | os.PathLike, device: str | torch.device = "cpu") -> nn.Module:
    """The bare model (eval mode, on ``device``) behind a registry name, ``.safetensors`` or ``.ckpt`` file.

    Raises:
        KeyError: an unknown name (the message lists the registry's names).
        FileNotFoundError: a path that does not exist.
        ValueError: a file that is not safetensors / a readable checkpoint, or an arch mismatch.
    """
    return _load(name_or_path, resolve_device(device))[0]


def _load(
    name_or_path: str | os.PathLike, device: torch.device
) -> tuple[nn.Module, CheckpointEntry | None, int | None]:
    """(model, registry entry or None, resolution recorded with the weights or None)."""
    check_name_or_path(name_or_path)
    entry, resolution = None, None
    path = Path(name_or_path)
    as_text = str(name_or_path)
    if path.suffix == ".ckpt":
        if not path.is_file():
            raise FileNotFoundError(f"training checkpoint {path} does not exist")
        state_dict, info = weights.load_training_checkpoint(path)
        model, resolution = weights.build_model(info["arch"]), info.get("image_size")
    elif path.suffix == ".safetensors" or os.sep in as_text or "/" in as_text:
        if not path.is_file():
            raise FileNotFoundError(
                f"weights file {path} does not exist; registry names have no '/' or suffix"
            )
        meta = weights.read_metadata(path)
        try:
            candidate = {e.file: e for e in registry.load_registry().values()}.get(path.name)
        except registry.RegistryError as err:  # a broken registry must not block loading a local file
            warnings.warn(f"ignoring the checkpoint registry: {err}", stacklevel=3)
            candidate = None
        if candidate is not None and sha256_file(path) == candidate.sha256:
            entry = candidate  # it is that registry checkpoint
        arch = weights.read_arch(path) or (entry.arch if entry else None)
        if arch is None:
            raise ValueError(
                f"{path} has no {weights.ARCH_KEY!r} metadata and is no registry checkpoint, so its "
                "architecture is unknown; write it with inpaintlab.hub.save_weights (or `inpaintlab export`)"
            )
        raw = meta.get(weights.META_PREFIX + "resolution", "")
        resolution = int(raw) if raw.isdigit() else None
        state_dict, model = weights.load_weights(path), weights.build_model(arch)
    else:
        entry = registry.get_entry(as_text)
        file = cache.fetch(entry)
        stored = weights.read_arch(file)
        if stored is not None and stored != entry.arch:
            raise ValueError(
                f"{file} was built as {stored} but the registry entry {entry.name!r} says {entry.arch}; "
                "the registry entry is wrong: fix its arch field"
            )
        state_dict, model = weights.load_weights(file), weights.build_model(entry.arch)
    try:
        model.load_state_dict(state_dict, strict=True)
    except RuntimeError as err:
        raise ValueError(
            f"the weights in {name_or_path} do not fit the model {type(model).__name__}: {err}"
        ) from None
    return model.to(device).eval(), entry, resolution


def load(name_or_path: str | os.PathLike, device: str | torch.device | None = None, **kwargs: Any):
    """Load an inpainter.

    Args:
        name_or_path: a registry name (``inpaintlab models`` lists them), a ``.safetensors`` file
            (architecture from its metadata, or from the registry entry with the same file name),
            a Lightning ``.ckpt`` from ``fit``, or ``"auto"`` (an :class:`~inpaintlab.api.auto.AutoInpainter`
            that routes each picture to ``{style}-{mask kind}``; pass ``classifier=`` until the
            registry has a ``style-classifier``). A style translator (``"photo2monet"``, task ``stylize``)
            gives a :class:`~inpaintlab.api.stylizer.Stylizer` instead: ``load("photo2monet")(img)``.
        device: ``"cpu"``, ``"cuda"``, ... (default: CUDA if available).
        **kwargs: passed to :class:`Inpainter` (``resolution``, ``batch_size``, ``context``, ...)
            or, for ``"auto"``, to :class:`~inpaintlab.api.auto.AutoInpainter`.
    """
    check_name_or_path(name_or_path)
    if str(name_or_path) == "auto":
        from inpaintlab.api.auto import AutoInpainter

        return AutoInpainter.from_registry(device=device, **kwargs)
    from inpaintlab.models import TRANSLATORS  # already imported by _load, which builds the model

    device = resolve_device(device)
    model, entry, resolution = _load(name_or_path, device)
    kwargs.setdefault("name", entry.name if entry else Path(name_or_path).stem)
    trained = (entry.resolution if entry else None) or getattr(model, "native_resolution", None) or resolution
    if kwargs.get("resolution") and trained and int(kwargs["resolution"]) != int(trained):
        warnings.warn(
            f"{kwargs['name']!r} was trained at {trained} px but runs at resolution={kwargs['resolution']}: "
            f"the fill is usually worse away from the training scale; leave resolution unset to use {trained}",
            stacklevel=2,
        )
    if type(model).__name__ in TRANSLATORS:  # a photo -> Monet translator (task: stylize)
        kwargs.setdefault("resolution", entry.resolution if entry else resolution)
        return Stylizer(model, entry=entry, device=device, **kwargs)
    if entry is not None and entry.task != "inpaint":
        raise ValueError(
            f"{entry.name!r} is a {entry.task} checkpoint, not an inpainter; use load_model() for it"
        )
    if resolution and getattr(model, "native_resolution", None) is None:
        kwargs.setdefault("resolution", resolution)
    return Inpainter(model, entry=entry, device=device, **kwargs)
