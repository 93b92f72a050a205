"""What a GAN task does differently under DDP: synchronised BatchNorm in its discriminators.

Each rank's BatchNorm would normalise with the statistics of its share of the real (or fake) batch;
``SyncBatchNorm`` normalises with those of the global batch, as one process would. The default
discriminator norms (instance, spectral) keep no batch statistics at all, and torch has no CPU
``SyncBatchNorm``, so runs on gloo/CPU keep per-rank statistics.
"""

from __future__ import annotations

from torch import nn


def has_batchnorm(module: nn.Module) -> bool:
    """Whether ``module`` has a BatchNorm layer (of any dimension)."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())


def sync_batchnorm(module: nn.Module, world_size: int, device_type: str) -> nn.Module:
    """``module`` with ``SyncBatchNorm`` layers when it runs on several accelerator processes, else as is.

    The conversion keeps every parameter and buffer (same ``state_dict`` keys), so checkpoints load into
    either form.
    """
    if world_size > 1 and device_type != "cpu" and has_batchnorm(module):
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    return module
