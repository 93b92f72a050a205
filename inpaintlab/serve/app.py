"""The FastAPI app behind ``inpaintlab serve``: the brush page and the REST API it uses.

    GET  /                  the page (inpaintlab/serve/static: plain HTML, CSS and JS, no build step)
    GET  /api/v1/health     {"status": "ok", "version", "device", "busy", "queued", "loaded", ...}
    GET  /api/v1/models     {"default", "auto", "models": [{"name", "style", "mask", "resolution", ...}]}
    POST /api/v1/inpaint    multipart: image (file), mask (file, nonzero = hole), model, dilate, strategy
                            -> image/png at the picture's size; X-Inpaintlab-Model names what ran
    GET  /docs              OpenAPI docs

Every bad request gets a 4xx JSON answer ``{"detail": "<what is wrong and how to fix it>"}``: 400 for
files that do not decode or do not match, 413 for uploads or pictures over the limits, 422 for bad
form values (unknown model, dilate out of range, ...), 503 when too many fills are waiting.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from importlib import resources
from typing import Annotated, Any

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from inpaintlab.serve.limits import (
    DEFAULT_MAX_PIXELS,
    DEFAULT_MAX_UPLOAD_MB,
    BadInput,
    BodyLimit,
    decode_picture,
)
from inpaintlab.serve.pool import Busy, ModelPool

MAX_DILATE = 256
STATIC = resources.files("inpaintlab.serve") / "static"


def registry_models() -> tuple[list[dict[str, Any]], bool]:
    """The registry's inpainters as the API lists them, and whether ``"auto"`` can run."""
    from inpaintlab.hub import load_registry, local_file

    entries = load_registry()
    models = [
        {
            "name": name,
            "description": entry.description,
            "style": entry.style,
            "mask": entry.mask,
            "resolution": entry.resolution,
            "local": local_file(entry) is not None,
        }
        for name, entry in entries.items()
        if entry.task == "inpaint"
    ]
    auto = "style-classifier" in entries and entries["style-classifier"].task == "classify"
    return models, auto


def default_loader(device: str | None) -> Callable[..., Any]:
    """``loader(name, **kwargs)`` -> ``inpaintlab.load(name, device=device, **kwargs)``."""

    def loader(name: str, **kwargs: Any) -> Any:
        from inpaintlab.api import load

        return load(name, device=device, **kwargs)

    return loader


def create_app(
    model: str = "auto",
    device: str | None = "cpu",
    *,
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_queue: int = 8,
    loader: Callable[..., Any] | None = None,
    models: tuple[list[dict[str, Any]], bool] | None = None,
    preload: bool = False,
) -> FastAPI:
    """The FastAPI app (request bodies limited by :class:`~inpaintlab.serve.limits.BodyLimit`).

    Args:
        model: the default model of the page and of requests without ``model`` (a registry name or
            ``"auto"``).
        device: where models run (``"cpu"``, ``"cuda"``; None = CUDA if available).
        max_upload_mb: largest request body, in MB (10**6 bytes); larger ones get 413.
        max_pixels: largest picture (width x height); larger ones get 413.
        max_queue: fills that may wait for the running one; more get 503.
        loader: ``loader(name, **kwargs)`` -> inpainter (default: ``inpaintlab.load`` on ``device``).
        models: ``(model list, auto available)`` (default: read from the registry).
        preload: load the default model now (errors surface at start, the first fill is fast).

    Raises:
        ValueError: an unknown default ``model``, ``"auto"`` without a style classifier, a bad limit
            or device.
    """
    if not max_upload_mb > 0 or max_pixels < 1:
        raise ValueError(f"max_upload_mb and max_pixels must be > 0, got {max_upload_mb}, {max_pixels}")
    if loader is None:
        from inpaintlab.api import resolve_device

        device = str(resolve_device(device))
        loader = default_loader(device)
    listed, auto = models if models is not None else registry_models()
    names = {m["name"] for m in listed} | ({"auto"} if auto else set())
    if model not in names:
        why = "the registry has no style-classifier for 'auto'" if model == "auto" else "no such inpainter"
        raise ValueError(f"--model {model!r}: {why}; choose one of {sorted(names) or 'nothing (empty registry)'}")
    pool = ModelPool(loader, max_queue=max_queue)
    if preload:
        pool.get(model)

    from inpaintlab import __version__

    app = FastAPI(
        title="inpaintlab",
        version=__version__,
        description="Inpaint pictures: upload a picture and a mask (nonzero = hole), get the filled PNG back.",
    )
    app.state.pool = pool

    @app.exception_handler(BadInput)
    async def bad_input(request: Request, err: BadInput) -> JSONResponse:
        return JSONResponse({"detail": str(err)}, status_code=err.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, err: RequestValidationError) -> JSONResponse:
        parts = []
        for e in err.errors():
            where = ".".join(str(p) for p in e.get("loc", ())[1:]) or "request"
            parts.append(f"{where}: {e.get('msg', 'invalid')}")
        return JSONResponse({"detail": "; ".join(parts)}, status_code=422)

    @app.exception_handler(Exception)
    async def internal(request: Request, err: Exception) -> JSONResponse:  # a bug, not the request's fault
        return JSONResponse(
            {"detail": f"internal error ({type(err).__name__}: {err}); the server's log has the traceback"},
            status_code=500,
        )

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(str(STATIC / "index.html"), media_type="text/html")

    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")

    @app.get("/api/v1/health")
    async def health() -> dict[str, Any]:
        """Answers at once, also while a fill runs."""
        return {
            "status": "ok",
            "version": __version__,
            "device": device or "default",
            "default_model": model,
            "busy": pool.running > 0,
            "queued": pool.waiting,
            "loaded": pool.loaded,
        }

    @app.get("/api/v1/models")
    async def list_models() -> dict[str, Any]:
        """The inpainters a request may name; ``auto`` routes by picture style and mask kind."""
        return {"default": model, "auto": auto, "models": listed}

    @app.post(
        "/api/v1/inpaint",
        response_class=Response,
        responses={200: {"content": {"image/png": {}}, "description": "the inpainted picture (PNG)"}},
    )
    def inpaint(
        image: Annotated[UploadFile, File(description="the picture: PNG, JPEG or WebP")],
        mask: Annotated[UploadFile, File(description="the mask, same size: nonzero (white) = hole")],
        model_name: Annotated[str, Form(alias="model", description="registry name or 'auto'")] = model,
        dilate: Annotated[int, Form(ge=0, le=MAX_DILATE, description="grow the hole by N pixels")] = 0,
        strategy: Annotated[str | None, Form(description="how large holes are handled (inpainter's options)")] = None,
    ) -> Response:
        """Fill the hole of ``image`` marked by ``mask``; the PNG has the picture's size and its known
        pixels unchanged."""
        if model_name not in names:
            raise BadInput(422, f"model {model_name!r} is unknown; choose one of {sorted(names)}")
        picture = decode_picture(image.file.read(), "image", max_pixels)
        hole = decode_picture(mask.file.read(), "mask", max_pixels)
        if hole.size != picture.size:
            raise BadInput(
                400,
                f"the mask is {hole.size[0]}x{hole.size[1]} but the image is {picture.size[0]}x{picture.size[1]}; "
                "paint the mask at the picture's size",
            )
        try:
            result = pool.fill(model_name, picture, hole, dilate=dilate, strategy=strategy)
        except Busy as err:
            return JSONResponse({"detail": str(err)}, status_code=503, headers={"Retry-After": "2"})
        except (ValueError, TypeError, KeyError) as err:
            message = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
            raise BadInput(422, str(message)) from None
        out = result.image
        if out.mode not in ("1", "L", "LA", "RGB", "RGBA", "P", "I", "I;16"):
            out = out.convert("RGB")
        buffer = io.BytesIO()
        out.save(buffer, format="PNG")
        headers = {"X-Inpaintlab-Model": result.model, "X-Inpaintlab-Seconds": f"{result.seconds:.3f}"}
        return Response(buffer.getvalue(), media_type="image/png", headers=headers)

    app.add_middleware(BodyLimit, max_bytes=int(max_upload_mb * 1e6))
    return app
