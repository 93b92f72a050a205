""":class:`OnnxInpainter`: a registry inpainter run by ONNX Runtime on the CPU, without importing torch.

``import torch`` alone takes 2-3 s on a 2-core machine, longer than the whole fill of a photo, so the
command line (``inpaintlab inpaint``) runs a registry model through the ONNX file the registry ships
beside its weights (``onnx:`` in ``checkpoints.yaml``, written by ``inpaintlab export NAME --format onnx
--dynamic``). Everything around the network is shared with :class:`~inpaintlab.api.Inpainter`: the
file reading, PIL modes and mask rule (:mod:`inpaintlab.api.pictures`) and the inference plan
(:mod:`inpaintlab.api.plan`); the window resampling is :mod:`inpaintlab.api.window_arrays`, tested
against the torch one. Known pixels come back bit-identical; the fill equals the torch runtime's to
within a grey level.

>>> from inpaintlab.api.onnx_inpainter import OnnxInpainter
>>> inpainter = OnnxInpainter.from_registry("photo-region")   # FileNotFoundError if it has no ONNX file
>>> out = inpainter(Image.open("in.png"), Image.open("mask.png"), dilate=4)   # PIL in, PIL out
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from inpaintlab.api.onnx_session import create_session
from inpaintlab.api.pictures import (
    check_dilate,
    check_hole,
    check_mask_size,
    check_threshold,
    grow_hole,
    hole_from_array,
    pil_working_copy,
    unit_fill_values,
)
from inpaintlab.api.plan import Window, check_strategy, plan_settings, plan_windows, window_batches
from inpaintlab.api.window_arrays import window_input, window_values
from inpaintlab.hub.registry import CheckpointEntry
from inpaintlab.texture import TextureSettings, resolve_texture, texture_window


class OnnxInpainter:
    """An ONNX inpainting graph (:class:`~inpaintlab.export.graph.InpaintGraph`, any input size) for PIL pictures.

    Args:
        path: the ``.onnx`` file (dynamic: any batch size, height and width).
        name: what :attr:`name` reports.
        resolution: the model's training resolution R (the plan's windows and ``max_hole`` follow it).
        batch_size, strategy, max_hole, max_window: as for :class:`~inpaintlab.api.Inpainter`.
        threads: ONNX Runtime's intra-op threads (default: its own choice, the physical cores).
        optimized: where to keep ONNX Runtime's optimised graph of ``path`` (its graph optimisation takes
            ~0.9 s of a 2-core machine at every start; loading the kept graph ~0.15 s): see
            :mod:`inpaintlab.api.onnx_session`. None: not kept.
        texture: as for :class:`~inpaintlab.api.Inpainter`: True (default) ``published_texture``, False the
            network's fill as it is, or a :class:`~inpaintlab.texture.TextureSettings`.
        published_texture: the registry entry's texture settings (``from_entry`` passes them); None: none.

    Raises:
        ImportError: onnxruntime is not installed (``pip install onnxruntime``).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        name: str,
        resolution: int,
        batch_size: int = 4,
        strategy: str = "auto",
        max_hole: int | None = None,
        max_window: int | None = None,
        threads: int | None = None,
        optimized: str | os.PathLike | None = None,
        texture: bool | TextureSettings = True,
        published_texture: TextureSettings | None = None,
    ) -> None:
        self.name = name
        self.resolution = int(resolution)
        self.batch_size, self.max_hole, self.max_window = plan_settings(
            self.resolution, batch_size, max_hole, max_window
        )
        self.strategy = check_strategy(strategy)
        self.texture = resolve_texture(texture, published_texture)
        self.session = create_session(Path(path), None if optimized is None else Path(optimized), threads)
        inputs = self.session.get_inputs()
        if [i.name for i in inputs] != ["image", "mask"]:
            raise ValueError(
                f"{path} takes inputs {[i.name for i in inputs]}; expected an inpaintlab export with inputs "
                "['image', 'mask'] (`inpaintlab export NAME --format onnx --dynamic`)"
            )
        if any(isinstance(side, int) for side in inputs[0].shape[2:]):
            raise ValueError(
                f"{path} takes only {inputs[0].shape[2]}x{inputs[0].shape[3]} pictures; the ONNX runtime needs "
                "a graph of any size: export it with `inpaintlab export NAME --format onnx --dynamic`"
            )

    @classmethod
    def from_registry(cls, name: str, **kwargs: Any) -> OnnxInpainter:
        """The registry entry ``name``'s ONNX file, verified (cache, package, ``$INPAINTLAB_HUB_URL``).

        Raises:
            KeyError: no such entry; FileNotFoundError: the entry has no ONNX file, or no source has it.
        """
        from inpaintlab.hub import get_entry

        return cls.from_entry(get_entry(name), **kwargs)

    @classmethod
    def from_entry(cls, entry: CheckpointEntry, **kwargs: Any) -> OnnxInpainter:
        """:meth:`from_registry` for an entry already read from the registry."""
        from inpaintlab.hub import fetch

        onnx_entry = entry.onnx_entry() if entry.task == "inpaint" else None
        if onnx_entry is None:
            raise FileNotFoundError(
                f"registry entry {entry.name!r} has no ONNX file (its 'onnx:' field); use load({entry.name!r})"
            )
        path = fetch(onnx_entry, progress=False)
        kwargs.setdefault("optimized", optimized_path(onnx_entry.sha256, onnx_entry.file))
        return cls(path, name=entry.name, resolution=entry.resolution, published_texture=entry.texture, **kwargs)

    def __repr__(self) -> str:
        return f"OnnxInpainter(name={self.name!r}, resolution={self.resolution})"

    def __call__(
        self,
        image: Image.Image,
        mask: Any,
        *,
        dilate: int = 0,
        threshold: float | None = None,
        strategy: str | None = None,
    ) -> Image.Image:
        """Inpaint the hole of a PIL ``image``; returns a PIL image of the same size and mode.

        ``mask``: a PIL image or numpy array (HxW / HxWxC), nonzero = hole (see
        :mod:`inpaintlab.api.pictures`); ``dilate``, ``threshold``, ``strategy`` as for
        :meth:`Inpainter.__call__ <inpaintlab.api.Inpainter.__call__>`.

        Raises:
            TypeError: ``image`` is not a PIL image. ValueError: a bad mask, size, mode or argument.
        """
        if not isinstance(image, Image.Image):
            raise TypeError(
                f"image must be a PIL.Image for the ONNX runtime, got {type(image).__name__}; use load() for arrays and tensors"
            )
        strategy = self.strategy if strategy is None else check_strategy(strategy)
        check_dilate(dilate)
        threshold = check_threshold(threshold)
        if not isinstance(mask, (Image.Image, np.ndarray)):
            raise TypeError(f"mask must be a PIL.Image or a numpy array, got {type(mask).__name__}")
        work, back = pil_working_copy(image)
        data = np.array(work)  # a writable copy: (H,W) or (H,W,C) uint8
        data = data[..., None] if data.ndim == 2 else data
        hole = hole_from_array(mask, threshold)
        check_mask_size(hole.shape, data.shape[:2])
        check_hole(hole[None, None])
        self._fill(data, grow_hole(hole[None, None], dilate)[0, 0], strategy)
        result = Image.fromarray(data[..., 0] if data.shape[2] == 1 else data)
        result = back(result) if back is not None else result
        result.info.update(image.info)
        return result

    def _fill(self, data: np.ndarray, hole: np.ndarray, strategy: str) -> None:
        """Write the model's fill into ``data``'s hole pixels ((H,W,C) uint8), in place."""
        colour = 1 if data.shape[2] <= 2 else 3
        windows = plan_windows(
            hole, 0, self.resolution, strategy=strategy, max_hole=self.max_hole, max_window=self.max_window
        )
        for batch in window_batches(windows, self.batch_size):
            for win, values in self._run(data[..., :colour], hole, batch):  # alpha stays out
                region = data[win.top : win.top + win.height, win.left : win.left + win.width, :colour]
                region[win.fill] = (
                    np.round(unit_fill_values(values, colour, stacklevel=4) * 255.0).astype(np.uint8).T
                )

    def _run(
        self, pixels: np.ndarray, hole: np.ndarray, windows: list[Window]
    ) -> list[tuple[Window, np.ndarray]]:
        """One forward pass of same-size windows: ``[(window, its fill values (3,K))]``; ``pixels`` are the
        picture's (H,W,1) grey or (H,W,3) RGB uint8 channels, converted to float one window at a time."""
        inputs, crops = [], []
        for win in windows:
            rows, cols = slice(win.top, win.top + win.height), slice(win.left, win.left + win.width)
            crop = np.moveaxis(pixels[rows, cols], -1, 0).astype(np.float32) / 255.0
            crop = np.repeat(crop, 3, axis=0) if crop.shape[0] == 1 else crop
            inputs.append(window_input(crop[None], hole[None, None, rows, cols], win.scale))
            crops.append((crop, hole[rows, cols]))
        image = np.concatenate([i[0] for i in inputs])
        mask = np.concatenate([i[1] for i in inputs])
        (output,) = self.session.run(None, {"image": image, "mask": mask})
        results = []
        for win, out, (_, _, size), (crop, unknown) in zip(windows, output, inputs, crops):
            if self.texture.enabled:
                structure = window_values(out, size, unknown)
                values = texture_window(crop, unknown, win.fill, structure, self.texture, win.scale)
            else:
                values = window_values(out, size, win.fill)
            results.append((win, values))
        return results


def optimized_path(sha256: str, file: str) -> Path:
    """Where the cache keeps ONNX Runtime's optimised graph of a registry ONNX file: beside the file's
    content-addressed place, named for the onnxruntime version that wrote it."""
    import onnxruntime

    from inpaintlab.hub import cache_dir

    return cache_dir() / sha256 / f"{Path(file).stem}.ort-{onnxruntime.__version__}.onnx"
