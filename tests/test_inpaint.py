"""Tests of the GAN LightningModule (inpaintlab.tasks.inpaint.InpaintModule) and its training helpers."""

from __future__ import annotations

import copy
import math

import lightning as L
import numpy as np
import pytest
import torch
from conftest import ChannelStats
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from scipy import linalg
from torch import nn

from inpaintlab.losses import masked_reconstruction_loss
from inpaintlab.masks import BlockMasks
from inpaintlab.tasks.inpaint import InpaintDataModule, InpaintModule
from inpaintlab.training import NonFiniteLossError, create_ema, ema_update_, warmed_up_decay
from inpaintlab.training.checkpoint_io import best_and_last_checkpoint, load_init_weights

SIZE = 32  # conftest's image_root: 8 train and 8 val pictures of 32 px


def make_data(root, batch_size: int = 4, val_batch_size: int | None = None) -> InpaintDataModule:
    return InpaintDataModule(
        train_dir=str(root / "train"), val_dir=str(root / "val"), image_size=SIZE, batch_size=batch_size,
        val_batch_size=val_batch_size, num_workers=0, masks=BlockMasks(num_blocks=2), augment=False, seed=0,
    )  # fmt: skip


def make_model(**kwargs) -> InpaintModule:
    defaults = {
        "generator": "unet.tiny",
        "discriminator": "patch.tiny",
        "fid_every_n_epochs": 0,
        "num_grid_images": 0,
    }
    return InpaintModule(**{**defaults, **kwargs})


def make_trainer(tmp_path, callbacks=(), **kwargs) -> L.Trainer:
    defaults = {
        "accelerator": "cpu", "devices": 1, "max_epochs": 1, "limit_train_batches": 1, "limit_val_batches": 0,
        "logger": False, "enable_checkpointing": False, "enable_progress_bar": False,
        "enable_model_summary": False, "num_sanity_val_steps": 0, "default_root_dir": str(tmp_path),
    }  # fmt: skip
    return L.Trainer(callbacks=list(callbacks), **{**defaults, **kwargs})


def snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def changed(before: dict, after: dict, prefix: str) -> bool:
    keys = [k for k in before if k.startswith(prefix)]
    assert keys, f"no state under {prefix!r}"
    return any(not torch.equal(before[k], after[k]) for k in keys)


class StepRecorder(Callback):
    """Records around every optimizer step: which optimizer stepped, the module state, the grads."""

    def __init__(self, reference=None):
        self.events: list[tuple] = []
        self.reference = reference

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.batch = batch
        self.events.append(("start", snapshot(pl_module), None))

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        which = "g" if optimizer is trainer.optimizers[0] else "d"
        grads = {
            "g": [p.grad for p in pl_module.generator.parameters()],
            "d": [p.grad for p in pl_module.discriminator.parameters()],
        }
        if self.reference is not None and which == "g":
            self.reference(self.batch, pl_module, grads["g"])
        self.events.append((which, snapshot(pl_module), grads))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.events.append(("end", snapshot(pl_module), None))


# ---------------------------------------------------------------------------------------- step logic
def test_discriminator_step_moves_only_d_and_generator_step_only_g(tmp_path, image_root):
    recorder = StepRecorder()
    model = make_model(ema_decay=0.5)
    make_trainer(tmp_path, [recorder]).fit(model, make_data(image_root))
    kinds = [e[0] for e in recorder.events]
    assert kinds == ["start", "d", "g", "end"]
    _, (_, before_d, d_grads), (_, before_g, g_grads), (_, end, _) = recorder.events
    # D update (between the D and G optimizer steps): D moved, G and its EMA did not
    assert changed(before_d, before_g, "discriminator.")
    assert not changed(before_d, before_g, "generator.")
    assert not changed(before_d, before_g, "generator_ema.")
    assert all(g is None for g in d_grads["g"]) and any(g is not None for g in d_grads["d"])
    # G update: G and EMA moved, D did not; D received no gradient from the generator loss
    assert changed(before_g, end, "generator.")
    assert changed(before_g, end, "generator_ema.")
    assert not changed(before_g, end, "discriminator.")
    assert all(g is None for g in g_grads["d"]) and all(g is not None for g in g_grads["g"])
    assert (model.generator_steps, model.discriminator_steps) == (1, 1)


def test_d_steps_gives_several_discriminator_updates_per_generator_update(tmp_path, image_root):
    recorder = StepRecorder()
    model = make_model(d_steps=3)
    make_trainer(tmp_path, [recorder], limit_train_batches=2).fit(model, make_data(image_root))
    assert [e[0] for e in recorder.events if e[0] in "dg"] == ["d", "d", "d", "g"] * 2
    assert (model.generator_steps, model.discriminator_steps) == (2, 6)


def test_warmup_trains_only_the_generator_with_the_reconstruction_loss(tmp_path, image_root):
    checked = []

    def reference(batch, pl_module, actual_grads):
        g = copy.deepcopy(pl_module.generator)
        w = pl_module.loss_weights
        pred = g.predict(batch["image"], batch["mask"])
        loss = w.reconstruction * masked_reconstruction_loss(
            pred,
            batch["image"],
            batch["mask"],
            hole_weight=w.hole_weight,
            valid_weight=w.valid_weight,
            kind=w.reconstruction_kind,
        )
        expected = torch.autograd.grad(loss, list(g.parameters()))
        for got, want in zip(actual_grads, expected):
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)
        checked.append(True)

    recorder = StepRecorder(reference)
    model = make_model(warmup_steps=2, losses={"adversarial": 0.5, "reconstruction": 2.0})
    before = snapshot(model)
    make_trainer(tmp_path, [recorder], limit_train_batches=2).fit(model, make_data(image_root))
    assert [e[0] for e in recorder.events if e[0] in "dg"] == ["g", "g"]
    assert len(checked) == 2
    after = snapshot(model)
    assert changed(before, after, "generator.") and not changed(before, after, "discriminator.")
    assert not model.in_warmup and model.discriminator_trains  # the discriminator joins from now on


def test_frozen_discriminator_still_drives_but_does_not_learn(tmp_path, image_root):
    recorder = StepRecorder()
    model = make_model(freeze_discriminator_at=0)
    before = snapshot(model)
    make_trainer(tmp_path, [recorder]).fit(model, make_data(image_root))
    after = snapshot(model)
    assert [e[0] for e in recorder.events if e[0] in "dg"] == ["g"]
    assert changed(before, after, "generator.") and not changed(before, after, "discriminator.")


def test_gradient_accumulation_steps_every_n_batches(tmp_path, image_root):
    model = make_model(accumulate_grad_batches=2)
    recorder = StepRecorder()
    make_trainer(tmp_path, [recorder], limit_train_batches=2).fit(model, make_data(image_root, batch_size=2))
    assert [e[0] for e in recorder.events if e[0] in "dg"] == ["d", "g"]
    assert (model.generator_steps, model.discriminator_steps) == (1, 1)


def test_gradient_clipping_bounds_the_norm(tmp_path, image_root):
    norms = []

    class NormRecorder(Callback):
        def on_before_optimizer_step(self, trainer, pl_module, optimizer):
            grads = [
                p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None
            ]
            norms.append(
                float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])))
            )

    model = make_model(gradient_clip_val=1e-4, losses={"adversarial": 1.0})
    make_trainer(tmp_path, [NormRecorder()]).fit(model, make_data(image_root))
    assert len(norms) == 2 and all(n <= 1e-4 * (1 + 1e-4) for n in norms)


def test_ema_update_math():
    model = nn.Sequential(nn.Conv2d(1, 2, 1), nn.BatchNorm2d(2))
    ema = create_ema(model)
    assert all(not p.requires_grad for p in ema.parameters())
    with torch.no_grad():
        for p in ema.parameters():
            p.fill_(1.0)
        for p in model.parameters():
            p.fill_(3.0)
        model[1].running_mean.fill_(5.0)
        model[1].num_batches_tracked.fill_(7)
    ema_update_(ema, model, decay=0.75)
    for p in ema.parameters():  # 0.75 * 1 + 0.25 * 3
        torch.testing.assert_close(p, torch.full_like(p, 1.5))
    torch.testing.assert_close(ema[1].running_mean, torch.full((2,), 0.75 * 0 + 0.25 * 5.0))
    assert int(ema[1].num_batches_tracked) == 7  # integer buffers are copied
    ema_update_(ema, model, decay=0.0)
    assert all(torch.equal(a, b) for a, b in zip(ema.parameters(), model.parameters()))
    with pytest.raises(ValueError, match="decay must be in"):
        ema_update_(ema, model, decay=1.5)


def test_ema_follows_the_generator_during_training(tmp_path, image_root):
    model = make_model(ema_decay=0.05, warmup_steps=5)  # below the warm-up's 0.1 for the first update
    g0 = {k: v.clone() for k, v in model.generator.state_dict().items()}
    make_trainer(tmp_path).fit(model, make_data(image_root))
    g1 = model.generator.state_dict()
    for key, value in model.generator_ema.state_dict().items():
        if value.is_floating_point():
            torch.testing.assert_close(value, 0.05 * g0[key] + 0.95 * g1[key])
    assert warmed_up_decay(0.999, 0) == pytest.approx(0.1) and warmed_up_decay(0.999, 10_000) == 0.999
    assert warmed_up_decay(0.5, 20) == 0.5
    assert model.inference_generator is model.generator_ema


def test_ema_without_warmup_stays_anchored_at_the_start(tmp_path, image_root):
    """ema_warmup=False: the first update already uses the full decay (a fine-tune keeps its init_from)."""
    model = make_model(ema_decay=0.9, ema_warmup=False, g_lr=1e-2)
    g0 = {k: v.clone() for k, v in model.generator.state_dict().items()}
    make_trainer(tmp_path).fit(model, make_data(image_root))
    g1 = model.generator.state_dict()
    moved = [k for k, v in g0.items() if v.is_floating_point() and not torch.equal(v, g1[k])]
    assert moved
    for key in moved:  # warmed up, it would be 0.1 * g0 + 0.9 * g1
        torch.testing.assert_close(model.generator_ema.state_dict()[key], 0.9 * g0[key] + 0.1 * g1[key])


def test_nonfinite_losses_are_skipped_counted_and_stop_training(tmp_path, image_root):
    def poisoned(**kwargs):
        model = make_model(**kwargs)
        with torch.no_grad():
            next(model.generator.parameters()).fill_(float("nan"))
        return model

    model = poisoned(max_nonfinite_steps=10)
    before = snapshot(model)
    make_trainer(tmp_path).fit(model, make_data(image_root))
    assert model.guard.skipped == 2  # the D and the G update of the one batch
    assert (model.generator_steps, model.discriminator_steps) == (0, 0)
    after = snapshot(model)
    assert all(torch.equal(before[k], after[k]) or torch.isnan(before[k]).any() for k in before)

    with pytest.raises(NonFiniteLossError, match=r"max_nonfinite_steps=1"):
        make_trainer(tmp_path).fit(poisoned(max_nonfinite_steps=1), make_data(image_root))


def test_cosine_schedule_is_stepped_each_epoch(tmp_path, image_root):
    model = make_model(g_lr=1e-3, d_lr=4e-3, scheduler="cosine", scheduler_kwargs={"t_max": 2})
    trainer = make_trainer(tmp_path)
    trainer.fit(model, make_data(image_root))
    g_lr, d_lr = (opt.param_groups[0]["lr"] for opt in trainer.optimizers)
    assert g_lr == pytest.approx(1e-3 * (1 + math.cos(math.pi / 2)) / 2)
    assert d_lr == pytest.approx(4e-3 * 0.5)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"d_steps": 0}, "d_steps must be an int >= 1"),
        ({"d_steps": 2, "accumulate_grad_batches": 2}, "not supported"),
        ({"ema_decay": 2.0}, "ema_decay must be in"),
        ({"generator": 3}, "an architecture is a preset name"),
        ({"generator": "patch.70"}, "is a discriminator preset, not a generator"),
        ({"scheduler": "step"}, "scheduler must be one of"),
    ],
)
def test_bad_arguments_are_rejected(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        model = make_model(**kwargs)
        model.configure_optimizers()


# ---------------------------------------------------------------------------------------- checkpoints
def test_checkpoint_is_plain_data_and_readable_by_the_hub(tmp_path, image_root):
    from inpaintlab.hub.weights import load_training_checkpoint
    from inpaintlab.models import build_model

    model = make_model(style="photo", ema_decay=0.5)
    ckpt = best_and_last_checkpoint(model, tmp_path / "ckpt")
    assert (ckpt.monitor, ckpt.mode) == ("val/psnr_hole", "max")  # FID is off in this model
    make_trainer(tmp_path, [ckpt], enable_checkpointing=True, limit_val_batches=1).fit(
        model, make_data(image_root)
    )
    assert (tmp_path / "ckpt" / "best.ckpt").is_file()
    checkpoint = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=True)
    info = checkpoint["inpaintlab"]
    assert (info["task"], info["arch"]) == ("inpaint", "unet.tiny")  # a preset name, never a class path
    assert (info["image_size"], info["mask_kind"], info["style"]) == (SIZE, "blocks", "photo")
    state = checkpoint["state_dict"]
    for prefix in ("generator.", "generator_ema.", "discriminator."):
        assert any(k.startswith(prefix) for k in state)
    assert checkpoint["inpaintlab_training"]["generator_steps"] == 1
    assert isinstance(checkpoint["hyper_parameters"]["losses"], dict)

    weights, info = load_training_checkpoint(tmp_path / "ckpt" / "last.ckpt")
    assert info["weights"] == "ema"
    generator = build_model(info["arch"])
    generator.load_state_dict(weights)
    for a, b in zip(generator.parameters(), model.generator_ema.parameters()):
        assert torch.equal(a, b)
    reloaded = InpaintModule.load_from_checkpoint(tmp_path / "ckpt" / "last.ckpt", weights_only=True)
    assert reloaded.generator_steps == 1 and reloaded.hparams.style == "photo"
    for a, b in zip(reloaded.generator_ema.parameters(), model.generator_ema.parameters()):
        assert torch.equal(a, b)


def test_init_from_a_checkpoint_and_a_safetensors_file(tmp_path, image_root):
    from safetensors.torch import save_file

    source = make_model(ema_decay=0.5)
    ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)
    make_trainer(tmp_path, [ckpt], enable_checkpointing=True).fit(source, make_data(image_root))
    last = str(tmp_path / "ckpt" / "last.ckpt")

    target = make_model(init_from=last)
    make_trainer(tmp_path, limit_train_batches=0).fit(target, make_data(image_root))  # on_fit_start loads
    for a, b in zip(target.generator.parameters(), source.generator_ema.parameters()):
        assert torch.equal(a, b)  # the EMA weights are preferred
    for a, b in zip(target.discriminator.parameters(), source.discriminator.parameters()):
        assert torch.equal(a, b)

    for run in ("validate", "test", "predict"):  # without ckpt_path: init_from's weights, not a random G
        checked = make_model(init_from=last)
        getattr(make_trainer(tmp_path, limit_val_batches=1, limit_test_batches=1, limit_predict_batches=1), run)(
            checked, make_data(image_root)
        )
        for a, b in zip(checked.generator_ema.parameters(), source.generator_ema.parameters()):
            assert torch.equal(a, b), run
    with torch.no_grad():  # once loaded, a later validate keeps the weights it has (e.g. after fit)
        next(checked.generator_ema.parameters()).add_(1.0)
    make_trainer(tmp_path, limit_val_batches=1).validate(checked, make_data(image_root), verbose=False)
    assert not torch.equal(next(checked.generator_ema.parameters()), next(source.generator_ema.parameters()))

    path = tmp_path / "g.safetensors"
    save_file({k: v.contiguous() for k, v in source.generator.state_dict().items()}, str(path))
    fresh = make_model()
    fresh.load_init_weights(path)
    for a, b in zip(fresh.generator_ema.parameters(), source.generator.parameters()):
        assert torch.equal(a, b)
    assert load_init_weights(path).source == "safetensors"
    with pytest.raises(FileNotFoundError, match="missing.ckpt"):
        load_init_weights(tmp_path / "missing.ckpt")
    with pytest.raises(ValueError, match="do not fit"):
        make_model(
            generator={"preset": "unet.tiny", "args": {"base_channels": 8}}
        ).load_init_weights(last)


def test_init_allow_missing_grows_a_file_into_a_larger_generator(tmp_path):
    from inpaintlab.models import build_model

    plain = build_model("dilated_unet.tiny")
    with torch.no_grad():
        plain.prefill_gate.fill_(0.5)
    path = _saved(plain, tmp_path / "plain.safetensors")
    grown_arch = {"preset": "dilated_unet.tiny", "args": {"fine_dilations": [1]}}

    with pytest.raises(ValueError, match=r"(?s)do not fit.*init_allow_missing.*fine_blocks\.0\.spatial\.weight"):
        make_model(generator=grown_arch).load_init_weights(path)
    with pytest.raises(ValueError, match="(?s)missing keys.*fine_blocks"):  # another prefix does not cover them
        make_model(generator=grown_arch, init_allow_missing=["blocks."]).load_init_weights(path)
    grown = make_model(generator=grown_arch, init_allow_missing=["fine_blocks."])
    grown.load_init_weights(path)
    for name, value in plain.state_dict().items():
        assert torch.equal(grown.generator.state_dict()[name], value)
        assert torch.equal(grown.generator_ema.state_dict()[name], value)
    # the allowance is for missing keys only: a file with keys the model lacks is still refused
    with pytest.raises(ValueError, match="(?s)unexpected keys.*fine_blocks"):
        make_model(generator="dilated_unet.tiny", init_allow_missing=["fine_blocks."]).load_init_weights(
            _saved(grown.generator, tmp_path / "grown.safetensors")
        )


def _saved(module: torch.nn.Module, path) -> str:
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in module.state_dict().items()}, str(path))
    return str(path)


# ---------------------------------------------------------------------------------------- validation
def frechet_distance(real: np.ndarray, fake: np.ndarray) -> float:
    mu1, mu2 = real.mean(0), fake.mean(0)
    s1, s2 = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def test_validation_metrics_and_fid_match_an_independent_computation(tmp_path, image_root):
    data = make_data(image_root, val_batch_size=4)
    model = make_model(fid_every_n_epochs=1, fid_feature_extractor=ChannelStats(), num_grid_images=4)
    trainer = make_trainer(tmp_path, limit_val_batches=1.0, num_sanity_val_steps=1)
    trainer.fit(model, data)  # the sanity check must not cache the real statistics of its 4 images
    assert model.fid._real_cache["features"].shape[0] == 8
    results = trainer.validate(model, data, verbose=False)[0]

    data.setup("validate")
    real, fake, psnr = [], [], []
    generator = model.inference_generator
    with torch.no_grad():
        for batch in data.val_dataloader():
            out = generator(batch["image"], batch["mask"])
            real.append(batch["image"].mean(dim=(2, 3)))
            fake.append(out.mean(dim=(2, 3)))
            for o, t, m in zip(out, batch["image"], batch["mask"]):
                hole = m.expand_as(o) > 0.5
                psnr.append(-10 * math.log10(float(((o - t)[hole] ** 2).mean())))
    expected_fid = frechet_distance(torch.cat(real).double().numpy(), torch.cat(fake).double().numpy())
    assert results["val/fid"] == pytest.approx(expected_fid, rel=1e-4, abs=1e-7)
    assert results["val/psnr_hole"] == pytest.approx(float(np.mean(psnr)), rel=1e-4)
    assert results["val/psnr_hole/blocks"] == pytest.approx(results["val/psnr_hole"])
    assert not model.fid.needs_real_images
    assert model.last_val_metrics["val_fid"] == pytest.approx(expected_fid, rel=1e-4, abs=1e-7)


def test_image_grid_is_written_for_file_loggers(tmp_path, image_root):
    from lightning.pytorch.loggers import CSVLogger

    model = make_model(num_grid_images=2)
    logger = CSVLogger(str(tmp_path), name="run")
    make_trainer(tmp_path, logger=logger, limit_val_batches=1).fit(model, make_data(image_root))
    grids = list((tmp_path / "run").rglob("images/val_grid-*.png"))
    assert len(grids) == 1
    from PIL import Image

    width, height = Image.open(grids[0]).size
    assert (width, height) == (2 * (SIZE + 2) + 2, 3 * (SIZE + 2) + 2)


# ---------------------------------------------------------------------------------------- review bugs
def test_four_channel_discriminator_sees_the_mask_moved_with_the_image():
    """DiffAugment's translation/cutout move the mask channel with the image; colour ops leave it alone."""
    d_spec = {"preset": "patch.tiny", "args": {"in_channels": 4}}
    seen = []
    for policy in ("translation,cutout", "color"):
        model = make_model(discriminator=d_spec, diff_augment=policy)
        hook = model.discriminator.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach()))
        g = torch.Generator().manual_seed(0)
        image, fake = torch.rand(6, 3, SIZE, SIZE, generator=g), torch.rand(6, 3, SIZE, SIZE, generator=g)
        mask = BlockMasks(num_blocks=2)(6, (SIZE, SIZE), generator=g)
        model.discriminator_loss(image, fake, mask)
        hook.remove()
        real_in, fake_in = seen[-2:]
        params = model.augment.last_params
        assert torch.equal(real_in[:, 3:], fake_in[:, 3:])  # both see the same (augmented) mask
        if policy == "color":
            assert torch.equal(real_in[:, 3:], mask)  # colour ops never touch the mask channel
        else:
            moved = model.augment.apply(torch.cat([image, mask], 1), params)
            assert torch.equal(real_in, moved)  # one geometric draw for the image and the mask
            assert not torch.equal(real_in[:, 3:], mask)  # ... and the draw did move it


def test_ema_warms_up_so_a_short_run_exports_trained_weights(tmp_path, image_root):
    """decay_n = min(decay, (1 + n) / (10 + n)): after 6 updates the EMA holds < 1% of the initialisation."""
    model = make_model(ema_decay=0.999, g_lr=1e-2)
    g0 = snapshot(model.generator)
    ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)
    make_trainer(tmp_path, [ckpt], enable_checkpointing=True, limit_train_batches=None, max_epochs=-1, max_steps=6).fit(
        model, make_data(image_root, batch_size=2)
    )
    from inpaintlab.hub.weights import load_training_checkpoint

    exported, info = load_training_checkpoint(tmp_path / "ckpt" / "last.ckpt")
    assert info["weights"] == "ema"
    init_share = math.prod(min(0.999, (1 + n) / (10 + n)) for n in range(6))
    assert init_share < 0.01
    g = model.generator.state_dict()
    moved = [k for k, v in g0.items() if v.is_floating_point() and not torch.equal(v, g[k])]
    assert moved
    for key in moved:  # the exported EMA is far from the initialisation, as far as G itself moved
        assert torch.linalg.vector_norm(exported[key] - g0[key]) > 0.5 * torch.linalg.vector_norm(g[key] - g0[key])


def test_max_steps_counts_generator_updates(tmp_path, image_root):
    """``trainer.max_steps`` and ``global_step`` count generator updates, whatever d_steps and warm-up."""
    model = make_model(d_steps=3, warmup_steps=2)
    trainer = make_trainer(tmp_path, max_epochs=-1, max_steps=4, limit_train_batches=None)
    trainer.fit(model, make_data(image_root, batch_size=2))
    assert (model.generator_steps, model.discriminator_steps) == (4, 6)  # 2 warm-up batches without D
    assert trainer.global_step == 4


def _train_once(tmp_path, image_root, **kwargs):
    L.seed_everything(0)
    model = make_model(**kwargs)
    make_trainer(tmp_path, limit_train_batches=2).fit(model, make_data(image_root))
    return model


def test_compiled_training_matches_eager_and_copies_run_their_own_weights(tmp_path, image_root):
    eager = _train_once(tmp_path, image_root)
    compiled = _train_once(tmp_path, image_root, compile_models=True, compile_backend="eager")
    for (key, a), b in zip(eager.state_dict().items(), compiled.state_dict().values()):
        torch.testing.assert_close(b, a, msg=key)
    import pickle

    clone = pickle.loads(pickle.dumps(compiled.generator))  # pickling works
    twin = copy.deepcopy(compiled.generator)
    with torch.no_grad():
        for p in twin.parameters():
            p.mul_(0.5)  # the copy's own weights, not the original's
    reference = copy.deepcopy(eager.generator)
    reference.load_state_dict(twin.state_dict())
    g = torch.Generator().manual_seed(1)
    image, mask = torch.rand(2, 3, SIZE, SIZE, generator=g), BlockMasks(num_blocks=2)(2, (SIZE, SIZE), generator=g)
    for module in (clone, twin, reference):
        module.eval()
    torch.testing.assert_close(twin.predict(image, mask), reference.predict(image, mask))
    torch.testing.assert_close(clone.predict(image, mask), eager.generator.eval().predict(image, mask))


def test_channels_last_trains_like_contiguous(tmp_path, image_root):
    plain = _train_once(tmp_path, image_root)
    fast = _train_once(tmp_path, image_root, channels_last=True)
    conv = next(p for p in fast.generator.parameters() if p.ndim == 4 and p.shape[-1] > 1)
    assert conv.is_contiguous(memory_format=torch.channels_last)
    for (key, a), b in zip(plain.state_dict().items(), fast.state_dict().values()):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5, msg=key)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_without_find_unused_parameters_is_a_clear_error(tmp_path, image_root, monkeypatch):
    """Separate G and D backwards need find_unused_parameters; the module asks for it, it does not patch
    the strategy's private settings (one in-process DDP rank on gloo)."""
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(_free_port()))
    try:
        with pytest.raises(ValueError, match="ddp_find_unused_parameters_true"):
            make_trainer(tmp_path, strategy="ddp").fit(make_model(), make_data(image_root))
        model = make_model()
        make_trainer(tmp_path, strategy="ddp_find_unused_parameters_true").fit(model, make_data(image_root))
        assert model.generator_steps == 1
    finally:
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def test_batchnorm_discriminators_are_synchronised_on_several_gpu_processes():
    """A BatchNorm D becomes SyncBatchNorm with the same state-dict keys under multi-GPU DDP only; the
    default norms (no batch statistics) and single-process or CPU runs stay as they are."""
    from types import SimpleNamespace

    from inpaintlab.models import build_model
    from inpaintlab.training.ddp import sync_batchnorm

    d = build_model({"preset": "patch.tiny", "args": {"norm": "batch"}})
    keys = list(d.state_dict())
    synced = sync_batchnorm(copy.deepcopy(d), world_size=2, device_type="cuda")
    assert any(isinstance(m, nn.SyncBatchNorm) for m in synced.modules())
    assert list(synced.state_dict()) == keys  # checkpoints load into either form
    for world, device in ((1, "cuda"), (2, "cpu")):
        assert not any(isinstance(m, nn.SyncBatchNorm) for m in sync_batchnorm(d, world, device).modules())
    plain = build_model("patch.tiny")
    assert sync_batchnorm(plain, 2, "cuda") is plain

    model = make_model(discriminator={"preset": "patch.tiny", "args": {"norm": "batch"}})
    strategy = SimpleNamespace(root_device=torch.device("cuda", 0))
    model._trainer = SimpleNamespace(strategy=strategy, world_size=2, datamodule=None, limit_val_batches=1.0)
    model.setup("fit")  # what Lightning calls on every rank before wrapping the model in DDP
    assert any(isinstance(m, nn.SyncBatchNorm) for m in model.discriminator.modules())
