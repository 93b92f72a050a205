"""Building blocks shared by the generators and discriminators.

Norms (``make_norm``): ``"batch"``, ``"instance"``, ``"spectral"``, ``"none"``.

* ``"spectral"`` is not a layer after the conv but a reparametrisation of the conv's weight
  (:func:`torch.nn.utils.parametrizations.spectral_norm`); ``make_norm("spectral", c)`` returns an
  ``nn.Identity`` and the model calls :func:`apply_spectral_norm` on itself once its weights are
  initialised.
* Discriminators default to ``"instance"``: a discriminator runs on the real batch and on the fake
  batch in two forward passes before one backward. BatchNorm updates its running-stat buffers in
  every forward pass, and under DistributedDataParallel (which broadcasts buffers before each forward)
  that in-place update of a tensor the first pass saved for backward fails or silently mixes the
  statistics of the real and the fake batch. Instance norm and spectral norm keep no per-batch state
  in the forward pass (spectral norm's power-iteration vectors are cloned before use), so both are safe.

Weight init (``init_weights``): ``"normal"`` is the pix2pix/DCGAN N(0, 0.02) init (norm scales
N(1, 0.02), biases 0); also ``"xavier"``, ``"kaiming"``, ``"orthogonal"`` and ``"default"`` (keep
PyTorch's own init).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

NORM_KINDS = ("batch", "instance", "spectral", "none")
INIT_KINDS = ("normal", "xavier", "kaiming", "orthogonal", "default")


def _identity_norm(channels: int) -> nn.Module:
    return nn.Identity()


_NORM_LAYERS: dict[str, Callable[[int], nn.Module]] = {
    "batch": nn.BatchNorm2d,
    "instance": lambda channels: nn.InstanceNorm2d(channels, affine=True),
    "spectral": _identity_norm,  # applied to the conv weights instead, see apply_spectral_norm
    "none": _identity_norm,
}

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "none": nn.Identity,
}


def _check_choice(value: object, choices: tuple[str, ...] | list[str], name: str) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value


def check_norm(kind: object) -> str:
    """Validate a norm kind (one of ``NORM_KINDS``) and return it."""
    return _check_choice(kind, NORM_KINDS, "norm")


def check_positive_int(value: object, name: str, minimum: int = 1) -> int:
    """Validate an int >= ``minimum`` (bools are rejected) and return it."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


def make_norm(kind: str, channels: int) -> nn.Module:
    """The normalisation layer placed after a conv with ``channels`` outputs.

    ``"batch"`` -> ``BatchNorm2d``, ``"instance"`` -> ``InstanceNorm2d(affine=True)``,
    ``"spectral"`` and ``"none"`` -> ``nn.Identity`` (spectral norm wraps the conv, see
    :func:`apply_spectral_norm`).
    """
    return _NORM_LAYERS[check_norm(kind)](channels)


def make_activation(kind: str) -> nn.Module:
    """An activation by name: one of ``ACTIVATIONS`` (``leaky_relu`` has slope 0.2)."""
    return ACTIVATIONS[_check_choice(kind, tuple(ACTIVATIONS), "activation")]()


def conv_uses_bias(norm: str) -> bool:
    """A conv followed by batch/instance norm needs no bias (the norm removes it)."""
    return check_norm(norm) in ("spectral", "none")


class ConvNormAct(nn.Sequential):
    """``Conv2d -> norm -> activation``; the conv has a bias only when the norm does not remove it.

    Shapes: (N, in_channels, H, W) -> (N, out_channels, H', W') with the usual conv arithmetic.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        padding: int | None = None,
        norm: str = "instance",
        activation: str = "relu",
        dilation: int = 1,
    ) -> None:
        if padding is None:
            padding = dilation * (kernel_size - 1) // 2
        super().__init__(
            nn.Conv2d(
                in_channels,
                out_channels,
                kernel_size,
                stride=stride,
                padding=padding,
                dilation=dilation,
                bias=conv_uses_bias(norm),
            ),
            make_norm(norm, out_channels),
            make_activation(activation),
        )


def leaky_conv_blocks(
    in_channels: int, widths: list[int], norm: str, strides: list[int] | None = None
) -> list[nn.Sequential]:
    """The pix2pix/DCGAN down-sampling stack of the discriminators and the Context Encoder's encoder.

    One ``Conv2d(4x4, padding=1) -> norm -> LeakyReLU(0.2)`` block per entry of ``widths`` (its
    output channels); the first block has no norm unless ``norm`` is ``"spectral"``. ``strides`` gives
    each block's stride (default 2 for all). The convs are created in order, so the global RNG is
    consumed as by a hand-written loop.
    """
    if strides is None:
        strides = [2] * len(widths)
    blocks = []
    in_ch = in_channels
    for i, (out_ch, stride) in enumerate(zip(widths, strides)):
        layer_norm = "none" if i == 0 and norm != "spectral" else norm
        blocks.append(
            nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 4, stride=stride, padding=1, bias=conv_uses_bias(layer_norm)),
                make_norm(layer_norm, out_ch),
                nn.LeakyReLU(0.2),
            )
        )
        in_ch = out_ch
    return blocks


def run_blocks(blocks: nn.ModuleList, x: Tensor) -> tuple[Tensor, list[Tensor]]:
    """Apply ``blocks`` in turn; returns the last output and every block's output (for feature matching)."""
    features = []
    for block in blocks:
        x = block(x)
        features.append(x)
    return x, features


class ChannelWiseLinear(nn.Module):
    """Channel-wise fully connected layer (Pathak et al. 2016, Context Encoders).

    Each channel gets its own dense layer over the ``H*W`` spatial positions; channels are not mixed
    (follow it with a 1x1 conv for that). Parameters: ``C * (H*W)**2`` instead of a full layer's
    ``(C*H*W)**2``.

    Shapes: (N, C, H, W) -> (N, C, H, W) with ``(C, H, W) == (channels, *spatial_size)``.
    """

    def __init__(self, channels: int, spatial_size: tuple[int, int]) -> None:
        super().__init__()
        self.channels = channels
        self.spatial_size = tuple(spatial_size)
        positions = self.spatial_size[0] * self.spatial_size[1]
        self.weight = nn.Parameter(torch.empty(channels, positions, positions))
        self.bias = nn.Parameter(torch.empty(channels, positions))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.weight.shape[-1])  # nn.Linear's default range
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        if tuple(x.shape[1:]) != (self.channels, *self.spatial_size):
            raise ValueError(
                f"ChannelWiseLinear expects (N, {self.channels}, {self.spatial_size[0]}, "
                f"{self.spatial_size[1]}), got {tuple(x.shape)}"
            )
        flat = x.flatten(2)  # (N, C, P)
        out = torch.einsum("ncp,cpq->ncq", flat, self.weight) + self.bias
        return out.view_as(x)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, spatial_size={self.spatial_size}"


def _init_weight(weight: Tensor, init: str, std: float) -> None:
    if init == "normal":
        nn.init.normal_(weight, 0.0, std)
    elif init == "xavier":
        nn.init.xavier_normal_(weight, gain=1.0)
    elif init == "kaiming":
        nn.init.kaiming_normal_(weight, a=0.2, nonlinearity="leaky_relu")
    elif init == "orthogonal":
        nn.init.orthogonal_(weight)


_DENSE = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, ChannelWiseLinear)
_NORMS = (nn.BatchNorm2d, nn.InstanceNorm2d, nn.GroupNorm, nn.LayerNorm)


@torch.no_grad()
def init_weights(module: nn.Module, init: str = "normal", std: float = 0.02) -> nn.Module:
    """Initialise every conv/linear weight (and norm scale) of ``module`` in place.

    ``"normal"``: weights ~ N(0, std), norm scales ~ N(1, std), biases 0 (pix2pix/DCGAN).
    ``"xavier"``/``"kaiming"``/``"orthogonal"``: those inits on weights, biases 0, norm scales 1.
    ``"default"``: leave PyTorch's init untouched. Uses the global RNG (wrap in :func:`seeded`).
    Call it before :func:`apply_spectral_norm`. Returns ``module``.
    """
    _check_choice(init, INIT_KINDS, "init")
    if init == "default":
        return module
    for m in module.modules():
        if isinstance(m, _DENSE):
            is_wrapped = parametrize.is_parametrized(m, "weight")
            weight = m.parametrizations.weight.original if is_wrapped else m.weight
            _init_weight(weight, init, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, _NORMS) and getattr(m, "weight", None) is not None:
            if init == "normal":
                nn.init.normal_(m.weight, 1.0, std)
            else:
                nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return module


def apply_spectral_norm(module: nn.Module) -> nn.Module:
    """Wrap the weight of every ``Conv2d``/``ConvTranspose2d``/``Linear`` in ``module`` with
    spectral norm (in place; layers already parametrised are skipped). Returns ``module``."""
    for m in list(module.modules()):
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)) and not parametrize.is_parametrized(
            m, "weight"
        ):
            spectral_norm(m)
    return module


@contextlib.contextmanager
def seeded(seed: int | None) -> Iterator[None]:
    """Run the block with the CPU global RNG seeded by ``seed``, restoring the RNG afterwards.

    ``seed=None`` does nothing (the global RNG is used as is, so ``lightning.seed_everything`` governs).
    """
    if seed is None:
        yield
        return
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an int or None, got {seed!r}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def pad_to_multiple(x: Tensor, multiple: int) -> Tensor:
    """Pad ``x`` (N,C,H,W) at the bottom/right so H and W are multiples of ``multiple``.

    Reflect padding where the image is large enough for it, replicate padding otherwise (reflect
    needs the padding to be smaller than the side). Undo with ``x[..., :H, :W]``.

    Written as one gather of rows and columns whose indices choose between the two paddings with
    tensor operations, not Python branches, so that a traced or exported graph (ONNX, TorchScript)
    pads correctly at every input size, not only in the mode of the size it was traced at. The values
    equal ``F.pad(x, ..., mode="reflect" | "replicate")`` exactly (a gather copies them).
    """
    h, w = x.shape[-2], x.shape[-1]
    if not torch.jit.is_tracing() and h % multiple == 0 and w % multiple == 0:
        return x  # eager, nothing to pad (a trace keeps the gather, for the sizes it will meet)
    rows = torch.arange(h + (-h) % multiple, device=x.device)
    cols = torch.arange(w + (-w) % multiple, device=x.device)
    reflect_rows = torch.where(rows < h, rows, 2 * (h - 1) - rows)  # negative where the pad is >= H
    reflect_cols = torch.where(cols < w, cols, 2 * (w - 1) - cols)
    reflect = (reflect_rows.min() >= 0) & (reflect_cols.min() >= 0)
    rows = torch.where(reflect, reflect_rows, rows.clamp(max=h - 1))
    cols = torch.where(reflect, reflect_cols, cols.clamp(max=w - 1))
    return x.index_select(-2, rows).index_select(-1, cols)
