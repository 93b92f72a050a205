"""The ``inpaintlab`` command: training through LightningCLI, plus the hub's commands.

    inpaintlab fit -c examples/configs/photo-center.yaml            # train (one CPU, one or many GPUs)
    inpaintlab fit -c examples/configs/photo-center.yaml --ckpt_path last     # resume a killed run
    inpaintlab validate -c examples/configs/photo-center.yaml \
        --ckpt_path runs/photo-center/checkpoints/best.ckpt
    inpaintlab fit -c examples/configs/smoke.yaml --print_config   # the full, resolved config
    inpaintlab models | download | export | inpaint | stylize ...  # the hub (inpaintlab.hub_cli)

``fit | validate | test | predict`` go to :class:`InpaintLightningCLI` (model: ``InpaintModule`` or a
subclass, data: ``InpaintDataModule`` or a subclass, both configurable with ``class_path``). On top of
LightningCLI it adds a ``checkpoint`` group (a ``ModelCheckpoint`` keeping ``best.ckpt`` by val FID, or by
PSNR when FID is off, and ``last.ckpt``), always writes checkpoints atomically
(:class:`~inpaintlab.training.checkpoint_io.AtomicCheckpointIO`), saves the resolved config next to the
checkpoints, and makes W&B run offline when no API key is configured (``WANDB_MODE`` wins if set).
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path

from lightning.pytorch import LightningDataModule, LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback
from lightning.pytorch.plugins.io import CheckpointIO

from inpaintlab.tasks.inpaint import InpaintDataModule, InpaintModule
from inpaintlab.training.checkpoint_io import AtomicCheckpointIO

log = logging.getLogger(__name__)
_JSONARGPARSE_VERSION = tuple(int(p) for p in version("jsonargparse").split(".")[:2] if p.isdigit())

TRAINING_COMMANDS = ("fit", "validate", "test", "predict")
HUB_COMMANDS = ("models", "download", "export", "inpaint", "stylize", "serve")
AUTO_MONITOR = "auto"
CONFIG_FILENAME = "config.yaml"

USAGE = (
    "inpaintlab {fit,validate,test,predict} [-c CONFIG] ...  |  "
    "inpaintlab {" + ",".join(HUB_COMMANDS) + "} ..."
)
DESCRIPTION = (
    "inpaintlab: GAN image inpainting. Training: fit | validate | test | predict (LightningCLI; "
    "`inpaintlab fit --help`). Pretrained models: models | download | export | inpaint | stylize | serve "
    "(`inpaintlab models --help`)."
)


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


class RunConfigSaver(SaveConfigCallback):
    """Saves the resolved config as ``config.yaml`` in the run's checkpoint folder when a fit starts.

    Lightning's default writes into ``trainer.log_dir``, which W&B shares between runs (the second run
    would refuse to overwrite it); the checkpoint folder is per run, and the config then travels with
    ``best.ckpt`` / ``last.ckpt``.
    """

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        """Nothing here: the checkpoint folder is only known once ``ModelCheckpoint`` is set up."""

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self.already_saved or not trainer.is_global_zero:
            return
        checkpoint = trainer.checkpoint_callback
        folder = getattr(checkpoint, "dirpath", None) or trainer.log_dir or trainer.default_root_dir
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, self.config_filename)
        # keep every value, the defaults too (jsonargparse >= 4.49 names the option skip_unset)
        keep_all = "skip_unset" if _JSONARGPARSE_VERSION >= (4, 49) else "skip_none"
        self.parser.save(self.config, path, overwrite=True, multifile=self.multifile, **{keep_all: False})
        self.already_saved = True
        log.info("config saved to %s", path)


def _class_from_path(class_path: str | None) -> type | None:
    if not class_path or "." not in class_path:
        return None
    module, _, name = class_path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name, None)
    except ImportError:
        return None


class InpaintLightningCLI(LightningCLI):
    """LightningCLI with ``InpaintModule`` + ``InpaintDataModule`` as defaults and best/last checkpointing.

    Any LightningModule / LightningDataModule can be named with ``class_path`` (the project's style
    classifier is trained this way); without one, the model is ``InpaintModule`` and the data
    ``InpaintDataModule``.
    """

    def __init__(self, args: Sequence[str] | None = None, run: bool = True, **kwargs) -> None:
        kwargs.setdefault("save_config_callback", RunConfigSaver)
        kwargs.setdefault("parser_kwargs", {"prog": "inpaintlab", "description": DESCRIPTION, "usage": USAGE})
        super().__init__(
            LightningModule,
            LightningDataModule,
            subclass_mode_model=True,
            subclass_mode_data=True,
            args=args,
            run=run,
            **kwargs,
        )

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults(
            {
                "model": {"class_path": f"{InpaintModule.__module__}.{InpaintModule.__name__}"},
                "data": {"class_path": f"{InpaintDataModule.__module__}.{InpaintDataModule.__name__}"},
                "checkpoint.monitor": AUTO_MONITOR,
                "checkpoint.filename": "best",
                "checkpoint.save_top_k": 1,
                "checkpoint.save_last": True,
                "checkpoint.auto_insert_metric_name": False,
            }
        )

    def before_instantiate_classes(self) -> None:
        """Resolve ``checkpoint.monitor: auto`` through the model class's ``checkpoint_monitor(init_args)``
        (``InpaintModule``: val/fid with FID on, else val/psnr_hole; ``StylizeModule``: val/fid, else none);
        a model without one gets no monitor (the last epoch's checkpoint is "best")."""
        config = self.config[self.subcommand] if self.subcommand else self.config
        if config.get("checkpoint") is None or config.checkpoint.monitor != AUTO_MONITOR:
            return
        model_class = _class_from_path(config.model.get("class_path"))
        resolve = getattr(model_class, "checkpoint_monitor", None)
        if callable(resolve):
            init_args = config.model.get("init_args") or {}
            config.checkpoint.monitor, config.checkpoint.mode = resolve(init_args if hasattr(init_args, "get") else {})
        else:
            config.checkpoint.monitor = None

    def instantiate_trainer(self, **kwargs) -> Trainer:
        """The configured trainer, with :class:`AtomicCheckpointIO` unless another CheckpointIO is given."""
        plugins = kwargs.pop("plugins", None)
        if plugins is None:
            plugins = self._get(self.config_init, "trainer", default={}).get("plugins")
        plugins = (
            [] if plugins is None else list(plugins) if isinstance(plugins, (list, tuple)) else [plugins]
        )
        if not any(isinstance(p, CheckpointIO) for p in plugins):
            plugins.append(AtomicCheckpointIO())
        return super().instantiate_trainer(plugins=plugins, **kwargs)

    def before_fit(self) -> None:
        """Record where this run's recipe and data came from (written into checkpoints for the hub)."""
        config = self.config[self.subcommand]
        files = config.get("config") or []
        recipe = {}
        if files:
            path = os.path.abspath(str(getattr(files[0], "absolute", files[0])))
            inside = os.path.commonpath([path, os.getcwd()]) == os.getcwd()
            recipe["config"] = os.path.relpath(path) if inside else path
        data_args = config.data.get("init_args") or {}
        if hasattr(data_args, "get"):
            single = data_args.get("train_dir") or data_args.get("image_dir")
            # InpaintDataModule reads one folder; the two-domain data modules read photos + paintings
            folders = [single] if single else [data_args.get(k) for k in ("photo_train", "monet_train")]
            if all(folders):
                recipe["data"] = " + ".join(str(f) for f in folders)
        if hasattr(self.model, "recipe"):
            self.model.recipe = recipe


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``inpaintlab`` console script; returns the exit status.

    ``fit | validate | test | predict`` (and ``--help``) run :class:`InpaintLightningCLI`;
    ``models | download | export | inpaint | stylize | serve`` go to :func:`inpaintlab.hub_cli.main`.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in HUB_COMMANDS:
        from inpaintlab.hub_cli import main as hub_main

        return int(hub_main(args) or 0)
    default_wandb_mode()
    try:
        # argv=None: LightningCLI reads sys.argv itself (and DDP's launcher re-runs the same command line)
        InpaintLightningCLI(args=None if argv is None else args)
    except SystemExit as stop:  # jsonargparse exits after --help, --print_config and on config errors
        code = stop.code
        if code is None or isinstance(code, int):
            return int(code or 0)
        sys.stderr.write(f"{code}\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
