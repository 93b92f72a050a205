"""Inpaint the shipped Monet painting under a generated mask and write a before/after picture.

    python examples/inpaint.py [--model monet-blocks] [--kind blocks] [--output outputs/inpaint-example.png]

The painting (``examples/assets/monet.jpg``) is public domain; the checkpoint comes from the hub
(the files shipped inside the package, ``inpaintlab/hub/files/``, so no network is needed).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from inpaintlab import load
from inpaintlab.masks import MASK_SAMPLERS

HERE = Path(__file__).resolve().parent


def before_after(image: Image.Image, mask: np.ndarray, result: Image.Image) -> Image.Image:
    """Three panels: the masked input (hole in magenta), the result, the original."""
    masked = np.array(image)
    masked[mask] = (255, 0, 255)
    panels = [Image.fromarray(masked), result, image]
    labels = ["input + hole", "inpainted", "original"]
    w, h = image.size
    sheet = Image.new("RGB", (3 * w + 20, h + 18), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (panel, label) in enumerate(zip(panels, labels)):
        sheet.paste(panel, (i * (w + 10), 18))
        draw.text((i * (w + 10) + 4, 3), label, fill="black")
    return sheet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="monet-blocks", help="registry name, .safetensors or .ckpt path, or auto")
    parser.add_argument("--image", type=Path, default=HERE / "assets" / "monet.jpg")
    parser.add_argument("--kind", default="blocks", choices=["center", "blocks", "region"], help="mask to generate")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--output", type=Path, default=Path("outputs/inpaint-example.png"))
    args = parser.parse_args()

    image = Image.open(args.image).convert("RGB")
    sampler = MASK_SAMPLERS[args.kind]()
    mask = sampler(1, (image.height, image.width), generator=torch.Generator().manual_seed(args.seed))[0, 0].numpy() > 0.5

    try:
        inpainter = load(args.model, device="cpu")
    except (KeyError, FileNotFoundError, ValueError) as error:  # unknown name, missing or bad file
        raise SystemExit(f"examples/inpaint.py: {error}\n(`inpaintlab models` lists the checkpoints)") from None
    result = inpainter(image, mask)  # PIL in, PIL out; known pixels unchanged

    known = ~mask
    assert np.array_equal(np.array(result)[known], np.array(image)[known]), "known pixels must be unchanged"
    error = np.abs(np.array(result, dtype=np.float32) - np.array(image, dtype=np.float32))[mask].mean() / 255
    args.output.parent.mkdir(parents=True, exist_ok=True)
    before_after(image, mask, result).save(args.output)
    print(f"{inpainter.name}: filled {mask.mean():.1%} of {args.image.name}; mean abs error in the hole {error:.3f}")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
