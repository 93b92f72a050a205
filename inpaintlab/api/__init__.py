"""The inference API: ``load(name_or_path)`` -> :class:`Inpainter`, callable on PIL/numpy/tensor pictures.

Modules: ``pretrained`` (``load`` / ``load_model``: the model behind a name or file, wrapped for its
task), ``inpainter`` (Inpainter), ``io`` (type conversions, bit-exact write-back), ``pictures`` (files,
PIL modes and the mask rule, without torch), ``plan`` (where and at which scale the model runs: the
``strategy``; numpy), ``window_tensors`` / ``window_arrays`` (a window as model input and back, in torch
and in numpy), ``onnx_inpainter`` (a registry model run by ONNX Runtime without torch: what the command
line uses), ``auto`` (style/mask-kind router), ``stylizer`` (``load("photo2monet")``: photo -> Monet).

The names below are imported on first use (an explicit name -> module table), so that
``inpaintlab.api.onnx_inpainter`` and ``inpaintlab.api.plan`` can be used without importing torch.
"""

from __future__ import annotations

from inpaintlab._lazy import lazy_names

_PUBLIC = {
    "STRATEGIES": "inpaintlab.api.plan",
    "Window": "inpaintlab.api.plan",
    "plan_windows": "inpaintlab.api.plan",
    "AutoInpainter": "inpaintlab.api.auto",
    "Inpainter": "inpaintlab.api.inpainter",
    "resolve_device": "inpaintlab.api.inpainter",
    "Fill": "inpaintlab.api.io",
    "PictureBatch": "inpaintlab.api.io",
    "to_hole": "inpaintlab.api.io",
    "to_picture_batch": "inpaintlab.api.io",
    "load": "inpaintlab.api.pretrained",
    "load_model": "inpaintlab.api.pretrained",
    "Stylizer": "inpaintlab.api.stylizer",
    "OnnxInpainter": "inpaintlab.api.onnx_inpainter",
}

__all__ = list(_PUBLIC)


__getattr__ = lazy_names(__name__, _PUBLIC)
