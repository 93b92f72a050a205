"""The checkpoint registry: ``checkpoints.yaml`` parsed into validated :class:`CheckpointEntry` objects.

The registry ships inside the package (``inpaintlab/checkpoints.yaml``, a symlink to the repository's
``checkpoints.yaml`` in a clone, the real file in a wheel). ``INPAINTLAB_REGISTRY`` points the hub
at another file. Every entry is checked field by field; a malformed one raises
:class:`RegistryError` naming the file, the entry and the field.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from inpaintlab.texture import TextureSettings

REGISTRY_ENV = "INPAINTLAB_REGISTRY"

TASKS = ("inpaint", "classify", "stylize")
MASK_KINDS = ("center", "blocks", "region")
VALUE_RANGES = ((0.0, 1.0), (-1.0, 1.0))

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_PRESET_NAME = re.compile(r"^[a-z0-9][a-z0-9_]*(\.[a-z0-9_]+)*$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_FIELDS = (
    "description",
    "task",
    "style",
    "mask",
    "arch",
    "resolution",
    "value_range",
    "file",
    "sha256",
    "bytes",
    "urls",
    "license",
    "recipe",
    "metrics",
    "onnx",
    "texture",
)
_OPTIONAL = {"task": "inpaint", "value_range": [0, 1], "metrics": {}, "onnx": None, "texture": None}


class RegistryError(ValueError):
    """A registry file or one of its entries is malformed."""


@dataclass(frozen=True)
class Recipe:
    """How a checkpoint was trained: the training config and the data it saw; optionally how long
    (epochs, wall time) and on what machine."""

    config: str
    data: str
    epochs: int | None = None
    wall_time: str | None = None
    machine: str | None = None

    def to_dict(self) -> dict[str, Any]:
        optional = {"epochs": self.epochs, "wall_time": self.wall_time, "machine": self.machine}
        return {"config": self.config, "data": self.data, **{k: v for k, v in optional.items() if v is not None}}


@dataclass(frozen=True)
class OnnxFile:
    """The same weights as an ONNX file (``inpaintlab export NAME --format onnx --dynamic``), which the
    command line runs with ONNX Runtime, without importing torch. Found and verified like the weights."""

    file: str
    sha256: str
    bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "sha256": self.sha256, "bytes": self.bytes}


@dataclass(frozen=True)
class CheckpointEntry:
    """One published checkpoint, as listed in ``checkpoints.yaml``.

    Attributes:
        name: registry name (``load(name)``), e.g. ``"monet-blocks"``.
        description: one line for people.
        task: ``"inpaint"`` (a generator), ``"classify"`` (the style classifier) or ``"stylize"`` (a
            photo -> Monet translator, ``load("photo2monet")``).
        style: picture style it was trained on (``"photo"``, ``"monet"``).
        mask: mask kind it was trained on (``"center"``, ``"blocks"``, ``"region"``); None for the other tasks.
        arch: the architecture, a preset name of ``inpaintlab.models.PRESETS`` (e.g.
            ``"unet.prefill.small"``) or ``{"preset": name, "args": {overrides}}``: what
            ``inpaintlab.models.build_model`` builds. Preset names are stable, so renaming a Python class
            never breaks an entry (registries written before presets, ``{"class", "init"}``, still load).
        resolution: the resolution the weights were trained at, in pixels (square inputs of this size);
            the one place it is recorded for a registry checkpoint (the architecture does not hold it).
        value_range: pixel range at the model boundary, ``(0.0, 1.0)`` or ``(-1.0, 1.0)``.
        file: safetensors file name.
        sha256: expected SHA-256 of the file (64 lowercase hex digits).
        bytes: expected file size.
        urls: download mirrors, tried in order (empty when the file is only shipped in the package).
        license: licence of the weights.
        recipe: training config and data.
        metrics: measured metrics (name -> number).
        onnx: the weights exported to ONNX (:class:`OnnxFile`), if the registry ships them.
        texture: how an inpainter's fill gets texture copied from the picture
            (:class:`inpaintlab.texture.TextureSettings`); None: the network's fill as it is.
    """

    name: str
    description: str
    task: str
    style: str
    mask: str | None
    arch: str | dict[str, Any]
    resolution: int
    value_range: tuple[float, float]
    file: str
    sha256: str
    bytes: int
    urls: tuple[str, ...]
    license: str
    recipe: Recipe
    metrics: dict[str, float] = field(default_factory=dict)
    onnx: OnnxFile | None = None
    texture: TextureSettings | None = None

    def onnx_entry(self) -> CheckpointEntry | None:
        """This entry with its ONNX file in place of the weights file (what ``fetch`` takes), or None.

        The ONNX file has no mirrors of its own: it is shipped, cached, or at ``$INPAINTLAB_HUB_URL``."""
        if self.onnx is None:
            return None
        return dataclasses.replace(self, file=self.onnx.file, sha256=self.onnx.sha256, bytes=self.onnx.bytes, urls=(), onnx=None)

    def to_dict(self) -> dict[str, Any]:
        """The entry as plain YAML-ready data (without its name), in the registry's field order."""
        data = {
            "description": self.description,
            "task": self.task,
            "style": self.style,
            "mask": self.mask,
            "arch": _copy_arch(self.arch),
            "resolution": self.resolution,
            "value_range": list(self.value_range),
            "file": self.file,
            "sha256": self.sha256,
            "bytes": self.bytes,
            "urls": list(self.urls),
            "license": self.license,
            "recipe": self.recipe.to_dict(),
            "metrics": dict(self.metrics),
        }
        if self.onnx is not None:
            data["onnx"] = self.onnx.to_dict()
        if self.texture is not None:
            data["texture"] = dataclasses.asdict(self.texture)
        return data


def _copy_arch(arch: str | dict[str, Any]) -> str | dict[str, Any]:
    if isinstance(arch, str):
        return arch
    return {key: dict(value) if isinstance(value, dict) else value for key, value in arch.items()}


def _arch_ok(arch: Any) -> bool:
    """A preset name, ``{preset: str, args: {...}}``, or the pre-preset ``{class: str, init: {...}}``."""
    if isinstance(arch, str):
        return bool(_PRESET_NAME.match(arch))
    if not isinstance(arch, dict):
        return False
    if "preset" in arch:
        args = arch.get("args", {})
        return set(arch) <= {"preset", "args"} and isinstance(arch["preset"], str) and isinstance(args, dict)
    return set(arch) == {"class", "init"} and isinstance(arch["class"], str) and isinstance(arch["init"], dict)


def default_registry_path() -> Path:
    """The registry file the hub reads: ``$INPAINTLAB_REGISTRY`` or the one shipped in the package."""
    override = os.environ.get(REGISTRY_ENV)
    if override:
        return Path(override).expanduser()
    shipped = Path(str(resources.files("inpaintlab").joinpath("checkpoints.yaml")))
    if shipped.is_file():
        return shipped
    # a checkout where the symlink did not survive (e.g. Windows without symlink support)
    return Path(__file__).resolve().parents[2] / "checkpoints.yaml"


def load_registry(path: str | os.PathLike | None = None) -> dict[str, CheckpointEntry]:
    """Parse and validate a registry file (default: :func:`default_registry_path`).

    Returns:
        name -> :class:`CheckpointEntry`, in file order.

    Raises:
        RegistryError: the file is missing, not YAML, or an entry is malformed (the message names
            the file, the entry and the field).
    """
    path = Path(path) if path is not None else default_registry_path()
    if not path.is_file():
        hint = f" (set by ${REGISTRY_ENV})" if os.environ.get(REGISTRY_ENV) else ""
        raise RegistryError(
            f"checkpoint registry {path}{hint} does not exist; point ${REGISTRY_ENV} at a checkpoints.yaml"
        )
    try:
        # libyaml's parser where PyYAML has it: 10x faster than the pure-Python one (the CLI reads this file)
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as err:
        raise RegistryError(f"checkpoint registry {path} is not valid YAML: {err}") from None
    return parse_registry(data, source=str(path))


def parse_registry(data: Any, source: str = "<registry>") -> dict[str, CheckpointEntry]:
    """Validate already-loaded registry data ``{"checkpoints": {name: {...}}}``."""
    if not isinstance(data, dict) or "checkpoints" not in data:
        raise RegistryError(
            f"{source}: expected a mapping with a top-level 'checkpoints:' key, got {data!r:.80}"
        )
    checkpoints = data["checkpoints"] or {}
    if not isinstance(checkpoints, dict):
        raise RegistryError(
            f"{source}: 'checkpoints' must map names to entries, got {type(checkpoints).__name__}"
        )
    return {str(name): parse_entry(str(name), raw, source) for name, raw in checkpoints.items()}


def parse_entry(name: str, raw: Any, source: str = "<registry>") -> CheckpointEntry:
    """Validate one entry; :class:`RegistryError` names ``source``, the entry and the field."""

    def fail(fld: str, expected: str, got: Any) -> RegistryError:
        return RegistryError(
            f"{source}: entry {name!r}, field {fld!r}: expected {expected}, got {got!r:.120}"
        )

    if not NAME_PATTERN.match(name):
        raise fail("name", "lowercase letters, digits and '-' (e.g. 'monet-blocks')", name)
    if not isinstance(raw, dict):
        raise fail("<entry>", "a mapping of fields", raw)
    unknown = sorted(set(raw) - set(_FIELDS))
    if unknown:
        raise fail(unknown[0], f"one of the known fields {', '.join(_FIELDS)}", unknown[0])
    missing = [f for f in _FIELDS if f not in raw and f not in _OPTIONAL]
    if missing:
        raise fail(missing[0], "this field to be present", "nothing")
    get = {**_OPTIONAL, **raw}.__getitem__

    def text(fld: str) -> str:
        value = get(fld)
        if not isinstance(value, str) or not value.strip():
            raise fail(fld, "a non-empty string", value)
        return value

    task = text("task")
    if task not in TASKS:
        raise fail("task", f"one of {TASKS}", task)
    mask = get("mask")
    if task == "inpaint" and mask not in MASK_KINDS:
        raise fail("mask", f"one of {MASK_KINDS} for an inpainting checkpoint", mask)
    if task != "inpaint" and mask is not None:
        raise fail("mask", f"null for a {task} checkpoint", mask)

    arch = get("arch")
    if not _arch_ok(arch):
        raise fail(
            "arch", "an architecture preset name such as unet.prefill.small, or {preset: <name>, args: {...}}", arch
        )

    resolution = get("resolution")
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 8:
        raise fail("resolution", "an integer >= 8 (pixels)", resolution)
    value_range = get("value_range")
    try:
        value_range = tuple(float(v) for v in value_range)
    except (TypeError, ValueError):
        raise fail("value_range", "[0, 1] or [-1, 1]", value_range) from None
    if value_range not in VALUE_RANGES:
        raise fail("value_range", "[0, 1] or [-1, 1]", list(value_range))

    file = text("file")
    if "/" in file or "\\" in file or not file.endswith(".safetensors"):
        raise fail("file", "a bare file name ending in .safetensors (weights are safetensors only)", file)
    sha256 = get("sha256")
    if not isinstance(sha256, str) or not _SHA256.match(sha256):
        raise fail("sha256", "64 lowercase hex digits (quote it in YAML)", sha256)
    size = get("bytes")
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
        raise fail("bytes", "the file size as a positive integer", size)
    urls = get("urls")
    if isinstance(urls, str):
        urls = [urls]
    if urls is None:
        urls = []
    if not isinstance(urls, list):  # empty: shipped in the package only, published nowhere else
        raise fail("urls", "a list of http(s) URLs (empty for a file shipped only in the package)", urls)
    for url in urls:
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise fail("urls", "http(s) URLs", url)

    recipe = get("recipe")
    if (
        not isinstance(recipe, dict)
        or not {"config", "data"} <= set(recipe)
        or not set(recipe) <= {"config", "data", "epochs", "wall_time", "machine"}
    ):
        raise fail(
            "recipe",
            "a mapping {config: <config path>, data: <training data>} with optional epochs, wall_time, machine",
            recipe,
        )
    for key in ("config", "data", "wall_time", "machine"):
        if key in recipe and (not isinstance(recipe[key], str) or not recipe[key].strip()):
            raise fail(f"recipe.{key}", "a non-empty string", recipe[key])
    epochs = recipe.get("epochs")
    if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0):
        raise fail("recipe.epochs", "a whole number of epochs", epochs)
    metrics = get("metrics") or {}
    if not isinstance(metrics, dict):
        raise fail("metrics", "a mapping of metric name to number", metrics)
    for key, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise fail(f"metrics.{key}", "a finite number", value)

    onnx = get("onnx")
    if onnx is not None:
        if not isinstance(onnx, dict) or set(onnx) != {"file", "sha256", "bytes"}:
            raise fail("onnx", "a mapping {file: <name>.onnx, sha256: <hex>, bytes: <size>}", onnx)
        if not isinstance(onnx["file"], str) or "/" in onnx["file"] or "\\" in onnx["file"] or not onnx["file"].endswith(".onnx"):
            raise fail("onnx.file", "a bare file name ending in .onnx", onnx["file"])
        if not isinstance(onnx["sha256"], str) or not _SHA256.match(onnx["sha256"]):
            raise fail("onnx.sha256", "64 lowercase hex digits (quote it in YAML)", onnx["sha256"])
        if isinstance(onnx["bytes"], bool) or not isinstance(onnx["bytes"], int) or onnx["bytes"] <= 0:
            raise fail("onnx.bytes", "the file size as a positive integer", onnx["bytes"])
        onnx = OnnxFile(file=onnx["file"], sha256=onnx["sha256"], bytes=onnx["bytes"])
    texture = get("texture")
    if texture is not None:
        if task != "inpaint":
            raise fail("texture", f"no texture field: it applies to inpainters only (task: {task}); remove it", texture)
        if not isinstance(texture, dict) or not set(texture) <= set(TextureSettings.__dataclass_fields__):
            raise fail("texture", f"for an inpainter, a mapping with keys among {sorted(TextureSettings.__dataclass_fields__)}", texture)
        try:
            texture = TextureSettings(**texture)
        except ValueError as err:
            raise fail("texture", str(err), texture) from None

    return CheckpointEntry(
        name=name,
        description=text("description"),
        task=task,
        style=text("style"),
        mask=mask,
        arch=_copy_arch(arch),
        resolution=resolution,
        value_range=value_range,  # type: ignore[arg-type]
        file=file,
        sha256=sha256,
        bytes=size,
        urls=tuple(urls),
        license=text("license"),
        recipe=Recipe(
            config=recipe["config"],
            data=recipe["data"],
            epochs=epochs,
            wall_time=recipe.get("wall_time"),
            machine=recipe.get("machine"),
        ),
        metrics={str(k): float(v) for k, v in metrics.items()},
        onnx=onnx,
        texture=texture,
    )


class UnknownCheckpointError(KeyError):
    """No registry entry has that name (a ``KeyError``; the message lists the known names)."""


def get_entry(name: str, registry: dict[str, CheckpointEntry] | None = None) -> CheckpointEntry:
    """The entry called ``name``; :class:`UnknownCheckpointError` listing the known names when there is none."""
    registry = load_registry() if registry is None else registry
    if name not in registry:
        known = ", ".join(registry) or "none yet: the registry has no entries"
        raise UnknownCheckpointError(
            f"no checkpoint named {name!r} in the registry {default_registry_path()}; known names: {known}. "
            "Pass a path to a .safetensors or Lightning .ckpt file to load a local checkpoint"
        )
    return registry[name]


def list_models(registry: dict[str, CheckpointEntry] | None = None, task: str | None = None) -> list[str]:
    """Names of the registry's checkpoints (optionally only one ``task``: ``"inpaint"``/``"classify"``)."""
    registry = load_registry() if registry is None else registry
    return [name for name, entry in registry.items() if task is None or entry.task == task]


def entry_to_yaml(entry: CheckpointEntry) -> str:
    """A registry snippet (``name: {...}``) ready to paste under ``checkpoints:``."""
    return yaml.safe_dump({entry.name: entry.to_dict()}, sort_keys=False, default_flow_style=False, width=110)
