"""The inference API: ``load(name_or_path)`` -> :class:`Inpainter`, callable on PIL/numpy/tensor pictures.

Modules: ``pretrained`` (``load`` / ``load_model``: the model behind a name or file, wrapped for its
task), ``inpainter`` (Inpainter), ``io`` (type conversions, bit-exact write-back), ``plan`` (where and
at which scale the model runs: the ``strategy``), ``auto`` (style/mask-kind router), ``stylizer``
(``load("photo2monet")``: photo -> Monet).
"""

from __future__ import annotations

from inpaintlab.api.auto import AutoInpainter
from inpaintlab.api.inpainter import Inpainter, resolve_device
from inpaintlab.api.io import Fill, PictureBatch, to_hole, to_picture_batch
from inpaintlab.api.pretrained import load, load_model
from inpaintlab.api.stylizer import Stylizer
from inpaintlab.api.plan import STRATEGIES, Window, plan_windows

__all__ = [
    "STRATEGIES",
    "AutoInpainter",
    "Fill",
    "Inpainter",
    "PictureBatch",
    "Stylizer",
    "Window",
    "load",
    "load_model",
    "plan_windows",
    "resolve_device",
    "to_hole",
    "to_picture_batch",
]
