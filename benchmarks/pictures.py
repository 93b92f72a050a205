"""Picture grids for the README at 256 px: per style and mask kind, rows = masked input, ours (the published
fill, with its texture stage), ours without the texture stage (the PSNR-optimal blur), PatchMatch, OpenCV
TELEA, truth.

Same val images and fixed masks as ``benchmarks/quality.py`` (the first ``--count`` of each val set).

    python benchmarks/pictures.py --data ../shared/data --out benchmarks/results/pictures

writes ``{style}-{kind}.png`` for every checkpoint of the registry that exists. The default is the
Monet paintings only (public domain, shown in the README); ``--styles photo monet`` adds the photos,
which have no per-image licence: look at those grids locally, do not publish them.

``--model LABEL=PATH`` (repeatable, e.g. an earlier file from the git history) adds a row per file above
the registry model's, in the order given (the labels are not drawn: say in the caption which row is
which), and ``--kinds`` picks the mask kinds:

    python benchmarks/pictures.py --kinds center --model l1-gan=old-monet-center.safetensors --out DIR
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision.utils import make_grid, save_image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality import CLASSICAL_METHODS, fixed_masks, model_method, parse_models, sharpness  # noqa: E402

from inpaintlab.data.gpu_store import decode_centre_squares  # noqa: E402
from inpaintlab.data.image_io import list_image_files  # noqa: E402
from inpaintlab.hub import registry  # noqa: E402
from inpaintlab.metrics.grid import HOLE_COLOR  # noqa: E402

KINDS = ("center", "blocks", "region", "thick")


def picture_grid(sources: list[str], images: torch.Tensor, masks: torch.Tensor, scale: int) -> torch.Tensor:
    """(3, H', W') grid: one column per image; rows masked input, each of ``sources`` (registry names or
    weights files, through ``load``), the last source without its texture stage, PatchMatch, TELEA,
    ground truth."""
    hole = masks > 0.5
    masked = torch.where(hole, torch.tensor(HOLE_COLOR).view(1, 3, 1, 1).expand_as(images), images)
    fills = [model_method(source, "auto")(images, masks) for source in sources]
    fills.append(model_method(sources[-1], "auto", texture=False)(images, masks))
    classical = [CLASSICAL_METHODS[name](images, masks) for name in ("patchmatch", "opencv-telea")]
    rows = [masked, *fills, *classical, images]
    tiles = torch.cat(rows)
    if scale > 1:
        tiles = F.interpolate(tiles, scale_factor=scale, mode="nearest")
    return make_grid(tiles, nrow=len(images), padding=2, pad_value=1.0)


def hd_grid(picture: Path, size: tuple[int, int], box: tuple[int, int], name: str) -> tuple[torch.Tensor, dict[str, float]]:
    """An object-sized hole at high resolution: ``picture`` resized to ``size`` (width, height), a ``box``
    (width, height) hole in its middle, filled by ``name`` (texture on, then off), PatchMatch and TELEA.
    Returns the tiles (3, h, w) side by side, each the box with a margin at full resolution, and each
    fill's hole sharpness (1 = as much detail as the truth)."""
    width, height = size
    with Image.open(picture) as im:
        image = torch.from_numpy(np.asarray(im.convert("RGB").resize(size, Image.Resampling.LANCZOS)).copy())
    image = image.permute(2, 0, 1)[None].float() / 255
    mask = torch.zeros(1, 1, height, width)
    top, left = (height - box[1]) // 2, (width - box[0]) // 2
    mask[..., top : top + box[1], left : left + box[0]] = 1
    fills = {
        "ours": model_method(name, "auto")(image, mask),
        "ours-no-texture": model_method(name, "auto", texture=False)(image, mask),
        "patchmatch": CLASSICAL_METHODS["patchmatch"](image, mask),
        "opencv-telea": CLASSICAL_METHODS["opencv-telea"](image, mask),
    }
    margin = box[1] // 2
    rows, cols = slice(max(top - margin, 0), top + box[1] + margin), slice(max(left - margin, 0), left + box[0] + margin)
    masked = torch.where(mask > 0.5, torch.tensor(HOLE_COLOR).view(1, 3, 1, 1), image)
    tiles = [t[0, :, rows, cols] for t in (masked, *fills.values(), image)]
    return make_grid(torch.stack(tiles), nrow=len(tiles), padding=4, pad_value=1.0), {
        method: round(sharpness(fill, image, mask), 3) for method, fill in fills.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--size", type=int, default=256, help="resolution (the size users bring)")
    parser.add_argument("--count", type=int, default=4, help="images per grid")
    parser.add_argument("--scale", type=int, default=1, help="nearest-neighbour zoom of each tile")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--styles", nargs="+", default=["monet"], choices=["photo", "monet"])
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS)
    parser.add_argument(
        "--model", action="append", default=[], metavar="LABEL=PATH", help="a row for this file (repeatable)"
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/pictures"))
    parser.add_argument(
        "--hd", type=Path, default=None, metavar="PICTURE",
        help="also an object-sized hole at high resolution: PICTURE resized to 1024x768, a 200x140 box (hd.png)",
    )  # fmt: skip
    parser.add_argument("--hd-model", default="monet-center", help="the registry file that fills --hd")
    args = parser.parse_args()
    extra = list(parse_models(args.model).values())
    if args.hd is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        grid, sharp = hd_grid(args.hd, (1024, 768), (200, 140), args.hd_model)
        save_image(grid, args.out / "hd.png")
        print(f"wrote {args.out / 'hd.png'} (masked, {', '.join(sharp)}, truth); hole sharpness {sharp}")
    torch.set_grad_enabled(False)
    available = set(registry.list_models())
    args.out.mkdir(parents=True, exist_ok=True)
    for style in args.styles:
        files = list_image_files(args.data / style / "val", limit=args.count)
        images = decode_centre_squares(files, args.size)[1].float() / 255
        for kind in args.kinds:
            name = f"{style}-{kind if kind in ('center', 'blocks') else 'region'}"
            if name not in available:
                continue
            masks = fixed_masks(kind, len(images), args.size, args.seed)
            path = args.out / f"{style}-{kind}.png"
            save_image(picture_grid([*extra, name], images, masks, args.scale), path)
            print(f"wrote {path}")


if __name__ == "__main__":
    main()
