"""The training commands of ``inpaintlab``: ``fit | validate | test | predict`` through LightningCLI.

    inpaintlab fit -c examples/configs/photo-center.yaml            # train (one CPU, one or many GPUs)
    inpaintlab fit -c examples/configs/photo-center.yaml --ckpt_path last     # resume the newest run
    inpaintlab validate -c examples/configs/photo-center.yaml \
        --ckpt_path runs/photo-center/checkpoints/latest/best.ckpt
    inpaintlab fit -c examples/configs/smoke.yaml --print_config   # the full, resolved config

:class:`InpaintLightningCLI` (model: ``InpaintModule`` or a subclass, data: ``InpaintDataModule`` or a
subclass, both configurable with ``class_path``) adds to LightningCLI a ``checkpoint`` group (a
``ModelCheckpoint`` keeping ``best.ckpt`` by val FID, or by PSNR when FID is off, and a ``last.ckpt`` rewritten at every validation),
always writes checkpoints atomically (:class:`~inpaintlab.training.checkpoint_io.AtomicCheckpointIO`), saves the
resolved config next to the checkpoints, and gives every ``fit`` its own folder
``<checkpoint.dirpath>/version_N`` (:func:`run_folder`; ``latest`` links to the newest run that has
written a checkpoint, :func:`point_latest`), so a second run
never mixes its ``best.ckpt`` with the first's. Only :mod:`inpaintlab.cli.training` imports this module, and only
for these commands: it is the one that loads Lightning.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import sys
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path

from lightning.pytorch import LightningDataModule, LightningModule, Trainer
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback
from lightning.pytorch.plugins.io import CheckpointIO

from inpaintlab.cli.common import DESCRIPTION, config_values
from inpaintlab.io import atomic_symlink
from inpaintlab.tasks.inpaint import InpaintDataModule, InpaintModule
from inpaintlab.training.checkpoint_io import AtomicCheckpointIO, BestAndLastCheckpoint

log = logging.getLogger(__name__)
_JSONARGPARSE_VERSION = tuple(int(p) for p in version("jsonargparse").split(".")[:2] if p.isdigit())

AUTO_MONITOR = "auto"
CONFIG_FILENAME = "config.yaml"
LATEST = "latest"
_VERSION = re.compile(r"^version_(\d+)$")

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
        if self.multifile:
            self.parser.save(self.config, path, overwrite=True, multifile=True, **{keep_all: False})
        else:  # one file, written atomically: an interrupted start never leaves half a config.yaml
            from inpaintlab.io import atomic_write

            atomic_write(path, self.parser.dump(self.config, **{keep_all: False}).encode("utf-8"))
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


def run_folder(base: str | os.PathLike, ckpt_path: str | None = None, *, claim: bool = True) -> Path:
    """The folder a ``fit`` writes its checkpoints and config to: ``<base>/version_N``.

    A new run gets the next free ``N`` (claimed by creating the folder, so two runs started at once
    never share one; ``<base>/latest`` follows once it writes a checkpoint, :func:`point_latest`). A resumed run continues in its own folder:
    ``ckpt_path="last"`` picks the newest ``version_N`` holding a ``last.ckpt``, a path inside
    ``<base>/version_N`` (or ``<base>/latest``) picks that folder; a ``last.ckpt`` directly in ``base``
    (a run from before run folders existed) is resumed in place.

    Args:
        base: ``checkpoint.dirpath`` of the recipe.
        ckpt_path: the ``--ckpt_path`` of the command, if any.
        claim: create the folder (rank 0 only); otherwise only compute it.
    """
    base = Path(base)
    versions = sorted(
        (int(m.group(1)), p) for p in (base.iterdir() if base.is_dir() else []) if (m := _VERSION.match(p.name))
    )
    folders = [p for _, p in versions if p.is_dir() and not p.is_symlink()]
    if ckpt_path == "last":
        resumable = [p for p in folders if (p / "last.ckpt").is_file()]
        if resumable:
            return resumable[-1]
        if (base / "last.ckpt").is_file():
            return base
    elif ckpt_path:
        parent = Path(ckpt_path).resolve().parent
        for folder in [*folders, base]:
            if parent == folder.resolve():
                return folder
    number = versions[-1][0] + 1 if versions else 0
    if not claim:
        return base / f"version_{number}"
    while True:
        folder = base / f"version_{number}"
        try:
            folder.mkdir(parents=True)
            break
        except FileExistsError:
            number += 1
    return folder


def point_latest(folder: str | os.PathLike) -> None:
    """Point ``<base>/latest`` at the run folder ``<base>/version_N`` (atomically; nothing for other folders).

    :class:`RunCheckpoint` calls it after each checkpoint it writes, so ``latest`` always names the newest
    run that holds a checkpoint: a run that stops before its first one leaves ``latest/best.ckpt`` of the
    run before it in place, and an older run resumed beside a newer one does not take ``latest`` back
    (only a link to a lower ``N``, or to a folder without a checkpoint, moves). A real folder a user named
    ``latest`` is never replaced.
    """
    folder = Path(folder)
    match = _VERSION.match(folder.name)
    if not match:
        return
    latest = folder.parent / LATEST
    if latest.is_symlink():
        current = _VERSION.match(os.readlink(latest))
        newer = current is not None and int(current.group(1)) >= int(match.group(1))
        if newer and any((folder.parent / current.group(0)).glob("*.ckpt")):
            return  # already this folder, or a newer run with a checkpoint
    if not latest.exists() or latest.is_symlink():
        try:
            atomic_symlink(latest, folder.name, target_is_directory=True)
        except OSError as err:  # a file system without symbolic links: the versions are still there
            log.warning("could not point %s at %s (%s)", latest, folder.name, err)


class RunCheckpoint(BestAndLastCheckpoint):
    """:class:`~inpaintlab.training.checkpoint_io.BestAndLastCheckpoint` (``last.ckpt`` at every validation,
    also without a new best) that points ``<base>/latest`` at its run folder once a checkpoint is written."""

    def _save_checkpoint(self, trainer: Trainer, filepath: str) -> None:
        super()._save_checkpoint(trainer, filepath)
        if trainer.is_global_zero:
            point_latest(Path(filepath).parent)


def classes_named(args: Sequence[str]) -> set[str]:
    """Which of ``model`` / ``data`` the command line names a class for: ``--model X``,
    ``--model.class_path X`` (or ``=X``), or a ``-c`` / ``--config`` file with ``model: {class_path: X}``
    (or ``model: X``). A config file that cannot be read is left to LightningCLI to report."""
    import yaml

    named: set[str] = set()
    args = list(args)
    for arg in args:
        flag = arg.partition("=")[0]
        for key in ("model", "data"):
            if flag in (f"--{key}", f"--{key}.class_path"):
                named.add(key)
    for _, path in config_values(args):
        try:
            config = yaml.safe_load(Path(path).read_text())
        except (OSError, ValueError, yaml.YAMLError):
            continue
        if isinstance(config, dict):
            for key in ("model", "data"):
                part = config.get(key)
                if isinstance(part, str) or (isinstance(part, dict) and "class_path" in part):
                    named.add(key)
    return named


def _is_rank_zero() -> bool:
    """True in the process of global rank 0 (or without any launcher's rank variables: torchrun's, SLURM's
    ``srun``, Open MPI's and PMI's)."""
    ranks = ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID", "OMPI_COMM_WORLD_RANK", "PMI_RANK")
    return all(os.environ.get(var, "0") == "0" for var in ranks)


class InpaintLightningCLI(LightningCLI):
    """LightningCLI with ``InpaintModule`` + ``InpaintDataModule`` as defaults and best/last checkpointing.

    Any LightningModule / LightningDataModule can be named with ``class_path`` (the project's style
    classifier is trained this way); without one, the model is ``InpaintModule`` and the data
    ``InpaintDataModule``.
    """

    def __init__(self, args: Sequence[str] | None = None, run: bool = True, **kwargs) -> None:
        self._classes_given = classes_named(sys.argv[1:] if args is None else args)
        kwargs.setdefault("save_config_callback", RunConfigSaver)
        kwargs.setdefault("parser_kwargs", {"prog": "inpaintlab", "description": DESCRIPTION})
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
        parser.add_lightning_class_args(RunCheckpoint, "checkpoint")
        # the default classes only where the command names none: jsonargparse carries a default class's
        # init_args over to the class a recipe names when they are valid for it (jsonargparse issue #460),
        # e.g. InpaintModule's d_lr=4e-4 into a StylizeModule recipe whose own default is lr
        defaults = {
            key: {"class_path": f"{cls.__module__}.{cls.__name__}"}
            for key, cls in (("model", InpaintModule), ("data", InpaintDataModule))
            if key not in self._classes_given
        }
        parser.set_defaults(
            {
                **defaults,
                "checkpoint.monitor": AUTO_MONITOR,
                "checkpoint.filename": "best",
                "checkpoint.save_top_k": 1,
                "checkpoint.save_last": True,
                "checkpoint.auto_insert_metric_name": False,
            }
        )

    def before_instantiate_classes(self) -> None:
        """Give a ``fit`` its run folder (:func:`run_folder`) and resolve ``checkpoint.monitor: auto``.

        The monitor comes from the model class's ``checkpoint_monitor(init_args)`` (``InpaintModule``:
        val/fid with FID on, else val/psnr_hole; ``StylizeModule``: val/fid, else none); a model without one
        gets no monitor (the last epoch's checkpoint is "best")."""
        config = self.config[self.subcommand] if self.subcommand else self.config
        if config.get("checkpoint") is None:
            return
        if self.subcommand == "fit" and config.checkpoint.get("dirpath"):
            # every rank computes it; only rank 0 creates it, and ModelCheckpoint broadcasts rank 0's choice
            folder = run_folder(config.checkpoint.dirpath, config.get("ckpt_path"), claim=_is_rank_zero())
            config.checkpoint.dirpath = str(folder)
        if config.checkpoint.monitor != AUTO_MONITOR:
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


def run(argv: Sequence[str] | None = None) -> int:
    """Run one training command through :class:`InpaintLightningCLI`; returns the exit status.

    ``argv=None`` lets LightningCLI read ``sys.argv`` itself (DDP's launcher re-runs the same command
    line); jsonargparse's exits (``--help``, ``--print_config``, config errors) become return values.
    """
    try:
        InpaintLightningCLI(args=None if argv is None else list(argv))
    except SystemExit as stop:
        code = stop.code
        if code is None or isinstance(code, int):
            return int(code or 0)
        sys.stderr.write(f"{code}\n")
        return 1
    return 0
