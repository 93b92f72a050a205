"""``inpaintlab inpaint``: inpaint a picture or a folder of pictures (masks matched by file stem).

A registry model runs with ONNX Runtime where it can, without importing torch (see
:func:`load_inpainter`), and with torch otherwise; outputs are written atomically. ``--model`` is
``auto`` unless given (each picture goes to the checkpoint of its style and mask kind); a folder run
prints which model filled each file, then the count per model.

    inpaintlab inpaint --image in.jpg --mask mask.png --output out.png [--dilate 4]
    inpaintlab inpaint --model photo-region --image photos/ --mask masks/ --output filled/
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from inpaintlab.cli.common import CliError, check_model, picture_pairs, save_picture

log = logging.getLogger(__name__)

EMPTY_MASK = "unchanged (empty mask)"


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("inpaint", help="inpaint a picture or a folder of pictures")
    parser.add_argument(
        "--model", default="auto",
        help="registry name, 'auto' (default: the checkpoint of each picture's style and mask kind), "
        "or a .safetensors/.ckpt file",
    )  # fmt: skip
    parser.add_argument("--image", required=True, type=Path, help="picture or folder")
    parser.add_argument(
        "--mask", required=True, type=Path, help="mask (nonzero = hole) or folder (same stems)"
    )
    parser.add_argument("--output", required=True, type=Path, help="output picture or folder")
    parser.add_argument("--dilate", type=int, default=0, help="grow the hole by N pixels")
    parser.add_argument(
        "--threshold", type=float, default=None, help="hole = mask value > T (default: any nonzero value)"
    )
    parser.add_argument(
        "--strategy", choices=("auto", "original", "crop", "resize"), default="auto",
        help="where the model runs: auto (full scale unless a hole is too thick), original, crop, resize",
    )  # fmt: skip
    parser.add_argument(
        "--no-texture", dest="texture", action="store_false",
        help="the network's fill without the texture stage: the PSNR-optimal (blurred) fill (model files "
        "outside the registry have no texture settings and never get texture)",
    )  # fmt: skip
    parser.add_argument(
        "--runtime", choices=("auto", "onnx", "torch"), default="auto",
        help="auto (default): ONNX Runtime on the CPU for a registry model with an ONNX file (no torch import), "
        "else torch; onnx; torch",
    )  # fmt: skip
    parser.add_argument(
        "--device", default=None,
        help="cpu, cuda, ... (default: the CPU on ONNX Runtime; with --runtime torch, cuda if available)",
    )  # fmt: skip
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from inpaintlab.api.pictures import read_picture  # numpy and PIL: not for `inpaintlab models`

    pairs = picture_pairs(args.image, args.mask, args.output)
    check_model(args.model)
    inpainter, runtime = load_inpainter(args.model, args.runtime, args.device, args.texture)
    counts: Counter[str] = Counter()
    progress = tqdm(pairs, desc="inpaint", unit="img", file=sys.stderr, disable=len(pairs) < 2)
    for image_path, mask_path, out_path in progress:
        image, mask = read_picture(image_path, "--image"), read_picture(mask_path, "--mask")
        result = inpainter(image, mask, dilate=args.dilate, threshold=args.threshold, strategy=args.strategy)
        model = _model_that_ran(inpainter)
        counts[model] += 1
        out_path.parent.mkdir(parents=True, exist_ok=True)
        if out_path.suffix.lower() in (".jpg", ".jpeg") and result.mode not in ("RGB", "L"):
            result = result.convert("RGB")  # JPEG has no alpha
        save_picture(result, out_path)
        if len(pairs) > 1:
            progress.write(f"{out_path} ({model})", file=sys.stdout)  # above the progress bar
    if len(pairs) == 1:
        print(f"{pairs[0][2]} ({next(iter(counts))}, {runtime})")
    else:
        models = ", ".join(f"{name}: {n}" for name, n in sorted(counts.items()))
        print(f"wrote {len(pairs)} pictures to {args.output} ({models}; {runtime})")
    return 0


def _model_that_ran(inpainter) -> str:
    """The checkpoint that filled the last picture: :attr:`AutoInpainter.last_models` routes each one."""
    last_models = getattr(inpainter, "last_models", None)
    if last_models is None:
        return inpainter.name
    return last_models[0] or EMPTY_MASK


def load_inpainter(
    model: str, runtime: str = "auto", device: str | None = None, texture: bool = True
) -> tuple[Any, str]:
    """``(inpainter, runtime name)`` for ``--model`` / ``--runtime`` / ``--device`` / ``--no-texture``.

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
                return OnnxInpainter.from_entry(entry, texture=texture), "onnx"
            except Exception as err:  # noqa: BLE001 - no verified ONNX copy, no onnxruntime, or a graph it cannot run
                reason, unexpected = f"{type(err).__name__}: {err}", True
        if runtime == "onnx":
            raise CliError(f"--runtime onnx cannot run --model {model}: {reason}; use --runtime torch")
        if unexpected:  # a registry model that should have run on ONNX Runtime: say why it is slower
            print(f"note: running --model {model} with torch (slower start): {reason}", file=sys.stderr)
        else:
            log.info("running --model %s with torch: %s", model, reason)
    from inpaintlab.api import load

    return load(model, device=device, texture=texture), "torch"


def _not_for_onnx(entry, device: str | None) -> str | None:
    """Why a model is not one ONNX Runtime runs (torch does), or None: a registry ``entry`` on the CPU."""
    if device not in (None, "cpu"):
        return f"the ONNX runtime runs on the CPU only, not --device {device}"
    if entry is None:
        return "only registry names have ONNX files (model files and 'auto' run with torch)"
    return None
