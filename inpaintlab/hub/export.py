"""Turn a training checkpoint into a hub weights file plus a registry entry snippet."""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from inpaintlab.hub.cache import HUB_URL_ENV
from inpaintlab.hub.download import sha256_file
from inpaintlab.hub.registry import NAME_PATTERN
from inpaintlab.hub.weights import load_training_checkpoint, save_weights

TODO = "TODO"


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_checkpoint` wrote: the weights file, the snippet file and the snippet text."""

    weights: Path
    snippet_path: Path
    snippet: str
    sha256: str
    bytes: int


def export_checkpoint(
    ckpt_path: str | os.PathLike,
    out_dir: str | os.PathLike = "hub",
    name: str | None = None,
    *,
    urls: list[str] | None = None,
    description: str | None = None,
    license: str | None = None,
    recipe_config: str | None = None,
    recipe_data: str | None = None,
) -> ExportResult:
    """Write ``<out_dir>/<name>.safetensors`` and ``<out_dir>/<name>.yaml`` (a registry entry).

    The weights are the generator's (the EMA copy when the checkpoint has one), with the
    architecture JSON in the safetensors metadata. The snippet carries the real sha256 and size;
    fields the checkpoint cannot know (description, licence, recipe, URLs) come from the arguments,
    ``urls`` defaulting to ``$INPAINTLAB_HUB_URL/<file>``, and are ``TODO`` otherwise (a warning
    lists them). Paste the snippet under ``checkpoints:`` in ``checkpoints.yaml``.
    """
    ckpt_path = Path(ckpt_path)
    state_dict, info = load_training_checkpoint(ckpt_path)
    name = name or ckpt_path.stem
    if not NAME_PATTERN.match(name):
        raise ValueError(
            f"{name!r} is not a registry name (lowercase letters, digits and '-', e.g. 'monet-blocks'); "
            "pass one with --name"
        )
    out_dir = Path(out_dir)
    file = f"{name}.safetensors"
    arch = info["arch"]
    style, mask = info.get("style"), info.get("mask_kind")
    resolution = int(info.get("image_size") or 256)
    weights = save_weights(
        state_dict,
        out_dir / file,
        arch,
        metadata={
            "name": name,
            "style": style,
            "mask": mask,
            "resolution": resolution,
            "weights": info["weights"],
        },
    )
    digest, size = sha256_file(weights), weights.stat().st_size

    if urls is None:
        base = os.environ.get(HUB_URL_ENV, "").strip()
        urls = [f"{base.rstrip('/')}/{file}"] if base else []
    recipe = info.get("recipe") if isinstance(info.get("recipe"), dict) else {}
    metrics = info.get("metrics") if isinstance(info.get("metrics"), dict) else {}
    task = info["task"]
    what = f"{mask or TODO} masks" if task == "inpaint" else task
    preset = arch if isinstance(arch, str) else arch["preset"]
    entry: dict[str, Any] = {
        "description": description or f"{style or TODO} pictures, {what}, {preset}",
        "task": task,
        "style": style or TODO,
        "mask": (mask or TODO) if task == "inpaint" else None,
        "arch": arch,
        "resolution": resolution,
        "value_range": [0, 1],
        "file": file,
        "sha256": digest,
        "bytes": size,
        "urls": urls,
        "license": license or TODO,
        "recipe": {
            "config": recipe_config or recipe.get("config") or TODO,
            "data": recipe_data or recipe.get("data") or TODO,
        },
        "metrics": {str(k): float(v) for k, v in metrics.items() if _finite_number(v)},
    }
    todo = [k for k, v in entry.items() if v == TODO or v == []] + [
        f"recipe.{k}" for k, v in entry["recipe"].items() if v == TODO
    ]
    snippet = yaml.safe_dump({name: entry}, sort_keys=False, default_flow_style=None, width=110)
    if todo:
        warnings.warn(
            f"export of {name}: fill in {', '.join(todo)} before adding the entry to checkpoints.yaml",
            stacklevel=2,
        )
    snippet_path = out_dir / f"{name}.yaml"
    snippet_path.write_text(snippet, encoding="utf-8")
    return ExportResult(
        weights=weights, snippet_path=snippet_path, snippet=snippet, sha256=digest, bytes=size
    )


def _finite_number(value: Any) -> bool:
    try:
        return not isinstance(value, bool) and math.isfinite(float(value))
    except (TypeError, ValueError):
        return False
