"""The pretrained-model commands of inpaintlab.cli: models, download, export, inpaint, stylize (files and
folders); the dispatcher's usage and what the commands import."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

import inpaintlab
from inpaintlab.cli import build_parser, main
from inpaintlab.cli import models as models_command
from inpaintlab.hub import (
    cache_dir,
    get_entry,
    load_registry,
    save_weights,
    sha256_file,
    shipped_dir,
)
from inpaintlab.models import create_generator

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def generator_file(tmp_path):
    torch.manual_seed(0)
    model = create_generator("unet.tiny")
    arch = "unet.tiny"
    return save_weights(
        model.state_dict(), tmp_path / "gen.safetensors", arch, metadata={"resolution": 32}
    ), model


@pytest.fixture
def served_registry(tmp_path, monkeypatch, generator_file):
    """A registry with one entry whose file a loopback server serves."""
    path, model = generator_file
    body = path.read_bytes()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/photo-center.safetensors" else 404)
            self.send_header(
                "Content-Length", str(len(body) if self.path == "/photo-center.safetensors" else 0)
            )
            self.end_headers()
            if self.path == "/photo-center.safetensors":
                self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    entry = {
        "description": "test",
        "style": "photo",
        "mask": "center",
        "arch": "unet.tiny",
        "resolution": 32,
        "file": "photo-center.safetensors",
        "sha256": hashlib.sha256(body).hexdigest(),
        "bytes": len(body),
        "urls": [f"http://127.0.0.1:{httpd.server_address[1]}/photo-center.safetensors"],
        "license": "Apache-2.0",
        "recipe": {"config": "examples/configs/photo-center.yaml", "data": "photo/train"},
        "metrics": {"val_psnr_hole": 19.25},
    }
    registry = tmp_path / "reg.yaml"
    registry.write_text(yaml.safe_dump({"checkpoints": {"photo-center": entry}}))
    monkeypatch.setenv("INPAINTLAB_REGISTRY", str(registry))
    yield entry
    httpd.shutdown()
    httpd.server_close()


def test_models_on_an_empty_registry(tmp_path, monkeypatch, capsys):
    (tmp_path / "empty.yaml").write_text("checkpoints: {}\n")
    monkeypatch.setenv("INPAINTLAB_REGISTRY", str(tmp_path / "empty.yaml"))
    assert main(["models"]) == 0
    assert "no checkpoints in the registry yet" in capsys.readouterr().out


def test_models_and_download(served_registry, capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "photo-center" in out and "center" in out and "psnr_hole=19.25" in out
    assert out.splitlines()[1].split()[6] == "no"  # not cached yet
    assert main(["download", "all"]) == 0
    cached = cache_dir() / served_registry["sha256"] / "photo-center.safetensors"
    assert sha256_file(cached) == served_registry["sha256"]
    assert f"photo-center: {cached} (in the cache, sha256 verified)" in capsys.readouterr().out
    main(["models"])
    assert capsys.readouterr().out.splitlines()[1].split()[6] == "cache"


def test_models_table_of_the_shipped_registry_is_narrow_and_one_entry_shows_everything(capsys):
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["NAME", "STYLE", "MASK", "PX", "SIZE", "LOCAL", "METRICS"]
    table = lines[: len(load_registry()) + 1]
    assert all(len(line) <= 100 for line in table), max(table, key=len)
    monet = next(line for line in lines if line.startswith("monet-blocks "))
    assert " package " in monet and " 256 " in monet and re.search(r" psnr_hole=\S+ ssim_hole=\S+ \(\+\d+\)$", monet)
    assert main(["models", "monet-blocks"]) == 0
    full = capsys.readouterr().out
    assert "opencv_ns_ssim_hole" in full and f"# local: {shipped_dir() / get_entry('monet-blocks').file} (package)" in full


def test_download_all_of_the_shipped_registry_verifies_the_package_files(capsys):
    """The README's promise: `download all` on a fresh install needs no network and reports where
    each verified file is (the package's own), writing nothing to the cache."""
    assert main(["download", "all"]) == 0
    out = capsys.readouterr().out.splitlines()
    expected = [
        f"{entry.name}: {shipped_dir() / file} (shipped in the package, sha256 verified)"
        for entry in load_registry().values()
        for file in (entry.file, *([entry.onnx.file] if entry.onnx else []))  # the weights, then their ONNX file
    ]
    assert out == expected and any(line.endswith(".onnx (shipped in the package, sha256 verified)") for line in out)
    assert not cache_dir().exists() or not any(cache_dir().iterdir())


def test_download_unknown_name_lists_known_names(served_registry, capsys):
    assert main(["download", "monet-nope"]) == 1
    err = capsys.readouterr().err
    assert "monet-nope" in err and "known names: photo-center" in err and "Traceback" not in err


def test_usage_errors_return_2_instead_of_exiting(capsys):
    assert main(["frobnicate"]) == 2
    assert main(["inpaint", "--model", "x"]) == 2
    assert "required" in capsys.readouterr().err


def test_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("fit", "validate", "test", "predict", "models", "download", "export", "inpaint", "stylize", "serve"):
        assert re.search(rf"^    {command} +\S", out, re.MULTILINE), command
    assert main([]) == 2
    assert re.search(r"^    inpaint +\S", capsys.readouterr().err, re.MULTILINE)  # the usage, on stderr
    assert main(["frobnicate"]) == 2
    assert "invalid choice: 'frobnicate'" in capsys.readouterr().err
    assert main(["--version"]) == 0 and capsys.readouterr().out.strip() == f"inpaintlab {inpaintlab.__version__}"


def test_a_bug_inside_a_command_keeps_its_traceback(monkeypatch):
    """Only the registry lookup turns a KeyError into a one-line message; any other KeyError is a bug."""

    def broken(args):
        raise KeyError("x")

    monkeypatch.setattr(models_command, "run", broken)
    with pytest.raises(KeyError, match="x"):
        main(["models"])


HEAVY = ("lightning", "pytorch_lightning", "torch_fidelity", "kornia", "timm", "wandb", "torchvision")


def _imported(code: str) -> dict:
    probe = f"import sys, json\n{code}\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    env = {**os.environ, "PYTHONPATH": str(REPO), "INPAINTLAB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_models_and_inpaint_and_load_import_no_training_package(tmp_path):
    """`inpaintlab models` and `inpaint` (on ONNX Runtime) import not even torch; `load(...)` and
    `inpaint --runtime torch` import no Lightning, torch-fidelity, kornia, timm or wandb (the training
    commands import them)."""
    assert not _imported("from inpaintlab.cli import main; main(['models'])") & {*HEAVY, "torch"}
    assert not _imported("import inpaintlab; inpaintlab.__version__") & {*HEAVY, "torch"}
    assert not _imported("from inpaintlab import load") & set(HEAVY)
    image, mask = _picture_and_mask(tmp_path, "in")
    Image.fromarray(mask).save(tmp_path / "mask.png")
    args = ["inpaint", "--model", "monet-blocks", "--image", str(tmp_path / "in.png"), "--mask",
            str(tmp_path / "mask.png"), "--output", str(tmp_path / "out.png"), "--device", "cpu"]  # fmt: skip
    modules = _imported(f"from inpaintlab.cli import main; assert main({args!r}) == 0")
    assert "onnxruntime" in modules and not modules & {*HEAVY, "torch"}  # the ONNX runtime: no torch at all
    modules = _imported(f"from inpaintlab.cli import main; assert main({[*args, '--runtime', 'torch']!r}) == 0")
    assert "torch" in modules and not modules & set(HEAVY)
    modules = _imported("from inpaintlab import load; load('monet-blocks', device='cpu')")
    assert not modules & set(HEAVY)


def test_export_prints_the_snippet(tmp_path, capsys):
    model = create_generator("unet.tiny")
    ckpt = {
        "state_dict": {f"generator.{k}": v for k, v in model.state_dict().items()},
        "inpaintlab": {
            "task": "inpaint",
            "arch": "unet.tiny",
            "image_size": 32,
            "mask_kind": "region",
            "style": "photo",
        },
    }
    torch.save(ckpt, tmp_path / "last.ckpt")
    with pytest.warns(UserWarning, match="fill in"):
        rc = main(
            ["export", str(tmp_path / "last.ckpt"), "--name", "photo-region", "--out", str(tmp_path / "hub")]
        )
    assert rc == 0
    weights = tmp_path / "hub" / "photo-region.safetensors"
    out = capsys.readouterr().out
    assert f"sha256 {sha256_file(weights)}" in out and "photo-region:" in out
    assert "the registry already has 'photo-region'" in out  # a different checkpoint than the published one
    snippet = yaml.safe_load((tmp_path / "hub" / "photo-region.yaml").read_text())["photo-region"]
    assert snippet["bytes"] == weights.stat().st_size and snippet["mask"] == "region"


def test_export_under_a_published_name_leaves_the_published_file_alone(tmp_path, capsys):
    """The issue's case: `export RUN.ckpt --name photo-blocks` once replaced the shipped file (now the
    name of the file photo-blocks points at)."""
    model = create_generator("unet.tiny")
    ckpt = {
        "state_dict": {f"generator.{k}": v for k, v in model.state_dict().items()},
        "inpaintlab": {"generator_arch": {"class": "UNetGenerator", "init": model.init_args}, "image_size": 32,
                       "mask_kind": "blocks", "style": "photo"},
    }  # fmt: skip
    run = tmp_path / "run"
    run.mkdir()
    torch.save(ckpt, run / "best.ckpt")
    shipped = shipped_dir() / get_entry("photo-blocks").file
    name = shipped.stem
    before = sha256_file(shipped)
    with pytest.warns(UserWarning, match="fill in"):
        assert main(["export", str(run / "best.ckpt"), "--name", name]) == 0
    assert sha256_file(shipped) == before == get_entry("photo-blocks").sha256
    assert (run / shipped.name).is_file()  # the default output folder: the run's
    capsys.readouterr()
    # a folder that already holds the name (here a copy of the published file): refused, unchanged
    published = tmp_path / "files"
    published.mkdir()
    (published / shipped.name).write_bytes(shipped.read_bytes())
    assert main(["export", str(run / "best.ckpt"), "--name", name, "--out", str(published)]) == 1
    err = capsys.readouterr().err
    assert "would overwrite" in err and "--force" in err and "Traceback" not in err
    assert sha256_file(published / shipped.name) == before


def _picture_and_mask(folder, stem, size=(40, 30)):
    rng = np.random.default_rng(len(stem))
    image = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    mask = np.zeros((size[1], size[0]), np.uint8)
    mask[8:16, 10:22] = 255
    Image.fromarray(image).save(folder / f"{stem}.png")
    return image, mask


def test_inpaint_one_file_with_a_safetensors_model(tmp_path, generator_file, capsys):
    image, mask = _picture_and_mask(tmp_path, "in")
    Image.fromarray(mask).save(tmp_path / "mask.png")
    rc = main(
        [
            "inpaint",
            "--model",
            str(generator_file[0]),
            "--image",
            str(tmp_path / "in.png"),
            "--mask",
            str(tmp_path / "mask.png"),
            "--output",
            str(tmp_path / "out.png"),
            "--dilate",
            "1",
        ]
    )
    assert rc == 0 and "(gen, torch)" in capsys.readouterr().out
    out = np.asarray(Image.open(tmp_path / "out.png"))
    assert out.shape == image.shape
    known = np.ones(mask.shape, bool)
    known[7:17, 9:23] = False  # the hole grown by 1 pixel
    assert np.array_equal(out[known], image[known])


def test_inpaint_folders_by_registry_name(tmp_path, served_registry):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    for stem in ("a", "bb"):
        _, mask = _picture_and_mask(tmp_path / "images", stem)
        Image.fromarray(mask).save(tmp_path / "masks" / f"{stem}.png")
    rc = main(
        [
            "inpaint",
            "--model",
            "photo-center",
            "--image",
            str(tmp_path / "images"),
            "--mask",
            str(tmp_path / "masks"),
            "--output",
            str(tmp_path / "out"),
        ]
    )
    assert rc == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "bb.png"]
    result = np.asarray(Image.open(tmp_path / "out" / "bb.png"))
    assert np.array_equal(result[:8], np.asarray(Image.open(tmp_path / "images" / "bb.png"))[:8])


def test_inpaint_folder_with_missing_masks_lists_them(tmp_path, generator_file, capsys):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    for stem in ("a", "b", "c"):
        _picture_and_mask(tmp_path / "images", stem)
    Image.fromarray(np.zeros((30, 40), np.uint8)).save(tmp_path / "masks" / "b.png")
    rc = main(
        [
            "inpaint",
            "--model",
            str(generator_file[0]),
            "--image",
            str(tmp_path / "images"),
            "--mask",
            str(tmp_path / "masks"),
            "--output",
            str(tmp_path / "out"),
        ]
    )
    assert rc == 1
    assert "2 picture(s)" in (err := capsys.readouterr().err) and "a.png, c.png" in err
    assert not (tmp_path / "out").exists()


def test_inpaint_auto_without_classifier_and_missing_image_fail_cleanly(tmp_path, monkeypatch, capsys):
    (tmp_path / "empty.yaml").write_text("checkpoints: {}\n")
    monkeypatch.setenv("INPAINTLAB_REGISTRY", str(tmp_path / "empty.yaml"))
    _, mask = _picture_and_mask(tmp_path, "in")
    Image.fromarray(mask).save(tmp_path / "mask.png")
    args = [
        "--image",
        str(tmp_path / "in.png"),
        "--mask",
        str(tmp_path / "mask.png"),
        "--output",
        str(tmp_path / "o.png"),
    ]
    assert main(["inpaint", "--model", "auto", *args]) == 1
    assert "style-classifier" in capsys.readouterr().err
    args[1] = str(tmp_path / "nope.png")
    assert main(["inpaint", "--model", "auto", *args]) == 1
    assert "--image" in capsys.readouterr().err


def test_inpaint_auto_with_the_shipped_checkpoints(tmp_path, capsys):
    from pathlib import Path

    painting = Path(__file__).resolve().parents[1] / "examples" / "assets" / "monet.jpg"
    hole = np.zeros((256, 256), dtype=np.uint8)
    hole[100:160, 90:150] = 255  # one central-ish square
    Image.fromarray(hole).save(tmp_path / "mask.png")
    out = tmp_path / "filled.png"
    args = ["inpaint", "--model", "auto", "--image", str(painting), "--mask", str(tmp_path / "mask.png")]
    assert main([*args, "--output", str(out), "--device", "cpu"]) == 0
    assert "(monet-" in capsys.readouterr().out  # the style classifier calls the painting Monet
    filled, original = np.array(Image.open(out)), np.array(Image.open(painting).convert("RGB"))
    assert np.array_equal(filled[hole == 0], original[hole == 0])


def test_folder_pictures_of_one_stem_are_refused_before_anything_is_written(tmp_path, generator_file, capsys):
    """a.jpg and a.png would both become out/a.png (and share one mask): refused, naming both."""
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    for name in ("a.png", "a.jpg"):
        Image.fromarray(np.full((30, 40, 3), 128, np.uint8)).save(tmp_path / "images" / name)
    Image.fromarray(np.full((30, 40), 255, np.uint8)).save(tmp_path / "masks" / "a.png")
    args = ["inpaint", "--model", str(generator_file[0]), "--image", str(tmp_path / "images"), "--mask",
            str(tmp_path / "masks"), "--output", str(tmp_path / "out")]  # fmt: skip
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "differ only in their extension" in err and "a.jpg and a.png" in err and not (tmp_path / "out").exists()


def test_an_output_is_replaced_whole_and_leaves_no_temporary_file(tmp_path, generator_file, capsys):
    _, mask = _picture_and_mask(tmp_path, "in")
    Image.fromarray(mask).save(tmp_path / "mask.png")
    out = tmp_path / "out.png"
    out.write_bytes(b"an older picture")
    args = ["inpaint", "--model", str(generator_file[0]), "--image", str(tmp_path / "in.png"),
            "--mask", str(tmp_path / "mask.png"), "--output", str(out)]  # fmt: skip
    assert main(args) == 0
    with Image.open(out) as written:
        assert written.size == (40, 30)
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".") or p.suffix == ".part"]


def test_output_without_extension_says_how_to_fix_it(tmp_path, generator_file, capsys):
    _, mask = _picture_and_mask(tmp_path, "in")
    Image.fromarray(mask).save(tmp_path / "mask.png")
    args = ["inpaint", "--model", str(generator_file[0]), "--image", str(tmp_path / "in.png"),
            "--mask", str(tmp_path / "mask.png"), "--output", str(tmp_path / "out" / "noext")]  # fmt: skip
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "has no file extension" in err and "noext.png" in err and not (tmp_path / "out").exists()


def test_stylize_without_a_published_photo2monet_says_how_to_train_one(tmp_path, capsys):
    _picture_and_mask(tmp_path, "in")
    assert main(["stylize", "--image", str(tmp_path / "in.png"), "--output", str(tmp_path / "o.png")]) == 1
    err = capsys.readouterr().err
    assert "no 'photo2monet' checkpoint is published yet" in err
    assert "inpaintlab fit -c examples/configs/cyclegan-monet.yaml" in err and "inpaintlab export" in err


def test_auto_folder_prints_the_count_per_model(tmp_path, capsys):
    """Each picture is routed on its own; the summary counts the pictures per checkpoint."""
    painting = Image.open(REPO / "examples" / "assets" / "monet.jpg").convert("RGB").resize((128, 128))
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    center = np.zeros((128, 128), np.uint8)
    center[32:96, 32:96] = 255
    blocks = np.zeros((128, 128), np.uint8)
    for top, left in ((8, 10), (70, 90), (100, 20), (20, 100)):
        blocks[top : top + 14, left : left + 14] = 255
    for stem, mask in (("a", center), ("b", blocks), ("c", blocks)):
        painting.save(tmp_path / "images" / f"{stem}.png")
        Image.fromarray(mask).save(tmp_path / "masks" / f"{stem}.png")
    args = ["inpaint", "--image", str(tmp_path / "images"), "--mask", str(tmp_path / "masks"),
            "--output", str(tmp_path / "out"), "--device", "cpu"]  # fmt: skip
    # no --model: auto, the default
    assert main(args) == 0
    out = tmp_path / "out"
    assert capsys.readouterr().out.splitlines() == [  # which model filled which file, then the count per model
        f"{out / 'a.png'} (monet-center)",
        f"{out / 'b.png'} (monet-blocks)",
        f"{out / 'c.png'} (monet-blocks)",
        f"wrote 3 pictures to {out} (monet-blocks: 2, monet-center: 1; torch)",
    ]


def test_inpaint_runs_auto_unless_a_model_is_named():
    args = ["inpaint", "--image", "in.png", "--mask", "mask.png", "--output", "out.png"]
    assert build_parser().parse_args(args).model == "auto"
    assert build_parser().parse_args([*args, "--model", "photo-region"]).model == "photo-region"


def test_a_folder_run_names_the_model_of_each_file(tmp_path, generator_file, capsys):
    """One model for all, and a picture with an empty mask under auto: each file is reported."""
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    for stem in ("a", "b"):
        _, mask = _picture_and_mask(tmp_path / "images", stem)
        Image.fromarray(mask).save(tmp_path / "masks" / f"{stem}.png")
    args = ["inpaint", "--model", str(generator_file[0]), "--image", str(tmp_path / "images"),
            "--mask", str(tmp_path / "masks"), "--output", str(tmp_path / "out")]  # fmt: skip
    assert main(args) == 0
    out = tmp_path / "out"
    assert capsys.readouterr().out.splitlines() == [
        f"{out / 'a.png'} (gen)",
        f"{out / 'b.png'} (gen)",
        f"wrote 2 pictures to {out} (gen: 2; torch)",
    ]


def test_only_an_unknown_name_is_a_one_line_error_other_key_errors_keep_their_traceback(monkeypatch, capsys):
    
    assert main(["download", "no-such-model"]) == 1
    assert "no checkpoint named 'no-such-model'" in capsys.readouterr().err

    def broken(args):
        return {}["x"]  # a programming error inside a command

    monkeypatch.setattr(models_command, "run", broken)
    with pytest.raises(KeyError, match="x"):
        main(["models"])


def test_top_level_usage_names_every_command(capsys):
    assert main(["--help"]) == 0
    usage = capsys.readouterr().out.split("\n\n")[0]  # the usage paragraph
    for command in ("fit", "validate", "models", "download", "export", "inpaint", "stylize", "serve"):
        assert command in usage, command
