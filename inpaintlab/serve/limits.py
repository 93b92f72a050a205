"""What the server accepts: a request body size limit (413) and pictures it can decode (400 / 413).

:class:`BodyLimit` is plain ASGI middleware around the whole app: a ``Content-Length`` above the limit
is answered 413 before a byte of the body is read; a body without one (chunked) is read up to the
limit and answered 413 as soon as it passes it. :func:`decode_picture` opens an uploaded file with
PIL: undecodable data is :class:`BadInput` 400, more pixels than allowed is 413 (checked from the
header, before the pixels are decoded), and the EXIF orientation is applied as browsers do.
"""

from __future__ import annotations

import io
import json
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError

DEFAULT_MAX_UPLOAD_MB = 50.0
DEFAULT_MAX_PIXELS = 50_000_000


class BadInput(ValueError):
    """A request the client must change; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


async def send_json(send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """ASGI middleware: request bodies larger than ``max_bytes`` get a 413 JSON answer."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = int(max_bytes)

    def _too_large(self, size: str) -> str:
        return (
            f"the upload is {size}, more than this server's limit of {_size(self.max_bytes)}; send a "
            "smaller picture or start the server with a larger --max-upload-mb"
        )

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None:
            try:
                size = int(length)
            except ValueError:
                return await send_json(send, 400, f"Content-Length {length.decode(errors='replace')!r} is not a number")
            if size > self.max_bytes:
                return await send_json(send, 413, self._too_large(_size(size)))
            return await self.app(scope, receive, send)
        # no Content-Length (chunked): buffer up to the limit, then hand the body on in one piece
        chunks, total, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            total += len(chunks[-1])
            more = message.get("more_body", False)
            if total > self.max_bytes:
                return await send_json(send, 413, self._too_large(f"over {_size(self.max_bytes)}"))
        body, sent = b"".join(chunks), False

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)


def _size(nbytes: int) -> str:
    return f"{nbytes / 1e6:.1f} MB" if nbytes >= 100_000 else f"{nbytes / 1e3:.1f} kB"


def decode_picture(data: bytes, field: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """The uploaded file ``data`` of form field ``field`` as a loaded PIL image, upright (EXIF applied).

    Raises:
        BadInput: 400 for an empty or undecodable file, 413 for more than ``max_pixels`` pixels.
    """
    if not data:
        raise BadInput(400, f"{field}: the file is empty; send a PNG, JPEG or WebP picture")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit below
            picture = Image.open(io.BytesIO(data))
            width, height = picture.size
            if width * height > max_pixels:
                raise BadInput(
                    413,
                    f"{field}: {width}x{height} is {width * height / 1e6:.1f} megapixels, more than this "
                    f"server's limit of {max_pixels / 1e6:.1f}; downscale it or start the server with a "
                    "larger --max-megapixels",
                )
            picture.load()
            picture = ImageOps.exif_transpose(picture)
    except BadInput:
        raise
    except Image.DecompressionBombError as err:
        raise BadInput(413, f"{field}: {err}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as err:
        reason = "not a picture PIL can read" if isinstance(err, UnidentifiedImageError) else str(err)
        raise BadInput(
            400, f"{field}: cannot be decoded ({reason}); send a PNG, JPEG or WebP picture"
        ) from None
    return picture
