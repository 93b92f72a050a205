"""Hole quality at the sizes users bring (256 px by default): checkpoints against the classical fills.

For each val set (photo, Monet) and each mask family, every image gets one fixed mask:

* ``center``, ``blocks``, ``region``: the library's own mask kinds (seeded per image);
* ``thin``, ``medium``, ``thick``: LaMa's 256 px evaluation families, drawn by ``lama_masks.py``
  (OpenCV lines, Python's ``random``; independent of ``inpaintlab.masks``);
* ``handdrawn``: scribbles and silhouettes drawn with PIL (``handdrawn_masks.py``).

Methods: the registry checkpoint of that style and kind (the ``region`` one for the free-form
families), on paintings also the photo checkpoint of the kind (what the fine-tune adds), candidates
given with ``--model NAME=PATH`` (a ``.ckpt`` or ``.safetensors`` not yet in the registry), OpenCV's
``cv2.inpaint`` TELEA and Navier-Stokes, PatchMatch (``pypatchmatch``, IOPaint's classical model), the library's
``pyramid_fill`` with its default 8 Jacobi sweeps per level (``harmonic-fill``) and with the red-black SOR
sweeps of the ``prefill_solver="sor"`` prior
(``harmonic-sor``, the work of the earlier Jacobi prefill: 8 sweeps doubling to 64), and the harmonic fill solved to convergence (coarse to fine, 150 Jacobi
sweeps per level).
Metrics on the hole only: PSNR, SSIM, L1 (``inpaintlab.metrics.hole_metrics``) and ``sharpness``, the
hole's high-frequency energy (squared Laplacian of the luminance) over the ground truth's: 1 = as much
detail as the truth, a blur is well below 1.

    python benchmarks/quality.py                                     # 256 px, every val image
    python benchmarks/quality.py --model photo-universal=runs/cpu-photo-universal/checkpoints/latest/best.ckpt --limit 50
    python benchmarks/quality.py --model photo-universal=x.safetensors --only-given --skip-opencv --device cuda

writes ``quality.json`` and ``quality.md`` next to ``--out`` (the README's table). ``--model NAME=PATH``
adds a weights file (or replaces the registry checkpoint of that name): ``{style}-{kind}`` fills that
style and kind, ``{style}-universal`` every kind of that style, any other name every picture; a
``~suffix`` (``photo-universal~fp32``) is compared beside the model without it; every registry file with a
texture stage is also measured without it (``NAME~psnr``).
"""

from __future__ import annotations

import argparse
import functools
import json
import platform
import sys
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from handdrawn_masks import handdrawn_masks  # noqa: E402
from lama_masks import LAMA_EVAL_SETS, lama_masks  # noqa: E402

from inpaintlab import load  # noqa: E402
from inpaintlab.data.gpu_store import decode_centre_squares  # noqa: E402
from inpaintlab.data.image_io import list_image_files  # noqa: E402
from inpaintlab.data.seeding import mix_seed  # noqa: E402
from inpaintlab.hub import registry  # noqa: E402
from inpaintlab.masks import MASK_SAMPLERS  # noqa: E402
from inpaintlab.metrics.hole import hole_metrics  # noqa: E402
from inpaintlab.models.dilated_unet import PREFILL_SOLVERS  # noqa: E402
from inpaintlab.models.prefill import pyramid_fill  # noqa: E402

LIBRARY_KINDS = ("center", "blocks", "region")
KINDS = (*LIBRARY_KINDS, *LAMA_EVAL_SETS, "handdrawn")
STYLES = ("photo", "monet")
OPENCV_METHODS = {"opencv-telea": cv2.INPAINT_TELEA, "opencv-ns": cv2.INPAINT_NS}
CONVERGED_SWEEPS = 150


def fixed_masks(kind: str, count: int, size: int, seed: int) -> torch.Tensor:
    """The benchmark's masks: mask i of a kind depends only on (seed, kind, i)."""
    if kind == "handdrawn":
        return handdrawn_masks(count, size, seed=seed)
    if kind in LAMA_EVAL_SETS:
        return lama_masks(kind, count, size, seed=seed)
    sampler = MASK_SAMPLERS[kind]()
    return torch.cat(
        [sampler(1, size, generator=torch.Generator().manual_seed(mix_seed("bench", seed, kind, i))) for i in range(count)]
    )


def per_picture_uint8(images: torch.Tensor, masks: torch.Tensor, fill) -> torch.Tensor:
    """A classical method that works on one 8-bit picture at a time, ``fill(rgb (H,W,3) uint8, hole (H,W)
    uint8 255 = hole) -> (H,W,3) uint8``, over a float batch (N,3,H,W) in [0,1]."""
    out = []
    for image, mask in zip(images, masks):
        rgb = (image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        hole = (mask[0].numpy() > 0.5).astype(np.uint8) * 255
        filled = np.ascontiguousarray(fill(rgb, hole))
        out.append(torch.from_numpy(filled).permute(2, 0, 1).float() / 255)
    return torch.stack(out)


def opencv_inpaint(images: torch.Tensor, masks: torch.Tensor, method: int, radius: int = 3) -> torch.Tensor:
    return per_picture_uint8(images, masks, lambda rgb, hole: cv2.inpaint(rgb, hole, radius, method))


def batched(fill, images: torch.Tensor, masks: torch.Tensor, batch: int = 16) -> torch.Tensor:
    return torch.cat([fill(images[i : i + batch], masks[i : i + batch]) for i in range(0, len(images), batch)])


def patchmatch_inpaint(images: torch.Tensor, masks: torch.Tensor, patch_size: int = 15) -> torch.Tensor:
    """PatchMatch (Barnes et al. 2009) as the ``pypatchmatch`` package runs it (IOPaint's classical model),
    its default patch radius, seeded: texture copied from the picture itself."""
    try:
        import patchmatch
    except ImportError:
        raise ImportError("PatchMatch needs the pypatchmatch package: pip install 'inpaintlab[bench]'") from None

    def fill(rgb: np.ndarray, hole: np.ndarray) -> np.ndarray:
        patchmatch.set_random_seed(0)
        return patchmatch.inpaint(rgb, hole, patch_size=patch_size)

    return per_picture_uint8(images, masks, fill)


CLASSICAL_METHODS = {
    **{name: functools.partial(opencv_inpaint, method=flag) for name, flag in OPENCV_METHODS.items()},
    "patchmatch": patchmatch_inpaint,
    "harmonic-fill": functools.partial(batched, pyramid_fill),
    # the prior of the prefill_solver="sor" models: red-black SOR, the work of dilated_unet.base's Jacobi prefill
    # (8 sweeps, doubling to 64 on coarse levels; about 1.4x harmonic-fill's)
    "harmonic-sor": functools.partial(
        batched, functools.partial(pyramid_fill, **PREFILL_SOLVERS["sor"])
    ),
    "harmonic-converged": functools.partial(
        batched, functools.partial(pyramid_fill, smooth_iters=CONVERGED_SWEEPS)
    ),
}


def sharpness(pred: torch.Tensor, target: torch.Tensor, masks: torch.Tensor) -> float:
    """Hole high-frequency energy of ``pred`` over that of ``target`` (squared Laplacian of the luminance)."""
    kernel = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])[None, None]
    weights = torch.tensor([0.299, 0.587, 0.114])[None, :, None, None]

    def energy(x: torch.Tensor) -> float:
        lap = F.conv2d((x * weights).sum(1, keepdim=True), kernel, padding=1)
        return float((lap.square() * masks).sum())

    return energy(pred) / max(energy(target), 1e-12)


def summarise(pred: torch.Tensor, images: torch.Tensor, masks: torch.Tensor) -> dict[str, float]:
    values = {key: float(value) for key, value in hole_metrics(pred, images, masks, reduction="mean").items()}
    values["sharpness"] = sharpness(pred, images, masks)
    return {key: round(value, 4) for key, value in values.items()}


#: A method name ending in this is the file's fill without its texture stage (``load(..., texture=False)``).
PSNR_SUFFIX = "~psnr"


def model_method(source: str, strategy: str, device: str = "cpu", texture: bool = True):
    inpainter = load(source, device=device, strategy=strategy, texture=texture)

    def fill(images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        return batched(lambda x, m: inpainter(x.to(device), m.to(device)).cpu(), images, masks)

    return fill


def methods_for(style: str, kind: str, sources, classical=CLASSICAL_METHODS) -> list[str]:
    """The models (names in ``sources``) that fill ``style`` pictures under ``kind`` masks, then ``classical``.

    ``{s}-{kind}`` and ``{s}-universal`` (``s`` = the style, and ``photo`` on paintings), then every
    name that names no style; a ``~suffix`` is a variant of the name before it."""
    model_kind = kind if kind in LIBRARY_KINDS else "region"
    bases = [f"{style}-{model_kind}", f"{style}-universal"]
    bases += [f"photo-{model_kind}", "photo-universal"] if style == "monet" else []
    styled = [n for base in bases for n in sorted(sources) if n.split("~")[0] == base]
    free = [n for n in sorted(sources) if n.split("-")[0] not in STYLES]
    return styled + free + list(classical)


def parse_models(specs: list[str]) -> dict[str, str]:
    """``["photo-universal=path.safetensors", ...]`` -> {name: path}; raises naming a bad one."""
    models = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise ValueError(f"--model wants NAME=PATH (e.g. photo-universal=runs/x.safetensors), got {spec!r}")
        if not Path(path).is_file():
            raise FileNotFoundError(f"--model {name}: {path} does not exist")
        if name in models:
            raise ValueError(f"--model {name} is given twice ({models[name]} and {path}); give each file its own name")
        models[name] = path
    return models


def run(args: argparse.Namespace, candidates: dict[str, str], classical=CLASSICAL_METHODS) -> list[dict]:
    inpainters = [name for name in registry.list_models() if registry.get_entry(name).task == "inpaint"]
    sources = {} if args.only_given else {name: name for name in inpainters}
    sources.update(candidates)
    if not args.only_given:  # each file also without its texture stage: the PSNR-optimal fill
        sources.update({f"{name}{PSNR_SUFFIX}": name for name in inpainters if registry.get_entry(name).texture})
    models: dict[str, object] = {}
    rows = []
    for style in args.styles:
        files = list_image_files(args.data / style / "val", limit=args.limit)
        images = decode_centre_squares(files, args.size)[1].float() / 255
        for kind in args.kinds:
            masks = fixed_masks(kind, len(images), args.size, args.seed)
            for method in methods_for(style, kind, sources, classical):
                if method in classical:
                    fill = classical[method]
                else:
                    if method not in models:
                        texture = not method.endswith(PSNR_SUFFIX)
                        models[method] = model_method(sources[method], args.strategy, args.device, texture)
                    fill = models[method]
                pred = fill(images, masks)
                row = {"style": style, "mask": kind, "method": method, "images": len(images)}
                rows.append({**row, **summarise(pred, images, masks)})
                print(json.dumps(rows[-1]), flush=True)
    return rows


def to_markdown(rows: list[dict]) -> str:
    lines = [
        "| style | mask | method | PSNR hole (dB) | SSIM hole | L1 hole | sharpness |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['style']} | {r['mask']} | {r['method']} | {r['psnr_hole']:.2f} | {r['ssim_hole']:.4f} "
            f"| {r['l1_hole']:.4f} | {r['sharpness']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--size", type=int, default=256, help="evaluation resolution (the size users bring)")
    parser.add_argument("--limit", type=int, default=None, help="at most this many val images per style")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--styles", nargs="+", default=list(STYLES), choices=STYLES)
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS)
    parser.add_argument("--strategy", default="auto", help="the inference strategy of the checkpoints")
    parser.add_argument("--model", action="append", default=[], metavar="NAME=PATH", help="add a weights file (repeatable)")
    parser.add_argument("--only-given", action="store_true", help="only the --model files, no registry checkpoints")
    parser.add_argument("--skip-opencv", action="store_true", help="no OpenCV methods (the harmonic fills stay)")
    parser.add_argument(
        "--models-only", action="store_true",
        help="no classical methods at all (they depend only on the pictures and masks: reuse an earlier run's rows)",
    )  # fmt: skip
    parser.add_argument("--device", default="cpu", help="where the models run (cpu, cuda)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/quality"))
    args = parser.parse_args()
    candidates = parse_models(args.model)
    skipped = set(CLASSICAL_METHODS) if args.models_only else set(OPENCV_METHODS) if args.skip_opencv else set()
    classical = {k: v for k, v in CLASSICAL_METHODS.items() if k not in skipped}
    torch.set_grad_enabled(False)
    rows = run(args, candidates, classical)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    machine = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, CPU"
    if args.device.startswith("cuda"):
        machine = f"{torch.cuda.get_device_name()} (models), {machine} (classical methods)"
    meta = {
        "machine": machine,
        "device": args.device,
        "size": args.size,
        "strategy": args.strategy,
        "candidates": candidates,
    }
    args.out.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    args.out.with_suffix(".md").write_text(to_markdown(rows))
    print(to_markdown(rows))


if __name__ == "__main__":
    main()
