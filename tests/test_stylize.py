"""The stylize task (StylizeModule, a photo -> Monet CycleGAN): translators, unpaired data, the step logic,
image pools, FID/checkpoints, resume, export, two-process DDP."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from conftest import ChannelStats
from lightning.pytorch.callbacks import ModelCheckpoint
from torch import nn

from inpaintlab.losses import discriminator_loss, generator_loss
from inpaintlab.models import ResnetGenerator, UNetTranslator, arch_of, build_model, create_translator
from inpaintlab.tasks.stylize import StylizeDataModule, StylizeModule, random_crop_flip
from inpaintlab.training.checkpoint_io import AtomicCheckpointIO

SIZE = 16  # crops of conftest's 20 px ``domains`` pictures


def make_data(root, **kwargs) -> StylizeDataModule:
    return StylizeDataModule(
        str(root / "photo/train"), str(root / "monet/train"), str(root / "photo/val"), str(root / "monet/val"),
        image_size=SIZE, load_size=18, batch_size=2, **kwargs,
    )  # fmt: skip


def make_model(**kwargs) -> StylizeModule:
    kwargs.setdefault("fid_every_n_epochs", 0)
    return StylizeModule("resnet.tiny", "patch.tiny", num_grid_images=0, **kwargs)


def make_trainer(run_dir, max_epochs=1, callbacks=(), **kwargs) -> L.Trainer:
    return L.Trainer(
        accelerator="cpu", devices=1, max_epochs=max_epochs, logger=False, enable_progress_bar=False,
        enable_model_summary=False, num_sanity_val_steps=0, default_root_dir=str(run_dir),
        callbacks=list(callbacks), enable_checkpointing=bool(callbacks), deterministic=True, **kwargs,
    )  # fmt: skip


# ---------------------------------------------------------------------------------------- translators
def test_resnet_generator_any_size_in_range_with_gradients_and_rebuilds():
    torch.manual_seed(0)
    model = create_translator("resnet.tiny")
    image = torch.rand(2, 3, 19, 26, requires_grad=True)
    out = model(image)
    assert out.shape == image.shape and 0 <= out.min() and out.max() <= 1
    out.mean().backward()
    assert image.grad.abs().sum() > 0
    rebuilt = build_model(arch_of(model))
    rebuilt.load_state_dict(model.state_dict())
    with torch.no_grad():
        assert torch.equal(rebuilt(image), model(image))
    # CycleGAN's 256 px generator: c7s1-64, d128, d256, 9 x R256, u128, u64, c7s1-3 (11.4M parameters)
    base = create_translator("resnet9.base")
    assert 11.3e6 < sum(p.numel() for p in base.parameters()) < 11.5e6
    assert sum(isinstance(m, nn.InstanceNorm2d) for m in base.modules()) == 1 + 2 + 9 * 2 + 2
    with pytest.raises(ValueError, match="at least 4x4"):
        model(torch.rand(1, 3, 3, 8))
    with pytest.raises(ValueError, match="n_blocks"):
        ResnetGenerator(n_blocks=-1)


def test_unet_translator_predicts_every_pixel():
    model = create_translator("unet_translator.tiny")
    assert isinstance(model, UNetTranslator)
    image = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        out = model(image)
        assert torch.equal(out, model.predict(image, torch.zeros(1, 1, 16, 16)))
    assert out.shape == image.shape and not torch.equal(out, image)


# ---------------------------------------------------------------------------------------- data
def test_random_crop_flip_is_seeded_and_checks_its_size():
    image = torch.arange(3 * 6 * 8).reshape(3, 6, 8)
    a = random_crop_flip(image, 4, torch.Generator().manual_seed(1))
    assert a.shape == (3, 4, 4) and torch.equal(a, random_crop_flip(image, 4, torch.Generator().manual_seed(1)))
    crops = {tuple(random_crop_flip(image, 4, torch.Generator().manual_seed(s)).flatten().tolist()) for s in range(20)}
    assert len(crops) > 4
    with pytest.raises(ValueError, match="larger than the images"):
        random_crop_flip(image, 7)


def test_unpaired_batches_draw_each_domain_independently(domains):
    dm = make_data(domains)
    dm.setup("fit")
    assert dm.train_sets["photo"].shape == (6, 3, 18, 18) and dm.val_sets["monet"].shape == (2, 3, SIZE, SIZE)
    batches = list(dm.train_dataloader())
    assert len(batches) == 3  # max_size_cycle over the larger (photo) set: 6 / 2
    batch, _, _ = batches[0]
    out = dm.on_after_batch_transfer(batch, 0)
    assert out["photo"].shape == out["monet"].shape == (2, 3, SIZE, SIZE)
    assert out["photo"].dtype == torch.float32 and 0 <= out["photo"].min() and out["photo"].max() <= 1
    again = make_data(domains)
    again.setup("fit")
    assert torch.equal(next(iter(again.train_dataloader()))[0]["photo"], batch["photo"])  # seeded
    val = [dm.on_after_batch_transfer(b, 0) for b, _, _ in dm.val_dataloader()]
    assert [v["monet"] is None for v in val] == [False, True]  # the smaller val set runs out first
    with pytest.raises(FileNotFoundError, match="nowhere"):
        StylizeDataModule(str(domains / "nowhere"), "b", "c", "d").setup("fit")
    with pytest.raises(ValueError, match="load_size"):
        StylizeDataModule("a", "b", "c", "d", image_size=32, load_size=16)


# ---------------------------------------------------------------------------------------- step logic
def test_generator_losses_match_a_reference():
    torch.manual_seed(0)
    model = make_model(cycle_weight=10.0, identity_weight=0.5, adversarial_kind="lsgan")
    photo, monet = torch.rand(2, 3, SIZE, SIZE), torch.rand(2, 3, SIZE, SIZE)
    g_pm, g_mp, d_m, d_p = model.photo_to_monet, model.monet_to_photo, model.d_monet, model.d_photo
    with torch.no_grad():
        fake_m, fake_p = g_pm(photo), g_mp(monet)
        terms = model.generator_losses(photo, monet, fake_m, fake_p)
        adv = ((d_m(fake_m) - 1) ** 2).mean() + ((d_p(fake_p) - 1) ** 2).mean()
        cycle = 10 * ((g_mp(fake_m) - photo).abs().mean() + (g_pm(fake_p) - monet).abs().mean())
        identity = 5 * ((g_pm(monet) - monet).abs().mean() + (g_mp(photo) - photo).abs().mean())
    torch.testing.assert_close(terms["adv"], adv)
    torch.testing.assert_close(terms["cycle"], cycle)
    torch.testing.assert_close(terms["identity"], identity)
    torch.testing.assert_close(terms["total"], adv + cycle + identity)
    assert generator_loss(d_m(fake_m), kind="lsgan").shape == ()
    no_identity = make_model(identity_weight=0.0)
    assert "identity" not in no_identity.generator_losses(photo, monet, photo, monet)
    with pytest.raises(ValueError, match="kind"):
        make_model(adversarial_kind="wasserstein")
    with pytest.raises(ValueError, match="cycle_weight"):
        make_model(cycle_weight=-1)


def test_one_step_updates_both_generators_and_both_discriminators(tmp_path, domains):
    L.seed_everything(0)
    model = make_model(diff_augment="color,translation,cutout")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    make_trainer(tmp_path, limit_train_batches=1, limit_val_batches=0).fit(model, make_data(domains))
    assert (model.generator_steps, model.discriminator_steps) == (1, 1) and model.augment_calls == 4
    for prefix in ("photo_to_monet.", "monet_to_photo.", "d_monet.", "d_photo."):
        assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items() if k.startswith(prefix))
    d_loss = discriminator_loss(torch.ones(2), torch.zeros(2), kind="lsgan")
    assert float(d_loss) == 0.0  # a perfect D under least squares


# ---------------------------------------------------------------------------------------- FID, checkpoints, export
def test_fid_every_epoch_best_checkpoint_and_export(tmp_path, domains):
    from inpaintlab import load
    from inpaintlab.api import Stylizer
    from inpaintlab.hub import export_checkpoint

    L.seed_everything(0)
    model = make_model(fid_every_n_epochs=1, fid_feature_extractor=ChannelStats(), decay_start_epoch=1)
    monitor, mode = StylizeModule.checkpoint_monitor({"fid_every_n_epochs": 1})
    checkpoint = ModelCheckpoint(dirpath=tmp_path / "ckpt", filename="best", monitor=monitor, mode=mode, save_last=True)
    trainer = make_trainer(tmp_path, max_epochs=2, callbacks=[checkpoint], plugins=[AtomicCheckpointIO()])
    trainer.fit(model, make_data(domains))
    assert {"val/fid", "val/cycle_l1"} <= set(trainer.callback_metrics)
    assert float(trainer.callback_metrics["val/fid"]) >= 0
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.0)  # linear decay reached 0
    info = torch.load(tmp_path / "ckpt" / "best.ckpt", weights_only=True)["inpaintlab"]
    assert (info["task"], info["arch"], info["image_size"]) == ("stylize", "resnet.tiny", SIZE)
    assert info["metrics"]["val_fid"] == pytest.approx(float(checkpoint.best_model_score))

    result = export_checkpoint(tmp_path / "ckpt" / "best.ckpt", out_dir=tmp_path / "hub", name="photo2monet")
    assert "task: stylize" in result.snippet and "mask: null" in result.snippet
    stylizer = load(result.weights, device="cpu", resolution=None)
    assert isinstance(stylizer, Stylizer) and stylizer.name == "photo2monet"
    best = StylizeModule.load_from_checkpoint(tmp_path / "ckpt" / "best.ckpt", weights_only=True, fid_every_n_epochs=0)
    image = torch.rand(1, 3, 24, 20)
    with torch.no_grad():
        torch.testing.assert_close(stylizer(image), best.photo_to_monet(image), rtol=0, atol=1e-6)


def test_killed_fit_resumes_to_the_same_weights(tmp_path, domains):
    def fit(run_dir, callbacks=(), ckpt_path=None):
        L.seed_everything(0)
        model = make_model(diff_augment="color,translation")
        ckpt = ModelCheckpoint(dirpath=run_dir, save_last=True, monitor="val/cycle_l1", mode="min")
        trainer = make_trainer(run_dir, max_epochs=2, callbacks=[ckpt, *callbacks], limit_val_batches=1)
        trainer.fit(model, make_data(domains), ckpt_path=ckpt_path)
        return model

    class SimulatedKill(RuntimeError):
        pass

    class Kill(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            if (trainer.current_epoch, batch_idx) == (1, 1):
                raise SimulatedKill

    reference = fit(tmp_path / "full")
    with pytest.raises(SimulatedKill):
        fit(tmp_path / "killed", callbacks=[Kill()])
    resumed = fit(tmp_path / "killed", ckpt_path="last")
    for key, value in reference.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[key], value, rtol=0, atol=0, msg=key)
    assert (resumed.generator_steps, resumed.augment_calls) == (reference.generator_steps, reference.augment_calls)


# ---------------------------------------------------------------------------------------- CLI, API
def test_cli_fits_the_cpu_recipe_on_small_images_then_stylizes_a_folder(tmp_path, domains, capsys):
    import yaml
    from PIL import Image

    from inpaintlab import cli

    run = tmp_path / "run"
    args = [
        "fit", "-c", str(cli_recipe()),
        "--model.init_args.generator", "resnet.tiny", "--model.init_args.discriminator", "patch.tiny",
        *[f"--data.init_args.{d}_{s}={domains / d / s}" for d in ("photo", "monet") for s in ("train", "val")],
        "--data.init_args.image_size", "16", "--data.init_args.load_size", "18", "--data.init_args.batch_size", "2",
        "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2", "--trainer.logger", "false",
        "--trainer.max_time", "null", "--checkpoint.dirpath", str(run),
    ]  # fmt: skip
    assert cli.main(args) == 0
    run = run / "latest"  # the fit's own folder, <dirpath>/version_0
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["model"]["class_path"] == "inpaintlab.tasks.stylize.StylizeModule"
    assert saved["checkpoint"]["monitor"] is None  # the CPU recipe has FID off: best.ckpt is the last epoch
    info = torch.load(run / "best.ckpt", weights_only=True)["inpaintlab"]
    assert info["recipe"]["config"].endswith("cyclegan-monet.yaml") and "photo/train" in info["recipe"]["data"]
    assert "val_cycle_l1" in info["metrics"]

    out = tmp_path / "stylized"
    assert cli.main(["stylize", "--model", str(run / "best.ckpt"), "--image", str(domains / "photo/val"),
                     "--output", str(out), "--limit", "3", "--device", "cpu"]) == 0  # fmt: skip
    written = sorted(out.iterdir())
    assert [p.name for p in written] == ["img_0000.png", "img_0001.png", "img_0002.png"]
    assert Image.open(written[0]).size == (20, 20)
    capsys.readouterr()
    assert cli.main(["stylize", "--image", str(tmp_path / "nowhere"), "--output", str(out)]) == 1
    assert "nowhere" in capsys.readouterr().err


def cli_recipe():
    from pathlib import Path

    return Path(__file__).resolve().parents[1] / "examples" / "configs" / "cpu" / "cyclegan-monet.yaml"


def test_stylizer_keeps_type_size_gray_and_alpha():
    import numpy as np
    from PIL import Image

    from inpaintlab.api import Stylizer

    torch.manual_seed(0)
    stylizer = Stylizer(create_translator("resnet.tiny"), resolution=16, name="tiny")
    rgba = Image.fromarray(np.random.default_rng(0).integers(0, 256, (30, 40, 4), dtype=np.uint8), "RGBA")
    out = stylizer(rgba)
    assert isinstance(out, Image.Image) and out.mode == "RGBA" and out.size == (40, 30)
    assert np.array_equal(np.array(out)[..., 3], np.array(rgba)[..., 3])  # alpha copied through
    gray = np.random.default_rng(1).integers(0, 256, (12, 9), dtype=np.uint8)
    assert stylizer(gray).shape == (12, 9) and stylizer(gray).dtype == np.uint8
    batch = torch.rand(2, 3, 20, 24)
    full = Stylizer(stylizer.model, resolution=None)
    with torch.no_grad():
        torch.testing.assert_close(full(batch), stylizer.model(batch), rtol=0, atol=1e-6)
    assert not torch.equal(stylizer(batch), full(batch))  # run at 16 px then scaled back
    with pytest.raises(ValueError, match="resolution"):
        Stylizer(stylizer.model, resolution=2)
    with pytest.raises(ValueError, match="NaN|nan"):
        stylizer(torch.full((1, 3, 8, 8), float("nan")))



def test_stylizer_moves_its_model_to_its_device():
    from inpaintlab.api import Stylizer

    stylizer = Stylizer(create_translator("resnet.tiny"), device="meta")
    assert {p.device.type for p in stylizer.model.parameters()} == {"meta"}
    assert not stylizer.model.training


def test_max_steps_counts_generator_updates(tmp_path, domains):
    model = make_model()
    trainer = make_trainer(tmp_path, max_epochs=-1, max_steps=3, limit_val_batches=0)
    trainer.fit(model, make_data(domains))
    assert (model.generator_steps, model.discriminator_steps, trainer.global_step) == (3, 3, 3)

DDP_SCRIPT = r"""
import json, sys
from pathlib import Path

import lightning as L
import torch

from conftest import ChannelStats
from inpaintlab.tasks.stylize import StylizeDataModule, StylizeModule

out, root = Path(sys.argv[1]), Path(sys.argv[2])
dm = StylizeDataModule(*(str(root / d / s) for s in ("train", "val") for d in ("photo", "monet")),
                        image_size=16, load_size=18, batch_size=2)
L.seed_everything(0)
model = StylizeModule("resnet.tiny", "patch.tiny", diff_augment="color,translation", fid_feature_extractor=ChannelStats(),
                 num_grid_images=0)
trainer = L.Trainer(accelerator="cpu", devices=2, strategy="ddp_find_unused_parameters_true", max_epochs=1, logger=False,
                    enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                    num_sanity_val_steps=0)
trainer.fit(model, dm)
torch.save(model.state_dict(), out / f"rank{trainer.global_rank}.pt")
if trainer.global_rank == 0:
    (out / "metrics.json").write_text(json.dumps({k: float(v) for k, v in trainer.callback_metrics.items()}))
"""


def test_two_process_ddp_keeps_ranks_identical_and_matches_one_process(tmp_path, domains, run_script):
    import json

    run_script(DDP_SCRIPT, tmp_path, domains, timeout=400)
    rank0, rank1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), key
    fresh = make_model().state_dict()
    for prefix in ("photo_to_monet.", "monet_to_photo.", "d_monet.", "d_photo."):
        assert any(not torch.equal(fresh[k], rank0[k]) for k in rank0 if k.startswith(prefix)), prefix

    ddp = json.loads((tmp_path / "metrics.json").read_text())
    model = make_model(fid_every_n_epochs=1, fid_feature_extractor=ChannelStats())
    model.load_state_dict(rank0)
    single = make_trainer(tmp_path / "single").validate(model, make_data(domains), verbose=False)[0]
    for key in ("val/fid", "val/cycle_l1"):
        assert single[key] == pytest.approx(ddp[key], rel=1e-5), key


def test_image_pool_keeps_a_history_and_swaps_half_once_full():
    from inpaintlab.tasks.stylize import ImagePool

    pool = ImagePool(4)
    first = torch.arange(4.0).view(4, 1, 1, 1).expand(4, 3, 2, 2)
    assert torch.equal(pool.query(first, torch.Generator().manual_seed(0)), first)  # filling: as they are
    assert len(pool) == 4
    swapped = 0
    for step in range(20):
        new = torch.full((2, 3, 2, 2), 100.0 + step)
        out = pool.query(new, torch.Generator().manual_seed(step))
        assert out.shape == new.shape
        swapped += int((out[:, 0, 0, 0] < 100.0 + step).sum())  # an older image came back instead
    assert 10 <= swapped <= 30  # about half of the 40 fakes
    again = ImagePool(4)
    again.load_state_dict(pool.state_dict())
    assert torch.equal(again.images, pool.images)
    assert torch.equal(ImagePool(0).query(first), first)
    with pytest.raises(ValueError, match="pool size"):
        ImagePool(-1)


def test_discriminators_learn_from_older_fakes_and_the_pool_is_checkpointed(tmp_path, domains):
    model = make_model(pool_size=2)
    seen = []
    model.d_monet.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach().clone()))
    made = []
    model.photo_to_monet.register_forward_hook(lambda m, args, out: made.append(out.detach().clone()))
    ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)
    make_trainer(tmp_path, callbacks=[ckpt], limit_train_batches=3, limit_val_batches=0).fit(model, make_data(domains))
    # per step D_m runs on G's fakes (G update), the paintings, the pooled fakes (D update); G_pm makes
    # the fakes, then runs for the cycle and the identity loss
    pooled, fakes = seen[2::3], made[0::3]
    assert len(pooled) == len(fakes) == 3
    older = [any(torch.equal(img, old) for img in pooled[s] for prev in fakes[:s] for old in prev) for s in (1, 2)]
    assert any(older)  # once the pool is full, D sees fakes of an earlier step
    counters = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=True)["inpaintlab_training"]
    assert counters["image_pools"]["monet"].shape == (1, 2, 3, SIZE, SIZE)
    restored = make_model(pool_size=2)
    restored.load_training_counters(counters)
    assert torch.equal(restored.fake_pools["monet"].images, model.fake_pools["monet"].images.cpu())
