"""Hub and inference commands: ``models``, ``download``, ``export``, ``inpaint``, ``stylize``.

``main(argv) -> int`` parses ``argv`` (without the program name) and returns the exit status; the
``inpaintlab`` console script hands these subcommands to it. Errors a user can fix (unknown name,
missing or unreadable file, bad checksum, offline, an existing export) print one line to stderr and
return 1, never a traceback; anything else is a bug and keeps its traceback. ``models`` and
``download`` never import torch.

    inpaintlab models                              # inpaintlab models monet-blocks: one entry in full
    inpaintlab download monet-blocks               # or: all
    inpaintlab export runs/x/checkpoints/version_0/best.ckpt --name monet-blocks [--out DIR] [--force]
    inpaintlab inpaint --model monet-blocks --image in.jpg --mask mask.png --output out.png [--dilate 4]
    inpaintlab inpaint --model auto --image photos/ --mask masks/ --output filled/
    inpaintlab export monet-blocks --format onnx --dynamic     # ONNX / TorchScript (inpaintlab.export)
    inpaintlab serve --port 8080 --model auto                  # the brush page + REST API (inpaintlab.serve)
    inpaintlab stylize --model photo2monet --image photos/ --output monet-style/
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
COMMANDS = ("models", "download", "export", "inpaint", "stylize", "serve")
STYLIZER_NAME = "photo2monet"
_SUMMARY_METRICS = 2  # metrics shown per row of `inpaintlab models`; `models NAME` shows them all


class CliError(Exception):
    """A mistake the user can fix; ``main`` prints its message as one line and returns 1."""


def build_parser(prog: str = "inpaintlab") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="inpaintlab checkpoint hub and inference")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{" + ",".join(COMMANDS) + "}")

    models = sub.add_parser("models", help="list the registry's checkpoints (local or not, key metrics)")
    models.add_argument("name", nargs="?", help="show this entry in full (every metric, recipe, file)")

    download = sub.add_parser("download", help="make checkpoints available locally (verified)")
    download.add_argument("names", nargs="+", metavar="NAME", help="registry names, or 'all'")

    export = sub.add_parser(
        "export",
        help="turn a training .ckpt into a safetensors file + registry entry; with --format, write a model "
        "(registry name or file) as ONNX or TorchScript",
    )
    export.add_argument("ckpt", type=Path, metavar="RUN.ckpt|NAME|FILE")
    export.add_argument("--name", help="registry name (default: the checkpoint's file stem)")
    export.add_argument("--out", type=Path, default=None, help="output folder (default: the checkpoint's folder)")
    export.add_argument("--force", action="store_true", help="replace existing files of that name (also the --format --output file)")
    export.add_argument("--url", action="append", dest="urls", help="download URL (repeatable)")
    export.add_argument("--description")
    export.add_argument("--license")
    export.add_argument("--recipe", help="training config path")
    export.add_argument("--data", help="training data")
    add_graph_export_arguments(export)

    inpaint = sub.add_parser("inpaint", help="inpaint a picture or a folder of pictures")
    inpaint.add_argument("--model", required=True, help="registry name, 'auto', or a .safetensors/.ckpt file")
    inpaint.add_argument("--image", required=True, type=Path, help="picture or folder")
    inpaint.add_argument(
        "--mask", required=True, type=Path, help="mask (nonzero = hole) or folder (same stems)"
    )
    inpaint.add_argument("--output", required=True, type=Path, help="output picture or folder")
    inpaint.add_argument("--dilate", type=int, default=0, help="grow the hole by N pixels")
    inpaint.add_argument(
        "--threshold", type=float, default=None, help="hole = mask value > T (default: any nonzero value)"
    )
    inpaint.add_argument(
        "--strategy", choices=("auto", "original", "crop", "resize"), default="auto",
        help="where the model runs: auto (full scale unless a hole is too thick), original, crop, resize",
    )  # fmt: skip
    inpaint.add_argument(
        "--runtime", choices=("auto", "onnx", "torch"), default="auto",
        help="auto (default): ONNX Runtime on the CPU for a registry model with an ONNX file (no torch import), "
        "else torch; onnx; torch",
    )  # fmt: skip
    inpaint.add_argument(
        "--device", default=None,
        help="cpu, cuda, ... (default: the CPU on ONNX Runtime; with --runtime torch, cuda if available)",
    )  # fmt: skip

    stylize = sub.add_parser("stylize", help="turn photos into Monet-style pictures (a picture or a folder)")
    stylize.add_argument("--model", default=STYLIZER_NAME, help="registry name or .safetensors/.ckpt file")
    stylize.add_argument("--image", required=True, type=Path, help="picture or folder")
    stylize.add_argument("--output", required=True, type=Path, help="output picture or folder")
    stylize.add_argument("--limit", type=int, default=None, help="at most this many pictures of a folder")
    stylize.add_argument("--device", default=None, help="cpu, cuda, ... (default: cuda if available)")
    serve = sub.add_parser("serve", help="start the local brush page and REST API (needs inpaintlab[serve])")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)")
    serve.add_argument("--port", type=int, default=8080, help="port (default: 8080)")
    serve.add_argument("--model", default="auto", help="default model: a registry name or 'auto' (default)")
    serve.add_argument("--device", default="cpu", help="cpu (default), cuda, ...")
    serve.add_argument("--max-upload-mb", type=float, default=50.0, help="largest upload in MB (default: 50)")
    serve.add_argument("--max-megapixels", type=float, default=50.0, help="largest picture (default: 50)")
    return parser


def add_graph_export_arguments(export: argparse.ArgumentParser) -> None:
    """``export --format onnx|torchscript [--dynamic]``: see :mod:`inpaintlab.export`."""
    export.add_argument(
        "--format", choices=("onnx", "torchscript"), default=None,
        help="write the model as ONNX or TorchScript instead (composited fill, prefill in the graph)",
    )  # fmt: skip
    export.add_argument("--dynamic", action="store_true", help="with --format: any batch size, height and width")
    export.add_argument("-o", "--output", type=Path, help="with --format: the file (default: NAME.onnx / NAME.pt)")
    export.add_argument("--size", type=int, help="with --format, without --dynamic: the input size (default: native)")
    export.add_argument(
        "--half-weights", action="store_true",
        help="with --format onnx: store the weights as float16 (about half the file; computed in float32)",
    )  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; returns the exit status (0 ok, 1 user error, 2 usage error)."""
    try:
        args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exit_:  # argparse exits on --help and usage errors; hand back its status instead
        return int(exit_.code or 0)
    from inpaintlab.hub.registry import UnknownCheckpointError

    handler = {
        "models": cmd_models, "download": cmd_download, "export": cmd_export, "inpaint": cmd_inpaint,
        "stylize": cmd_stylize, "serve": cmd_serve,
    }[args.command]  # fmt: skip
    try:
        return handler(args)
    except UnknownCheckpointError as err:  # only the registry lookup: any other KeyError is a bug, with its traceback
        print(f"error: {err.args[0] if err.args else err}", file=sys.stderr)
    except BrokenPipeError:  # the reader went away (`inpaintlab models | head`): stop quietly, as Python's docs say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except ImportError as err:  # an optional extra (serve, export) is not installed
        print(f"error: {err}", file=sys.stderr)
    except (CliError, ValueError, OSError) as err:  # bad name or file, checksum, offline, download, exists
        print(f"error: {err}", file=sys.stderr)
    return 1


def _entry(name: str, entries=None):
    """The registry entry ``name``; an unknown name is a :class:`CliError` listing the known ones."""
    from inpaintlab.hub import get_entry

    try:
        return get_entry(name, entries)
    except KeyError as err:  # only the lookup: a KeyError anywhere else is a bug and keeps its traceback
        raise CliError(err.args[0] if err.args else str(err)) from None


def cmd_models(args: argparse.Namespace) -> int:
    from inpaintlab.hub import default_registry_path, entry_to_yaml, load_registry, local_file

    entries = load_registry()
    if args.name:
        entry = _entry(args.name, entries)
        where = local_file(entry)
        print(entry_to_yaml(entry), end="")
        print(f"# local: {where[0]} ({where[1]})" if where else "# local: no (`inpaintlab download` fetches it)")
        return 0
    if not entries:
        print(f"no checkpoints in the registry yet ({default_registry_path()})")
        return 0
    rows = [("NAME", "STYLE", "MASK", "PX", "SIZE", "LOCAL", "METRICS")]
    for name, entry in entries.items():
        where = local_file(entry)
        rows.append(
            (
                name,
                entry.style,
                entry.mask or "-",
                str(entry.resolution),
                _size(entry.bytes),
                where[1] if where else "no",
                _metrics_summary(entry.metrics),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1])
    print(f"\n`inpaintlab models NAME` shows every metric of one; registry: {default_registry_path()}")
    return 0


def _metrics_summary(metrics: dict[str, float]) -> str:
    """The first metrics of an entry (``val_`` / ``bench_`` dropped from their names) and how many more there are."""
    shown = [
        f"{k.removeprefix('val_').removeprefix('bench_')}={v:.4g}" for k, v in list(metrics.items())[:_SUMMARY_METRICS]
    ]
    more = len(metrics) - len(shown)
    return (" ".join(shown) or "-") + (f" (+{more})" if more > 0 else "")


def cmd_download(args: argparse.Namespace) -> int:
    from inpaintlab.hub import fetch, load_registry

    entries = load_registry()
    names = list(entries) if args.names == ["all"] else args.names
    if not names:
        print("no checkpoints in the registry yet: nothing to download")
    for entry in [_entry(name, entries) for name in names]:  # every name checked before any download
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


def cmd_export(args: argparse.Namespace) -> int:
    if args.format is not None:
        return cmd_export_graph(args)
    if args.dynamic or args.output or args.size or args.half_weights:
        raise ValueError("--dynamic, --output, --size and --half-weights go with --format onnx|torchscript")
    from inpaintlab.hub import export_checkpoint, load_registry, shipped_dir

    result = export_checkpoint(
        args.ckpt,
        args.out,
        args.name,
        force=args.force,
        urls=args.urls,
        description=args.description,
        license=args.license,
        recipe_config=args.recipe,
        recipe_data=args.data,
    )
    name = result.weights.stem
    print(f"wrote {result.weights} ({result.bytes} bytes, sha256 {result.sha256})")
    print(f"wrote {result.snippet_path}; to publish it, paste it under 'checkpoints:' in checkpoints.yaml:\n")
    print(result.snippet, end="")
    published = load_registry().get(name)
    if published is not None and published.sha256 != result.sha256:
        print(
            f"\nnote: the registry already has {name!r} (sha256 {published.sha256}); replacing that entry "
            f"(and {shipped_dir() / published.file}) replaces the published checkpoint"
        )
    return 0


def cmd_export_graph(args: argparse.Namespace) -> int:
    """``export NAME|FILE --format onnx|torchscript``: the model as one file, checked against PyTorch."""
    from inpaintlab.export import HALF_TOLERANCE, TOLERANCE, export_model

    result = export_model(
        str(args.ckpt), args.output, args.format, dynamic=args.dynamic, size=args.size, overwrite=args.force,
        half_weights=args.half_weights,
    )  # fmt: skip
    print(result.summary() + f" (tolerance {HALF_TOLERANCE if args.half_weights else TOLERANCE:g})")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from inpaintlab.serve.server import serve

    return serve(args.host, args.port, args.model, args.device, args.max_upload_mb, args.max_megapixels)


def cmd_inpaint(args: argparse.Namespace) -> int:
    from inpaintlab.picture_cli import cmd_inpaint as run

    return run(args)


def cmd_stylize(args: argparse.Namespace) -> int:
    from inpaintlab.picture_cli import cmd_stylize as run

    return run(args)


def _where(path: Path) -> str:
    from inpaintlab.hub import shipped_dir

    return "shipped in the package" if path.parent == shipped_dir() else "in the cache"


def _size(nbytes: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if nbytes < 1024 or unit == "GB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    return f"{nbytes} B"


if __name__ == "__main__":
    sys.exit(main())
