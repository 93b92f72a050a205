"""inpaintlab: GAN image inpainting for photos and Monet paintings.

    >>> from inpaintlab import load
    >>> out = load("monet-blocks")(img, mask)   # mask: 1 / nonzero = hole

Images are NCHW float tensors in [0,1] at every public boundary; masks are (N,1,H,W) with 1 = hole.
The public names below are imported on first use, so ``import inpaintlab`` stays cheap.
"""

from __future__ import annotations

from inpaintlab._lazy import lazy_names

__version__ = "0.1.0"

# name -> module that defines it (explicit, no registration at import time)
_PUBLIC = {
    "load": "inpaintlab.api",
    "Inpainter": "inpaintlab.api",
    "list_models": "inpaintlab.hub",
    "create_generator": "inpaintlab.models",
    "create_discriminator": "inpaintlab.models",
    "mask_kind": "inpaintlab.masks",
}

__all__ = ["__version__", *_PUBLIC]


__getattr__ = lazy_names(__name__, _PUBLIC)
