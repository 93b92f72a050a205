"""Turn a training checkpoint into a hub weights file plus a registry entry snippet.

Nothing is overwritten: an existing weights file or snippet (a published checkpoint of the package
among them) is an error unless ``force=True`` (``inpaintlab export --force``), and the files are
written to a temporary file, fsync'd and linked into place, so a crash leaves no half-written file.
The same training checkpoint always exports to the same bytes (the safetensors header is written in
a fixed order), so its sha256 is reproducible.
"""

from __future__ import annotations

import json
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
from inpaintlab.hub.weights import load_training_checkpoint, weights_bytes
from inpaintlab.io import atomic_write

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
    out_dir: str | os.PathLike | None = None,
    name: str | None = None,
    *,
    force: bool = False,
    urls: list[str] | None = None,
    description: str | None = None,
    license: str | None = None,
    recipe_config: str | None = None,
    recipe_data: str | None = None,
) -> ExportResult:
    """Write ``<out_dir>/<name>.safetensors`` and ``<out_dir>/<name>.yaml`` (a registry entry).

    ``out_dir`` defaults to the checkpoint's own folder (the run's). An existing file of either name
    is never replaced unless ``force`` (``FileExistsError`` otherwise, before anything is written).
    The weights are the generator's (the EMA copy when the checkpoint has one), with the
    architecture JSON in the safetensors metadata. The snippet carries the real sha256 and size;
    fields the checkpoint cannot know (description, licence, recipe, URLs) come from the arguments,
    ``urls`` defaulting to ``$INPAINTLAB_HUB_URL/<file>``, and are ``TODO`` otherwise (a warning
    lists them). Paste the snippet under ``checkpoints:`` in ``checkpoints.yaml``.

    Raises:
        FileExistsError: a weights file or snippet of that name exists and ``force`` is False.
        FileNotFoundError, ValueError: the checkpoint is missing or unreadable, or the name is invalid.
    """
    ckpt_path = Path(ckpt_path)
    state_dict, info = load_training_checkpoint(ckpt_path)
    name = name or ckpt_path.stem
    if not NAME_PATTERN.match(name):
        raise ValueError(
            f"{name!r} is not a registry name (lowercase letters, digits and '-', e.g. 'monet-blocks'); "
            "pass one with --name"
        )
    out_dir = ckpt_path.parent if out_dir is None else Path(out_dir)
    file = f"{name}.safetensors"
    weights, snippet_path = out_dir / file, out_dir / f"{name}.yaml"
    existing = [str(p) for p in (weights, snippet_path) if p.exists()]
    if existing and not force:
        raise FileExistsError(
            f"export would overwrite {' and '.join(existing)}; nothing was written. Export to another "
            "folder (--out DIR), under another name (--name), or pass --force (force=True) to replace it"
        )
    arch = info["arch"]
    style, mask = info.get("style"), info.get("mask_kind")
    resolution = int(info.get("image_size") or 256)
    out_dir.mkdir(parents=True, exist_ok=True)
    metadata = {"name": name, "style": style, "mask": mask, "resolution": resolution, "weights": info["weights"]}
    atomic_write(weights, canonical_safetensors(weights_bytes(state_dict, arch, metadata)), overwrite=force)
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
    atomic_write(snippet_path, snippet.encode("utf-8"), overwrite=force)
    return ExportResult(
        weights=weights, snippet_path=snippet_path, snippet=snippet, sha256=digest, bytes=size
    )


def _finite_number(value: Any) -> bool:
    try:
        return not isinstance(value, bool) and math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def canonical_safetensors(raw: bytes) -> bytes:
    """The same safetensors file with its JSON header in a fixed order (sorted metadata, tensors by
    offset), so equal tensors and metadata always give equal bytes.

    ``safetensors`` keeps the metadata in a hash map whose order changes from run to run; the tensor
    data (after the header) is left as it is, its offsets being relative to the header's end.
    """
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + n])
    meta = header.pop("__metadata__", None)
    ordered = {"__metadata__": dict(sorted(meta.items()))} if meta else {}
    ordered.update(sorted(header.items(), key=lambda item: (item[1]["data_offsets"], item[0])))
    text = json.dumps(ordered, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)  # the data stays 8-byte aligned, as safetensors writes it
    return len(text).to_bytes(8, "little") + text + raw[8 + n :]
