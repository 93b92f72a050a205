"""What the commands of ``inpaintlab`` share: the user-error type, the registry lookup, the ``--model``
check, and the picture files of ``inpaint`` and ``stylize`` (pairs by stem, atomic writes).

This module imports no other module of :mod:`inpaintlab.cli` (every command module imports it), and
nothing heavy: the registry and PIL are imported where a function needs them.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

DESCRIPTION = (
    "inpaintlab: GAN image inpainting. Training: fit | validate | test | predict (LightningCLI; "
    "`inpaintlab fit --help`). Pretrained models: models | download | export | inpaint | stylize | serve "
    "(`inpaintlab models --help`)."
)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
STYLIZER_NAME = "photo2monet"
CONFIG_FLAGS = ("-c", "--config")


class CliError(Exception):
    """A mistake the user can fix; :func:`inpaintlab.cli.main` prints its message as one line and returns 1."""


def config_values(args: Sequence[str]) -> list[tuple[str, str]]:
    """``(flag, value)`` of every ``-c X`` / ``--config X`` / ``--config=X`` of a training command line
    (a flag that ends the line, without its value, is left to LightningCLI to report)."""
    args = list(args)
    found = []
    for i, arg in enumerate(args):
        flag, eq, value = arg.partition("=")
        if flag in CONFIG_FLAGS and (eq or i + 1 < len(args)):
            found.append((flag, value if eq else args[i + 1]))
    return found


def registry_entry(name: str, entries=None):
    """The registry entry ``name``; an unknown name is a :class:`CliError` listing the known ones."""
    from inpaintlab.hub import get_entry

    try:
        return get_entry(name, entries)
    except KeyError as err:  # only the lookup: a KeyError anywhere else is a bug and keeps its traceback
        raise CliError(err.args[0] if err.args else str(err)) from None


def check_model(model: str, *, task: str = "inpaint") -> None:
    """Fail early, with the fix, for a ``--model`` that names nothing: a missing file, an unknown name,
    ``auto`` without a style classifier, or the not-yet-published ``photo2monet``."""
    from inpaintlab.hub import list_models

    if Path(model).suffix in (".safetensors", ".ckpt") or "/" in model or "\\" in model:
        if not Path(model).is_file():
            raise CliError(f"--model {model} does not exist (registry names have no '/' or suffix)")
        return
    if model == "auto" and task == "inpaint":
        from inpaintlab.api.auto import CLASSIFIER_NAME

        if CLASSIFIER_NAME not in list_models():
            raise CliError(
                f"--model auto needs the {CLASSIFIER_NAME!r} checkpoint, which the registry does not have; "
                "name a model (`inpaintlab models` lists them)"
            )
        return
    if model == STYLIZER_NAME and task == "stylize" and model not in list_models():
        raise CliError(
            f"no {STYLIZER_NAME!r} checkpoint is published yet. Train one with "
            "`inpaintlab fit -c examples/configs/cyclegan-monet.yaml` (a GPU job; "
            "examples/configs/cpu/cyclegan-monet.yaml runs on a CPU), export it with "
            f"`inpaintlab export runs/cyclegan-monet/checkpoints/latest/best.ckpt --name {STYLIZER_NAME}`, "
            f"and pass --model runs/cyclegan-monet/checkpoints/latest/{STYLIZER_NAME}.safetensors"
        )
    registry_entry(model)


def check_output(output: Path) -> None:
    """A single output file must have an extension PIL can write."""
    from PIL import Image

    if output.suffix.lower() not in Image.registered_extensions():
        got = f"the extension {output.suffix!r}" if output.suffix else "no file extension"
        raise CliError(
            f"--output {output} has {got}, so the picture format is unknown; name a file such as "
            f"{output.with_suffix('.png')} (.png, .jpg, .webp, .tif, ...) or an existing folder"
        )


def picture_pairs(image: Path, mask: Path, output: Path) -> list[tuple[Path, Path, Path]]:
    """(image, mask, output) paths for a single picture or for folders matched by file stem."""
    if not image.exists():
        raise FileNotFoundError(f"--image {image} does not exist")
    if not mask.exists():
        raise FileNotFoundError(f"--mask {mask} does not exist")
    if image.is_file():
        if mask.is_dir():
            raise ValueError(f"--image {image} is a file but --mask {mask} is a folder; give a mask file")
        if output.is_dir():
            output = output / f"{image.stem}.png"
        check_output(output)
        return [(image, mask, output)]
    if not mask.is_dir():
        raise ValueError(
            f"--image {image} is a folder, so --mask must be a folder of masks with the same stems"
        )
    images = folder_pictures(image, output)
    mask_files = sorted(p for p in mask.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    _unique_stems(mask_files, "--mask")
    masks = {p.stem: p for p in mask_files}
    missing = [p.name for p in images if p.stem not in masks]
    if missing:
        raise ValueError(
            f"{len(missing)} picture(s) in {image} have no mask with the same stem in {mask}: "
            + ", ".join(missing)
        )
    return [(p, masks[p.stem], output / f"{p.stem}.png") for p in images]


def save_picture(picture, path: Path) -> None:
    """Encode ``picture`` (PIL) in the format of ``path``'s suffix and write it atomically: an interrupted
    folder run never leaves a half-written picture, and an input is never replaced by half of its fill."""
    from PIL import Image

    from inpaintlab.io import atomic_write

    buffer = io.BytesIO()
    picture.save(buffer, format=Image.registered_extensions()[path.suffix.lower()])
    atomic_write(path, buffer.getvalue())


def _unique_stems(paths: list[Path], option: str) -> None:
    """Folder mode pairs pictures, masks and outputs by file stem: two files of one stem are ambiguous."""
    seen: dict[str, Path] = {}
    clashes = [f"{seen[p.stem].name} and {p.name}" for p in paths if seen.setdefault(p.stem, p) is not p]
    if clashes:
        raise ValueError(
            f"{option} holds files that differ only in their extension ({'; '.join(clashes)}): their outputs "
            "(and masks) are matched by stem and would overwrite each other; rename or move one of each"
        )


def folder_pictures(folder: Path, output: Path) -> list[Path]:
    """The pictures of the ``--image`` folder, sorted; ``--output`` must then be a folder too."""
    if output.exists() and not output.is_dir():
        raise ValueError(f"--image {folder} is a folder, so --output must be a folder, got the file {output}")
    pictures = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not pictures:
        raise ValueError(f"--image {folder} is a folder with no pictures ({', '.join(IMAGE_SUFFIXES)}) in it")
    _unique_stems(pictures, "--image")
    return pictures
