"""File helpers of the GPU run (``tools/gpu_run/gpu_driver.py``): the plan, the data pack's summary, image
counts, val metrics from the CSV logs, fp16 weights, the logs archive and the closing summary."""

from __future__ import annotations

import csv
import io
import os
import re
import tarfile
from pathlib import Path

import gpu_budget as gb
import gpu_pack
import yaml

TASKS = ("inpaint", "stylize")
PLAN_KEYS = ("budget_s", "finish_s", "min_phase_s", "startup_s", "grace_s", "probe_timeout_s", "check_timeout_s",
             "rate_scale", "parallel_rate_scale", "validations", "settings", "fallback_images_per_s", "throughput", "phases")  # fmt: skip
THROUGHPUT_KEYS = ("recipe", "seconds", "warmup", "variants", "timeout_s", "stylize_recipe", "stylize_variants",
                   "stylize_seconds", "stylize_timeout_s")  # fmt: skip
LOGS_MAX_BYTES = 4 * gb.MIB


_RUN_FOLDER = re.compile(r"^version_\d+$")


def load_plan(path: Path, tiny: bool) -> dict:
    plan = yaml.safe_load(Path(path).read_text())
    if tiny:
        for key, value in (plan.get("tiny") or {}).items():
            plan[key] = {**plan.get(key, {}), **value} if isinstance(value, dict) and key == "throughput" else value
    missing = [k for k in PLAN_KEYS if k not in plan] + [f"throughput.{k}" for k in THROUGHPUT_KEYS if k not in plan.get("throughput", {})]
    if missing:
        raise ValueError(f"plan {path} lacks {', '.join(missing)} (tools/gpu_run/gpu_plan.yaml has them all)")
    plan["phases"] = [p for p in plan.get("phases", []) if p.get("enabled", True)]
    for p in plan["phases"]:
        missing = {"name", "task", "config"} - set(p)
        if missing or p["task"] not in TASKS:
            raise ValueError(f"plan phase {p!r}: needs name, task (inpaint | stylize) and config; missing {missing or 'none'}")
    return plan


def write_logs(work: Path, path: Path, max_bytes: int = LOGS_MAX_BYTES) -> None:
    """A .tar.gz of the run's logs, configs, metrics and grids (the end of each file), at most ``max_bytes``."""
    picked, total = [], 0
    patterns = ("driver.log", "*/fit.log", "*/*.log", "*/config.gpu.yaml", "*/logs/**/metrics.csv", "*/*.json",
                "*/*.md", "eval/*", "*/logs/**/*.png")  # fmt: skip
    for pattern in patterns:
        for p in sorted(work.glob(pattern)):
            size = min(p.stat().st_size, 256 * 1024)
            if p.is_file() and p not in (q for q, _ in picked) and total + size <= max_bytes - 64 * 1024:
                picked.append((p, size))
                total += size
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for p, size in picked:
            data = p.read_bytes()[-size:]
            info = tarfile.TarInfo(str(p.relative_to(work)))
            info.size, info.mtime = len(data), int(p.stat().st_mtime)
            tar.addfile(info, io.BytesIO(data))
    path.write_bytes(buffer.getvalue())



def summarize_pack(manifest: dict) -> dict:
    return {"codec": manifest["codec"], "quality": manifest["quality"], "image_size": manifest["image_size"],
            "counts": {n: f"{s['count']}/{s['of']}" for n, s in manifest["sets"].items()},
            "mib": round(sum(s["bytes"] for s in manifest["sets"].values()) / gb.MIB, 2)}  # fmt: skip


def count_train_images(config: dict, task: str) -> int:
    args = gb.get_dotted(config, "data.init_args") or {}

    def count(folder) -> int:
        p = Path(str(folder))
        return sum(1 for f in p.rglob("*") if f.suffix.lower() in gpu_pack.SOURCE_EXTENSIONS) if p.is_dir() else 0

    if task == "stylize":
        n = max(count(args.get("photo_train")), count(args.get("monet_train")))
        return max(1, min(n, args["limit"]) if args.get("limit") else n)
    if args.get("image_dir"):
        n = round(count(args["image_dir"]) * (1 - float(args.get("val_fraction", 0.1))))
    else:
        n = count(args.get("train_dir")) + sum(count(d) for d in args.get("extra_train_dirs") or [])
    return max(1, min(n, args["limit_train"]) if args.get("limit_train") else n)


def run_folders(base: Path) -> set[str]:
    """The names of the ``version_N`` run folders under a recipe's ``checkpoint.dirpath``: every ``inpaintlab
    fit`` writes its checkpoints into a new one (``inpaintlab.cli.lightning_cli.run_folder``)."""
    if not base.is_dir():
        return set()
    return {p.name for p in base.iterdir() if _RUN_FOLDER.match(p.name) and p.is_dir() and not p.is_symlink()}


def fit_checkpoints(base: Path, before: set[str]) -> list[Path]:
    """The checkpoints (oldest first) of the fit that ran since ``before = run_folders(base)``: those in the
    newest run folder it made; none when it made none. A resumed fit makes no folder and would find none: the
    driver never resumes (its work folder is new for each run, and no recipe sets ``ckpt_path``)."""
    new = sorted(run_folders(base) - before, key=lambda name: int(name.rpartition("_")[2]))
    if not new:
        return []
    return sorted((base / new[-1]).glob("*.ckpt"), key=lambda p: p.stat().st_mtime)


def read_val_metrics(log_dir: Path) -> list[dict]:
    rows = []
    for path in sorted(log_dir.rglob("metrics.csv")):
        with open(path) as f:
            for row in csv.DictReader(f):
                val = {k: float(v) for k, v in row.items() if k.startswith("val/") and v not in ("", None)}
                if val:
                    rows.append({"epoch": int(float(row.get("epoch") or 0)), "step": int(float(row.get("step") or 0)), **val})
    return rows


def to_fp16(src: Path, dst: Path) -> None:
    """A copy of a safetensors file with floating tensors in fp16 and the same metadata (atomic)."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    with safe_open(str(src), framework="pt") as f:
        metadata = f.metadata() or {}
    tensors = {k: v.half() if v.is_floating_point() else v for k, v in load_file(str(src)).items()}
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.part")
    save_file(tensors, str(tmp), metadata=metadata)
    os.replace(tmp, dst)


def print_summary(figures: dict) -> None:
    print("\n== GPU run summary ==")
    print(f"status {figures['status']}, {figures['elapsed_s']:.0f} s of {figures['budget_s']:.0f} s; settings {figures['settings']}")
    for tag, tp in figures["throughput"].items():
        for v in tp.get("variants", []):
            print(f"throughput {tag:8} {v['precision']:>11} cl={v['channels_last']!s:5} compile={v['compile']!s:5} "
                  f"batch {v['batch_size']:>3}: {v.get('images_per_s', float('nan')):9.1f} img/s")  # fmt: skip
    for name, p in figures["phases"].items():
        last = (p.get("val") or [{}])[-1]
        print(f"phase {name:16} {p.get('status'):8} epochs {p.get('epochs', '-')!s:>4} share {p.get('share_s', 0):6.0f} s  last val {last}")
    for r in figures["quality"]:
        print(f"quality {r['style']:5} {r['mask']:9} {r['method']:24} PSNR {r['psnr_hole']:.2f} SSIM {r['ssim_hole']:.4f}")
    print(f"outputs kept {figures['outputs'].get('kept')}, dropped {figures['outputs'].get('dropped')}")
    for e in figures["errors"]:
        print(f"ERROR {e}")
