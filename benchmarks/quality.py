"""Hole quality of the hub checkpoints against OpenCV's classical inpainters, per style and mask kind.

For each val set (photo, Monet) and each mask kind (center, blocks, region, and hand-drawn-like
masks drawn independently of the library), every image gets one fixed mask; the checkpoint of that
style and kind, the photo checkpoint of the same kind (on Monet, to show what the fine-tune adds),
``cv2.inpaint`` TELEA and NS fill it, and so does the library's own classical fill
(``pyramid_fill``, multigrid harmonic interpolation, the prior of ``prefill="pyramid"`` generators). Hole PSNR / SSIM / L1 (``inpaintlab.metrics.hole_metrics``) and,
with ``--inception-weights``, FID of the composited outputs against the val images.

    python benchmarks/quality.py --data ../shared/data --out benchmarks/results/quality
    python benchmarks/quality.py --size 256 --model photo-universal=runs/photo-universal.safetensors \
        --model monet-center=hub/monet-center.safetensors --only-given --skip-opencv --device cuda

writes ``quality.json`` and ``quality.md`` (the README's table). ``--model NAME=PATH`` adds a weights file
(or replaces the registry checkpoint of that name): ``{style}-{kind}`` is used for that style and kind,
``{style}-universal`` for every kind of that style; a ``~suffix`` (``photo-universal~fp32``) is compared
beside the model without it. Paintings are also filled by the photo models, as above.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from handdrawn_masks import handdrawn_masks  # noqa: E402

from inpaintlab import load  # noqa: E402
from inpaintlab.data.gpu_store import decode_centre_squares  # noqa: E402
from inpaintlab.data.image_io import list_image_files  # noqa: E402
from inpaintlab.data.seeding import mix_seed  # noqa: E402
from inpaintlab.hub import registry  # noqa: E402
from inpaintlab.masks import MASK_SAMPLERS  # noqa: E402
from inpaintlab.metrics.hole import hole_metrics  # noqa: E402
from inpaintlab.models.prefill import pyramid_fill  # noqa: E402

KINDS = ("center", "blocks", "region", "handdrawn")
STYLES = ("photo", "monet")
OPENCV_METHODS = {"opencv-telea": cv2.INPAINT_TELEA, "opencv-ns": cv2.INPAINT_NS}


def fixed_masks(kind: str, count: int, size: int, seed: int) -> torch.Tensor:
    """The benchmark's masks: mask i of a kind depends only on (seed, kind, i)."""
    if kind == "handdrawn":
        return handdrawn_masks(count, size, seed=seed)
    sampler = MASK_SAMPLERS[kind]()
    return torch.cat(
        [sampler(1, size, generator=torch.Generator().manual_seed(mix_seed("bench", seed, kind, i))) for i in range(count)]
    )


def opencv_inpaint(images: torch.Tensor, masks: torch.Tensor, method: int, radius: int = 3) -> torch.Tensor:
    out = []
    for image, mask in zip(images, masks):
        rgb = (image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        hole = (mask[0].numpy() > 0.5).astype(np.uint8) * 255
        filled = cv2.inpaint(rgb, hole, radius, method)
        out.append(torch.from_numpy(filled).permute(2, 0, 1).float() / 255)
    return torch.stack(out)


CLASSICAL_METHODS = {
    **{name: functools.partial(opencv_inpaint, method=flag) for name, flag in OPENCV_METHODS.items()},
    "harmonic-fill": pyramid_fill,
}


def model_inpaint(source: str, images: torch.Tensor, masks: torch.Tensor, batch: int = 32, device: str = "cpu") -> torch.Tensor:
    inpainter = load(source, device=device)
    with torch.inference_mode():
        return torch.cat([inpainter(images[i : i + batch], masks[i : i + batch]) for i in range(0, len(images), batch)])


def summarise(pred: torch.Tensor, images: torch.Tensor, masks: torch.Tensor) -> dict[str, float]:
    values = hole_metrics(pred, images, masks, reduction="mean")
    return {key: round(float(value), 4) for key, value in values.items()}


def fid_of(pred: torch.Tensor, images: torch.Tensor, weights: str) -> float:
    from inpaintlab.metrics.fid import FIDMetric

    metric = FIDMetric(weights_path=weights)
    for i in range(0, len(images), 32):
        metric.update(images[i : i + 32], real=True)
        metric.update(pred[i : i + 32], real=False)
    return round(float(metric.compute()["fid"]), 3)


def methods_for(style: str, kind: str, available, classical=CLASSICAL_METHODS) -> list[str]:
    """The models (of ``available``) that fill ``style`` pictures under ``kind`` masks, then ``classical``."""
    model_kind = "region" if kind == "handdrawn" else kind
    bases = [f"{style}-{model_kind}", f"{style}-universal"]
    bases += [f"photo-{model_kind}", "photo-universal"] if style == "monet" else []
    return [n for base in bases for n in sorted(available) if n.split("~")[0] == base] + list(classical)


def parse_models(specs: list[str]) -> dict[str, str]:
    """``["photo-universal=path.safetensors", ...]`` -> {name: path}; raises ValueError naming a bad one."""
    models = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise ValueError(f"--model wants NAME=PATH (e.g. photo-universal=runs/x.safetensors), got {spec!r}")
        if not Path(path).is_file():
            raise FileNotFoundError(f"--model {name}: {path} does not exist")
        models[name] = path
    return models


def run(data: Path, size: int, limit: int | None, seed: int, weights: str | None, models: dict[str, str] | None = None,
        only_given: bool = False, classical=CLASSICAL_METHODS, device: str = "cpu") -> list[dict]:  # fmt: skip
    sources = {} if only_given else {name: name for name in registry.list_models()}
    sources.update(models or {})
    rows = []
    for style in STYLES:
        files = list_image_files(data / style / "val", limit=limit)
        images = decode_centre_squares(files, size)[1].float() / 255
        for kind in KINDS:
            masks = fixed_masks(kind, len(images), size, seed)
            for method in methods_for(style, kind, sources, classical):
                if method in classical:
                    pred = classical[method](images, masks)
                else:
                    pred = model_inpaint(sources[method], images, masks, device=device)
                row = {"style": style, "mask": kind, "method": method, "images": len(images), **summarise(pred, images, masks)}
                if weights:
                    row["fid"] = fid_of(pred, images, weights)
                rows.append(row)
                print(json.dumps(row), flush=True)
    return rows


def to_markdown(rows: list[dict]) -> str:
    has_fid = any("fid" in r for r in rows)
    head = "| style | mask | method | PSNR hole (dB) | SSIM hole | L1 hole |" + (" FID |" if has_fid else "")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        line = f"| {r['style']} | {r['mask']} | {r['method']} | {r['psnr_hole']:.2f} | {r['ssim_hole']:.4f} | {r['l1_hole']:.4f} |"
        lines.append(line + (f" {r.get('fid', float('nan')):.2f} |" if has_fid else ""))
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--size", type=int, default=128, help="evaluation resolution (the checkpoints' native one)")
    parser.add_argument("--limit", type=int, default=None, help="at most this many val images per style")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--inception-weights", default=None, help="torch-fidelity Inception weights file, for FID")
    parser.add_argument("--model", action="append", default=[], metavar="NAME=PATH", help="add a weights file (repeatable)")
    parser.add_argument("--only-given", action="store_true", help="only the --model files, no registry checkpoints")
    parser.add_argument("--skip-opencv", action="store_true", help="no OpenCV methods (the harmonic fill stays)")
    parser.add_argument("--device", default="cpu", help="where the models run (cpu, cuda)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/quality"))
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    classical = {k: v for k, v in CLASSICAL_METHODS.items() if not (args.skip_opencv and k in OPENCV_METHODS)}
    rows = run(args.data, args.size, args.limit, args.seed, args.inception_weights, parse_models(args.model),
               args.only_given, classical, args.device)  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    machine = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, CPU"
    if args.device.startswith("cuda"):
        machine = f"{torch.cuda.get_device_name()} (models), {machine} (classical methods)"
    meta = {"machine": machine, "size": args.size, "models": parse_models(args.model), "device": args.device}
    args.out.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    args.out.with_suffix(".md").write_text(to_markdown(rows))
    print(to_markdown(rows))


if __name__ == "__main__":
    main()
