"""Park the shipped inpainters' files outside the tree that the device tool sends, and bring them back.

The device tool sends the tracked tree plus the carried paths, 64 MiB in all. The shipped 256 px zoo
(``inpaintlab/hub/files``: six inpainters, each as safetensors and ONNX, 114 MiB) is more than that
alone. The GPU run does not use those files: it trains its own, evaluates them with ``quality.py
--only-given``, and ``gpu_checks.py`` needs only the style classifier, which stays. So, before the pack::

    python tools/gpu_run/gpu_park.py park      # moves them to .gpu-parked/ (git-ignored: they stay on this machine)
    python tools/gpu_run/gpu_pack.py           # sizes the data pack to the tree without them
    # run(command="bash tools/gpu_run/gpu_run.sh", carry=[".gpu"], timeout_s=560)
    python tools/gpu_run/gpu_park.py unpark    # moves them back, each checked against checkpoints.yaml's sha256

``park`` refuses to overwrite files already parked, and ``unpark`` refuses to overwrite a file in the tree
that differs from the parked one, so neither loses a file. Both are atomic renames on one file system.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from inpaintlab.hub.download import sha256_file
from inpaintlab.hub.registry import load_registry

REPO = Path(__file__).resolve().parents[2]
PARK_DIR = REPO / ".gpu-parked"
HUB_FILES = REPO / "inpaintlab" / "hub" / "files"


def parked_files(registry: dict) -> dict[str, str]:
    """{file name: sha256} of every registry inpainter's weights and ONNX file (not the other tasks' files)."""
    names = {}
    for entry in registry.values():
        if entry.task != "inpaint":
            continue
        names[entry.file] = entry.sha256
        if entry.onnx is not None:
            names[entry.onnx.file] = entry.onnx.sha256
    return names


def park(files: dict[str, str], hub: Path = HUB_FILES, parked: Path = PARK_DIR) -> list[str]:
    """Move ``files`` that are in ``hub`` into ``parked``; returns the names moved.

    Raises:
        FileExistsError: ``parked`` already holds one of them (an earlier park was not undone).
    """
    present = [name for name in sorted(files) if (hub / name).is_file()]
    clash = [name for name in present if (parked / name).exists()]
    if clash:
        raise FileExistsError(
            f"{parked} already holds {clash}: an earlier park was not undone; run `python tools/gpu_run/gpu_park.py "
            "unpark` first (it checks each file), then park again"
        )
    parked.mkdir(parents=True, exist_ok=True)
    for name in present:
        os.replace(hub / name, parked / name)
    return present


def unpark(files: dict[str, str], hub: Path = HUB_FILES, parked: Path = PARK_DIR) -> list[str]:
    """Move the parked ``files`` back into ``hub``, each checked against its sha256; returns the names moved.

    Raises:
        ValueError: a parked file's sha256 is not the registry's (the registry changed since the park?).
        FileExistsError: ``hub`` holds a different file of the same name.
    """
    moved = []
    for name in sorted(files):
        source = parked / name
        if not source.is_file():
            continue
        if sha256_file(source) != files[name]:
            raise ValueError(
                f"{source} does not match the sha256 that checkpoints.yaml gives for {name}; it was left where it "
                "is: compare it with the registry entry (`git diff checkpoints.yaml`) before moving it by hand"
            )
        target = hub / name
        if target.exists() and sha256_file(target) != files[name]:
            raise FileExistsError(f"{target} exists and differs from the parked {name}; move one of them away first")
        os.replace(source, target)
        moved.append(name)
    return moved


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("park", "unpark"))
    args = parser.parse_args(argv)
    files = parked_files(load_registry())
    moved = (park if args.action == "park" else unpark)(files)
    size = sum((PARK_DIR if args.action == "park" else HUB_FILES).joinpath(n).stat().st_size for n in moved)
    where = f"{HUB_FILES} -> {PARK_DIR}" if args.action == "park" else f"{PARK_DIR} -> {HUB_FILES}"
    print(f"{args.action}: {len(moved)} files, {size / 2**20:.1f} MiB ({where})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
