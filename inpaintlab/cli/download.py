"""``inpaintlab download NAME... | all``: make checkpoints available locally, sha256-verified (the
package's own files in place, others into the cache), with their ONNX files. Imports no torch.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from inpaintlab.cli.common import registry_entry


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "download",
        help="make checkpoints available locally (the package's files, or download into the cache)",
    )
    parser.add_argument("names", nargs="+", metavar="NAME", help="registry names, or 'all'")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from inpaintlab.hub import fetch, load_registry

    entries = load_registry()
    names = list(entries) if args.names == ["all"] else args.names
    if not names:
        print("no checkpoints in the registry yet: nothing to download")
    for entry in [registry_entry(name, entries) for name in names]:  # every name checked before any download
        path = fetch(entry)
        print(f"{entry.name}: {path} ({_where(path)}, sha256 verified)")
        onnx_entry = entry.onnx_entry()
        if onnx_entry is not None:  # the ONNX file `inpaint` runs; without it, inpaint runs torch
            try:
                path = fetch(onnx_entry)
            except FileNotFoundError as err:
                print(f"warning: {entry.name}: its ONNX file {entry.onnx.file} is not available ({err}); "
                      "`inpaintlab inpaint` runs it with torch", file=sys.stderr)  # fmt: skip
            else:
                print(f"{entry.name}: {path} ({_where(path)}, sha256 verified)")
    return 0


def _where(path: Path) -> str:
    from inpaintlab.hub import shipped_dir

    return "shipped in the package" if path.parent == shipped_dir() else "in the cache"
