"""Fault tolerance: a killed fit resumes to the same weights, and checkpoints are written atomically."""

from __future__ import annotations

import os

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import Callback

from inpaintlab.io import atomic
from inpaintlab.masks import BlockMasks
from inpaintlab.tasks.inpaint import InpaintDataModule, InpaintModule
from inpaintlab.training.checkpoint_io import AtomicCheckpointIO, atomic_torch_save, best_and_last_checkpoint

SIZE = 32  # conftest's image_root


def make_data(root) -> InpaintDataModule:
    # augmentation on: its randomness must be restored on resume too
    return InpaintDataModule(
        train_dir=str(root / "train"), val_dir=str(root / "val"), image_size=SIZE, batch_size=4,
        num_workers=0,
        masks=BlockMasks(num_blocks=2), seed=0,
    )  # fmt: skip


def make_model() -> InpaintModule:
    return InpaintModule(
        generator="unet.tiny", discriminator="patch.tiny", ema_decay=0.9, warmup_steps=1,
        diff_augment="color,translation,cutout",
        scheduler="plateau", scheduler_kwargs={"patience": 0, "factor": 0.5}, fid_every_n_epochs=0,
        num_grid_images=0,
    )  # fmt: skip


class SimulatedKill(RuntimeError):
    pass


class Crash(Callback):
    """Simulates a kill: raises at the given (epoch, batch)."""

    def __init__(self, epoch: int, batch: int):
        self.at = (epoch, batch)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if (trainer.current_epoch, batch_idx) == self.at:
            raise SimulatedKill("simulated kill")


def fit(root, run_dir, max_epochs: int, callbacks=(), ckpt_path=None) -> tuple[InpaintModule, L.Trainer]:
    L.seed_everything(0)
    model = make_model()
    checkpoint = best_and_last_checkpoint(model, run_dir)  # what the CLI's checkpoint group is
    trainer = L.Trainer(
        accelerator="cpu", devices=1, max_epochs=max_epochs, limit_train_batches=2, limit_val_batches=1,
        logger=False, enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
        callbacks=[checkpoint, *callbacks], plugins=[AtomicCheckpointIO()], deterministic=True,
        default_root_dir=str(run_dir),
    )  # fmt: skip
    trainer.fit(model, make_data(root), ckpt_path=ckpt_path)
    return model, trainer


def test_killed_fit_resumes_to_the_same_weights(tmp_path, image_root):
    reference, ref_trainer = fit(image_root, tmp_path / "uninterrupted", max_epochs=2)

    with pytest.raises(SimulatedKill):
        fit(image_root, tmp_path / "killed", max_epochs=2, callbacks=[Crash(epoch=1, batch=1)])
    last = torch.load(tmp_path / "killed" / "last.ckpt", weights_only=True)
    assert last["epoch"] == 0  # written at the end of the first epoch, before the kill

    resumed, trainer = fit(image_root, tmp_path / "killed", max_epochs=2, ckpt_path="last")
    assert trainer.current_epoch == 2
    expected, got = reference.state_dict(), resumed.state_dict()
    assert expected.keys() == got.keys()
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], rtol=0, atol=0, msg=key)
    assert (resumed.generator_steps, resumed.discriminator_steps) == (
        reference.generator_steps,
        reference.discriminator_steps,
    )
    assert resumed.augment_calls == reference.augment_calls
    for opt_ref, opt_got in zip(ref_trainer.optimizers, trainer.optimizers):
        assert opt_ref.param_groups[0]["lr"] == opt_got.param_groups[0]["lr"]
        for s_ref, s_got in zip(opt_ref.state.values(), opt_got.state.values()):
            torch.testing.assert_close(s_got["exp_avg_sq"], s_ref["exp_avg_sq"], rtol=0, atol=0)
    sched_ref = ref_trainer.lr_scheduler_configs[0].scheduler.state_dict()
    sched_got = trainer.lr_scheduler_configs[0].scheduler.state_dict()
    assert (sched_ref["best"], sched_ref["num_bad_epochs"]) == (
        sched_got["best"],
        sched_got["num_bad_epochs"],
    )


# ---------------------------------------------------------------------------------------- atomic writes
class _FailingFile:
    """A file object that writes half of what it is given, then fails (a full disk, a kill)."""

    def __init__(self, real):
        self.real = real

    def write(self, data):
        data = memoryview(data)
        self.real.write(data[: len(data) // 2])
        raise OSError(28, "No space left on device (simulated)")

    def __getattr__(self, name):
        return getattr(self.real, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.real.close()
        return False


def test_a_failed_write_leaves_the_old_last_checkpoint_intact(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    io_plugin = AtomicCheckpointIO()
    old = {"state_dict": {"w": torch.arange(1000.0)}, "epoch": 1}
    io_plugin.save_checkpoint(old, path)
    old_bytes = path.read_bytes()

    def failing_open(*args, **kwargs):  # the file atomic_write writes to fails halfway
        return _FailingFile(open(*args, **kwargs))

    monkeypatch.setattr(atomic, "open", failing_open, raising=False)
    with pytest.raises(OSError, match="No space left"):
        io_plugin.save_checkpoint({"state_dict": {"w": torch.zeros(1000)}, "epoch": 2}, path)
    monkeypatch.undo()

    assert path.read_bytes() == old_bytes
    assert torch.load(path, weights_only=True)["epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]  # no temp file left behind

    io_plugin.save_checkpoint({"state_dict": {"w": torch.zeros(3)}, "epoch": 2}, path)  # works again
    assert io_plugin.load_checkpoint(path, weights_only=True)["epoch"] == 2


def test_atomic_save_rejects_storage_options_and_handles_new_folders(tmp_path):
    atomic_torch_save({"a": 1}, tmp_path / "new" / "dir" / "x.ckpt")
    assert torch.load(tmp_path / "new" / "dir" / "x.ckpt", weights_only=True) == {"a": 1}
    with pytest.raises(TypeError, match="storage_options"):
        AtomicCheckpointIO().save_checkpoint({}, tmp_path / "y.ckpt", storage_options={"x": 1})


# ---------------------------------------------------------------------------------------- last.ckpt
class _WorseningModel(L.LightningModule):
    """Logs ``val/psnr_hole`` = 10 - (validation count): only the first validation is a new best."""

    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)
        self.validations = 0

    def training_step(self, batch, batch_idx):
        return self.layer(batch).square().mean()

    def validation_step(self, batch, batch_idx):
        pass

    def on_validation_epoch_end(self):
        self.log("val/psnr_hole", 10.0 - self.validations)
        self.validations += 1

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def train_dataloader(self):
        return torch.utils.data.DataLoader(torch.randn(8, 2), batch_size=2)

    def val_dataloader(self):
        return torch.utils.data.DataLoader(torch.randn(2, 2), batch_size=2)


def _trainer(callback, **kwargs) -> L.Trainer:
    options = dict(accelerator="cpu", max_epochs=3, logger=False, enable_progress_bar=False,
                   enable_model_summary=False, num_sanity_val_steps=0, callbacks=[callback])  # fmt: skip
    return L.Trainer(**{**options, **kwargs})


@pytest.mark.parametrize(
    ("val_check_interval", "max_steps", "first_validation_step", "final_step"),
    [(2, -1, 2, 12), (1.0, -1, 4, 12), (2, 7, 2, 7)],  # mid-epoch, per epoch, steps after the last validation
)
def test_last_checkpoint_follows_the_run_when_the_metric_stops_improving(
    tmp_path, val_check_interval, max_steps, first_validation_step, final_step
):
    from inpaintlab.cli.lightning_cli import RunCheckpoint

    model = _WorseningModel()
    model.monitor, model.monitor_mode = "val/psnr_hole", "max"
    for callback in (best_and_last_checkpoint(model, tmp_path / "fn"), RunCheckpoint(
        dirpath=tmp_path / "cli", monitor="val/psnr_hole", mode="max", filename="best", save_last=True,
    )):  # fmt: skip
        trainer = _trainer(callback, val_check_interval=val_check_interval, max_steps=max_steps)
        trainer.fit(_WorseningModel())
        folder = callback.dirpath
        best = torch.load(os.path.join(folder, "best.ckpt"), weights_only=True)
        last = torch.load(os.path.join(folder, "last.ckpt"), weights_only=True)
        assert best["global_step"] == first_validation_step  # best stays the first validation's
        assert last["global_step"] == trainer.global_step == final_step  # last follows the run to its end
        assert sorted(os.listdir(folder)) == ["best.ckpt", "last.ckpt"]


def test_a_linked_last_checkpoint_is_refused():
    model = _WorseningModel()
    model.monitor, model.monitor_mode = "val/psnr_hole", "max"
    with pytest.raises(ValueError, match="save_last=True"):
        best_and_last_checkpoint(model, save_last="link")


def test_a_run_saved_by_a_plain_model_checkpoint_resumes_with_its_best_score(tmp_path):
    from lightning.pytorch.callbacks import ModelCheckpoint

    options = dict(dirpath=tmp_path, monitor="val/psnr_hole", mode="max", filename="best", save_last=True)
    _trainer(ModelCheckpoint(**options), max_epochs=1).fit(_WorseningModel())
    model = _WorseningModel()
    model.monitor, model.monitor_mode = "val/psnr_hole", "max"
    callback = best_and_last_checkpoint(model, tmp_path)
    _trainer(callback, max_epochs=2).fit(_WorseningModel(), ckpt_path=str(tmp_path / "last.ckpt"))
    # the restored best score (10) is not beaten by the resumed run's 10, 9: no new best, no best-v1.ckpt
    assert callback.best_model_score == 10.0
    assert sorted(os.listdir(tmp_path)) == ["best.ckpt", "last.ckpt"]
    assert torch.load(tmp_path / "last.ckpt", weights_only=True)["global_step"] == 8
    assert torch.load(tmp_path / "best.ckpt", weights_only=True)["global_step"] == 4
