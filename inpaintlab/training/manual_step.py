"""Manual-optimisation steps shared by the GAN tasks (``InpaintModule``, ``StylizeModule``).

Step counting: only the generator's optimizer step counts as a training step, so ``trainer.global_step``,
``max_steps``, ``every_n_train_steps`` and the image grids' step axis count generator updates; the
discriminators' steps (``d_steps`` per generator update, none during warm-up) are not counted.

A mixin of a ``LightningModule`` with ``automatic_optimization = False`` and the hyper-parameters
``augment_seed``, ``gradient_clip_val``, ``max_nonfinite_steps`` (and optionally
``accumulate_grad_batches``: batches that only accumulate skip DDP's gradient all-reduce). Call
:meth:`_init_steps` in ``__init__``: it creates the guard and the counters a resume restores
(:meth:`training_counters`, saved in ``ckpt["inpaintlab_training"]``).
"""

from __future__ import annotations

import logging
from contextlib import ExitStack

import torch
from lightning.pytorch.strategies import ParallelStrategy
from torch import Tensor
from torch.nn.parallel import DistributedDataParallel

from inpaintlab.data.seeding import mix_seed
from inpaintlab.training.guards import NonFiniteGuard

log = logging.getLogger(__name__)


def _no_closure() -> None:
    """The closure of a manual-optimisation step: the loss was already backpropagated."""


class ManualStepMixin:
    """Seeded DiffAugment draws, a DDP-consistent non-finite check, and backward + clip + step."""

    def _init_steps(self) -> None:
        self.guard = NonFiniteGuard(self.hparams.max_nonfinite_steps)
        self.generator_steps = 0
        self.discriminator_steps = 0
        self.augment_calls = 0
        self.recipe: dict[str, str] = {}  # set by the CLI: the config file and data folders of this run

    def check_separate_backwards(self) -> None:
        """Call from ``on_fit_start`` (the model is wrapped by then): under DDP, each backward touches only
        some parameters (G's or D's), which DDP allows only with ``find_unused_parameters=True``."""
        model = self.trainer.strategy.model
        if isinstance(model, DistributedDataParallel) and not model.find_unused_parameters:
            raise ValueError(
                f"{type(self).__name__} updates its generators and discriminators with separate backward passes, "
                "each touching only some parameters, so DDP needs find_unused_parameters=True: use "
                "Trainer(strategy='ddp_find_unused_parameters_true') (CLI: --trainer.strategy "
                "ddp_find_unused_parameters_true), or DDPStrategy(find_unused_parameters=True)"
            )

    def _augment_generator(self) -> torch.Generator:
        """A CPU generator seeded from (seed, rank, call count): reproducible, and exact after a resume."""
        self.augment_calls += 1
        seed = mix_seed("diffaugment", self.hparams.augment_seed, self.global_rank, self.augment_calls)
        return torch.Generator().manual_seed(seed)

    def _finite_everywhere(self, loss: Tensor) -> bool:
        """True when ``loss`` is finite on every rank (so all ranks skip or step together).

        One device-to-host read per optimizer step: the flag is reduced on the device (a min over the
        ranks under DDP) and read once, instead of reading it, reducing it and reading it again."""
        finite = torch.isfinite(loss.detach()).all().to(torch.float32)
        if self.trainer.world_size > 1:
            finite = self.trainer.strategy.reduce(finite, reduce_op="min")
        return bool(finite.item())

    # ------------------------------------------------------------------ gradient accumulation
    def _accumulating(self, batch_idx: int) -> bool:
        """Whether this batch only accumulates gradients (no optimizer step at its end)."""
        every = int(self.hparams.get("accumulate_grad_batches", 1))
        if every <= 1:
            return False
        last = self.trainer.is_last_batch or batch_idx + 1 >= self.trainer.num_training_batches
        return (batch_idx + 1) % every != 0 and not last

    def on_train_batch_start(self, batch, batch_idx: int) -> None:
        """Under DDP, a batch that only accumulates runs in ``strategy.block_backward_sync()`` (DDP's
        ``no_sync``, entered before the wrapped forward): its gradients stay local and are all-reduced
        once, with the next stepping batch's."""
        self._close_no_sync()
        if self._accumulating(batch_idx) and isinstance(self.trainer.strategy, ParallelStrategy):
            self._no_sync = ExitStack()
            self._no_sync.enter_context(self.trainer.strategy.block_backward_sync())

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        self._close_no_sync()

    def _close_no_sync(self) -> None:
        stack = getattr(self, "_no_sync", None)
        if stack is not None:
            self._no_sync = None
            stack.close()

    def _backward_and_step(
        self, optimizer, loss: Tensor, what: str, should_step: bool = True, counted: bool = True
    ) -> bool:
        """Backward ``loss`` (scaled for accumulation) and step ``optimizer`` when ``should_step``.

        A loss that is not finite on some rank is skipped on all ranks and counted by the guard.
        ``counted=False`` (the discriminators' steps) steps through the strategy, which Lightning's
        progress tracking does not count, so ``trainer.global_step`` and ``max_steps`` count generator
        updates, whatever ``d_steps`` and the warm-up do. Returns whether the optimizer stepped.
        """
        if not self._finite_everywhere(loss):
            self.guard.record_skip(what, self.generator_steps)
            self.log("train/nonfinite_skipped", float(self.guard.skipped))
            if should_step:
                optimizer.zero_grad(set_to_none=True)
            return False
        self.manual_backward(loss / self.hparams.get("accumulate_grad_batches", 1))
        if not should_step:
            return False
        if self.hparams.gradient_clip_val is not None:
            self.clip_gradients(
                optimizer, gradient_clip_val=self.hparams.gradient_clip_val, gradient_clip_algorithm="norm"
            )
        if counted:
            optimizer.step()
        else:  # the same step (precision plugin, closure hooks) without counting it as a training step
            self.trainer.strategy.optimizer_step(optimizer.optimizer, closure=_no_closure)
        optimizer.zero_grad(set_to_none=True)
        return True

    # ------------------------------------------------------------------ checkpoints
    def training_counters(self) -> dict:
        """Step counters, DiffAugment draw count, guard and last FID: what a resume needs besides weights."""
        return {
            "generator_steps": self.generator_steps,
            "discriminator_steps": self.discriminator_steps,
            "augment_calls": self.augment_calls,
            "guard": self.guard.state_dict(),
            "last_fid": getattr(self, "last_fid", None),
        }

    def load_training_counters(self, state: dict) -> None:
        """Restore what :meth:`training_counters` saved (missing keys: a fresh run's values)."""
        self.generator_steps = int(state.get("generator_steps", 0))
        self.discriminator_steps = int(state.get("discriminator_steps", 0))
        self.augment_calls = int(state.get("augment_calls", 0))
        self.guard.load_state_dict(state.get("guard", {}))
        self.last_fid = state.get("last_fid")

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        """Restore the counters and the last val metrics (a resume, or ``load_from_checkpoint``)."""
        self.load_training_counters(checkpoint.get("inpaintlab_training", {}))
        self.last_val_metrics = dict(checkpoint.get("inpaintlab", {}).get("metrics", {}))
        self._weights_restored = True
