"""tools/gpu_run/gpu_park.py: the shipped inpainters' files leave the tree the device tool sends, and come back
intact; nothing is overwritten on the way."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

REPO = Path(__file__).resolve().parents[3]
TOOL = REPO / "tools" / "gpu_run"
sys.path.insert(0, str(TOOL))
import gpu_pack  # noqa: E402
import gpu_park  # noqa: E402


def _entry(task, file, data, onnx=None):
    sha = hashlib.sha256(data).hexdigest()
    onnx_file = None if onnx is None else SimpleNamespace(file=onnx[0], sha256=hashlib.sha256(onnx[1]).hexdigest())
    return SimpleNamespace(task=task, file=file, sha256=sha, onnx=onnx_file)


def test_park_moves_the_inpainters_out_and_unpark_brings_them_back_checked(tmp_path):
    hub, parked = tmp_path / "hub", tmp_path / "parked"
    hub.mkdir()
    contents = {"a.safetensors": b"weights a", "a.onnx": b"graph a", "cls.safetensors": b"classifier"}
    for name, data in contents.items():
        (hub / name).write_bytes(data)
    registry = {
        "a": _entry("inpaint", "a.safetensors", contents["a.safetensors"], ("a.onnx", contents["a.onnx"])),
        "b": _entry("inpaint", "b.safetensors", b"not shipped"),  # no file here: nothing to move
        "cls": _entry("classify", "cls.safetensors", contents["cls.safetensors"]),
    }
    files = gpu_park.parked_files(registry)
    assert set(files) == {"a.safetensors", "a.onnx", "b.safetensors"}

    assert gpu_park.park(files, hub, parked) == ["a.onnx", "a.safetensors"]
    assert sorted(p.name for p in hub.iterdir()) == ["cls.safetensors"]  # the classifier stays in the tree
    (hub / "a.onnx").write_bytes(b"graph a")  # a second park would overwrite the parked copy
    with pytest.raises(FileExistsError, match="unpark"):
        gpu_park.park(files, hub, parked)
    (hub / "a.onnx").write_bytes(b"another graph")  # unpark must not replace a different file
    with pytest.raises(FileExistsError, match="differs"):
        gpu_park.unpark(files, hub, parked)
    (hub / "a.onnx").unlink()

    assert gpu_park.unpark(files, hub, parked) == ["a.onnx", "a.safetensors"]
    assert {p.name: p.read_bytes() for p in hub.iterdir()} == contents
    assert list(parked.iterdir()) == []


def test_unpark_leaves_a_file_whose_sha256_is_not_the_registrys(tmp_path):
    hub, parked = tmp_path / "hub", tmp_path / "parked"
    hub.mkdir()
    parked.mkdir()
    (parked / "a.safetensors").write_bytes(b"changed since the park")
    files = gpu_park.parked_files({"a": _entry("inpaint", "a.safetensors", b"weights a")})
    with pytest.raises(ValueError, match="does not match the sha256"):
        gpu_park.unpark(files, hub, parked)
    assert (parked / "a.safetensors").is_file() and not (hub / "a.safetensors").exists()


def test_the_parked_tree_leaves_room_for_the_gpu_runs_wheels_and_pack():
    """The real registry: without its inpainters' files the tree takes under a quarter of the transfer."""
    from inpaintlab.hub.registry import load_registry

    files = gpu_park.parked_files(load_registry())
    assert "style-classifier.safetensors" not in files
    assert {"photo-blocks.safetensors", "photo-blocks.onnx", "monet-region.onnx"} <= set(files)
    shipped = sum(p.stat().st_size for p in (gpu_park.HUB_FILES / n for n in files) if p.is_file())
    tree = gpu_pack.transfer_bytes(REPO)["tree"]
    assert tree - shipped < gpu_pack.TRANSFER_LIMIT / 4
