"""Validation metrics: hole PSNR/SSIM/L1, FID/KID through torch-fidelity, and the image grid.

    >>> from inpaintlab.metrics import HoleMetrics, FIDMetric, make_image_grid

Names are imported on first use (the FID module imports torch-fidelity).
"""

from __future__ import annotations

from inpaintlab._lazy import lazy_names

# name -> module that defines it (explicit, no registration at import time)
_PUBLIC = {
    "hole_metrics": "inpaintlab.metrics.hole",
    "l1_hole": "inpaintlab.metrics.hole",
    "psnr_hole": "inpaintlab.metrics.hole",
    "ssim_hole": "inpaintlab.metrics.hole",
    "HoleMetrics": "inpaintlab.metrics.hole",
    "InceptionFeatures": "inpaintlab.metrics.fid",
    "FIDMetric": "inpaintlab.metrics.fid",
    "images_to_uint8": "inpaintlab.metrics.fid",
    "real_set_fingerprint": "inpaintlab.metrics.fid",
    "make_image_grid": "inpaintlab.metrics.grid",
}

__all__ = list(_PUBLIC)


__getattr__ = lazy_names(__name__, _PUBLIC)


def __dir__() -> list[str]:
    return sorted(__all__)
