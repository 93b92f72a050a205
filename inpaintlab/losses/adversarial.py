"""GAN losses for the discriminator and the generator: vanilla (non-saturating), LSGAN, hinge.

Logits may be one tensor or a list of tensors (multi-scale / multi-output discriminators); for a
list, the loss of each output is computed separately and the losses are averaged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["ADVERSARIAL_KINDS", "AdversarialLoss", "discriminator_loss", "generator_loss"]

Logits = Tensor | Sequence[Tensor]


# Discriminator terms: (real_logits, fake_logits) -> scalar. Each sums a real and a fake term.
def _vanilla_d(real: Tensor, fake: Tensor) -> Tensor:
    # BCE-with-logits against 1 / 0, written with softplus (numerically stable for any logit):
    # -log(sigmoid(r)) = softplus(-r), -log(1 - sigmoid(f)) = softplus(f).
    return F.softplus(-real).mean() + F.softplus(fake).mean()


def _lsgan_d(real: Tensor, fake: Tensor) -> Tensor:
    return (real - 1.0).square().mean() + fake.square().mean()


def _hinge_d(real: Tensor, fake: Tensor) -> Tensor:
    return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()


# Generator terms: fake_logits -> scalar.
def _vanilla_g(fake: Tensor) -> Tensor:
    return F.softplus(-fake).mean()  # non-saturating: -log(sigmoid(f))


def _lsgan_g(fake: Tensor) -> Tensor:
    return (fake - 1.0).square().mean()


def _hinge_g(fake: Tensor) -> Tensor:
    return -fake.mean()


ADVERSARIAL_KINDS: dict[str, tuple[Callable[[Tensor, Tensor], Tensor], Callable[[Tensor], Tensor]]] = {
    "vanilla": (_vanilla_d, _vanilla_g),
    "lsgan": (_lsgan_d, _lsgan_g),
    "hinge": (_hinge_d, _hinge_g),
}
"""kind -> (discriminator term, generator term).

* ``vanilla`` (Goodfellow et al.): D ``BCE(real, 1) + BCE(fake, 0)``; G the non-saturating
  ``BCE(fake, 1) = -log D(G(z))``.
* ``lsgan`` (Mao et al., a=0, b=c=1): D ``mean((real - 1)^2) + mean(fake^2)``; G ``mean((fake - 1)^2)``
  (the paper's factors 1/2 are left out; fold them into the loss weight).
* ``hinge`` (Lim & Ye; Miyato et al.): D ``mean(relu(1 - real)) + mean(relu(1 + fake))``; G ``-mean(fake)``.
"""


def _kind_terms(kind: str):
    if kind not in ADVERSARIAL_KINDS:
        raise ValueError(f"kind must be one of {sorted(ADVERSARIAL_KINDS)}, got {kind!r}")
    return ADVERSARIAL_KINDS[kind]


def _as_list(logits: Logits, name: str) -> list[Tensor]:
    items = [logits] if isinstance(logits, Tensor) else list(logits)
    if not items:
        raise ValueError(f"{name} is an empty list; pass the discriminator's output tensor(s)")
    for i, item in enumerate(items):
        if not isinstance(item, Tensor):
            raise TypeError(f"{name}[{i}] must be a torch.Tensor, got {type(item).__name__}")
        if not item.is_floating_point():
            raise ValueError(f"{name}[{i}] must be float logits, got dtype {item.dtype}")
    return items


def discriminator_loss(real_logits: Logits, fake_logits: Logits, kind: str = "hinge") -> Tensor:
    """Discriminator loss on raw logits (no sigmoid applied by the caller).

    Shapes: real_logits, fake_logits a tensor of any shape (e.g. (N,1) or PatchGAN (N,1,h,w)), or
    equally long lists of such tensors (list entry i of real pairs with entry i of fake; the per-entry
    losses are averaged) -> scalar. See :data:`ADVERSARIAL_KINDS` for the formulas.
    """
    d_term, _ = _kind_terms(kind)
    reals = _as_list(real_logits, "real_logits")
    fakes = _as_list(fake_logits, "fake_logits")
    if len(reals) != len(fakes):
        raise ValueError(
            f"real_logits has {len(reals)} outputs but fake_logits has {len(fakes)}; "
            "pass the same discriminator's outputs for both"
        )
    return sum(d_term(r, f) for r, f in zip(reals, fakes)) / len(reals)


def generator_loss(fake_logits: Logits, kind: str = "hinge") -> Tensor:
    """Generator loss on the discriminator's raw logits for generated images (tensor or list) -> scalar."""
    _, g_term = _kind_terms(kind)
    fakes = _as_list(fake_logits, "fake_logits")
    return sum(g_term(f) for f in fakes) / len(fakes)


class AdversarialLoss(nn.Module):
    """Both sides of one GAN objective.

    ``.generator(fake_logits)`` and ``.discriminator(real_logits, fake_logits)`` return scalars;
    ``forward(fake_logits, real_logits=None)`` is the generator loss without ``real_logits`` and the
    discriminator loss with them.
    """

    def __init__(self, kind: str = "hinge") -> None:
        super().__init__()
        _kind_terms(kind)
        self.kind = kind

    def generator(self, fake_logits: Logits) -> Tensor:
        return generator_loss(fake_logits, self.kind)

    def discriminator(self, real_logits: Logits, fake_logits: Logits) -> Tensor:
        return discriminator_loss(real_logits, fake_logits, self.kind)

    def forward(self, fake_logits: Logits, real_logits: Logits | None = None) -> Tensor:
        if real_logits is None:
            return self.generator(fake_logits)
        return self.discriminator(real_logits, fake_logits)

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}"
