"""Score CycleGAN snapshots without FID: how Monet-like the style classifier finds the stylized val photos.

    python tools/gpu_run/gpu_checks.py --ckpt runs/x/e009.ckpt --ckpt runs/x/e019.ckpt \
        --photo-val data/photo/val --monet-val data/monet/val --out scores.json [--device cuda]

For each snapshot: ``p_monet`` (the classifier's mean Monet probability over the stylized photo/val
pictures), ``monet_share`` (the share it calls Monet), ``change`` (mean absolute pixel change from the
photo) and the snapshot's val cycle L1 (from its checkpoint). ``baseline`` holds the same for the raw
photos and for monet/val (what a perfect translator would approach). Used by ``tools/gpu_run/gpu_driver.py``
with :func:`gpu_budget.pick_stylizer`; FID (torch-fidelity's Inception weights) replaces it where the
weights are at hand. Public API only (``inpaintlab.load``, ``inpaintlab.api.load_model``).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image

EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}


def read_folder(folder: Path, limit: int | None = None) -> torch.Tensor:
    """The pictures of ``folder`` (sorted; same size assumed, as in the data pack) as (N,3,H,W) in [0,1]."""
    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in EXTENSIONS)[:limit]
    if not files:
        raise FileNotFoundError(f"no pictures in {folder}")
    arrays = [np.asarray(Image.open(p).convert("RGB")) for p in files]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 255


def monet_probability(classifier, images: torch.Tensor, device: str, batch: int = 32) -> torch.Tensor:
    """The classifier's P(monet) of each picture (class order ``("photo", "monet")``)."""
    out = []
    with torch.inference_mode():
        for i in range(0, len(images), batch):
            logits = classifier(images[i : i + batch].to(device))
            out.append(torch.softmax(logits.float(), dim=1)[:, 1].cpu())
    return torch.cat(out)


def summary(p: torch.Tensor) -> dict[str, float]:
    return {"p_monet": round(float(p.mean()), 4), "monet_share": round(float((p > 0.5).float().mean()), 4)}


def cycle_l1(ckpt: Path) -> float | None:
    info = torch.load(ckpt, map_location="cpu", weights_only=True).get("inpaintlab", {})
    value = info.get("metrics", {}).get("val_cycle_l1")
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def main(argv=None) -> int:
    from inpaintlab import load
    from inpaintlab.api import load_model

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ckpt", type=Path, action="append", required=True, help="CycleGAN snapshot (repeatable)")
    parser.add_argument("--photo-val", type=Path, required=True)
    parser.add_argument("--monet-val", type=Path, required=True)
    parser.add_argument("--classifier", default="style-classifier", help="registry name or weights file")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    classifier = load_model(args.classifier, device=args.device)
    photos, paintings = read_folder(args.photo_val, args.limit), read_folder(args.monet_val, args.limit)
    result = {
        "classifier": args.classifier, "photos": len(photos),
        "baseline": {"photo_val": summary(monet_probability(classifier, photos, args.device)),
                     "monet_val": summary(monet_probability(classifier, paintings, args.device))},
        "snapshots": {},
    }  # fmt: skip
    for ckpt in args.ckpt:
        stylizer = load(ckpt, device=args.device)
        stylized = torch.cat([stylizer(photos[i : i + 1]) for i in range(len(photos))])
        result["snapshots"][ckpt.name] = {
            **summary(monet_probability(classifier, stylized, args.device)),
            "change": round(float((stylized - photos).abs().mean()), 4), "cycle_l1": cycle_l1(ckpt),
        }  # fmt: skip
        print(ckpt.name, json.dumps(result["snapshots"][ckpt.name]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
