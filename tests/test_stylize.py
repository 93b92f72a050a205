"""CycleGAN (photo -> Monet): translators, unpaired data, the step logic, FID/checkpoints, resume, export."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from torch import nn

from inpaintlab.checkpointing import AtomicCheckpointIO
from inpaintlab.losses import discriminator_loss, generator_loss
from inpaintlab.models import ResnetGenerator, UNetTranslator, build_model, create_translator
from inpaintlab.stylize import CycleGAN, UnpairedDataModule, random_crop_flip
from inpaintlab.training.synthetic import write_image_folder

SIZE = 16


class ChannelStats(nn.Module):
    """A test feature extractor for FID (no Inception weights needed)."""

    num_features = 3

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images.mean(dim=(2, 3))


@pytest.fixture(scope="module")
def domains(tmp_path_factory):
    root = tmp_path_factory.mktemp("domains")
    write_image_folder(root / "photo/train", 6, 20, seed=0)
    write_image_folder(root / "monet/train", 4, 20, seed=1)
    write_image_folder(root / "photo/val", 4, 20, seed=2)
    write_image_folder(root / "monet/val", 2, 20, seed=3)
    return root


def make_data(root, **kwargs) -> UnpairedDataModule:
    return UnpairedDataModule(
        str(root / "photo/train"), str(root / "monet/train"), str(root / "photo/val"), str(root / "monet/val"),
        image_size=SIZE, load_size=18, batch_size=2, **kwargs,
    )  # fmt: skip


def make_model(**kwargs) -> CycleGAN:
    kwargs.setdefault("fid_every_n_epochs", 0)
    return CycleGAN("resnet.tiny", "patch.tiny", num_grid_images=0, **kwargs)


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
    rebuilt = build_model({"class": "ResnetGenerator", "init": model.init_args})
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
        UnpairedDataModule(str(domains / "nowhere"), "b", "c", "d").setup("fit")
    with pytest.raises(ValueError, match="load_size"):
        UnpairedDataModule("a", "b", "c", "d", image_size=32, load_size=16)


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
    monitor, mode = CycleGAN.checkpoint_monitor({"fid_every_n_epochs": 1})
    checkpoint = ModelCheckpoint(dirpath=tmp_path / "ckpt", filename="best", monitor=monitor, mode=mode, save_last=True)
    trainer = make_trainer(tmp_path, max_epochs=2, callbacks=[checkpoint], plugins=[AtomicCheckpointIO()])
    trainer.fit(model, make_data(domains))
    assert {"val/fid", "val/cycle_l1"} <= set(trainer.callback_metrics)
    assert float(trainer.callback_metrics["val/fid"]) >= 0
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.0)  # linear decay reached 0
    info = torch.load(tmp_path / "ckpt" / "best.ckpt", weights_only=True)["inpaintlab"]
    assert info["translator_arch"]["class"] == "ResnetGenerator" and info["image_size"] == SIZE
    assert info["metrics"]["val_fid"] == pytest.approx(float(checkpoint.best_model_score))

    result = export_checkpoint(tmp_path / "ckpt" / "best.ckpt", out_dir=tmp_path / "hub", name="photo2monet")
    assert "task: stylize" in result.snippet and "mask: null" in result.snippet
    stylizer = load(result.weights, device="cpu", resolution=None)
    assert isinstance(stylizer, Stylizer) and stylizer.name == "photo2monet"
    best = CycleGAN.load_from_checkpoint(tmp_path / "ckpt" / "best.ckpt", weights_only=True, fid_every_n_epochs=0)
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
    assert saved["model"]["class_path"] == "inpaintlab.stylize.CycleGAN"
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


DDP_SCRIPT = r"""
import json, sys
from pathlib import Path

import lightning as L
import torch

from inpaintlab.stylize import CycleGAN, UnpairedDataModule


class ChannelStats(torch.nn.Module):
    num_features = 3

    def forward(self, images):
        return images.mean(dim=(2, 3))


out, root = Path(sys.argv[1]), Path(sys.argv[2])
dm = UnpairedDataModule(*(str(root / d / s) for s in ("train", "val") for d in ("photo", "monet")),
                        image_size=16, load_size=18, batch_size=2)
L.seed_everything(0)
model = CycleGAN("resnet.tiny", "patch.tiny", diff_augment="color,translation", fid_feature_extractor=ChannelStats(),
                 num_grid_images=0)
trainer = L.Trainer(accelerator="cpu", devices=2, strategy="ddp", max_epochs=1, logger=False,
                    enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                    num_sanity_val_steps=0)
trainer.fit(model, dm)
torch.save(model.state_dict(), out / f"rank{trainer.global_rank}.pt")
if trainer.global_rank == 0:
    (out / "metrics.json").write_text(json.dumps({k: float(v) for k, v in trainer.callback_metrics.items()}))
"""


def test_two_process_ddp_keeps_ranks_identical_and_matches_one_process(tmp_path, domains):
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "ddp_cyclegan.py"
    script.write_text(DDP_SCRIPT)
    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": f"{repo}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    env.pop("LOCAL_RANK", None)
    proc = subprocess.run(
        [sys.executable, str(script), str(tmp_path), str(domains)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
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
