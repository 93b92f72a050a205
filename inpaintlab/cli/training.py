"""The training commands ``fit | validate | test | predict``: LightningCLI parses them
(:mod:`inpaintlab.cli.lightning_cli`, the one module of the command line that imports Lightning, and only
when one of these commands runs).

    inpaintlab fit -c examples/configs/photo-center.yaml            # train (one CPU, one or many GPUs)
    inpaintlab fit -c examples/configs/photo-center.yaml --ckpt_path last     # resume the newest run
    inpaintlab validate -c examples/configs/photo-center.yaml \
        --ckpt_path runs/photo-center/checkpoints/latest/best.ckpt

Before Lightning is imported (seconds), :func:`run` checks that every ``-c`` / ``--config`` file exists,
so a wrong path is one line, not the usage of every option.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from inpaintlab.cli.common import config_values

log = logging.getLogger(__name__)

COMMANDS = {
    "fit": "train a model from a recipe: inpaintlab fit -c examples/configs/photo-blocks.yaml",
    "validate": "validate a checkpoint (--ckpt_path runs/.../latest/best.ckpt)",
    "test": "test a checkpoint",
    "predict": "run a checkpoint's predict loop",
}


def register(commands: argparse._SubParsersAction) -> None:
    """The training commands in the usage of ``inpaintlab --help``; LightningCLI parses their arguments."""
    for name, summary in COMMANDS.items():
        commands.add_parser(name, help=summary, add_help=False)


def run(argv: Sequence[str] | None = None) -> int:
    """Run one training command (``argv`` starts with it); returns the exit status.

    ``argv=None`` lets LightningCLI read ``sys.argv`` itself (DDP's launcher re-runs the same command line).
    A ``-c`` file that does not exist is a one-line error (status 2) before Lightning is imported.
    """
    problem = missing_config(sys.argv[1:] if argv is None else argv)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    default_wandb_mode()
    from inpaintlab.cli.lightning_cli import run as run_lightning

    return run_lightning(argv)


def missing_config(args: Sequence[str]) -> str | None:
    """What is wrong with the first ``-c`` / ``--config`` value of ``args`` that names no file, or None.

    A value that is not a file but an inline YAML mapping (``-c '{trainer: {max_epochs: 1}}'``, which
    jsonargparse takes) is left alone.
    """
    import yaml

    for flag, value in config_values(args):
        path = Path(value)
        if path.is_file():
            continue
        try:
            if isinstance(yaml.safe_load(value), dict):
                continue
        except yaml.YAMLError:
            pass
        what = "is a folder" if path.is_dir() else "does not exist"
        return (
            f"{flag} {value}: the config file {what} ({path.absolute()}); give a recipe file, "
            "e.g. -c examples/configs/smoke.yaml (`inpaintlab fit --help` lists every option)"
        )
    return None


def default_wandb_mode(environ: dict[str, str] | None = None) -> str | None:
    """Set ``WANDB_MODE=offline`` when W&B has no API key (env or ``~/.netrc``) and no mode is set.

    Returns the mode that was set, or None when nothing changed (an explicit ``WANDB_MODE`` always wins).
    """
    env = os.environ if environ is None else environ
    if env.get("WANDB_MODE") or env.get("WANDB_API_KEY"):
        return None
    netrc = Path(env.get("NETRC", Path.home() / ".netrc"))
    try:
        if "api.wandb.ai" in netrc.read_text(errors="ignore"):
            return None
    except OSError:
        pass
    env["WANDB_MODE"] = "offline"
    log.info("no W&B API key found: W&B logs offline (run `wandb sync` later, or set WANDB_MODE=online)")
    return "offline"
