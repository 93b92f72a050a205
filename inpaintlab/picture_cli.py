"""The picture commands of ``inpaintlab``: ``inpaint`` and ``stylize`` (a picture or a folder of them).

:mod:`inpaintlab.hub_cli` parses the command line and hands these commands their arguments.
``inpaint`` runs a registry model with ONNX Runtime where it can, without importing torch (see
:func:`load_inpainter`), and with torch otherwise; outputs are written atomically.

    inpaintlab inpaint --model photo-region --image in.jpg --mask mask.png --output out.png [--dilate 4]
    inpaintlab inpaint --model auto --image photos/ --mask masks/ --output filled/
    inpaintlab stylize --model photo2monet --image photos/ --output monet-style/
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from inpaintlab.api.pictures import read_picture
from inpaintlab.hub_cli import IMAGE_SUFFIXES, STYLIZER_NAME, CliError, _entry

log = logging.getLogger(__name__)


def _check_model(model: str, *, task: str = "inpaint") -> None:
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
    _entry(model)


def cmd_inpaint(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    pairs = _pairs(args.image, args.mask, args.output)
    _check_model(args.model)
    inpainter, runtime = load_inpainter(args.model, args.runtime, args.device)
    counts: Counter[str] = Counter()
    for image_path, mask_path, out_path in tqdm(
        pairs, desc="inpaint", unit="img", file=sys.stderr, disable=len(pairs) < 2
    ):
        image, mask = read_picture(image_path, "--image"), read_picture(mask_path, "--mask")
        result = inpainter(image, mask, dilate=args.dilate, threshold=args.threshold, strategy=args.strategy)
        last_models = getattr(inpainter, "last_models", None)  # AutoInpainter: the model of each picture
        if last_models is not None:
            counts.update(m or "unchanged (empty mask)" for m in last_models)
        else:
            counts[inpainter.name] += 1
        out_path.parent.mkdir(parents=True, exist_ok=True)
        if out_path.suffix.lower() in (".jpg", ".jpeg") and result.mode not in ("RGB", "L"):
            result = result.convert("RGB")  # JPEG has no alpha
        _save_picture(result, out_path)
    models = ", ".join(f"{name}: {n}" for name, n in sorted(counts.items()))
    if len(pairs) == 1:
        print(f"{pairs[0][2]} ({next(iter(counts))}, {runtime})")
    else:
        print(f"wrote {len(pairs)} pictures to {args.output} ({models}; {runtime})")
    return 0


def load_inpainter(model: str, runtime: str = "auto", device: str | None = None) -> tuple[Any, str]:
    """``(inpainter, runtime name)`` for ``--model`` / ``--runtime`` / ``--device``.

    ``onnx`` runs the registry entry's ONNX file with ONNX Runtime on the CPU, without importing torch
    (:class:`~inpaintlab.api.onnx_inpainter.OnnxInpainter`); ``torch`` runs ``load(model)``; ``auto``
    takes ONNX where it can (a registry name whose entry has an ONNX file, no device other than the
    CPU, onnxruntime installed) and torch otherwise. ``--runtime onnx`` where it cannot is a
    :class:`CliError` saying why.
    """
    if runtime in ("auto", "onnx"):
        from inpaintlab.hub import load_registry

        entry = load_registry().get(model)
        reason, unexpected = _not_for_onnx(entry, device), False
        if reason is None:
            from inpaintlab.api.onnx_inpainter import OnnxInpainter

            try:
                return OnnxInpainter.from_entry(entry), "onnx"
            except Exception as err:  # noqa: BLE001 - no verified ONNX copy, no onnxruntime, or a graph it cannot run
                reason, unexpected = f"{type(err).__name__}: {err}", True
        if runtime == "onnx":
            raise CliError(f"--runtime onnx cannot run --model {model}: {reason}; use --runtime torch")
        if unexpected:  # a registry model that should have run on ONNX Runtime: say why it is slower
            print(f"note: running --model {model} with torch (slower start): {reason}", file=sys.stderr)
        else:
            log.info("running --model %s with torch: %s", model, reason)
    from inpaintlab.api import load

    return load(model, device=device), "torch"


def _not_for_onnx(entry, device: str | None) -> str | None:
    """Why a model is not one ONNX Runtime runs (torch does), or None: a registry ``entry`` on the CPU."""
    if device not in (None, "cpu"):
        return f"the ONNX runtime runs on the CPU only, not --device {device}"
    if entry is None:
        return "only registry names have ONNX files (model files and 'auto' run with torch)"
    return None


def cmd_stylize(args: argparse.Namespace) -> int:
    """Stylize one picture or a folder (e.g. photos to add to a Monet training set through
    ``InpaintDataModule(extra_train_dirs=[...])``). Outputs are PNG; an existing output is replaced."""
    from tqdm.auto import tqdm

    if not args.image.exists():
        raise FileNotFoundError(f"--image {args.image} does not exist")
    if args.image.is_file():
        output = args.output / f"{args.image.stem}.png" if args.output.is_dir() else args.output
        _check_output(output)
        jobs = [(args.image, output)]
    else:
        jobs = [(p, args.output / f"{p.stem}.png") for p in _folder_pictures(args.image, args.output)[: args.limit]]
    _check_model(args.model, task="stylize")
    from inpaintlab.api import Stylizer, load

    stylizer = load(args.model, device=args.device)
    if not isinstance(stylizer, Stylizer):
        raise CliError(f"--model {args.model} is an inpainter, not a style translator such as {STYLIZER_NAME}")
    for image_path, out_path in tqdm(jobs, desc="stylize", unit="img", file=sys.stderr, disable=len(jobs) < 2):
        image = read_picture(image_path, "--image")
        result = stylizer(image.convert("RGB") if image.mode not in ("RGB", "RGBA", "L", "LA") else image)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        _save_picture(result, out_path)
    print(f"wrote {len(jobs)} picture(s) to {args.output} ({stylizer.name})")
    return 0


def _check_output(output: Path) -> None:
    """A single output file must have an extension PIL can write."""
    from PIL import Image

    if output.suffix.lower() not in Image.registered_extensions():
        got = f"the extension {output.suffix!r}" if output.suffix else "no file extension"
        raise CliError(
            f"--output {output} has {got}, so the picture format is unknown; name a file such as "
            f"{output.with_suffix('.png')} (.png, .jpg, .webp, .tif, ...) or an existing folder"
        )


def _pairs(image: Path, mask: Path, output: Path) -> list[tuple[Path, Path, Path]]:
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
        _check_output(output)
        return [(image, mask, output)]
    if not mask.is_dir():
        raise ValueError(
            f"--image {image} is a folder, so --mask must be a folder of masks with the same stems"
        )
    images = _folder_pictures(image, output)
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


def _save_picture(picture, path: Path) -> None:
    """Encode ``picture`` (PIL) in the format of ``path``'s suffix and write it atomically: an interrupted
    folder run never leaves a half-written picture, and an input is never replaced by half of its fill."""
    import io

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


def _folder_pictures(folder: Path, output: Path) -> list[Path]:
    """The pictures of the ``--image`` folder, sorted; ``--output`` must then be a folder too."""
    if output.exists() and not output.is_dir():
        raise ValueError(f"--image {folder} is a folder, so --output must be a folder, got the file {output}")
    pictures = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not pictures:
        raise ValueError(f"--image {folder} is a folder with no pictures ({', '.join(IMAGE_SUFFIXES)}) in it")
    _unique_stems(pictures, "--image")
    return pictures
