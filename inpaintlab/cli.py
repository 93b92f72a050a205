"""The ``inpaintlab`` command: one entry point for training and for the pretrained models.

    inpaintlab fit -c examples/configs/photo-center.yaml            # train (one CPU, one or many GPUs)
    inpaintlab fit -c examples/configs/photo-center.yaml --ckpt_path last     # resume the newest run
    inpaintlab validate -c examples/configs/photo-center.yaml \
        --ckpt_path runs/photo-center/checkpoints/latest/best.ckpt
    inpaintlab models | download | export | inpaint | stylize ...  # the hub (inpaintlab.hub_cli)

This module imports nothing heavy: ``fit | validate | test | predict`` load Lightning (and through
the training modules torch-fidelity, kornia, timm and wandb) from :mod:`inpaintlab.lightning_cli` only
when one of them runs; the hub commands go to :mod:`inpaintlab.hub_cli`, which imports torch only
for the commands that run a model.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import inpaintlab

log = logging.getLogger(__name__)

TRAINING_COMMANDS = ("fit", "validate", "test", "predict")
HUB_COMMANDS = ("models", "download", "export", "inpaint", "stylize", "serve")

DESCRIPTION = (
    "inpaintlab: GAN image inpainting. Training: fit | validate | test | predict (LightningCLI; "
    "`inpaintlab fit --help`). Pretrained models: models | download | export | inpaint | stylize | serve "
    "(`inpaintlab models --help`)."
)

USAGE = f"""usage: inpaintlab {{{",".join(TRAINING_COMMANDS + HUB_COMMANDS)}}} ...

{DESCRIPTION}

training (LightningCLI):
  fit          train a model from a recipe: inpaintlab fit -c examples/configs/photo-blocks.yaml
  validate     validate a checkpoint (--ckpt_path runs/.../latest/best.ckpt)
  test         test a checkpoint
  predict      run a checkpoint's predict loop
pretrained models:
  models       list the registry's checkpoints (inpaintlab models NAME: one entry in full)
  download     make checkpoints available locally (the package's files, or download into the cache)
  export       turn a training .ckpt into a safetensors file + registry entry (--format onnx|torchscript)
  inpaint      inpaint a picture or a folder of pictures
  stylize      turn photos into Monet-style pictures
  serve        the brush page and REST API in the browser (inpaintlab[serve])

`inpaintlab COMMAND --help` describes one command; `inpaintlab --version` prints the version.
"""

# names that moved to inpaintlab.lightning_cli, still importable from here (importing them loads Lightning)
_MOVED = ("InpaintLightningCLI", "RunConfigSaver", "run_folder")


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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``inpaintlab`` console script; returns the exit status.

    ``fit | validate | test | predict`` run :func:`inpaintlab.lightning_cli.run`; ``models | download |
    export | inpaint | stylize | serve`` go to :func:`inpaintlab.hub_cli.main`; no command or ``--help`` prints
    the usage of all of them (without importing Lightning or torch).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    first = args[0] if args else None
    if first in HUB_COMMANDS:
        from inpaintlab.hub_cli import main as hub_main

        return int(hub_main(args) or 0)
    if first in TRAINING_COMMANDS:
        from inpaintlab.lightning_cli import run

        # argv=None: LightningCLI reads sys.argv itself (and DDP's launcher re-runs the same command line)
        return run(None if argv is None else args)
    if first in ("-h", "--help"):
        print(USAGE, end="")
        return 0
    if first == "--version":
        print(f"inpaintlab {inpaintlab.__version__}")
        return 0
    print(USAGE, end="", file=sys.stderr)
    if first is not None:
        print(f"\nerror: unknown command {first!r}; choose one of the commands above", file=sys.stderr)
    return 2


def __getattr__(name: str):
    if name in _MOVED:
        return getattr(importlib.import_module("inpaintlab.lightning_cli"), name)
    raise AttributeError(f"module 'inpaintlab.cli' has no attribute {name!r}")


if __name__ == "__main__":
    raise SystemExit(main())
