"""``inpaintlab stylize``: turn photos into Monet-style pictures (a picture or a folder), e.g. photos to
add to a Monet training set through ``InpaintDataModule(extra_train_dirs=[...])``.

    inpaintlab stylize --model photo2monet --image photos/ --output monet-style/
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from inpaintlab.cli.common import (
    STYLIZER_NAME,
    CliError,
    check_model,
    check_output,
    folder_pictures,
    save_picture,
)


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "stylize", help="turn photos into Monet-style pictures (a picture or a folder)"
    )
    parser.add_argument("--model", default=STYLIZER_NAME, help="registry name or .safetensors/.ckpt file")
    parser.add_argument("--image", required=True, type=Path, help="picture or folder")
    parser.add_argument("--output", required=True, type=Path, help="output picture or folder")
    parser.add_argument("--limit", type=int, default=None, help="at most this many pictures of a folder")
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: cuda if available)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Stylize one picture or a folder. Outputs are PNG; an existing output is replaced."""
    from tqdm.auto import tqdm

    from inpaintlab.api.pictures import read_picture  # numpy and PIL: not for `inpaintlab models`

    if not args.image.exists():
        raise FileNotFoundError(f"--image {args.image} does not exist")
    if args.image.is_file():
        output = args.output / f"{args.image.stem}.png" if args.output.is_dir() else args.output
        check_output(output)
        jobs = [(args.image, output)]
    else:
        jobs = [
            (p, args.output / f"{p.stem}.png") for p in folder_pictures(args.image, args.output)[: args.limit]
        ]
    check_model(args.model, task="stylize")
    from inpaintlab.api import Stylizer, load

    stylizer = load(args.model, device=args.device)
    if not isinstance(stylizer, Stylizer):
        raise CliError(
            f"--model {args.model} is an inpainter, not a style translator such as {STYLIZER_NAME}"
        )
    for image_path, out_path in tqdm(
        jobs, desc="stylize", unit="img", file=sys.stderr, disable=len(jobs) < 2
    ):
        image = read_picture(image_path, "--image")
        result = stylizer(image.convert("RGB") if image.mode not in ("RGB", "RGBA", "L", "LA") else image)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        save_picture(result, out_path)
    print(f"wrote {len(jobs)} picture(s) to {args.output} ({stylizer.name})")
    return 0
