"""Can a fresh critic tell filled patches from real ones? Realism beside PSNR, without Inception weights.

A PSNR-optimal fill is the conditional mean: a blur, which wins on PSNR and is spotted at a glance. FID
needs torch-fidelity's Inception weights, which this project cannot download, so realism is measured by
a two-sample test that needs none. For each style, mask kind and method:

1. every val picture gets the benchmark's fixed mask of that kind (``quality.fixed_masks``) and is
   filled by the method;
2. from each picture, ``--per-image`` patches of ``--patch`` px are cut where the hole covers at least a
   third of the patch: the filled version is labelled fake, the same window of the real picture real;
3. the pictures are split 70 / 30; a small CNN critic (4 strided convolutions) is trained from scratch on
   the first part's patches, and its accuracy on the held-out part's patches is the figure: **50 % means
   nobody can tell**, 100 % that every fill is spotted. It is repeated for ``--seeds`` (each seed draws
   other patches and another critic); the mean and the spread (standard deviation) are reported.

Beside it: hole PSNR and sharpness (the hole's squared-Laplacian energy over the truth's: 1 = as much
detail as the truth). Methods: the registry file of the style and kind (its published fill, texture
stage on), the same file without its texture stage (``~psnr``), PatchMatch, OpenCV TELEA and the harmonic
fill solved to convergence (the best classical fill by PSNR).

    python benchmarks/realism.py                          # both styles, every kind, 3 seeds (hours on 2 cores)
    python benchmarks/realism.py --styles photo --kinds center --limit 80 --seeds 0
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import cpu_name  # noqa: E402
from quality import (  # noqa: E402
    CLASSICAL_METHODS,
    KINDS,
    LIBRARY_KINDS,
    PSNR_SUFFIX,
    STYLES,
    fixed_masks,
    model_method,
    sharpness,
)

from inpaintlab.data.gpu_store import decode_centre_squares  # noqa: E402
from inpaintlab.data.image_io import list_image_files  # noqa: E402
from inpaintlab.io import atomic_write  # noqa: E402
from inpaintlab.metrics.hole import hole_metrics  # noqa: E402

CLASSICAL = ("patchmatch", "opencv-telea", "harmonic-converged")


def patch_corners(masks: torch.Tensor, patch: int, per_image: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-left corners (M,2) of patches at least a third hole (on a 4 px grid), and their picture index (M,)."""
    g = torch.Generator().manual_seed(seed)
    cover = F.avg_pool2d(masks.float(), patch, stride=4)
    corners, owners = [], []
    for i in range(len(masks)):
        ys, xs = torch.nonzero(cover[i, 0] >= 1 / 3, as_tuple=True)
        if len(ys) == 0:
            continue
        pick = torch.randint(len(ys), (per_image,), generator=g)
        corners.append(torch.stack([ys[pick] * 4, xs[pick] * 4], dim=1))
        owners.append(torch.full((per_image,), i))
    return torch.cat(corners), torch.cat(owners)


def cut(images: torch.Tensor, corners: torch.Tensor, owners: torch.Tensor, patch: int) -> torch.Tensor:
    return torch.stack([images[o, :, y : y + patch, x : x + patch] for (y, x), o in zip(corners.tolist(), owners.tolist())])


def critic() -> nn.Module:
    layers, width = [], 3
    for out in (32, 64, 128, 128):
        layers += [nn.Conv2d(width, out, 4, 2, 1), nn.LeakyReLU(0.2)]
        width = out
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, 1))


def critic_accuracy(
    images: torch.Tensor, filled: torch.Tensor, masks: torch.Tensor, seed: int, *, patch: int = 48,
    per_image: int = 8, steps: int = 600, batch: int = 64,
) -> float:
    """Held-out accuracy of a critic trained from scratch to tell ``filled`` patches from ``images``' own."""
    corners, owners = patch_corners(masks, patch, per_image, seed)
    real, fake = cut(images, corners, owners, patch), cut(filled, corners, owners, patch)
    torch.manual_seed(seed)
    train = owners < int(0.7 * len(images))
    x, y = torch.cat([real, fake]), torch.cat([torch.ones(len(real)), torch.zeros(len(fake))])
    split = torch.cat([train, train])
    net = critic()
    opt = torch.optim.Adam(net.parameters(), 2e-4, betas=(0.5, 0.999))
    xt, yt = x[split], y[split]
    g = torch.Generator().manual_seed(seed)
    with torch.enable_grad():
        for _ in range(steps):
            idx = torch.randint(len(xt), (batch,), generator=g)
            flip = torch.rand(len(idx), generator=g) < 0.5
            inputs = torch.where(flip[:, None, None, None], xt[idx].flip(-1), xt[idx])
            loss = F.binary_cross_entropy_with_logits(net(inputs).squeeze(1), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        pred = net(x[~split]).squeeze(1) > 0
    return float((pred == (y[~split] > 0.5)).float().mean())


def measure(images, filled, masks, seeds, **critic_args) -> dict[str, float]:
    accuracy = [100 * critic_accuracy(images, filled, masks, seed, **critic_args) for seed in seeds]
    return {
        "psnr_hole": round(float(hole_metrics(filled, images, masks, reduction="mean")["psnr_hole"]), 3),
        "critic": round(float(np.mean(accuracy)), 2),
        "critic_spread": round(float(np.std(accuracy)), 2),
        "critic_seeds": [round(a, 2) for a in accuracy],
        "sharpness": round(sharpness(filled, images, masks), 3),
    }


def to_markdown(rows: list[dict]) -> str:
    lines = [
        "| style | mask | method | PSNR hole (dB) | critic accuracy (%, 50 = nobody can tell) | sharpness |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['style']} | {r['mask']} | {r['method']} | {r['psnr_hole']:.2f} | {r['critic']:.1f} ± {r['critic_spread']:.1f} "
            f"| {r['sharpness']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--styles", nargs="+", default=list(STYLES), choices=STYLES)
    parser.add_argument("--kinds", nargs="+", default=["center", "blocks", "region", "thin"], choices=KINDS)
    parser.add_argument("--methods", nargs="+", default=None, help="only these (registry names, NAME~psnr, classical)")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--limit", type=int, default=None, help="at most this many val pictures per style")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--patch", type=int, default=48)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/realism"))
    args = parser.parse_args(argv)
    torch.set_grad_enabled(False)
    rows = []
    for style in args.styles:
        files = list_image_files(args.data / style / "val", limit=args.limit)
        images = decode_centre_squares(files, args.size)[1].float() / 255
        for kind in args.kinds:
            masks = fixed_masks(kind, len(images), args.size, seed=0)
            name = f"{style}-{kind if kind in LIBRARY_KINDS else 'region'}"
            for method in [name, name + PSNR_SUFFIX, *CLASSICAL]:
                if args.methods and method not in args.methods:
                    continue
                if method in CLASSICAL:
                    filled = CLASSICAL_METHODS[method](images, masks)
                else:
                    filled = model_method(name, "auto", texture=not method.endswith(PSNR_SUFFIX))(images, masks)
                row = {"style": style, "mask": kind, "method": method, "images": len(images)}
                rows.append({**row, **measure(images, filled, masks, args.seeds, patch=args.patch, steps=args.steps, batch=args.batch)})
                print(json.dumps(rows[-1]), flush=True)
                write(args, rows)  # after every row: a long run stopped half-way keeps what it measured
    print(to_markdown(rows))
    return 0


def write(args: argparse.Namespace, rows: list[dict]) -> None:
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "machine": f"{cpu_name()}, {torch.get_num_threads()} threads, CPU",
        "size": args.size, "patch": args.patch, "steps": args.steps, "batch": args.batch, "seeds": args.seeds,
        "limit": args.limit,
    }
    atomic_write(args.out.with_suffix(".json"), (json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n").encode())
    atomic_write(args.out.with_suffix(".md"), to_markdown(rows).encode())


if __name__ == "__main__":
    raise SystemExit(main())
