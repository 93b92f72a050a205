"""Can a fresh critic tell filled pictures from real ones? A two-sample test without Inception weights.

FID needs torch-fidelity's Inception weights, which this project cannot download. As a second opinion,
for each method a small CNN critic is trained from scratch to tell real val patches from filled ones:

1. every val picture gets one fixed mask (LaMa ``thick`` by default) and is filled by the method;
2. from each picture, 64x64 patches are cut where the hole covers at least a third of the patch: the
   filled version is labelled fake, the same window of the real picture real;
3. pictures are split 70 / 30; the critic (4 conv layers) trains on the first part's patches and its
   accuracy on the held-out part's patches is reported: 50% means indistinguishable, 100% that every
   fill is spotted. The same seeds for every method, so the numbers compare.

    python benchmarks/realism.py --method photo-region --method opencv-telea --method harmonic-fill
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality import CLASSICAL_METHODS, fixed_masks, model_method  # noqa: E402

from inpaintlab.data.gpu_store import decode_centre_squares  # noqa: E402
from inpaintlab.data.image_io import list_image_files  # noqa: E402

PATCH = 64


def patches(images: torch.Tensor, masks: torch.Tensor, per_image: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-left corners (N*per_image, 2) of patches with >= 1/3 hole, and their picture index."""
    g = torch.Generator().manual_seed(seed)
    cover = F.avg_pool2d(masks, PATCH, stride=8)  # hole share of each candidate patch
    corners, owners = [], []
    for i in range(len(images)):
        ys, xs = torch.nonzero(cover[i, 0] >= 1 / 3, as_tuple=True)
        if len(ys) == 0:
            continue
        pick = torch.randint(len(ys), (per_image,), generator=g)
        corners.append(torch.stack([ys[pick] * 8, xs[pick] * 8], dim=1))
        owners.append(torch.full((per_image,), i))
    return torch.cat(corners), torch.cat(owners)


def cut(images: torch.Tensor, corners: torch.Tensor, owners: torch.Tensor) -> torch.Tensor:
    return torch.stack([images[o, :, y : y + PATCH, x : x + PATCH] for (y, x), o in zip(corners.tolist(), owners.tolist())])


def critic() -> nn.Module:
    layers, width = [], 3
    for out in (32, 64, 128, 128):
        layers += [nn.Conv2d(width, out, 4, 2, 1), nn.LeakyReLU(0.2)]
        width = out
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, 1))


def critic_accuracy(real: torch.Tensor, fake: torch.Tensor, owners: torch.Tensor, n_images: int, steps: int, seed: int) -> float:
    torch.manual_seed(seed)
    train = owners < int(0.7 * n_images)
    x = torch.cat([real, fake])
    y = torch.cat([torch.ones(len(real)), torch.zeros(len(fake))])
    split = torch.cat([train, train])
    net = critic()
    opt = torch.optim.Adam(net.parameters(), 2e-4, betas=(0.5, 0.999))
    xt, yt = x[split], y[split]
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(len(xt), (64,), generator=g)
        batch = xt[idx]
        flip = torch.rand(len(idx), generator=g) < 0.5
        batch = torch.where(flip[:, None, None, None], batch.flip(-1), batch)
        loss = F.binary_cross_entropy_with_logits(net(batch).squeeze(1), yt[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        pred = net(x[~split]).squeeze(1) > 0
    return float((pred == (y[~split] > 0.5)).float().mean())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--style", default="photo")
    parser.add_argument("--mask", default="thick")
    parser.add_argument("--method", action="append", required=True, help="registry name, NAME=PATH, or a classical method")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/realism.json"))
    args = parser.parse_args(argv)
    files = list_image_files(args.data / args.style / "val", limit=args.limit)
    images = decode_centre_squares(files, args.size)[1].float() / 255
    masks = fixed_masks(args.mask, len(images), args.size, args.seed)
    corners, owners = patches(images, masks, per_image=8, seed=args.seed)
    real = cut(images, corners, owners)
    results = {}
    for spec in args.method:
        name, _, path = spec.partition("=")
        if name in CLASSICAL_METHODS:
            filled = CLASSICAL_METHODS[name](images, masks)
        else:
            with torch.inference_mode():
                filled = model_method(path or name, "auto")(images, masks)
        fake = cut(filled, corners, owners)
        results[name] = critic_accuracy(real, fake, owners, len(images), args.steps, args.seed)
        print(f"{name}: held-out critic accuracy {100 * results[name]:.1f} %", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"style": args.style, "mask": args.mask, "images": len(images), "patches": len(real), "steps": args.steps}
    args.out.write_text(json.dumps({"meta": meta, "accuracy": results}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
