"""CycleGAN's image pool: the discriminators learn from a history of generated images (Zhu et al. 2017,
after Shrivastava et al. 2017), not only from the generators' latest output, which damps oscillation.

``pool.query(fakes, generator)`` returns a batch of the same shape: while the pool holds fewer than
``size`` images, each new fake is stored and returned as it is; once it is full, each fake is, with
probability 1/2, swapped for a random stored one (which it replaces in the pool), else returned as it
is. This is the reference implementation's ``ImagePool`` (``util/image_pool.py``), with the draws from an
explicit ``torch.Generator`` so a resumed run makes the same choices.
"""

from __future__ import annotations

import torch
from torch import Tensor


class ImagePool:
    """A history of up to ``size`` generated images (0: no history, ``query`` returns its input).

    The stored images are detached and stay on the device of the batches. ``state_dict()`` /
    ``load_state_dict()`` hold them as one (n, C, H, W) tensor, for checkpoints.

    Shapes: ``query(images (N,C,H,W), generator) -> (N,C,H,W)``.
    """

    def __init__(self, size: int = 50) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ValueError(f"pool size must be an int >= 0 (CycleGAN: 50; 0 switches the pool off), got {size!r}")
        self.size = size
        self.images: Tensor | None = None

    def __len__(self) -> int:
        return 0 if self.images is None else int(self.images.shape[0])

    @torch.no_grad()
    def query(self, images: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """The batch the discriminator sees instead of ``images`` (see the module docstring)."""
        if self.size == 0:
            return images
        images = images.detach()
        if self.images is not None and self.images.device != images.device:
            self.images = self.images.to(images.device)
        out = []
        for image in images:
            if len(self) < self.size:
                stored = image[None].clone()
                self.images = stored if self.images is None else torch.cat([self.images, stored])
                out.append(image)
            elif float(torch.rand((), generator=generator)) < 0.5:
                index = int(torch.randint(0, self.size, (), generator=generator))
                out.append(self.images[index].clone())
                self.images[index] = image
            else:
                out.append(image)
        return torch.stack(out)

    def state_dict(self) -> dict[str, Tensor]:
        images = self.images if self.images is not None else torch.zeros(0)
        return {"images": images.detach().cpu()}

    def load_state_dict(self, state: dict[str, Tensor], device: torch.device | str | None = None) -> None:
        images = state.get("images")
        if images is None or images.numel() == 0:
            self.images = None
            return
        if images.ndim != 4 or images.shape[0] > self.size:
            raise ValueError(
                f"the checkpoint's image pool holds {tuple(images.shape)}, expected at most {self.size} "
                "images (n, C, H, W); resume with the same pool_size"
            )
        self.images = images.to(device) if device is not None else images
