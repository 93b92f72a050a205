"""``inpaintlab serve``: the brush page and REST API in the browser (:mod:`inpaintlab.serve`, needs the
``serve`` extra; without it the command says which package to install).
"""

from __future__ import annotations

import argparse


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "serve", help="the brush page and REST API in the browser (needs inpaintlab[serve])"
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)"
    )
    parser.add_argument("--port", type=int, default=8080, help="port (default: 8080)")
    parser.add_argument("--model", default="auto", help="default model: a registry name or 'auto' (default)")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, ...")
    parser.add_argument(
        "--max-upload-mb", type=float, default=50.0, help="largest upload in MB (default: 50)"
    )
    parser.add_argument("--max-megapixels", type=float, default=50.0, help="largest picture (default: 50)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from inpaintlab.serve.server import serve

    return serve(args.host, args.port, args.model, args.device, args.max_upload_mb, args.max_megapixels)
