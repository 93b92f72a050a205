"""The ``inpaintlab`` command: one entry point for training and for the pretrained models.

    inpaintlab fit -c examples/configs/photo-center.yaml            # train (one CPU, one or many GPUs)
    inpaintlab validate -c examples/configs/photo-center.yaml \
        --ckpt_path runs/photo-center/checkpoints/latest/best.ckpt
    inpaintlab models                              # inpaintlab models monet-blocks: one entry in full
    inpaintlab download monet-blocks               # or: all
    inpaintlab inpaint --image photos/ --mask masks/ --output filled/      # --model auto by default
    inpaintlab export runs/x/checkpoints/version_0/best.ckpt --name monet-blocks [--out DIR] [--force]
    inpaintlab export monet-blocks --format onnx --dynamic     # ONNX / TorchScript (inpaintlab.export)
    inpaintlab serve --port 8080 --model auto                  # the brush page + REST API (inpaintlab.serve)
    inpaintlab stylize --model photo2monet --image photos/ --output monet-style/

One module per command registers its subparser (``register``) and runs it (``run``);
:mod:`inpaintlab.cli.common` holds what they share. :func:`main` hands ``fit | validate | test | predict``
to :mod:`inpaintlab.cli.training` (LightningCLI parses them; Lightning is imported only then) and parses
the other commands itself. Errors a user can fix (unknown name, missing or unreadable file, bad
checksum, offline, an existing export, a missing extra) print one line to stderr and return 1, never a
traceback; anything else is a bug and keeps its traceback. ``models`` and ``download`` never import torch.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from inpaintlab import __version__
from inpaintlab.cli import download, export, inpaint, models, serve, stylize, training
from inpaintlab.cli.common import DESCRIPTION, CliError

COMMAND_MODULES = (training, models, download, export, inpaint, stylize, serve)


def build_parser(prog: str = "inpaintlab") -> argparse.ArgumentParser:
    """The parser of every command (each command's module adds its own subparser)."""
    parser = argparse.ArgumentParser(prog=prog, description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"{prog} {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``inpaintlab`` console script; returns the exit status (0 ok, 1 a user error,
    2 a usage error).

    ``fit | validate | test | predict`` run :func:`inpaintlab.cli.training.run`; the other commands are
    parsed here and run by their module; no command or ``--help`` prints the usage of all of them
    (without importing Lightning or torch).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in training.COMMANDS:
        # argv=None: LightningCLI reads sys.argv itself (and DDP's launcher re-runs the same command line)
        return training.run(None if argv is None else args)
    parser = build_parser()
    if not args:
        parser.print_help(sys.stderr)
        return 2
    try:
        parsed = parser.parse_args(args)
    except SystemExit as exit_:  # argparse exits on --help and usage errors; hand back its status instead
        return int(exit_.code or 0)
    from inpaintlab.hub.registry import UnknownCheckpointError

    try:
        return parsed.run(parsed)
    # only the registry lookup is a one-line error: any other KeyError is a bug, with its traceback
    except UnknownCheckpointError as err:
        print(f"error: {err.args[0] if err.args else err}", file=sys.stderr)
    except BrokenPipeError:  # the reader went away (`inpaintlab models | head`): stop quietly (Python's docs)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except ImportError as err:  # an optional extra (serve, export) is not installed
        print(f"error: {err}", file=sys.stderr)
    except (CliError, ValueError, OSError) as err:  # bad name or file, checksum, offline, download, exists
        print(f"error: {err}", file=sys.stderr)
    return 1
