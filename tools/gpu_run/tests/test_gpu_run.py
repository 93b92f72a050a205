"""The GPU run's pure parts (tools/gpu_run/gpu_budget.py, gpu_pack.py, gpu_driver.py): time shares, what
comes back in $OUT, the data pack's round trip, the derived recipes. Synthetic data only; no GPU."""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

REPO = Path(__file__).resolve().parents[3]
TOOL = REPO / "tools" / "gpu_run"
sys.path.insert(0, str(TOOL))
import gpu_budget as gb  # noqa: E402
import gpu_driver  # noqa: E402
import gpu_files  # noqa: E402
import gpu_pack  # noqa: E402

MIB = 2**20


# ----------------------------------------------------------------------------------- time shares
def test_split_time_is_proportional_and_drops_shares_under_the_minimum():
    assert gb.split_time(300, [2, 1]) == pytest.approx([200, 100])
    # 100 s for weight 1 of 1+1+4 is 50 s < 60: dropped (the later of the two equal weights), time re-split
    assert gb.split_time(300, [1, 1, 4], min_s=60) == pytest.approx([60, 0, 240])
    assert gb.split_time(30, [1, 1], min_s=60) == [0.0, 0.0]
    assert gb.split_time(100, [0, 1, -1]) == pytest.approx([0, 100, 0])
    with pytest.raises(ValueError, match="available_s"):
        gb.split_time(-1, [1])


def test_next_share_gives_unused_time_to_the_phases_after():
    assert gb.next_share(300, [2, 1]) == pytest.approx(200)
    # the first phase finished after 50 of its 200 s: the second now gets all 250 s left
    assert gb.next_share(250, [1]) == pytest.approx(250)
    assert gb.next_share(-5, [1]) == 0.0 and gb.next_share(100, []) == 0.0


def test_epochs_follow_the_measured_rate_and_the_cap():
    # 100 s x 1000 img/s x 0.5 / 2500 images = 20 epochs
    assert gb.epochs_for(100, 1000, 2500, scale=0.5) == 20
    assert gb.epochs_for(100, 1000, 2500, scale=0.5, cap=12) == 12
    assert gb.epochs_for(1, 1, 2500) == 1  # never 0
    with pytest.raises(ValueError, match="train_images"):
        gb.epochs_for(100, 1000, 0)
    with pytest.raises(ValueError, match="images_per_s"):
        gb.epochs_for(100, 0, 10)
    assert gb.val_every(20, 6) == 3 and gb.val_every(3, 6) == 1


def test_max_time_is_lightnings_dd_hh_mm_ss():
    assert gb.lightning_max_time(3725.9) == "00:01:02:05"
    assert gb.lightning_max_time(0) == "00:00:00:01"
    assert gb.lightning_max_time(90061) == "01:01:01:01"


# ----------------------------------------------------------------------------------- what comes back
def test_select_outputs_keeps_the_priorities_within_the_limits():
    files = [gb.OutFile("figures.json", 10_000, 0), gb.OutFile("photo2monet.safetensors", 13 * MIB, 1)]
    files += [gb.OutFile(f"model-{i}.safetensors", 14 * MIB, 2 + i) for i in range(5)]
    files += [gb.OutFile("huge.safetensors", 17 * MIB, 1.5), gb.OutFile("bad name.json", 10, 0.5)]
    kept, dropped = gb.select_outputs(files)
    assert [f.name for f in kept] == ["figures.json", "photo2monet.safetensors", "model-0.safetensors",
                                      "model-1.safetensors", "model-2.safetensors"]  # fmt: skip
    assert sum(f.size for f in kept) <= 64 * MIB and len(kept) <= 8
    reasons = {f.name: r for f, r in dropped}
    assert "16 MiB per file" in reasons["huge.safetensors"]
    assert "characters" in reasons["bad name.json"]
    assert "in all" in reasons["model-3.safetensors"] and "in all" in reasons["model-4.safetensors"]  # 13 + 4 x 14 > 64


def test_select_outputs_stops_at_eight_files():
    kept, dropped = gb.select_outputs([gb.OutFile(f"f{i}.json", 100, i) for i in range(10)])
    assert [f.name for f in kept] == [f"f{i}.json" for i in range(8)]
    assert [r for _, r in dropped] == ["already 8 files"] * 2


def test_check_out_dir_reports_what_would_not_come_back(tmp_path):
    out = tmp_path / "out"
    (out / "a" / "b" / "c").mkdir(parents=True)
    for i in range(8):
        (out / f"f{i}.json").write_text("{}")
    assert gb.check_out_dir(out) == []
    (out / "a" / "b" / "c" / "deep.txt").write_text("x")
    (out / "odd name.txt").write_text("x")
    with open(out / "big.bin", "wb") as f:
        f.truncate(17 * MIB)
    problems = " | ".join(gb.check_out_dir(out))
    assert "deep.txt: more than 2 folders down" in problems
    assert "odd name.txt: name has characters" in problems
    assert "big.bin: 17.0 MiB > 16 MiB" in problems
    assert "11 files > 8" in problems


def test_pick_stylizer_bounds_the_cycle_loss():
    scores = {
        "e009.ckpt": {"p_monet": 0.60, "cycle_l1": 0.08},
        "e019.ckpt": {"p_monet": 0.75, "cycle_l1": 0.10},
        "e029.ckpt": {"p_monet": 0.95, "cycle_l1": 0.30},  # Monet-like but keeps little of the photo
        "e039.ckpt": {"p_monet": float("nan"), "cycle_l1": 0.05},
    }
    assert gb.pick_stylizer(scores) == "e019.ckpt"  # bound 1.5 x 0.05
    assert gb.pick_stylizer({k: {"p_monet": v["p_monet"]} for k, v in scores.items()}) == "e029.ckpt"
    assert gb.pick_stylizer({}) is None


# ----------------------------------------------------------------------------------- recipes, rates
def test_dotted_keys_and_data_path_rewrite():
    config = {"data": {"init_args": {"train_dir": "../shared/data/photo/train", "extra_train_dirs": ["../shared/data/x", "mine"],
                                     "image_size": 256}}}  # fmt: skip
    changed = gb.rewrite_data_paths(config, "../shared/data/", "/tmp/pack/")
    assert config["data"]["init_args"]["train_dir"] == "/tmp/pack/photo/train"
    assert config["data"]["init_args"]["extra_train_dirs"] == ["/tmp/pack/x", "mine"]
    assert set(changed) == {"data.init_args.train_dir", "data.init_args.extra_train_dirs"}
    gb.set_dotted(config, "trainer.max_epochs", 3)
    assert gb.get_dotted(config, "trainer.max_epochs") == 3
    assert gb.get_dotted(config, "trainer.nothing", "d") == "d"


def test_best_variant_and_matching_rate():
    variants = [
        {"precision": "32-true", "channels_last": False, "compile": False, "batch_size": 16, "images_per_s": 300.0},
        {"precision": "bf16-mixed", "channels_last": True, "compile": False, "batch_size": 16, "images_per_s": 900.0},
        {"precision": "bf16-mixed", "channels_last": True, "compile": False, "batch_size": 64, "images_per_s": 1400.0},
        {"precision": "bf16-mixed", "channels_last": True, "compile": True, "batch_size": 64, "images_per_s": 2100.0},
        {"precision": "bf16-mixed", "channels_last": True, "compile": True, "batch_size": 8, "skipped": "no"},
    ]
    assert gb.best_variant(variants)["images_per_s"] == 1400.0
    assert gb.best_variant(variants, allow_compile=True)["images_per_s"] == 2100.0
    assert gb.best_variant(variants, batch_size=16)["images_per_s"] == 900.0
    settings = {"precision": "bf16-mixed", "channels_last": True, "compile": False}
    assert gb.matching_rate(variants, settings, batch_size=16) == 900.0
    assert gb.matching_rate(variants, settings, batch_size=48) == 1400.0  # the closest batch
    assert gb.matching_rate(variants, {"precision": "16-mixed"}) is None


# ----------------------------------------------------------------------------------- the data pack
def _pictures(n: int, seed: int, size: int = 64) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    smooth = [np.kron(rng.integers(0, 255, (size // 8, size // 8, 3)), np.ones((8, 8, 1))) for _ in range(n)]
    return [Image.fromarray(a.astype(np.uint8)) for a in smooth]


def test_plan_pack_picks_the_highest_quality_that_fits_else_trims_photo_train():
    est = {"photo/val": gb_set(10, {90: 2000, 50: 1000}), "photo/train": gb_set(100, {90: 2000, 50: 1000})}
    plan = gpu_pack.plan_pack(est, budget=300_000, qualities=(90, 50), overhead=0)
    assert plan.quality == 90 and plan.counts == {"photo/val": 10, "photo/train": 100}
    plan = gpu_pack.plan_pack(est, budget=150_000, qualities=(90, 50), overhead=0)
    assert plan.quality == 50 and plan.counts == {"photo/val": 10, "photo/train": 100}
    plan = gpu_pack.plan_pack(est, budget=60_000, qualities=(90, 50), overhead=0)
    assert plan.quality == 50 and plan.counts == {"photo/val": 10, "photo/train": 50}
    with pytest.raises(ValueError, match="does not fit"):
        gpu_pack.plan_pack(est, budget=5_000, qualities=(90, 50), overhead=0)
    with pytest.raises(ValueError, match="no room"):
        gpu_pack.plan_pack(est, budget=-1)


def gb_set(count, per_q):
    return gpu_pack.SetEstimate(count, per_q)


def test_trim_to_budget_cuts_only_the_trim_set():
    encoded = {"photo/val": [b"x" * 100] * 2, "photo/train": [b"y" * 100] * 5}
    out = gpu_pack.trim_to_budget(encoded, 520, overhead=10)
    assert len(out["photo/val"]) == 2 and len(out["photo/train"]) == 2  # 2 x 110 + 2 x 110 = 440 <= 520
    with pytest.raises(ValueError, match="without any"):
        gpu_pack.trim_to_budget(encoded, 100, overhead=10)


def test_choose_subset_is_seeded_and_sorted():
    names = [f"{i:03d}.jpg" for i in range(50)]
    a, b = gpu_pack.choose_subset(names, 10, seed=0), gpu_pack.choose_subset(list(reversed(names)), 10, seed=0)
    assert a == b == sorted(a) and len(set(a)) == 10
    assert a != names[:10] and gpu_pack.choose_subset(names, 10, seed=1) != a


@pytest.mark.parametrize("codec", ["webp", "jpeg"])
def test_pack_round_trip_keeps_order_names_and_pixels(tmp_path, codec):
    val, train = _pictures(3, 0), _pictures(4, 1)
    encoded = {"photo/val": [(f"v{i}.jpg", gpu_pack.encode(im, codec, 90)) for i, im in enumerate(val)],
               "photo/train": [(f"t {i}.jpg", gpu_pack.encode(im, codec, 90)) for i, im in enumerate(train)]}  # fmt: skip
    pack = tmp_path / "data.zip"
    gpu_pack.write_pack(pack, encoded, codec, 90, totals={"photo/val": 3, "photo/train": 10})
    manifest = gpu_pack.unpack(pack, tmp_path / "data")
    ext = gpu_pack.CODECS[codec][1]
    assert manifest["sets"]["photo/train"]["files"][1] == [f"photo/train/00001{ext}", "t 1.jpg"]
    assert manifest["sets"]["photo/train"]["of"] == 10 and manifest["quality"] == 90
    got = sorted((tmp_path / "data" / "photo" / "val").iterdir())
    assert [p.name for p in got] == [f"{i:05d}{ext}" for i in range(3)]
    def psnr(a, b) -> float:
        mse = ((np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)) ** 2).mean()
        return 10 * math.log10(255**2 / max(mse, 1e-9))

    for i, path in enumerate(got):  # each member is a faithful re-encoding of its own picture, in order
        decoded = Image.open(path).convert("RGB")
        assert psnr(decoded, val[i]) > 20
        assert psnr(decoded, val[i]) > max(psnr(decoded, other) for j, other in enumerate(val) if j != i) + 5
    assert json.loads((tmp_path / "data" / "manifest.json").read_text()) == manifest


def test_unpack_refuses_corrupt_and_foreign_files(tmp_path):
    pack = tmp_path / "data.zip"
    gpu_pack.write_pack(pack, {"photo/val": [("a.jpg", b"\x00" * 4000)]}, "jpeg", 90)
    raw = bytearray(pack.read_bytes())
    at = raw.rfind(b"\x00" * 4000)
    raw[at + 100] = 1
    bad = tmp_path / "bad.zip"
    bad.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="corrupt"):
        gpu_pack.unpack(bad, tmp_path / "out")
    foreign = tmp_path / "foreign.zip"
    with zipfile.ZipFile(foreign, "w") as z:
        z.writestr("x.txt", "hello")
    with pytest.raises(ValueError, match="not a data pack"):
        gpu_pack.unpack(foreign, tmp_path / "out2")


def test_load_square_crops_other_sizes_to_256(tmp_path):
    Image.new("RGB", (400, 300), (10, 20, 30)).save(tmp_path / "wide.png")
    im = gpu_pack.load_square(tmp_path / "wide.png")
    assert im.size == (256, 256) and im.getpixel((5, 5)) == (10, 20, 30)


def test_transfer_bytes_counts_tracked_and_unignored_files_and_the_carry(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / ".gitignore").write_text("/.gpu/\n/ignored.bin\n")
    (repo / "code.py").write_bytes(b"x" * 1000)
    (repo / "ignored.bin").write_bytes(b"x" * 5000)
    (repo / ".gpu").mkdir()
    (repo / ".gpu" / "data.zip").write_bytes(b"x" * 300)
    sizes = gpu_pack.transfer_bytes(repo, (".gpu",))
    assert sizes == {"tree": 1000 + len("/.gpu/\n/ignored.bin\n"), ".gpu": 300}


# ----------------------------------------------------------------------------------- the driver
def _args(tmp_path, **kw) -> argparse.Namespace:
    base = {"plan": TOOL / "gpu_plan.yaml", "pack": tmp_path / "data.zip", "out": tmp_path / "out",
            "work": tmp_path / "work", "budget_s": None, "device": "cuda", "tiny": False, "allow_fallback": True,
            "phases": None, "skip_throughput": False, "fid_weights": None}  # fmt: skip
    return argparse.Namespace(**{**base, **kw})


def test_the_shipped_plan_names_existing_recipes_and_its_tiny_times():
    plan = gpu_files.load_plan(TOOL / "gpu_plan.yaml", tiny=False)
    for phase in plan["phases"]:
        assert (REPO / phase["config"]).is_file() or (REPO / phase["fallback"]).is_file(), phase["name"]
    assert {p["name"] for p in plan["phases"]} >= {"photo-universal", "monet-universal", "photo2monet"}
    assert plan["budget_s"] + 60 <= 600  # one device command runs at most 10 minutes
    tiny = gpu_files.load_plan(TOOL / "gpu_plan.yaml", tiny=True)
    assert tiny["settings"]["precision"] == "32-true" and tiny["throughput"]["recipe"] == plan["throughput"]["recipe"]
    assert tiny["throughput"]["seconds"] < plan["throughput"]["seconds"]


def test_load_plan_names_a_bad_phase_and_a_missing_key(tmp_path):
    plan = yaml.safe_load((TOOL / "gpu_plan.yaml").read_text())
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump({**plan, "phases": [{"name": "x", "task": "paint", "config": "a.yaml"}]}))
    with pytest.raises(ValueError, match="task"):
        gpu_files.load_plan(path, tiny=False)
    del plan["check_timeout_s"], plan["throughput"]["warmup"]
    path.write_text(yaml.safe_dump(plan))
    with pytest.raises(ValueError, match="lacks check_timeout_s, throughput.warmup"):
        gpu_files.load_plan(path, tiny=False)


def _folder(path: Path, n: int) -> None:
    path.mkdir(parents=True)
    for i in range(n):
        (path / f"{i:05d}.webp").write_bytes(b"x")


def _run_with_data(tmp_path):
    """A GpuRun of the shipped plan with an unpacked (empty-file) data set and a measured inpainting rate,
    and its phases by name."""
    run = gpu_driver.GpuRun(_args(tmp_path), gpu_files.load_plan(TOOL / "gpu_plan.yaml", tiny=False))
    for name, n in (("photo/train", 1000), ("photo/val", 20), ("monet/train", 500), ("monet/val", 10)):
        _folder(run.data / name, n)
    run.fid_weights, run.settings = None, {"precision": "bf16-mixed", "channels_last": True, "compile": False}
    run.figures["throughput"]["inpaint"] = {"variants": [
        {"precision": "bf16-mixed", "channels_last": True, "compile": False, "batch_size": 16, "images_per_s": 1000.0}]}
    return run, {p["name"]: {**p, "config_used": p.get("fallback") or p["config"]} for p in run.plan["phases"]}


def test_derived_recipe_points_at_the_pack_and_sizes_epochs_from_the_rate(tmp_path):
    run, phases = _run_with_data(tmp_path)
    config, info = run.derive(phases["photo-universal"], share=130, parallel=True)
    assert config["data"]["init_args"]["train_dir"] == str(run.data / "photo" / "train")
    assert config["data"]["init_args"]["gpu_cache"] is True
    assert config["trainer"]["logger"]["class_path"].endswith("CSVLogger")
    assert config["trainer"]["max_time"] == "00:00:01:40"  # 130 s share - 30 s start-up
    # 100 s x 1000 img/s x 0.5 (another lane runs) / 1000 images = 50 epochs, capped by the recipe's 60
    assert info["epochs"] == 50 == config["trainer"]["max_epochs"] and info["rate_source"] == "measured"
    assert config["trainer"]["check_val_every_n_epoch"] == 8
    assert config["model"]["init_args"]["fid_every_n_epochs"] == 0 and "fid_weights_path" not in config["model"]["init_args"]
    assert config["model"]["init_args"]["channels_last"] is True and config["checkpoint"]["save_last"] is False

    run.derived["photo-universal"] = config
    run.best["photo-universal"] = tmp_path / "best.ckpt"
    gb.set_dotted(config, "data.init_args.masks", {"class_path": "inpaintlab.masks.MixedMasks"})
    monet, _ = run.derive(phases["monet-universal"], share=100, parallel=False)
    assert monet["model"]["init_args"]["init_from"] == str(tmp_path / "best.ckpt")
    assert monet["data"]["init_args"]["masks"] == {"class_path": "inpaintlab.masks.MixedMasks"}  # inherited
    assert monet["data"]["init_args"]["train_dir"] == str(run.data / "monet" / "train")

    style, sinfo = run.derive(phases["photo2monet"], share=200, parallel=True)
    assert sinfo["rate_source"] == "plan fallback" and sinfo["train_images"] == 1000  # the larger domain
    # 170 s x 150 pairs/s x 0.5 / 1000 = 12 epochs; decay over the second half; a snapshot per validation
    assert style["trainer"]["max_epochs"] == 12 and style["model"]["init_args"]["decay_start_epoch"] == 6
    assert style["checkpoint"]["save_top_k"] == -1 and style["checkpoint"]["every_n_epochs"] == 2


def test_to_fp16_keeps_metadata_and_values(tmp_path):
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    src, dst = tmp_path / "a.safetensors", tmp_path / "fp16" / "a.safetensors"
    w = torch.randn(64, 32)
    save_file({"w": w, "n": torch.arange(3)}, str(src), metadata={"inpaintlab.arch": '{"class": "X", "init": {}}'})
    gpu_files.to_fp16(src, dst)
    out = load_file(str(dst))
    assert out["w"].dtype == torch.float16 and out["n"].dtype == torch.int64
    assert torch.allclose(out["w"].float(), w, rtol=1e-3, atol=1e-4)
    with safe_open(str(dst), framework="pt") as f:
        assert f.metadata() == {"inpaintlab.arch": '{"class": "X", "init": {}}'}
    assert dst.stat().st_size < 0.6 * src.stat().st_size


def test_val_metrics_are_read_from_the_csv_logs(tmp_path):
    logs = tmp_path / "logs" / "csv" / "version_0"
    logs.mkdir(parents=True)
    (logs / "metrics.csv").write_text("epoch,step,train/g_loss,val/psnr_hole\n0,10,1.5,\n0,10,,21.5\n1,20,,22.25\n")
    assert gpu_files.read_val_metrics(tmp_path / "logs") == [
        {"epoch": 0, "step": 10, "val/psnr_hole": 21.5}, {"epoch": 1, "step": 20, "val/psnr_hole": 22.25}]


def test_fit_checkpoints_are_those_of_the_run_folder_the_fit_made(tmp_path):
    """The driver finds a fit's checkpoints in the version_N folder that fit made (lightning_cli's layout), not
    in an earlier run's, and none when the fit wrote none (the dry run once found none: it looked in ckpt/)."""
    import os

    from inpaintlab.cli.lightning_cli import point_latest, run_folder

    base = tmp_path / "ckpt"
    assert gpu_files.run_folders(base) == set()
    earlier = run_folder(base)
    (earlier / "best.ckpt").write_bytes(b"earlier run")
    point_latest(earlier)
    before = gpu_files.run_folders(base)
    assert before == {"version_0"}  # the latest link is not a run folder
    assert gpu_files.fit_checkpoints(base, before) == []  # the fit made no folder (it failed at once)
    made = run_folder(base)
    assert gpu_files.fit_checkpoints(base, before) == []  # it made one but wrote no checkpoint
    for i, name in enumerate(["e001.ckpt", "e000.ckpt", "best.ckpt"]):
        (made / name).write_bytes(b"x")
        os.utime(made / name, (1_000_000 + i, 1_000_000 + i))
    point_latest(made)
    assert [p.parent.name for p in gpu_files.fit_checkpoints(base, before)] == ["version_1"] * 3
    assert [p.name for p in gpu_files.fit_checkpoints(base, before)] == ["e001.ckpt", "e000.ckpt", "best.ckpt"]


def test_fit_takes_the_checkpoint_of_the_run_folder_the_cli_made(tmp_path, monkeypatch):
    """GpuRun.fit finds what `inpaintlab fit` wrote (a new ckpt/version_N, lightning_cli's layout), not an
    earlier run's file, and fails a fit that wrote none (it once looked in ckpt/ itself: every phase failed)."""
    from inpaintlab.cli.lightning_cli import point_latest, run_folder

    run, phases = _run_with_data(tmp_path)
    phase = {**phases["photo-universal"], "export": None}
    base = run.work / "photo-universal" / "ckpt"
    earlier = run_folder(base)
    (earlier / "best.ckpt").write_bytes(b"an earlier run")
    point_latest(earlier)

    def cli_fit(what, cmd, timeout, log_path):  # what a fit leaves behind, as the CLI lays it out
        assert cmd[-3:-1] == ["fit", "-c"]
        folder = run_folder(base)
        (folder / "best.ckpt").write_bytes(b"this run")
        point_latest(folder)
        return 0

    monkeypatch.setattr(run, "run_cmd", cli_fit)
    run.fit(phase, share=130, parallel=False)
    assert run.figures["phases"]["photo-universal"]["status"] == "trained"
    assert run.best["photo-universal"] == base / "version_1" / "best.ckpt"

    monkeypatch.setattr(run, "run_cmd", lambda what, cmd, timeout, log_path: 0)  # a fit that wrote nothing
    del run.best["photo-universal"]
    run.fit(phase, share=130, parallel=False)
    assert run.figures["phases"]["photo-universal"]["status"] == "failed"
    assert "photo-universal" not in run.best
    assert any("photo-universal: no checkpoint" in e for e in run.figures["errors"])


def test_publish_writes_figures_and_respects_the_limits(tmp_path):
    run = gpu_driver.GpuRun(_args(tmp_path), gpu_files.load_plan(TOOL / "gpu_plan.yaml", tiny=False))
    run.work.mkdir(parents=True)
    (run.work / "driver.log").write_text("hello\n")
    for i in range(9):
        weights = run.work / f"m{i}.safetensors"
        with open(weights, "wb") as f:
            f.truncate(9 * MIB)
        run.candidates[weights.name] = (weights, 1 + i)
    run.publish()
    names = sorted(p.name for p in run.out.iterdir())
    assert "figures.json" in names and "logs.tar.gz" in names and len(names) <= 8
    assert gb.check_out_dir(run.out) == []
    figures = json.loads((run.out / "figures.json").read_text())
    assert [n for n, _ in figures["outputs"]["kept"]][:3] == ["figures.json", "m0.safetensors", "m1.safetensors"]
    assert any("in all" in r or "already 8" in r for _, r in figures["outputs"]["dropped"])
    # a later publish with a better candidate replaces what no longer fits; nothing half-written stays
    del run.candidates["m0.safetensors"]
    run.publish(final=True)
    assert not (run.out / "m0.safetensors").exists() and not list(run.out.glob(".*"))
    assert json.loads((run.out / "figures.json").read_text())["status"] == "done"


def test_logs_archive_is_bounded(tmp_path):
    run = gpu_driver.GpuRun(_args(tmp_path), gpu_files.load_plan(TOOL / "gpu_plan.yaml", tiny=False))
    (run.work / "fit-a").mkdir(parents=True)
    (run.work / "fit-a" / "fit.log").write_bytes(b"line\n" * 200_000)  # 1 MB: only its end goes in
    gpu_files.write_logs(run.work, tmp_path / "logs.tar.gz")
    with tarfile.open(tmp_path / "logs.tar.gz") as tar:
        member = tar.getmember("fit-a/fit.log")
        assert member.size == 256 * 1024
        assert tar.extractfile(member).read().endswith(b"line\n")
    assert (tmp_path / "logs.tar.gz").stat().st_size < gpu_files.LOGS_MAX_BYTES


def test_driver_refuses_a_work_folder_it_did_not_make(tmp_path, capsys):
    (tmp_path / "keep").mkdir()
    (tmp_path / "keep" / "precious.txt").write_text("x")
    with pytest.raises(SystemExit):
        gpu_driver.main(["--out", str(tmp_path / "out"), "--work", str(tmp_path / "keep")])
    assert "not an earlier run's scratch folder" in capsys.readouterr().err
    assert (tmp_path / "keep" / "precious.txt").is_file()
