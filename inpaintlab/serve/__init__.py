"""``inpaintlab serve``: a local web page to paint a mask and inpaint it, and the REST API behind it.

Needs the ``serve`` extra (``pip install 'inpaintlab[serve]'``: FastAPI, uvicorn, python-multipart).

    >>> from inpaintlab.serve import create_app     # a FastAPI app; run it with any ASGI server
    >>> app = create_app(model="monet-blocks", device="cpu")

Modules: ``app`` (routes), ``pool`` (models loaded once, one fill at a time), ``limits`` (upload size,
picture decoding), ``server`` (the command), ``memory`` (the server keeps freed memory: faster CPU fills),
``static/`` (the page: HTML, CSS, JS; no build step).
"""

from __future__ import annotations

__all__ = ["create_app"]


def __getattr__(name: str):
    # imported on first use, so `inpaintlab serve` can say which extra is missing
    if name == "create_app":
        from inpaintlab.serve.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
