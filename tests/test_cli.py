"""The ``inpaintlab`` command line: smoke fit, validate a checkpoint, print_config, recipes, errors."""

from __future__ import annotations

import csv
import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from inpaintlab import cli

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "examples" / "configs"
SMOKE = str(CONFIGS / "smoke.yaml")


def smoke_args(image_root, run_dir) -> list[str]:
    return [
        "-c", SMOKE,
        "--data.synthetic", "null",
        "--data.train_dir", str(image_root / "train"),
        "--data.val_dir", str(image_root / "val"),
        "--trainer.logger.init_args.save_dir", str(run_dir),
        "--trainer.enable_progress_bar", "false",
        "--checkpoint.dirpath", str(run_dir / "checkpoints"),
    ]  # fmt: skip


def read_metrics(run_dir: Path) -> list[dict]:
    rows = []
    for path in sorted(run_dir.rglob("metrics.csv")):
        with open(path) as f:
            rows += list(csv.DictReader(f))
    return rows


def test_smoke_fit_then_validate_the_saved_checkpoint(tmp_path, image_root):
    run = tmp_path / "run"
    assert cli.main(["fit", *smoke_args(image_root, run)]) == 0
    checkpoints = run / "checkpoints" / "version_0"  # the run's own folder
    assert (run / "checkpoints" / "latest").resolve() == checkpoints.resolve()
    assert (checkpoints / "last.ckpt").is_file() and (checkpoints / "best.ckpt").is_file()
    saved = yaml.safe_load((checkpoints / "config.yaml").read_text())  # the config beside the run
    assert saved["model"]["class_path"] == "inpaintlab.tasks.inpaint.InpaintModule"
    assert saved["checkpoint"]["monitor"] == "val/psnr_hole"  # smoke runs without FID
    ckpt = torch.load(checkpoints / "best.ckpt", weights_only=True)
    assert ckpt["inpaintlab"]["recipe"]["config"].endswith("smoke.yaml")
    assert ckpt["inpaintlab"]["mask_kind"] == "blocks"
    fit_psnr = [float(r["val/psnr_hole"]) for r in read_metrics(run) if r.get("val/psnr_hole")]
    assert len(fit_psnr) == 1

    val_run = tmp_path / "validate"
    args = [*smoke_args(image_root, val_run), "--ckpt_path", str(run / "checkpoints" / "latest" / "best.ckpt")]
    assert cli.main(["validate", *args]) == 0
    val_psnr = [float(r["val/psnr_hole"]) for r in read_metrics(val_run) if r.get("val/psnr_hole")]
    assert val_psnr == pytest.approx(fit_psnr, rel=1e-6)  # the same weights give the same numbers
    assert not (val_run / "checkpoints").exists()  # validate claims no run folder


def test_a_second_fit_gets_its_own_folder_and_last_resumes_the_newest(tmp_path, image_root):
    """Two fits of one recipe no longer leave best.ckpt beside best-v1.ckpt; --ckpt_path last
    continues the newest run in its folder."""
    run = tmp_path / "run"
    base = run / "checkpoints"
    assert cli.main(["fit", *smoke_args(image_root, run)]) == 0
    first = (base / "version_0" / "best.ckpt").read_bytes()
    assert cli.main(["fit", *smoke_args(image_root, run)]) == 0
    assert sorted(p.name for p in base.iterdir()) == ["latest", "version_0", "version_1"]
    for folder in ("version_0", "version_1"):
        assert sorted(p.name for p in (base / folder).iterdir()) == ["best.ckpt", "config.yaml", "last.ckpt"]
    assert (base / "version_0" / "best.ckpt").read_bytes() == first  # the first run is untouched
    assert (base / "latest").resolve() == (base / "version_1").resolve()
    epochs = torch.load(base / "version_1" / "last.ckpt", weights_only=True)["epoch"]
    args = [*smoke_args(image_root, run), "--ckpt_path", "last", "--trainer.max_epochs", str(epochs + 2)]
    assert cli.main(["fit", *args]) == 0
    assert sorted(p.name for p in base.iterdir()) == ["latest", "version_0", "version_1"]
    assert torch.load(base / "version_1" / "last.ckpt", weights_only=True)["epoch"] > epochs


def test_run_folder_picks_the_version(tmp_path):
    from inpaintlab.cli.lightning_cli import point_latest, run_folder

    base = tmp_path / "ckpts"
    assert run_folder(base, claim=False) == base / "version_0" and not base.exists()
    assert run_folder(base) == base / "version_0" and (base / "version_0").is_dir()
    assert run_folder(base) == base / "version_1" and not (base / "latest").exists()  # no checkpoint yet
    point_latest(base / "version_1")
    assert os.readlink(base / "latest") == "version_1"
    assert run_folder(base, "last") == base / "version_2"  # nothing to resume yet: a new run
    (base / "version_0" / "last.ckpt").write_bytes(b"x")
    assert run_folder(base, "last") == base / "version_0"
    point_latest(base / "version_2")
    assert run_folder(base, str(base / "latest" / "x.ckpt")) == base / "version_2"  # latest -> version_2
    assert run_folder(base, str(base / "version_1" / "last.ckpt")) == base / "version_1"
    assert run_folder(base, str(tmp_path / "elsewhere.ckpt")) == base / "version_3"  # init from elsewhere: new run


def test_latest_names_a_run_with_a_checkpoint(tmp_path, image_root):
    """A fit that stops before its first checkpoint leaves latest/best.ckpt of the run before it."""
    from inpaintlab.cli.lightning_cli import point_latest

    run = tmp_path / "run"
    base = run / "checkpoints"
    assert cli.main(["fit", *smoke_args(image_root, run)]) == 0
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="contains no images"):  # the second run fails before it writes anything
        cli.main(["fit", *smoke_args(image_root, run), "--data.train_dir", str(empty)])
    assert (base / "version_1").is_dir() and not any((base / "version_1").glob("*.ckpt"))
    assert os.readlink(base / "latest") == "version_0" and (base / "latest" / "best.ckpt").is_file()
    (base / "elsewhere").mkdir()
    point_latest(base / "elsewhere")  # only version_N folders are linked
    point_latest(base / "version_1")  # version_1 has no checkpoint yet, but it is the newer run
    assert os.readlink(base / "latest") == "version_1"
    (base / "version_1" / "last.ckpt").write_bytes(b"x")
    point_latest(base / "version_0")  # an older run resumed beside a newer one does not take latest back
    assert os.readlink(base / "latest") == "version_1"
    (base / "latest").unlink()
    (base / "latest").mkdir()  # a folder the user named latest is never replaced
    point_latest(base / "version_0")
    assert (base / "latest").is_dir() and not (base / "latest").is_symlink()


def test_the_smoke_recipe_runs_from_any_folder_without_data(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # not the repository: no ../shared/data, no examples/ next to it
    assert cli.main(["fit", "-c", SMOKE, "--trainer.enable_progress_bar", "false"]) == 0
    assert (tmp_path / "runs" / "smoke" / "checkpoints" / "latest" / "last.ckpt").is_file()
    rows = [r for r in read_metrics(tmp_path / "runs" / "smoke") if r.get("val/psnr_hole")]
    assert len(rows) == 1 and float(rows[0]["val/psnr_hole"]) > 0


def test_print_config_shows_the_resolved_config(tmp_path, image_root, capsys):
    assert cli.main(["fit", *smoke_args(image_root, tmp_path), "--print_config"]) == 0
    config = yaml.safe_load(capsys.readouterr().out)
    assert config["model"]["init_args"]["generator"] == "unet.tiny"
    assert config["data"]["init_args"]["train_dir"] == str(image_root / "train")
    assert config["checkpoint"]["save_last"] is True


@pytest.mark.parametrize("recipe", sorted(str(p.relative_to(CONFIGS)) for p in CONFIGS.rglob("*.yaml")))
def test_every_recipe_parses_and_builds_its_architectures(recipe, capsys):
    import importlib

    from inpaintlab.models import build_model

    assert cli.main(["fit", "-c", str(CONFIGS / recipe), "--print_config"]) == 0
    config = yaml.safe_load(capsys.readouterr().out)
    assert config["checkpoint"]["dirpath"]  # a fixed folder, so `--ckpt_path last` finds the run
    model, data = config["model"]["class_path"], config["data"]["class_path"]
    task = model.split(".")[2]  # one shape: inpaintlab.tasks.<task>.{<Task>Module, <Task>DataModule}
    assert model == f"inpaintlab.tasks.{task}.{task.title()}Module", model
    assert data == f"inpaintlab.tasks.{task}.{task.title()}DataModule", data
    given = yaml.safe_load((CONFIGS / recipe).read_text())
    for key, path in (("model", model), ("data", data)):
        module, _, name = path.rpartition(".")
        cls = getattr(importlib.import_module(module), name)
        # what the recipe leaves out has the class's own default, not another class's (jsonargparse #460)
        set_here = (given.get(key) or {}).get("init_args") or {}
        for arg, parameter in inspect.signature(cls.__init__).parameters.items():
            default = parameter.default
            if arg in set_here or not isinstance(default, (int, float, str, bool, tuple, type(None))):
                continue
            value = config[key]["init_args"].get(arg, default)
            assert value == (list(default) if isinstance(default, tuple) else default), f"{recipe}: {key}.{arg}"
    roles = {"generator": "translator" if task == "stylize" else "generator", "discriminator": "discriminator",
             "classifier": "classifier"}  # fmt: skip
    specs = {k: v for k, v in config["model"]["init_args"].items() if k in roles}
    assert specs, recipe
    for key, spec in specs.items():  # every architecture preset (and override) of the recipe exists
        build_model(spec, role=roles[key])


def test_the_default_model_and_data_need_no_class_path(tmp_path, image_root, capsys):
    args = [
        "--data.init_args.train_dir",
        str(image_root / "train"),
        "--model.init_args.fid_every_n_epochs",
        "0",
    ]
    assert cli.main(["fit", *args, "--print_config"]) == 0
    config = yaml.safe_load(capsys.readouterr().out)
    assert config["model"]["class_path"] == "inpaintlab.tasks.inpaint.InpaintModule"
    assert config["data"]["class_path"] == "inpaintlab.tasks.inpaint.InpaintDataModule"


def _recipe_runs(folder: Path) -> dict[str, Path]:
    """{the best.ckpt path a recipe's newest run writes: that recipe} for the recipes of ``folder``."""
    runs = {}
    for path in sorted(folder.glob("*.yaml")):
        dirpath = (yaml.safe_load(path.read_text()).get("checkpoint") or {}).get("dirpath")
        if dirpath:
            runs[f"{dirpath.rstrip('/')}/latest/best.ckpt"] = path
    return runs


def _model_args(path: Path) -> dict:
    return yaml.safe_load(path.read_text())["model"]["init_args"]


def test_every_cpu_recipe_starts_from_a_recipe_of_its_folder_or_a_shipped_file():
    """A renamed run folder would start a chained run from scratch, silently: every ``init_from`` of the CPU
    recipes is where a recipe of the folder writes its best checkpoint, or a file in the repository."""
    folder = CONFIGS / "cpu"
    runs = _recipe_runs(folder)
    assert len(runs) > 10
    for path in sorted(folder.glob("*.yaml")):
        init_from = _model_args(path).get("init_from")
        if init_from is not None:
            assert init_from in runs or (REPO / init_from).is_file(), (path.name, init_from)


@pytest.mark.parametrize("folder", [CONFIGS, CONFIGS / "cpu"])
def test_each_monet_recipe_starts_from_a_photo_model_of_its_kind(folder):
    """The fine-tunes start from the photo model of their kind: the Monet recipe's ``init_from`` is where a
    photo recipe of that kind writes (or the shipped photo file), possibly through earlier Monet recipes of
    that kind (a Monet file grown and trained further). For the CPU recipes the chain starts at the recipe the
    registry's Monet entry names. A network grown on the way (another generator) lists what starts fresh."""
    from inpaintlab.hub import get_entry

    runs = _recipe_runs(folder)
    for kind in ("center", "blocks", "region"):
        if folder.name == "cpu":  # the shipped files' chains: the registry says which recipe made each
            path = REPO / get_entry(f"monet-{kind}").recipe.config
            assert path.parent == folder, path
        else:
            path = folder / f"monet-{kind}.yaml"
        shipped = f"inpaintlab/hub/files/{get_entry(f'photo-{kind}').file}"
        for _ in range(len(runs) + 1):
            child = _model_args(path)
            assert child["style"] == "monet" and child.get("mask_kind", kind) == kind, path.name
            init_from = child["init_from"]
            parent_path = runs.get(init_from)
            assert parent_path is not None or (init_from == shipped and (REPO / shipped).is_file()), (kind, init_from)
            parent = _model_args(parent_path) if parent_path else {"generator": get_entry(f"photo-{kind}").arch}
            if child["generator"] != parent["generator"]:  # grown: only the new modules start fresh
                assert child.get("init_allow_missing"), (path.name, child["generator"], parent["generator"])
            if parent_path is None or parent["style"] == "photo":
                assert parent.get("mask_kind", kind) == kind, (path.name, parent_path)
                break
            path = parent_path
        else:
            raise AssertionError(f"monet-{kind}: the init_from chain loops")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--model.init_args.g_lr", "fast"], "g_lr"),
        (["--model.init_args.no_such_option", "1"], "no_such_option"),
        (["--trainer.max_epochs", "-5x"], "max_epochs"),
    ],
)
def test_config_mistakes_give_clear_errors(tmp_path, image_root, capsys, extra, message):
    assert cli.main(["fit", *smoke_args(image_root, tmp_path), *extra]) == 2
    assert message in capsys.readouterr().err


def test_a_missing_data_folder_names_the_path(tmp_path, image_root):
    missing = tmp_path / "no_such_folder"
    args = smoke_args(image_root, tmp_path)
    args[args.index("--data.train_dir") + 1] = str(missing)
    with pytest.raises((FileNotFoundError, ValueError), match="no_such_folder"):
        cli.main(["fit", *args])


@pytest.mark.parametrize(
    ("module", "args"),
    [
        ("models", ["models"]),
        ("download", ["download", "all"]),
        ("export", ["export", "x.ckpt"]),
        ("inpaint", ["inpaint", "--image", "a.png", "--mask", "m.png", "--output", "o.png"]),
        ("stylize", ["stylize", "--image", "a.png", "--output", "o.png"]),
        ("serve", ["serve"]),
    ],
)
def test_each_command_runs_in_its_own_module(monkeypatch, module, args):
    import importlib

    calls = []
    command = importlib.import_module(f"inpaintlab.cli.{module}")
    monkeypatch.setattr(command, "run", lambda parsed: calls.append(parsed.command) or 3)
    assert cli.main(args) == 3 and calls == [module]


def test_training_commands_go_to_lightning_cli_unparsed(monkeypatch):
    from inpaintlab.cli import training

    calls = []
    monkeypatch.setattr(training, "run", lambda argv: calls.append(argv) or 5)
    assert cli.main(["fit", "-c", "x.yaml", "--trainer.max_epochs", "1"]) == 5
    assert cli.main(["predict"]) == 5
    assert calls == [["fit", "-c", "x.yaml", "--trainer.max_epochs", "1"], ["predict"]]


@pytest.mark.parametrize("flag", [["-c", "{path}"], ["--config", "{path}"], ["--config={path}"]])
def test_a_missing_config_file_is_one_line_before_lightning_loads(tmp_path, capsys, flag):
    """A wrong -c path was reported after 68 lines of usage (and 10 s of imports): one line now, status 2."""
    missing = tmp_path / "nope.yaml"
    args = ["fit", "-c", SMOKE, *[f.format(path=missing) for f in flag], "--trainer.max_epochs", "1"]
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and str(missing) in err and "does not exist" in err
    assert cli.main(["validate", "-c", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err


def test_the_config_check_leaves_inline_yaml_and_existing_files_to_lightning(tmp_path):
    from inpaintlab.cli.training import missing_config

    assert missing_config(["fit", "-c", SMOKE, "--config", "{trainer: {max_epochs: 1}}"]) is None
    assert missing_config(["fit", "-c"]) is None  # LightningCLI says the flag needs a value
    assert missing_config(["fit", "--ckpt_path", "nope.yaml"]) is None
    assert "nope.yml" in missing_config(["fit", "-c", SMOKE, "-c", "nope.yml"])


def test_a_missing_config_file_imports_no_lightning(tmp_path):
    code = (
        "import sys\nfrom inpaintlab.cli import main\n"
        f"rc = main(['fit', '-c', {str(tmp_path / 'nope.yaml')!r}])\n"
        "print(rc, sorted(m for m in ('lightning', 'torch') if m in sys.modules))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, check=True)
    assert done.stdout.strip().splitlines()[-1] == "2 []", done.stderr


def test_wandb_runs_offline_without_an_api_key(tmp_path):
    from inpaintlab.cli.training import default_wandb_mode

    env = {"NETRC": str(tmp_path / "netrc")}
    assert default_wandb_mode(env) == "offline" and env["WANDB_MODE"] == "offline"
    env = {"NETRC": str(tmp_path / "netrc"), "WANDB_MODE": "online"}
    assert default_wandb_mode(env) is None and env["WANDB_MODE"] == "online"  # WANDB_MODE wins
    env = {"NETRC": str(tmp_path / "netrc"), "WANDB_API_KEY": "k"}
    assert default_wandb_mode(env) is None and "WANDB_MODE" not in env
    (tmp_path / "netrc").write_text("machine api.wandb.ai\n  login user\n  password secret\n")
    env = {"NETRC": str(tmp_path / "netrc")}
    assert default_wandb_mode(env) is None and "WANDB_MODE" not in env
