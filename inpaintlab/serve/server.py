"""``inpaintlab serve``: start the app with uvicorn on 127.0.0.1 (another host only when asked)."""

from __future__ import annotations

import sys

from inpaintlab.serve.memory import retain_freed_memory

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def missing_extra_message(err: ImportError) -> str:
    return (
        f"inpaintlab serve needs the 'serve' extra ({err.name or err} is not installed): "
        "pip install 'inpaintlab[serve]'"
    )


def serve(
    host: str = "127.0.0.1",
    port: int = 8080,
    model: str = "auto",
    device: str | None = "cpu",
    max_upload_mb: float = 50.0,
    max_megapixels: float = 50.0,
) -> int:
    """Load ``model``, print the address, and serve until Ctrl+C; returns the exit status.

    Raises:
        ImportError: FastAPI / uvicorn missing (the message names the extra to install).
        ValueError: an unknown model, a bad device or limit.
    """
    try:
        import uvicorn

        from inpaintlab.serve.app import create_app
    except ImportError as err:
        raise ImportError(missing_extra_message(err)) from None
    if not 0 < port < 65536:
        raise ValueError(f"--port must be 1..65535, got {port}")
    retain_freed_memory()  # fills reuse freed memory instead of faulting it in again (serve/memory.py)
    print(f"inpaintlab serve: loading {model} on {device or 'the default device'} ...", file=sys.stderr, flush=True)
    app = create_app(
        model, device, max_upload_mb=max_upload_mb, max_pixels=int(max_megapixels * 1e6), preload=True
    )
    shown = f"[{host}]" if ":" in host else host
    print(f"inpaintlab serve: open http://{shown}:{port}/ in a browser (API docs: http://{shown}:{port}/docs); "
          "Ctrl+C stops", flush=True)
    if host not in LOCAL_HOSTS:
        print(f"warning: listening on {host}: other machines can reach this server (it has no login)",
              file=sys.stderr, flush=True)
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    except SystemExit as stop:  # uvicorn exits 1 when it cannot bind (the reason is logged above)
        return int(stop.code or 0) if isinstance(stop.code, int) or stop.code is None else 1
    return 0
