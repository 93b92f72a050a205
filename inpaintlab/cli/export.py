"""``inpaintlab export``: a training ``.ckpt`` as a safetensors file + registry entry
(:func:`inpaintlab.hub.export_checkpoint`), or, with ``--format onnx|torchscript``, a model (registry
name or file) as one graph file checked against PyTorch (:mod:`inpaintlab.export`).

    inpaintlab export runs/x/checkpoints/version_0/best.ckpt --name monet-blocks [--out DIR] [--force]
    inpaintlab export monet-blocks --format onnx --dynamic
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

from inpaintlab.cli.common import CliError


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "export",
        help="turn a training .ckpt into a safetensors file + registry entry; with --format, write a model "
        "(registry name or file) as ONNX or TorchScript",
    )
    parser.add_argument("ckpt", type=Path, metavar="RUN.ckpt|NAME|FILE")
    parser.add_argument("--name", help="registry name (default: the checkpoint's file stem)")
    parser.add_argument(
        "--out", type=Path, default=None, help="output folder (default: the checkpoint's folder)"
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace existing files of that name (also the --format --output file)",
    )
    parser.add_argument("--url", action="append", dest="urls", help="download URL (repeatable)")
    parser.add_argument("--description")
    parser.add_argument("--license")
    parser.add_argument("--recipe", help="training config path")
    parser.add_argument("--data", help="training data")
    parser.add_argument(
        "--format", choices=("onnx", "torchscript"), default=None,
        help="write the model as ONNX or TorchScript instead (composited fill, prefill in the graph)",
    )  # fmt: skip
    parser.add_argument(
        "--dynamic", action="store_true", help="with --format: any batch size, height and width"
    )
    parser.add_argument(
        "-o", "--output", type=Path, help="with --format: the file (default: NAME.onnx / NAME.pt)"
    )
    parser.add_argument(
        "--size", type=int, help="with --format, without --dynamic: the input size (default: native)"
    )
    parser.add_argument(
        "--half-weights", action="store_true",
        help="with --format onnx: store the weights as float16 (about half the file; computed in float32)",
    )  # fmt: skip
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.format is not None:
        return export_graph(args)
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


def export_graph(args: argparse.Namespace) -> int:
    """``export NAME|FILE --format onnx|torchscript``: the model as one file, checked against PyTorch."""
    # checked before torch is imported and the model traced (tens of seconds)
    if args.format == "onnx" and importlib.util.find_spec("onnx") is None:
        raise CliError(
            "--format onnx needs the 'export' extra (onnx is not installed): pip install 'inpaintlab[export]'"
        )
    from inpaintlab.export import HALF_TOLERANCE, TOLERANCE, export_model

    result = export_model(
        str(args.ckpt), args.output, args.format, dynamic=args.dynamic, size=args.size, overwrite=args.force,
        half_weights=args.half_weights,
    )  # fmt: skip
    print(result.summary() + f" (tolerance {HALF_TOLERANCE if args.half_weights else TOLERANCE:g})")
    return 0
