"""``InpaintModule``: the LightningModule that trains an inpainting generator against a discriminator.

One training step (manual optimisation, two optimizers, two-time-scale learning rates)::

    pred = G.predict(image, mask); fake = composite(pred, image, mask)
    repeat d_steps:  D update on (DiffAugment(real), DiffAugment(fake.detach()))     # G frozen
    G update on  w_rec*rec(pred) + w_adv*adv(D(DiffAugment(fake))) + style/perceptual/TV/feature matching
    EMA(G) <- d * EMA(G) + (1 - d) * G,   d = min(ema_decay, (1 + n) / (10 + n)) at generator update n
                                          (d = ema_decay throughout with ema_warmup=False)

``trainer.max_steps`` and ``global_step`` count generator updates (the discriminator's ``d_steps``
updates per batch are not counted, so the count does not change pace when the warm-up ends).
During ``warmup_steps`` the generator trains on the reconstruction loss alone and the discriminator is
not updated; from ``freeze_discriminator_at`` on it stops learning but still drives the generator.
Validation runs the EMA generator: hole PSNR/SSIM/L1 (per mask kind), FID every ``fid_every_n_epochs``
and an image grid (:class:`~inpaintlab.training.validation.EvaluationMixin`). Checkpoints hold only
tensors and plain data (``torch.load(weights_only=True)``); ``inpaintlab export`` writes the EMA generator.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import lightning as L
import torch
from torch import Tensor, nn
from torchmetrics import MeanMetric

from inpaintlab._checks import composite
from inpaintlab.losses import (
    LossWeights,
    discriminator_loss,
    feature_matching_loss,
    generator_loss,
)
from inpaintlab.metrics.hole import HoleMetrics
from inpaintlab.models import build_model
from inpaintlab.tasks.inpaint.init_from import InitFromMixin
from inpaintlab.tasks.inpaint.losses import FeatureLosses, reconstruction_loss
from inpaintlab.training import (
    SCHEDULERS,
    build_scheduler,
    create_ema,
    ema_update_,
    step_scheduler,
    warmed_up_decay,
)
from inpaintlab.training.checkpoint_io import write_checkpoint_info
from inpaintlab.training.ddp import sync_batchnorm
from inpaintlab.training.diffaugment import DiffAugment
from inpaintlab.training.manual_step import ManualStepMixin
from inpaintlab.training.validation import EvaluationMixin

ArchSpec = str | dict[str, Any]


class InpaintModule(InitFromMixin, EvaluationMixin, ManualStepMixin, L.LightningModule):
    """GAN inpainting with manual optimisation (``automatic_optimization = False``).

    Args:
        generator: architecture spec of G: a generator preset of ``inpaintlab.models.PRESETS`` (e.g.
            ``"unet.prefill"``) or ``{"preset": ..., "args": {...}}``.
        discriminator: architecture spec of D (e.g. ``"patch.70"``; ``in_channels: 4`` sees the mask).
        losses: loss weights (``LossWeights`` or its fields as a dict); default ``LossWeights()``.
        g_lr, d_lr: Adam learning rates of G and D (two-time-scale update rule).
        betas, weight_decay: Adam settings shared by both optimizers.
        d_steps: discriminator updates per generator update (on the same batch).
        warmup_steps: first generator updates that use the reconstruction loss only (no D updates).
        freeze_discriminator_at: generator update from which D is no longer trained (None: never).
        gradient_clip_val: clip each optimizer's gradient norm to this value (None: no clipping).
        accumulate_grad_batches: batches whose gradients are summed before each update (needs d_steps=1).
        diff_augment: DiffAugment policy for the discriminator's inputs, e.g. ``"color,translation,cutout"``.
        diff_augment_p: probability of each DiffAugment primitive per sample.
        ema_decay: decay of the generator's EMA copy (None: no EMA; validation uses G itself), warmed up
            as in timm's ``ModelEmaV3``: generator update ``n`` uses ``min(ema_decay, (1 + n) / (10 + n))``.
        ema_warmup: False: the full ``ema_decay`` from the first update, so the EMA copy of a fine-tune stays
            anchored at the ``init_from`` weights and moves away slowly (the warm-up exists to forget a random
            initialisation: it makes the copy follow the raw weights after a few updates).
        scheduler: ``"cosine"`` or ``"plateau"`` (on the checkpoint metric) or None; stepped by hand.
        scheduler_kwargs: extra arguments of the scheduler (see ``inpaintlab.training.schedulers``).
        init_from: ``.ckpt`` of an earlier run or hub ``.safetensors`` to start from (not used when resuming);
            ``validate``, ``test`` and ``predict`` without ``ckpt_path`` run these weights.
        init_allow_missing: generator state-dict key prefixes that ``init_from``'s file may lack, e.g.
            ``["fine_blocks."]`` to grow a ``dilated_unet.base`` file into one with ``fine_dilations``; those
            weights keep their initialisation. Any other missing or extra key is still an error.
        max_nonfinite_steps: skipped non-finite updates tolerated before training stops with an error.
        fid_every_n_epochs: compute FID every N validation epochs (0: never; the checkpoint metric is PSNR).
        fid_weights_path: local Inception weights for FID (torch-fidelity's file); None downloads them.
        fid_cache_dir: folder for the cached real-image FID statistics (None: in memory only).
        kid: also compute KID.
        fid_feature_extractor: a module mapping images to features, replacing Inception (tests, ablations).
        feature_network: ``inpaintlab.losses.FeatureNetwork`` arguments for the style/perceptual losses.
        num_grid_images: columns of the validation image grid (0: no grid).
        mask_kind, style: recorded in checkpoints for the hub (mask_kind defaults to the data module's
            mask sampler's kind; the image size is the data module's, or that of the training batches).
        channels_last: use channels-last memory format (faster convolutions on recent GPUs).
        compile_models: compile G and D for training (``nn.Module.compile``: in place, so state dict
            keys, deep copies and pickling are those of the plain modules; the EMA copy runs eagerly).
        compile_backend: ``torch.compile`` backend (``"inductor"``; ``"eager"`` checks the graphs only).
        augment_seed: seed of DiffAugment's random draws (mixed with the rank and a call counter).
    """

    def __init__(
        self,
        generator: ArchSpec = "unet.tiny",
        discriminator: ArchSpec = "patch.tiny",
        losses: LossWeights | None = None,
        g_lr: float = 1e-4,
        d_lr: float = 4e-4,
        betas: tuple[float, float] = (0.5, 0.999),
        weight_decay: float = 0.0,
        d_steps: int = 1,
        warmup_steps: int = 0,
        freeze_discriminator_at: int | None = None,
        gradient_clip_val: float | None = None,
        accumulate_grad_batches: int = 1,
        diff_augment: str | None = None,
        diff_augment_p: float = 1.0,
        ema_decay: float | None = 0.999,
        ema_warmup: bool = True,
        scheduler: str | None = None,
        scheduler_kwargs: dict[str, Any] | None = None,
        init_from: str | None = None,
        init_allow_missing: list[str] | None = None,
        max_nonfinite_steps: int = 10,
        fid_every_n_epochs: int = 1,
        fid_weights_path: str | None = None,
        fid_cache_dir: str | None = None,
        kid: bool = False,
        fid_feature_extractor: nn.Module | None = None,
        feature_network: dict[str, Any] | None = None,
        num_grid_images: int = 8,
        mask_kind: str | None = None,
        style: str | None = None,
        channels_last: bool = False,
        compile_models: bool = False,
        compile_backend: str = "inductor",
        augment_seed: int = 0,
    ) -> None:
        super().__init__()
        int_args = (
            ("d_steps", d_steps, 1),
            ("accumulate_grad_batches", accumulate_grad_batches, 1),
            ("warmup_steps", warmup_steps, 0),
            ("fid_every_n_epochs", fid_every_n_epochs, 0),
            ("num_grid_images", num_grid_images, 0),
        )
        for name, value, low in int_args:
            if not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
        if d_steps > 1 and accumulate_grad_batches > 1:
            raise ValueError(
                f"d_steps={d_steps} with accumulate_grad_batches={accumulate_grad_batches} is not supported: "
                "accumulation sums one D and one G gradient per batch; "
                "use d_steps=1 or accumulate_grad_batches=1"
            )
        if scheduler is not None and scheduler not in SCHEDULERS:
            raise ValueError(f"scheduler must be one of {sorted(SCHEDULERS)} or None, got {scheduler!r}")
        if ema_decay is not None and not 0.0 <= ema_decay <= 1.0:
            raise ValueError(f"ema_decay must be in [0, 1] or None, got {ema_decay!r}")
        if isinstance(losses, dict):
            losses = LossWeights(**losses)
        self.loss_weights: LossWeights = losses if losses is not None else LossWeights()
        self.save_hyperparameters(ignore=["fid_feature_extractor"])
        self.hparams["losses"] = dataclasses.asdict(self.loss_weights)
        self.automatic_optimization = False

        self.generator = build_model(generator, role="generator")
        self.discriminator = build_model(discriminator, role="discriminator")
        self.generator_ema = create_ema(self.generator) if ema_decay is not None else None
        self.augment = DiffAugment(diff_augment, p=diff_augment_p) if diff_augment else None
        self.feature_losses = FeatureLosses(self.loss_weights, feature_network)
        self.val_metrics = HoleMetrics()
        # a torchmetrics mean, not self.log(sync_dist=True): Lightning's gloo mean truncates the summed batch
        # sizes to an int (wrong values when the ranks' shares of the val set differ, as unpadded shares do)
        self.val_loss_rec = MeanMetric()
        self._fid_feature_extractor = fid_feature_extractor
        self.trained_image_size: int | None = None  # side of the training batches, for the hub
        self._weights_restored = False
        self._compiled = False
        self._init_steps()
        self._init_evaluation()

    checkpoint_monitor_without_fid = ("val/psnr_hole", "max")

    # ------------------------------------------------------------------ properties
    @property
    def inference_generator(self) -> nn.Module:
        """The generator used for validation, prediction and export: the EMA copy when there is one."""
        return self.generator_ema if self.generator_ema is not None else self.generator

    @property
    def in_warmup(self) -> bool:
        return self.generator_steps < self.hparams.warmup_steps

    @property
    def discriminator_trains(self) -> bool:
        freeze_at = self.hparams.freeze_discriminator_at
        frozen = freeze_at is not None and self.generator_steps >= freeze_at
        return self.loss_weights.adversarial > 0 and not self.in_warmup and not frozen

    # ------------------------------------------------------------------ set-up
    def setup(self, stage: str) -> None:
        device = self.trainer.strategy.root_device.type
        self.discriminator = sync_batchnorm(self.discriminator, self.trainer.world_size, device)
        if self.hparams.channels_last:
            for model in (self.generator, self.generator_ema, self.discriminator):
                if model is not None:
                    model.to(memory_format=torch.channels_last)
        if self.hparams.compile_models and stage == "fit" and not self._compiled:
            # in place, on the submodules: training calls G(image, mask, raw=True) and D(x) through
            # __call__; copies and pickles of the modules drop the compiled call and run eagerly
            self.generator.compile(backend=self.hparams.compile_backend)
            self.discriminator.compile(backend=self.hparams.compile_backend)
            self._compiled = True
        self._setup_fid()

    def on_fit_start(self) -> None:
        self.check_separate_backwards()
        self._apply_init_from()

    def configure_optimizers(self):
        hp = self.hparams
        betas = tuple(hp.betas)
        opt_g = torch.optim.Adam(
            self.generator.parameters(), lr=hp.g_lr, betas=betas, weight_decay=hp.weight_decay
        )
        opt_d = torch.optim.Adam(
            self.discriminator.parameters(), lr=hp.d_lr, betas=betas, weight_decay=hp.weight_decay
        )
        if hp.scheduler is None:
            return [opt_g, opt_d]
        max_epochs = self.trainer.max_epochs if self._trainer is not None else None
        schedulers = [
            build_scheduler(
                hp.scheduler, opt, max_epochs=max_epochs, mode=self.monitor_mode, kwargs=hp.scheduler_kwargs
            )
            for opt in (opt_g, opt_d)
        ]
        return [opt_g, opt_d], schedulers

    # ------------------------------------------------------------------ training
    def _disc_inputs(self, mask: Tensor, *images: Tensor) -> tuple[Tensor, ...]:
        """The discriminator's inputs: each image (with the mask as a 4th channel for a 4-channel D),
        DiffAugmented with one draw, so geometric ops move the mask channel with the picture."""
        if getattr(self.discriminator, "in_channels", 3) == 4:
            images = tuple(torch.cat([x, mask.to(x.dtype)], dim=1) for x in images)
        if self.augment is None:
            return images
        out = self.augment(*images, generator=self._augment_generator())
        return out if isinstance(out, tuple) else (out,)

    def discriminator_loss(self, image: Tensor, fake: Tensor, mask: Tensor) -> Tensor:
        """D's loss on the real ``image`` and the (detached) composited ``fake``, both augmented alike."""
        real_in, fake_in = self._disc_inputs(mask, image, fake.detach())
        real_logits = self.discriminator(real_in)
        fake_logits = self.discriminator(fake_in)
        return discriminator_loss(real_logits, fake_logits, kind=self.loss_weights.adversarial_kind)

    def generator_losses(self, image: Tensor, mask: Tensor, pred: Tensor, fake: Tensor) -> dict[str, Tensor]:
        """Weighted loss terms of G (``"total"`` is their sum); reconstruction only during warm-up."""
        w = self.loss_weights
        terms = {"rec": w.reconstruction * reconstruction_loss(w, pred, image, mask)}
        if not self.in_warmup:
            if w.adversarial > 0:
                real_in, fake_in = self._disc_inputs(mask, image, fake)
                want_features = w.feature_matching > 0
                fake_out = self.discriminator(fake_in, return_features=want_features)
                fake_logits = fake_out[0] if want_features else fake_out
                terms["adv"] = w.adversarial * generator_loss(fake_logits, kind=w.adversarial_kind)
                if want_features:
                    with torch.no_grad():
                        _, real_features = self.discriminator(real_in, return_features=True)
                    terms["fm"] = w.feature_matching * feature_matching_loss(real_features, fake_out[1])
            terms.update(self.feature_losses(fake, image, mask))
        terms["total"] = torch.stack([t.float() for t in terms.values()]).sum()
        return terms

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        image, mask = batch["image"], batch["mask"]
        if self.hparams.channels_last:
            image, mask = (t.contiguous(memory_format=torch.channels_last) for t in (image, mask))
        opt_g, opt_d = self.optimizers()
        should_step = not self._accumulating(batch_idx)
        n = image.shape[0]
        if image.shape[-1] == image.shape[-2]:
            self.trained_image_size = int(image.shape[-1])

        pred = self.generator(image, mask, raw=True)  # predict() through __call__ (compiled when asked)
        fake = composite(pred, image, mask)

        if self.discriminator_trains:
            for _ in range(self.hparams.d_steps):
                with self.toggled_optimizer(opt_d):
                    d_loss = self.discriminator_loss(image, fake, mask)
                    if self._backward_and_step(opt_d, d_loss, "discriminator", should_step, counted=False):
                        self.discriminator_steps += 1
                self.log("train/d_loss", d_loss.detach(), prog_bar=True, batch_size=n)

        with self.toggled_optimizer(opt_g):
            terms = self.generator_losses(image, mask, pred, fake)
            if self._backward_and_step(opt_g, terms["total"], "generator", should_step):
                self.generator_steps += 1
                if self.generator_ema is not None:  # warm-up: update n uses min(decay, (1+n)/(10+n))
                    decay = self.hparams.ema_decay
                    if self.hparams.ema_warmup:
                        decay = warmed_up_decay(decay, self.generator_steps - 1)
                    ema_update_(self.generator_ema, self.generator, decay)
        self.log("train/g_loss", terms.pop("total").detach(), prog_bar=True, batch_size=n)
        self.log_dict({f"train/g_{k}": v.detach() for k, v in terms.items()}, batch_size=n)
        self.log("train/warmup", float(self.in_warmup), batch_size=n)

    def on_train_epoch_end(self) -> None:
        for scheduler in self._schedulers():
            if self.hparams.scheduler != "plateau":
                step_scheduler(scheduler)

    def _schedulers(self) -> list:
        schedulers = self.lr_schedulers()
        if schedulers is None:
            return []
        return list(schedulers) if isinstance(schedulers, list) else [schedulers]

    # ------------------------------------------------------------------ validation, test, predict
    @torch.no_grad()
    def _evaluate_batch(self, batch: dict[str, Any], prefix: str) -> None:
        image, mask = batch["image"], batch["mask"]
        pred = self.inference_generator.predict(image, mask)
        output = composite(pred, image, mask)
        kinds = batch.get("kind")
        if kinds is not None and any(k not in self.val_metrics.kinds for k in kinds):
            kinds = None  # a kind the metric does not track: count these images only in the overall values
        self.val_metrics.update(output, image, mask, kinds)
        self.val_loss_rec.update(reconstruction_loss(self.loss_weights, pred, image, mask), weight=image.shape[0])
        self.update_fid(image, output)
        self.keep_grid((torch.where(mask > 0.5, torch.zeros_like(image), image), output, image), mask)

    def validation_step(self, batch: dict[str, Any], batch_idx: int, dataloader_idx: int = 0) -> None:
        self._evaluate_batch(batch, "val")

    def test_step(self, batch: dict[str, Any], batch_idx: int, dataloader_idx: int = 0) -> None:
        self._evaluate_batch(batch, "test")

    @torch.no_grad()
    def predict_step(self, batch: dict[str, Any], batch_idx: int, dataloader_idx: int = 0) -> Tensor:
        """Inpainted images (N,3,H,W) from the EMA generator (known pixels copied from the input)."""
        return self.inference_generator(batch["image"], batch["mask"])

    def _finish(self, prefix: str) -> dict[str, float]:
        values = {}
        if not self.trainer.sanity_checking:
            values = {"loss_rec": float(self.val_loss_rec.compute())}
            values.update({k: float(v) for k, v in self.val_metrics.compute().items()})
        self.val_metrics.reset()
        self.val_loss_rec.reset()
        return self.finish_epoch(prefix, values)

    def on_validation_epoch_end(self) -> None:
        metrics = self._finish("val")
        if metrics and self.trainer.state.fn == "fit" and self.hparams.scheduler == "plateau":
            fresh = self._fid_epoch if self.fid_enabled else True  # a repeated FID is no new evidence
            value = metrics.get(self.monitor.split("/", 1)[1])
            if fresh and value is not None and math.isfinite(value):
                for scheduler in self._schedulers():
                    step_scheduler(scheduler, value)

    def on_test_epoch_end(self) -> None:
        self._finish("test")

    # ------------------------------------------------------------------ checkpoints
    def checkpoint_image_size(self) -> int | None:
        """The training resolution recorded for the hub: the data module's, else that of the training
        batches, else the generator's own (a context encoder's)."""
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

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        write_checkpoint_info(
            checkpoint, task="inpaint", model=self.generator, image_size=self.checkpoint_image_size(),
            mask_kind=self.checkpoint_mask_kind(), style=self.hparams.style, metrics=self.last_val_metrics,
            recipe=self.recipe, counters=self.training_counters(),
        )  # fmt: skip
