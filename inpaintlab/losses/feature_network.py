"""A frozen, pretrained timm backbone that turns [0,1] images into a list of feature maps.

Used by the style and perceptual losses. The network is built with
``timm.create_model(name, features_only=True, out_indices=layers)``, normalises its input with the
mean/std its weights were trained with (ImageNet's for ``vgg16``), stays in eval mode, and has
``requires_grad=False`` on every parameter; gradients still flow to its input.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

from inpaintlab._checks import check_image

__all__ = ["FeatureNetwork", "load_state_dict_file"]

# timm.data.IMAGENET_DEFAULT_MEAN / _STD, used when a model's config names none (timm is imported lazily).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def load_state_dict_file(path: str | Path) -> dict[str, Tensor]:
    """Read a state dict from ``.safetensors`` or a torch file (``torch.load(weights_only=True)``, on CPU).

    A checkpoint that wraps its weights as ``{"state_dict": {...}}`` is unwrapped.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights_path {str(path)!r} does not exist; pass the path of a downloaded state dict")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state_dict = load_file(str(path), device="cpu")
    else:
        state_dict = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state_dict, dict) and isinstance(state_dict.get("state_dict"), dict):
        state_dict = state_dict["state_dict"]
    if not isinstance(state_dict, dict) or not all(isinstance(v, Tensor) for v in state_dict.values()):
        raise ValueError(f"weights_path {str(path)!r} does not hold a state dict (a mapping of names to tensors)")
    return state_dict


class FeatureNetwork(nn.Module):
    """Frozen timm feature extractor: ``forward(image (N,3,H,W) in [0,1]) -> [ (N,C_i,H_i,W_i) per layer ]``.

    Args:
        name: a timm model name that supports ``features_only`` (see ``timm.list_models``).
        layers: timm ``out_indices``. For ``vgg16`` index i is the output of the ReLU before the i-th
            max-pool: the default ``(0, 1, 2)`` is relu1_2, relu2_2, relu3_3 (Johnson et al.'s layers;
            Liu et al. use the pools right after them).
        pretrained: download the weights timm lists for ``name`` (needs network once; they are cached).
        weights_path: a local state dict (``.safetensors``, or ``.pth``/``.pt`` read with
            ``torch.load(weights_only=True)``) to use instead of downloading. Either the full timm
            model's checkpoint (e.g. ``model.safetensors`` of ``timm/vgg16.tv_in1k`` on the HF hub) or a
            state dict of this feature model (``FeatureNetwork(...).model.state_dict()``).
    """

    def __init__(
        self,
        name: str = "vgg16",
        layers: Sequence[int] = (0, 1, 2),
        pretrained: bool = True,
        weights_path: str | Path | None = None,
    ) -> None:
        super().__init__()
        import timm

        if not timm.is_model(name):
            raise ValueError(
                f"name {name!r} is not a timm model; pick one from timm.list_models(), e.g. 'vgg16' or 'resnet50'"
            )
        self.name = name
        self.layers = tuple(int(i) for i in layers)
        if not self.layers:
            raise ValueError("layers is empty; pass at least one timm out_index, e.g. layers=(0, 1, 2)")
        self.model = self._build(name, self.layers, pretrained, weights_path)
        cfg = getattr(self.model, "pretrained_cfg", None) or {}
        mean = cfg.get("mean") or IMAGENET_MEAN
        std = cfg.get("std") or IMAGENET_STD
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    @staticmethod
    def _build(name: str, layers: tuple[int, ...], pretrained: bool, weights_path: str | Path | None) -> nn.Module:
        import timm

        kwargs = {"features_only": True, "out_indices": layers}
        if weights_path is not None:
            state_dict = load_state_dict_file(weights_path)
            model = timm.create_model(name, pretrained=False, **kwargs)
            if set(state_dict) == set(model.state_dict()):
                model.load_state_dict(state_dict)  # saved from a feature model like this one
                return model
            # A full-model checkpoint: let timm load it (its checkpoint filter and strict key check)
            # into the complete model before it is cut down to features.
            model = timm.create_model(
                name, pretrained=True, pretrained_cfg_overlay={"state_dict": state_dict}, **kwargs
            )
            if isinstance(getattr(model, "pretrained_cfg", None), dict):
                model.pretrained_cfg.pop("state_dict", None)  # do not keep a second copy of the weights
            return model
        if not pretrained:
            return timm.create_model(name, pretrained=False, **kwargs)
        try:
            return timm.create_model(name, pretrained=True, **kwargs)
        except Exception as err:  # network, hub and cache errors come in many types
            raise RuntimeError(
                f"could not download the pretrained weights of timm model {name!r} ({type(err).__name__}: {err}). "
                "Run once with network access so timm caches them, or download them yourself and pass "
                "weights_path='.../model.safetensors' (or pretrained=False for random weights in tests)"
            ) from err

    def train(self, mode: bool = True) -> FeatureNetwork:
        """Always stays in eval mode (frozen batch-norm / dropout), whatever a parent module asks."""
        return super().train(False)

    def forward(self, image: Tensor) -> list[Tensor]:
        image = check_image(image, "image")
        mean = self.mean.to(image.dtype)
        std = self.std.to(image.dtype)
        return list(self.model((image - mean) / std))

    def extra_repr(self) -> str:
        return f"name={self.name!r}, layers={self.layers}"
