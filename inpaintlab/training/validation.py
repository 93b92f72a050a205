"""Validation, test and prediction of :class:`inpaintlab.module.InpaintGAN` (a mixin of that module).

Every epoch: hole PSNR/SSIM/L1 overall and per mask kind (``HoleMetrics``), FID (and KID) every
``fid_every_n_epochs`` through ``FIDMetric`` (torch-fidelity), and an image grid. Both metrics are
torchmetrics objects: under DDP every rank feeds its own images, ``compute()`` gathers the states of all
ranks and returns the same number everywhere, so there is no rank-zero-only branch that could hang.

In epochs without FID the last FID is logged again (``inf`` before the first), so ``ModelCheckpoint``
can monitor ``val/fid`` every epoch; a repeated value never replaces the best checkpoint.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import math
from pathlib import PurePath
from typing import Any

import torch
from torch import Tensor

from inpaintlab._checks import composite
from inpaintlab.training.feature_losses import reconstruction_loss
from inpaintlab.training.grid_logging import log_image_grid
from inpaintlab.training.schedulers import step_scheduler

log = logging.getLogger(__name__)

_PLAIN = (type(None), bool, int, float, str, Tensor)


def plain_data(obj: Any) -> Any:
    """``obj`` as plain data that ``torch.load(weights_only=True)`` reads: dicts, lists, numbers, strings,
    tensors. Dataclasses become dicts, paths strings, enums their value, other objects
    ``{"class_path": ..., "repr": ...}``."""
    if isinstance(obj, _PLAIN):
        return obj
    if isinstance(obj, dict):
        return {str(k) if not isinstance(k, (int, str)) else k: plain_data(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain_data(v) for v in obj]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return plain_data(dataclasses.asdict(obj))
    if isinstance(obj, PurePath):
        return str(obj)
    if isinstance(obj, enum.Enum):
        return plain_data(obj.value)
    cls = obj if isinstance(obj, type) else type(obj)
    return {"class_path": f"{cls.__module__}.{cls.__qualname__}", "repr": repr(obj)[:500]}


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


def agree_on_real_cache(fid: Any, strategy: Any) -> None:
    """Before an FID epoch: unless every rank has the real statistics cached, every rank drops them and
    feeds the real images again, so the real set they gather is complete and the same everywhere (a rank
    whose disk cache differs, e.g. on another node, would otherwise skip its share)."""
    cached = not fid.needs_real_images
    if not bool(strategy.reduce_boolean_decision(cached, all=True)) and cached:
        fid.reset_real_cache(from_disk=False)


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


class ValidationMixin:
    """Evaluation hooks of ``InpaintGAN``; expects ``inference_generator``, ``val_metrics``, ``fid``,
    ``loss_weights`` and the hyper-parameters of that class."""

    def _init_validation_state(self) -> None:
        self.last_fid: float | None = None
        self.last_val_metrics: dict[str, float] = {}
        self._grid_images: tuple[Tensor, ...] | None = None
        self._fid_epoch = False

    # ---------------------------------------------------------------- what is monitored
    @property
    def fid_enabled(self) -> bool:
        return self.hparams.fid_every_n_epochs > 0

    @property
    def monitor(self) -> str:
        """The checkpoint / plateau metric: ``val/fid`` when FID is on, else ``val/psnr_hole``."""
        return "val/fid" if self.fid_enabled else "val/psnr_hole"

    @property
    def monitor_mode(self) -> str:
        return "min" if self.fid_enabled else "max"

    # ---------------------------------------------------------------- set-up
    def _setup_validation(self) -> None:
        if self.fid_enabled and self.fid is None:
            self.fid = create_fid_metric(self.hparams, self._fid_feature_extractor, self.trainer)

    def checkpoint_image_size(self) -> int | None:
        """The training resolution recorded for the hub: the data module's, else that of the training
        batches, else the generator's native resolution."""
        datamodule = getattr(self._trainer, "datamodule", None) if self._trainer is not None else None
        size = getattr(datamodule, "image_size", None) or self.trained_image_size
        size = size or getattr(self.generator, "native_resolution", None)
        return int(size) if size else None

    def checkpoint_mask_kind(self) -> str | None:
        """The training mask kind recorded for the hub: hparam, else the data module's sampler's kind."""
        if self.hparams.mask_kind:
            return self.hparams.mask_kind
        datamodule = getattr(self._trainer, "datamodule", None) if self._trainer is not None else None
        kind = getattr(getattr(datamodule, "masks", None), "kind", None)
        return kind if isinstance(kind, str) and kind != "unknown" else None

    # ---------------------------------------------------------------- steps
    def _fid_this_epoch(self) -> bool:
        return fid_due(self)

    def on_validation_epoch_start(self) -> None:
        self._fid_epoch = self._fid_this_epoch()
        if self._fid_epoch:
            agree_on_real_cache(self.fid, self.trainer.strategy)
        self._grid_images = None

    def on_test_epoch_start(self) -> None:
        self.on_validation_epoch_start()

    @torch.no_grad()
    def _evaluate_batch(self, batch: dict[str, Any], batch_idx: int, prefix: str) -> Tensor:
        image, mask = batch["image"], batch["mask"]
        pred = self.inference_generator.predict(image, mask)
        output = composite(pred, image, mask)
        kinds = batch.get("kind")
        if kinds is not None and any(k not in self.val_metrics.kinds for k in kinds):
            kinds = None  # a kind the metric does not track: count these images only in the overall values
        self.val_metrics.update(output, image, mask, kinds)
        rec = reconstruction_loss(self.loss_weights, pred, image, mask)
        self.log(f"{prefix}/loss_rec", rec, sync_dist=True, batch_size=image.shape[0])
        if self._fid_epoch:
            if self.fid.needs_real_images:
                self.fid.update(image, real=True)
            self.fid.update(output.float(), real=False)
        if batch_idx == 0 and self._grid_images is None and self.hparams.num_grid_images > 0:
            n = self.hparams.num_grid_images
            known = torch.where(mask > 0.5, torch.zeros_like(image), image)
            self._grid_images = tuple(t[:n].detach().float().cpu() for t in (known, output, image, mask))
        return output

    def validation_step(self, batch: dict[str, Any], batch_idx: int, dataloader_idx: int = 0) -> None:
        self._evaluate_batch(batch, batch_idx, "val")

    def test_step(self, batch: dict[str, Any], batch_idx: int, dataloader_idx: int = 0) -> None:
        self._evaluate_batch(batch, batch_idx, "test")

    @torch.no_grad()
    def predict_step(self, batch: dict[str, Any], batch_idx: int, dataloader_idx: int = 0) -> Tensor:
        """Inpainted images (N,3,H,W) from the EMA generator (known pixels copied from the input)."""
        return self.inference_generator(batch["image"], batch["mask"])

    # ---------------------------------------------------------------- epoch ends
    def _finish_epoch(self, prefix: str) -> dict[str, float]:
        if self.trainer.sanity_checking:  # two batches only: nothing worth logging or caching
            self.val_metrics.reset()
            return {}
        metrics = {k: float(v) for k, v in self.val_metrics.compute().items()}
        self.val_metrics.reset()
        if self._fid_epoch:
            results = self.fid.compute()
            self.fid.reset()
            self.last_fid = float(results["fid"])
            metrics.update({k: float(v) for k, v in results.items() if k != "fid"})
        if self.fid_enabled:
            metrics["fid"] = self.last_fid if self.last_fid is not None else math.inf
        self.log_dict({f"{prefix}/{k}": v for k, v in metrics.items()}, sync_dist=True)
        if self._grid_images is not None:
            from inpaintlab.metrics import make_image_grid

            known, output, image, mask = self._grid_images
            grid = make_image_grid(known, output, image, nrow=known.shape[0], mask=mask)
            log_image_grid(self.trainer, grid, key=f"{prefix}/grid", caption=f"epoch {self.current_epoch}")
            self._grid_images = None
        return metrics

    def on_validation_epoch_end(self) -> None:
        metrics = self._finish_epoch("val")
        if not metrics:
            return
        self.last_val_metrics = {
            f"val_{k.replace('/', '_')}": v for k, v in metrics.items() if math.isfinite(v)
        }
        if self.trainer.state.fn == "fit" and self.hparams.scheduler == "plateau":
            fresh = self._fid_epoch if self.fid_enabled else True
            value = metrics.get(self.monitor.split("/", 1)[1])
            if fresh and value is not None and math.isfinite(value):
                for scheduler in self._schedulers():
                    step_scheduler(scheduler, value)

    def on_test_epoch_end(self) -> None:
        self._finish_epoch("test")
