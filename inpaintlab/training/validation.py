"""The validation bookkeeping the GAN tasks share: when FID runs, its real-image cache, the epoch's
metrics, the image grid, what the checkpoint monitors.

:class:`EvaluationMixin` is used by ``InpaintModule`` and ``StylizeModule``; each task's
``validation_step`` updates its own metrics and calls :meth:`~EvaluationMixin.update_fid` and
:meth:`~EvaluationMixin.keep_grid`; its ``on_validation_epoch_end`` hands its metric values to
:meth:`~EvaluationMixin.finish_epoch`, which adds FID, logs, draws the grid and remembers the values for
the checkpoint. FID (torch-fidelity, :class:`~inpaintlab.metrics.fid.FIDMetric`) is a torchmetrics
object: under DDP every rank feeds its share of the (unpadded) validation set, ``compute()`` gathers all
ranks' features and returns the same number everywhere, so there is no rank-zero-only branch that could
hang. In epochs without FID the last FID is logged again (``inf`` before the first), so
``ModelCheckpoint`` can monitor ``val/fid`` every epoch; a repeated value never replaces the best
checkpoint.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import torch
from torch import Tensor

from inpaintlab.training.grid_logging import log_image_grid

log = logging.getLogger(__name__)


def create_fid_metric(hparams: Any, extractor: torch.nn.Module | None, trainer: Any):
    """The epoch FID metric of a GAN module from its ``fid_weights_path``, ``kid`` and ``fid_cache_dir``
    hyper-parameters (``extractor`` replaces Inception). With full validation the metric knows the size of
    the real set (the data module's ``val_files``), so it caches only complete real statistics; with a
    cache folder they are also cached on disk under a fingerprint of those files and the image size."""
    from inpaintlab.metrics.fid import FIDMetric, real_set_fingerprint

    fid = FIDMetric(
        extractor,
        weights_path=hparams.fid_weights_path if extractor is None else None,
        kid=hparams.kid,
        cache_dir=hparams.fid_cache_dir,
    )
    datamodule = getattr(trainer, "datamodule", None)
    files = getattr(datamodule, "val_files", None)
    if files and trainer.limit_val_batches == 1.0:
        fid.num_real_images = len(files)
        if hparams.fid_cache_dir:
            size = getattr(datamodule, "image_size", None)
            fid.real_fingerprint = real_set_fingerprint(files, size, fid.extractor_id)
    return fid


def fid_due(module: Any) -> bool:
    """Whether a GAN module (``fid``, ``trainer``, ``hparams.fid_every_n_epochs``) computes FID in this
    validation epoch. Same answer on every rank: every N-th epoch and the last one; always in validate/test;
    never in the sanity check."""
    if module.fid is None or module.trainer.sanity_checking:
        return False
    if module.trainer.state.fn != "fit":
        return True
    epoch, every = module.current_epoch + 1, module.hparams.fid_every_n_epochs
    return epoch % every == 0 or epoch == module.trainer.max_epochs


def agree_on_real_cache(fid: Any, strategy: Any) -> None:
    """Before an FID epoch: unless every rank has the real statistics cached, every rank drops them and
    feeds the real images again, so the real set they gather is complete and the same everywhere (a rank
    whose disk cache differs, e.g. on another node, would otherwise skip its share)."""
    cached = not fid.needs_real_images
    if not bool(strategy.reduce_boolean_decision(cached, all=True)) and cached:
        fid.reset_real_cache(from_disk=False)


class EvaluationMixin:
    """FID scheduling and the epoch's bookkeeping of a GAN ``LightningModule``.

    Expects the hyper-parameters ``fid_every_n_epochs``, ``fid_weights_path``, ``fid_cache_dir``, ``kid``
    and ``num_grid_images``, and ``self._fid_feature_extractor`` (None: Inception). Call
    :meth:`_init_evaluation` in ``__init__`` and :meth:`_setup_fid` in ``setup``.
    """

    checkpoint_monitor_without_fid: tuple[str | None, str] = ("val/psnr_hole", "max")
    """What ``best.ckpt`` is selected by when FID is off (a class attribute of each task)."""

    def _init_evaluation(self) -> None:
        self.fid = None  # built in setup(), when FID is on
        self.last_fid: float | None = None
        self.last_val_metrics: dict[str, float] = {}
        self._grid: tuple[tuple[Tensor, Tensor, Tensor], Tensor | None] | None = None
        self._fid_epoch = False

    # ---------------------------------------------------------------- what is monitored
    @classmethod
    def checkpoint_monitor(cls, init_args: dict[str, Any]) -> tuple[str | None, str]:
        """What ``checkpoint.monitor: auto`` resolves to: val/fid (min) with FID on, else the task's own
        choice (:attr:`checkpoint_monitor_without_fid`)."""
        return ("val/fid", "min") if init_args.get("fid_every_n_epochs", 1) else cls.checkpoint_monitor_without_fid

    @property
    def fid_enabled(self) -> bool:
        return self.hparams.fid_every_n_epochs > 0

    @property
    def monitor(self) -> str | None:
        """The checkpoint / plateau metric (see :meth:`checkpoint_monitor`)."""
        return self.checkpoint_monitor(dict(self.hparams))[0]

    @property
    def monitor_mode(self) -> str:
        return self.checkpoint_monitor(dict(self.hparams))[1]

    # ---------------------------------------------------------------- the epoch
    def _setup_fid(self) -> None:
        if self.fid_enabled and self.fid is None:
            self.fid = create_fid_metric(self.hparams, self._fid_feature_extractor, self.trainer)

    def on_validation_epoch_start(self) -> None:
        self._fid_epoch = fid_due(self)
        if self._fid_epoch:
            agree_on_real_cache(self.fid, self.trainer.strategy)
        self._grid = None

    def on_test_epoch_start(self) -> None:
        self.on_validation_epoch_start()

    def update_fid(self, real: Tensor | None, fake: Tensor | None) -> None:
        """In an FID epoch: add real images (unless their statistics are cached) and generated ones."""
        if not self._fid_epoch:
            return
        if real is not None and self.fid.needs_real_images:
            self.fid.update(real.float(), real=True)
        if fake is not None:
            self.fid.update(fake.float(), real=False)

    def keep_grid(self, rows: tuple[Tensor, Tensor, Tensor], mask: Tensor | None = None) -> None:
        """Keep the first batch's three grid rows (their first ``num_grid_images`` pictures)."""
        n = self.hparams.num_grid_images
        if self._grid is None and n > 0:
            keep = tuple(t[:n].detach().float().cpu() for t in rows)
            self._grid = (keep, None if mask is None else mask[:n].detach().cpu())  # type: ignore[assignment]

    def finish_epoch(self, prefix: str, metrics: dict[str, float], caption: str = "") -> dict[str, float]:
        """Add FID to the task's ``metrics``, log them (``<prefix>/<name>``), draw the grid, and remember
        them for the checkpoint; returns the metrics (``{}`` in the sanity check, which logs nothing)."""
        if self.trainer.sanity_checking:  # a couple of batches only: nothing worth logging or caching
            self._grid = None
            return {}
        metrics = dict(metrics)
        if self._fid_epoch:
            results = self.fid.compute()
            self.fid.reset()
            self.last_fid = float(results["fid"])
            metrics.update({k: float(v) for k, v in results.items()})
        if self.fid_enabled:  # repeated in epochs without FID, so ModelCheckpoint can monitor it
            metrics["fid"] = self.last_fid if self.last_fid is not None else math.inf
        self.log_dict({f"{prefix}/{k}": v for k, v in metrics.items()}, sync_dist=True)
        if self._grid is not None:
            from inpaintlab.metrics import make_image_grid

            (first, second, third), mask = self._grid
            grid = make_image_grid(first, second, third, nrow=first.shape[0], mask=mask)
            caption = f"epoch {self.current_epoch}" + (f": {caption}" if caption else "")
            log_image_grid(self.trainer, grid, key=f"{prefix}/grid", caption=caption)
            self._grid = None
        if prefix == "val":
            self.last_val_metrics = {f"val_{k.replace('/', '_')}": v for k, v in metrics.items() if math.isfinite(v)}
        return metrics
