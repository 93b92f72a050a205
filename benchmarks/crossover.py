"""Where downscaling starts to pay: hole PSNR at full scale against a downscaled run, by hole thickness.

``strategy="auto"`` runs a hole at the picture's own scale unless it is thicker than ``max_hole`` model
pixels (default: half the training resolution). This measures that crossover for a checkpoint: val
pictures upscaled to ``--size`` (512 by default) get a centred square hole of each side in ``--holes``;
the model fills it once at full scale (``strategy="original"``) and once with the picture downscaled to
its training resolution (``strategy="resize"``). The largest side where the full-scale run still wins
is the measured ``max_hole`` (a square hole's thickness is its side, in full-scale model pixels, which
is what ``max_hole`` compares against).

    python benchmarks/crossover.py --model runs/cpu-photo-universal/checkpoints/latest/best.ckpt
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
import torch.nn.functional as F

from inpaintlab import load
from inpaintlab.data.gpu_store import decode_centre_squares
from inpaintlab.data.image_io import list_image_files
from inpaintlab.metrics.hole import hole_metrics


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="registry name or checkpoint file")
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--style", default="photo")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--holes", type=int, nargs="+", default=[32, 64, 96, 128, 192, 256])
    parser.add_argument("--limit", type=int, default=24)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/crossover.json"))
    args = parser.parse_args(argv)
    torch.set_grad_enabled(False)
    files = list_image_files(args.data / args.style / "val", limit=args.limit)
    images = decode_centre_squares(files, 256)[1].float() / 255
    images = F.interpolate(images, size=(args.size, args.size), mode="bicubic", align_corners=False).clamp(0, 1)
    inpainter = load(args.model, device="cpu")
    rows = []
    for side in args.holes:
        mask = torch.zeros(len(images), 1, args.size, args.size)
        lo = (args.size - side) // 2
        mask[..., lo : lo + side, lo : lo + side] = 1
        row = {"hole": side}
        for strategy in ("original", "resize"):
            pred = torch.cat([inpainter(images[i : i + 4], mask[i : i + 4], strategy=strategy) for i in range(0, len(images), 4)])
            row[strategy] = round(float(hole_metrics(pred, images, mask, reduction="mean")["psnr_hole"]), 3)
        rows.append(row)
        print(json.dumps(row), flush=True)
    full_scale_wins = [r["hole"] for r in rows if r["original"] >= r["resize"]]
    result = {"model": args.model, "size": args.size, "resolution": inpainter.resolution, "rows": rows,
              "largest_hole_where_full_scale_wins": max(full_scale_wins) if full_scale_wins else None}  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
