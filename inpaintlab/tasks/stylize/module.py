"""``StylizeModule``: a CycleGAN (Zhu et al. 2017) for photo -> Monet style transfer, trained with the
package's shared training parts.

One training step (manual optimisation, one optimizer for both generators, one for both discriminators)::

    fake_monet = G_pm(photo); fake_photo = G_mp(monet)
    G update on  adv(D_m(aug(fake_monet))) + adv(D_p(aug(fake_photo)))
                 + cycle_weight * (|G_mp(fake_monet) - photo| + |G_pm(fake_photo) - monet|)
                 + identity_weight * cycle_weight * (|G_pm(monet) - monet| + |G_mp(photo) - photo|)
    D update on  0.5 * (adv_D(D_m(aug(monet)), D_m(aug(pool_m(fake_monet)))) + adv_D(D_p(aug(photo)), D_p(aug(pool_p(fake_photo)))))

where ``pool_*`` is the paper's history of 50 generated images per domain (:class:`ImagePool`: once full,
each fake is swapped for a stored older one with probability 1/2); the pools are saved in checkpoints,
so a resumed run continues with the same history. The discriminators, adversarial losses (least squares
by default), DiffAugment (same parameters for the real and fake batch of a discriminator), manual steps
and non-finite guard are the package's. Validation (:class:`~inpaintlab.training.validation.EvaluationMixin`,
as for inpainting): FID of the stylized val photos against the Monet val paintings every
``fid_every_n_epochs`` (torch-fidelity, cached real statistics, DDP-correct), the cycle-consistency L1 of
both domains, and an image grid (photo / stylized / reconstructed). ``best.ckpt`` is the best FID (the
last epoch when FID is off).
``inpaintlab export best.ckpt --name photo2monet`` exports ``G_pm`` for ``load("photo2monet")``.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torch import Tensor, nn
from torchmetrics import MeanMetric

from inpaintlab.data.seeding import mix_seed
from inpaintlab.losses import discriminator_loss, generator_loss
from inpaintlab.models import build_model
from inpaintlab.tasks.stylize.image_pool import ImagePool
from inpaintlab.training.checkpoint_io import write_checkpoint_info
from inpaintlab.training.ddp import sync_batchnorm
from inpaintlab.training.diffaugment import DiffAugment
from inpaintlab.training.manual_step import ManualStepMixin
from inpaintlab.training.validation import EvaluationMixin

ArchSpec = str | dict[str, Any]


class StylizeModule(EvaluationMixin, ManualStepMixin, L.LightningModule):
    """CycleGAN between photos (domain ``photo``) and Monet paintings (domain ``monet``).

    Args:
        generator: architecture spec of the translators (a translator preset of
            ``inpaintlab.models.PRESETS``, e.g. ``"resnet9.base"``, ``"unet_translator.base"``, or
            ``{"preset": ..., "args": {...}}``); used for both directions.
        discriminator: architecture spec of the discriminators (``"patch.70"`` is CycleGAN's); both domains.
        lr, d_lr: Adam learning rates of the generators and the discriminators (``d_lr`` defaults to ``lr``).
        betas: Adam betas of both optimizers (CycleGAN: 0.5, 0.999).
        cycle_weight: weight of the cycle-consistency L1 loss (lambda = 10).
        identity_weight: identity loss weight relative to ``cycle_weight`` (0.5; 0 disables it).
        adversarial_kind: ``"lsgan"`` (CycleGAN), ``"vanilla"`` or ``"hinge"``.
        decay_start_epoch: from this epoch on, both learning rates decay linearly to 0 at ``max_epochs``
            (CycleGAN: half of the epochs); None keeps them constant.
        gradient_clip_val: clip each optimizer's gradient norm (None: no clipping).
        diff_augment, diff_augment_p: DiffAugment policy and probability for the discriminators' inputs.
        max_nonfinite_steps: skipped non-finite updates tolerated before training stops with an error.
        fid_every_n_epochs: FID of stylized val photos vs Monet val paintings every N epochs (0: never).
        fid_weights_path, fid_cache_dir, fid_feature_extractor, kid: as in ``InpaintModule``.
        num_grid_images: columns of the validation grid (0: none).
        augment_seed: seed of DiffAugment's and the image pools' draws.
        pool_size: generated images each discriminator's history holds (CycleGAN: 50; 0: no history).
    """

    def __init__(
        self,
        generator: ArchSpec = "resnet.tiny",
        discriminator: ArchSpec = "patch.tiny",
        lr: float = 2e-4,
        d_lr: float | None = None,
        betas: tuple[float, float] = (0.5, 0.999),
        cycle_weight: float = 10.0,
        identity_weight: float = 0.5,
        adversarial_kind: str = "lsgan",
        decay_start_epoch: int | None = None,
        gradient_clip_val: float | None = None,
        diff_augment: str | None = None,
        diff_augment_p: float = 1.0,
        max_nonfinite_steps: int = 10,
        fid_every_n_epochs: int = 1,
        fid_weights_path: str | None = None,
        fid_cache_dir: str | None = None,
        fid_feature_extractor: nn.Module | None = None,
        kid: bool = False,
        num_grid_images: int = 4,
        augment_seed: int = 0,
        pool_size: int = 50,
    ) -> None:
        super().__init__()
        for name, value in (("cycle_weight", cycle_weight), ("identity_weight", identity_weight)):
            if not float(value) >= 0:
                raise ValueError(f"{name} must be >= 0, got {value!r}")
        for name, value in (("fid_every_n_epochs", fid_every_n_epochs), ("num_grid_images", num_grid_images)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an int >= 0, got {value!r}")
        generator_loss(torch.zeros(1), kind=adversarial_kind)  # raises ValueError naming the valid kinds
        self.save_hyperparameters(ignore=["fid_feature_extractor"])
        self.automatic_optimization = False
        self.photo_to_monet = build_model(generator, role="translator")
        self.monet_to_photo = build_model(generator, role="translator")
        self.d_monet = build_model(discriminator, role="discriminator")
        self.d_photo = build_model(discriminator, role="discriminator")
        self.augment = DiffAugment(diff_augment, p=diff_augment_p) if diff_augment else None
        self.fake_pools = {domain: ImagePool(pool_size) for domain in ("monet", "photo")}
        self.pool_calls = 0
        self._fid_feature_extractor = fid_feature_extractor
        self.val_cycle_l1 = MeanMetric()
        self._init_steps()
        self._init_evaluation()

    # without FID no metric selects best.ckpt (the last epoch's): an identity mapping minimises the cycle L1
    checkpoint_monitor_without_fid = (None, "min")

    # ------------------------------------------------------------------ set-up
    def setup(self, stage: str) -> None:
        device = self.trainer.strategy.root_device.type
        self.d_monet = sync_batchnorm(self.d_monet, self.trainer.world_size, device)
        self.d_photo = sync_batchnorm(self.d_photo, self.trainer.world_size, device)
        self._setup_fid()

    def on_fit_start(self) -> None:
        self.check_separate_backwards()

    def configure_optimizers(self):
        hp = self.hparams
        generators = [*self.photo_to_monet.parameters(), *self.monet_to_photo.parameters()]
        discriminators = [*self.d_monet.parameters(), *self.d_photo.parameters()]
        opt_g = torch.optim.Adam(generators, lr=hp.lr, betas=tuple(hp.betas))
        opt_d = torch.optim.Adam(discriminators, lr=hp.d_lr or hp.lr, betas=tuple(hp.betas))
        if hp.decay_start_epoch is None:
            return [opt_g, opt_d]
        start, total = hp.decay_start_epoch, max(self.trainer.max_epochs or 1, hp.decay_start_epoch + 1)

        def factor(epoch: int) -> float:  # CycleGAN's linear decay to zero
            return 1.0 - max(0, epoch - start) / (total - start)

        return [opt_g, opt_d], [torch.optim.lr_scheduler.LambdaLR(o, factor) for o in (opt_g, opt_d)]

    # ------------------------------------------------------------------ training
    def _augmented(self, real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor]:
        if self.augment is None:
            return real, fake
        return self.augment(real, fake, generator=self._augment_generator())

    def _pooled(self, domain: str, fake: Tensor) -> Tensor:
        """What the discriminator of ``domain`` sees of the new ``fake`` batch: its image pool's answer."""
        self.pool_calls += 1
        seed = mix_seed("image-pool", self.hparams.augment_seed, self.global_rank, self.pool_calls)
        return self.fake_pools[domain].query(fake, torch.Generator().manual_seed(seed))

    def _adversarial_d(self, discriminator: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
        real_in, fake_in = self._augmented(real, fake.detach())
        return discriminator_loss(discriminator(real_in), discriminator(fake_in), kind=self.hparams.adversarial_kind)

    def _adversarial_g(self, discriminator: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
        _, fake_in = self._augmented(real, fake)
        return generator_loss(discriminator(fake_in), kind=self.hparams.adversarial_kind)

    def generator_losses(self, photo: Tensor, monet: Tensor, fake_monet: Tensor, fake_photo: Tensor) -> dict[str, Tensor]:
        """Weighted loss terms of both generators; ``"total"`` is their sum."""
        hp = self.hparams
        terms = {
            "adv": self._adversarial_g(self.d_monet, monet, fake_monet) + self._adversarial_g(self.d_photo, photo, fake_photo),
            "cycle": hp.cycle_weight * (
                (self.monet_to_photo(fake_monet) - photo).abs().mean() + (self.photo_to_monet(fake_photo) - monet).abs().mean()
            ),
        }
        if hp.identity_weight > 0:
            identity = (self.photo_to_monet(monet) - monet).abs().mean() + (self.monet_to_photo(photo) - photo).abs().mean()
            terms["identity"] = hp.identity_weight * hp.cycle_weight * identity
        terms["total"] = torch.stack([t.float() for t in terms.values()]).sum()
        return terms

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        photo, monet = batch["photo"], batch["monet"]
        opt_g, opt_d = self.optimizers()
        fake_monet, fake_photo = self.photo_to_monet(photo), self.monet_to_photo(monet)
        with self.toggled_optimizer(opt_g):
            terms = self.generator_losses(photo, monet, fake_monet, fake_photo)
            if self._backward_and_step(opt_g, terms["total"], "generator"):
                self.generator_steps += 1
        with self.toggled_optimizer(opt_d):
            d_loss = 0.5 * (
                self._adversarial_d(self.d_monet, monet, self._pooled("monet", fake_monet))
                + self._adversarial_d(self.d_photo, photo, self._pooled("photo", fake_photo))
            )
            if self._backward_and_step(opt_d, d_loss, "discriminator", counted=False):
                self.discriminator_steps += 1
        n = photo.shape[0]
        self.log("train/g_loss", terms.pop("total").detach(), prog_bar=True, batch_size=n)
        self.log("train/d_loss", d_loss.detach(), prog_bar=True, batch_size=n)
        self.log_dict({f"train/g_{k}": v.detach() for k, v in terms.items()}, batch_size=n)

    def on_train_epoch_end(self) -> None:
        schedulers = self.lr_schedulers()
        for scheduler in schedulers if isinstance(schedulers, list) else [schedulers] if schedulers else []:
            scheduler.step()

    # ------------------------------------------------------------------ validation
    def validation_step(self, batch: dict[str, Tensor | None], batch_idx: int) -> None:
        photo, monet = batch.get("photo"), batch.get("monet")
        if photo is not None:
            stylized = self.photo_to_monet(photo)
            restored = self.monet_to_photo(stylized)
            self.val_cycle_l1.update((restored - photo).abs().mean(dim=(1, 2, 3)))
            self.update_fid(None, stylized)
            self.keep_grid((photo, stylized, restored))
        if monet is not None:
            self.val_cycle_l1.update((self.photo_to_monet(self.monet_to_photo(monet)) - monet).abs().mean(dim=(1, 2, 3)))
            self.update_fid(monet, None)

    def on_validation_epoch_end(self) -> None:
        metrics = {"cycle_l1": float(self.val_cycle_l1.compute())}
        self.val_cycle_l1.reset()
        self.finish_epoch("val", metrics, caption="photo / stylized / cycled")

    # ------------------------------------------------------------------ checkpoints
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        datamodule = getattr(self._trainer, "datamodule", None) if self._trainer is not None else None
        write_checkpoint_info(
            checkpoint, task="stylize", model=self.photo_to_monet, image_size=getattr(datamodule, "image_size", None),
            mask_kind=None, style="monet", metrics=self.last_val_metrics, recipe=self.recipe,
            counters=self.training_counters(),
        )  # fmt: skip

    def training_counters(self) -> dict:
        """The shared counters plus the image pools (every rank's, stacked: (world, n, C, H, W))."""
        pools = {}
        distributed = self._trainer is not None and self.trainer.world_size > 1
        for domain, pool in self.fake_pools.items():
            images = pool.state_dict()["images"]
            if distributed:
                images = self.all_gather(images.to(self.device)).cpu()  # every rank's pool, same size
            else:
                images = images[None]
            pools[domain] = images
        return {**super().training_counters(), "pool_calls": self.pool_calls, "image_pools": pools}

    def load_training_counters(self, state: dict) -> None:
        super().load_training_counters(state)
        self.pool_calls = int(state.get("pool_calls", 0))
        for domain, stacked in (state.get("image_pools") or {}).items():  # none in older checkpoints
            if domain in self.fake_pools and stacked.ndim >= 1 and stacked.shape[0] > 0:
                self.fake_pools[domain].load_state_dict({"images": stacked[self.global_rank % stacked.shape[0]]})
