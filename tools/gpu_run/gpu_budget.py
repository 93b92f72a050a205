"""The pure parts of the GPU run (``tools/gpu_run/gpu_driver.py``): time shares, epoch counts, what comes back.

No torch, no I/O except :func:`check_out_dir`: everything here is unit-tested on CPU
(``tools/gpu_run/tests/test_gpu_run.py``).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

MIB = 2**20
# What the device tool brings back from $OUT (/work/.library/device/README.md, "Limits").
OUT_MAX_FILES = 8
OUT_MAX_FILE_BYTES = 16 * MIB
OUT_MAX_TOTAL_BYTES = 64 * MIB
OUT_MAX_DEPTH = 2  # $OUT/a/b/file comes back, $OUT/a/b/c/file does not
OUT_NAME = re.compile(r"^[A-Za-z0-9._-]+$")


def split_time(available_s: float, weights: Sequence[float], min_s: float = 0.0) -> list[float]:
    """Shares of ``available_s`` in proportion to ``weights``.

    A share that would be under ``min_s`` is dropped (0.0) and its time goes to the others: the
    smallest weight goes first, the later one among equal weights. Non-positive weights get 0.0.
    """
    if available_s < 0 or min_s < 0:
        raise ValueError(f"available_s and min_s must be >= 0, got {available_s!r} and {min_s!r}")
    active = [i for i, w in enumerate(weights) if w > 0]
    shares: dict[int, float] = {}
    while active:
        total = sum(weights[i] for i in active)
        shares = {i: available_s * weights[i] / total for i in active}
        small = [i for i in active if shares[i] < min_s]
        if not small:
            break
        active.remove(min(small, key=lambda i: (weights[i], -i)))
    return [shares[i] if i in active else 0.0 for i in range(len(weights))]


def next_share(remaining_s: float, weights_left: Sequence[float], min_s: float = 0.0) -> float:
    """The time of the first of ``weights_left`` when the rest of a lane runs after it (0.0: skip it).

    Called when each phase starts, with the time the lane has left, so time a phase did not use
    goes to the phases after it.
    """
    return split_time(max(0.0, remaining_s), weights_left, min_s)[0] if weights_left else 0.0


def epochs_for(train_s: float, images_per_s: float, train_images: int, scale: float = 1.0,
               cap: int | None = None) -> int:  # fmt: skip
    """Whole epochs of ``train_images`` that ``train_s`` seconds allow at ``images_per_s * scale`` (>= 1)."""
    if train_images <= 0:
        raise ValueError(f"train_images must be > 0, got {train_images!r}")
    if images_per_s <= 0 or scale <= 0:
        raise ValueError(f"images_per_s and scale must be > 0, got {images_per_s!r}, {scale!r}")
    epochs = max(1, math.floor(max(0.0, train_s) * images_per_s * scale / train_images))
    return min(epochs, cap) if cap else epochs


def val_every(epochs: int, validations: int) -> int:
    """``check_val_every_n_epoch`` giving about ``validations`` validations over ``epochs`` (>= 1)."""
    return max(1, epochs // max(1, validations))


def lightning_max_time(seconds: float) -> str:
    """``Trainer(max_time=...)`` as ``"DD:HH:MM:SS"`` (whole seconds, at least 1)."""
    s = max(1, int(seconds))
    return f"{s // 86400:02d}:{s % 86400 // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


@dataclass(frozen=True)
class OutFile:
    """A file that may go to $OUT: its name there, its size, and its priority (lower comes first)."""

    name: str
    size: int
    priority: float


def select_outputs(files: Sequence[OutFile], max_files: int = OUT_MAX_FILES, max_file: int = OUT_MAX_FILE_BYTES,
                   max_total: int = OUT_MAX_TOTAL_BYTES) -> tuple[list[OutFile], list[tuple[OutFile, str]]]:  # fmt: skip
    """What comes back: files in priority order while they fit; returns (kept, [(dropped, reason)])."""
    kept: list[OutFile] = []
    dropped: list[tuple[OutFile, str]] = []
    total = 0
    for f in sorted(files, key=lambda f: (f.priority, f.name)):
        if not OUT_NAME.match(f.name):
            reason = "name has characters other than letters, digits, '.', '_', '-'"
        elif any(k.name == f.name for k in kept):
            reason = "a file of this name is already kept"
        elif f.size > max_file:
            reason = f"{f.size / MIB:.1f} MiB > {max_file / MIB:.0f} MiB per file"
        elif len(kept) >= max_files:
            reason = f"already {max_files} files"
        elif total + f.size > max_total:
            reason = f"would make {(total + f.size) / MIB:.1f} MiB > {max_total / MIB:.0f} MiB in all"
        else:
            kept.append(f)
            total += f.size
            continue
        dropped.append((f, reason))
    return kept, dropped


def check_out_dir(out: str | os.PathLike) -> list[str]:
    """Problems that would keep part of ``out`` from coming back (empty when it all comes back)."""
    out = Path(out)
    problems, files, total = [], 0, 0
    for path in sorted(out.rglob("*")):
        rel = path.relative_to(out)
        if any(not OUT_NAME.match(part) for part in rel.parts):
            problems.append(f"{rel}: name has characters other than letters, digits, '.', '_', '-'")
        if path.is_symlink():
            problems.append(f"{rel}: a link")
        elif path.is_file():
            files += 1
            total += path.stat().st_size
            if len(rel.parts) - 1 > OUT_MAX_DEPTH:
                problems.append(f"{rel}: more than {OUT_MAX_DEPTH} folders down")
            if path.stat().st_size > OUT_MAX_FILE_BYTES:
                problems.append(f"{rel}: {path.stat().st_size / MIB:.1f} MiB > 16 MiB")
    if files > OUT_MAX_FILES:
        problems.append(f"{files} files > {OUT_MAX_FILES}")
    if total > OUT_MAX_TOTAL_BYTES:
        problems.append(f"{total / MIB:.1f} MiB in all > 64 MiB")
    return problems


def pick_stylizer(scores: dict[str, dict], cycle_slack: float = 1.5) -> str | None:
    """The snapshot to publish: the highest mean Monet probability of stylized val photos among the
    snapshots whose val cycle L1 is within ``cycle_slack`` times the lowest (CycleGAN without FID).

    ``scores[name]`` has ``"p_monet"`` and optionally ``"cycle_l1"``; snapshots without a finite p_monet are
    ignored. A snapshot that keeps little of the photo (high cycle L1) scores well with the classifier
    but is no translation: the cycle bound keeps those out.
    """
    valid = {k: v for k, v in scores.items() if isinstance(v.get("p_monet"), (int, float)) and math.isfinite(v["p_monet"])}
    if not valid:
        return None
    cycles = [v["cycle_l1"] for v in valid.values() if isinstance(v.get("cycle_l1"), (int, float)) and math.isfinite(v["cycle_l1"])]
    if cycles:
        bound = min(cycles) * cycle_slack
        valid = {k: v for k, v in valid.items() if not isinstance(v.get("cycle_l1"), (int, float)) or v["cycle_l1"] <= bound}
    return max(sorted(valid), key=lambda k: valid[k]["p_monet"])


# ----------------------------------------------------------------------------- recipes and measured rates
def set_dotted(config: dict, key: str, value) -> None:
    """``config["a"]["b"]["c"] = value`` for ``key="a.b.c"``, creating the dicts on the way."""
    *parents, last = key.split(".")
    node = config
    for part in parents:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[last] = value


def get_dotted(config: dict, key: str, default=None):
    node = config
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def rewrite_data_paths(config: dict, old_prefix: str, new_root: str) -> dict[str, object]:
    """Point ``data.init_args`` folders starting with ``old_prefix`` at ``new_root``; returns what changed."""
    changed = {}
    args = get_dotted(config, "data.init_args") or {}
    for key, value in list(args.items()):
        values = value if isinstance(value, list) else [value]
        if not any(isinstance(v, str) and v.startswith(old_prefix) for v in values):
            continue
        moved = [f"{new_root.rstrip('/')}/{v[len(old_prefix):]}" if isinstance(v, str) and v.startswith(old_prefix) else v for v in values]
        args[key] = moved if isinstance(value, list) else moved[0]
        changed[f"data.init_args.{key}"] = args[key]
    return changed


def variant_key(v: dict) -> tuple:
    return (v.get("precision"), bool(v.get("channels_last")), bool(v.get("compile")))


def best_variant(variants: Sequence[dict], allow_compile: bool = False, batch_size: int | None = None) -> dict | None:
    """The fastest measured variant (``images_per_s``), compile ones only if allowed, at ``batch_size`` if
    any was measured at it."""
    measured = [v for v in variants if isinstance(v.get("images_per_s"), (int, float)) and (allow_compile or not v.get("compile"))]
    same_batch = [v for v in measured if v.get("batch_size") == batch_size]
    pool = same_batch or measured
    return max(pool, key=lambda v: v["images_per_s"]) if pool else None


def matching_rate(variants: Sequence[dict], settings: dict, batch_size: int | None = None) -> float | None:
    """images/s measured with ``settings`` (precision, channels_last, compile), preferring the same batch
    size, else the closest batch size; None when no such variant was measured."""
    want = variant_key(settings)
    same = [v for v in variants if variant_key(v) == want and isinstance(v.get("images_per_s"), (int, float))]
    if not same:
        return None
    if batch_size is None:
        return max(v["images_per_s"] for v in same)
    return min(same, key=lambda v: (abs(v.get("batch_size", 0) - batch_size), -v["images_per_s"]))["images_per_s"]
