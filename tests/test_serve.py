"""`inpaintlab serve`'s REST API through FastAPI's TestClient: results, every error path, concurrency."""

from __future__ import annotations

import io
import re
import threading
import time

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="the serve extra is not installed (pip install 'inpaintlab[serve]')")
from conftest import start_uvicorn
from fastapi.testclient import TestClient

from inpaintlab import cli, load
from inpaintlab.serve import create_app
from inpaintlab.serve.app import STATIC, registry_models
from inpaintlab.serve.pool import ModelPool

H, W = 80, 96


def png(picture: Image.Image | np.ndarray) -> bytes:
    if isinstance(picture, np.ndarray):
        picture = Image.fromarray(picture)
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def picture() -> np.ndarray:
    rng = np.random.default_rng(0)
    ys, xs = np.mgrid[0:H, 0:W]
    base = np.stack([ys / H, xs / W, (ys + xs) / (H + W)], -1)
    return ((0.8 * base + 0.2 * rng.random((H, W, 3))) * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def hole() -> np.ndarray:
    mask = np.zeros((H, W), np.uint8)
    mask[20:44, 30:58] = 255
    return mask


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app("auto", "cpu")) as c:
        yield c


def post(client, image: bytes, mask: bytes | None, **data):
    files = {"image": ("picture.png", image)}
    if mask is not None:
        files["mask"] = ("mask.png", mask)
    return client.post("/api/v1/inpaint", files=files, data={k: str(v) for k, v in data.items()})


def decoded(response) -> np.ndarray:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    return np.asarray(Image.open(io.BytesIO(response.content)))


def assert_error(response, status: int, *words: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail
    for word in words:
        assert word in detail, detail
    return detail


# ---------- what works ----------


def test_named_model_result_is_the_librarys_result(client, picture, hole):
    out = decoded(post(client, png(picture), png(hole), model="monet-blocks"))
    expected = np.asarray(load("monet-blocks", device="cpu")(Image.fromarray(picture), Image.fromarray(hole)))
    assert out.shape == picture.shape
    np.testing.assert_array_equal(out, expected)
    changed = (out != picture).any(-1)
    assert not changed[hole == 0].any()  # known pixels bit-identical
    assert changed[hole > 0].mean() > 0.5


def test_auto_names_the_model_that_ran(client, picture, hole):
    response = post(client, png(picture), png(hole))  # model defaults to the server's (auto)
    out = decoded(response)
    ran = response.headers["x-inpaintlab-model"]
    assert re.fullmatch(r"(photo|monet)-(center|blocks|region)", ran), ran
    assert float(response.headers["x-inpaintlab-seconds"]) >= 0
    assert not (out != picture).any(-1)[hole == 0].any()


def test_alpha_jpeg_and_webp_pictures(client, picture, hole):
    rgba = np.dstack([picture, np.linspace(0, 255, W, dtype=np.uint8)[None].repeat(H, 0)])
    out = decoded(post(client, png(rgba), png(hole), model="photo-blocks"))
    assert out.shape == (H, W, 4)
    np.testing.assert_array_equal(out[..., 3], rgba[..., 3])  # alpha copied through
    for fmt in ("JPEG", "WEBP"):
        buffer = io.BytesIO()
        Image.fromarray(picture).save(buffer, fmt)
        sent = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
        out = decoded(post(client, buffer.getvalue(), png(hole), model="photo-blocks"))
        assert out.shape == (H, W, 3)
        np.testing.assert_array_equal(out[hole == 0], sent[hole == 0])


def test_exif_orientation_is_applied_like_a_browser(client):
    # stored 40 wide x 30 high, EXIF 6 = rotate: browsers show (and the page paints on) 30 x 40
    stored = Image.fromarray(np.full((30, 40, 3), 128, np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    stored.save(buffer, "JPEG", exif=exif)
    mask = np.zeros((40, 30), np.uint8)
    mask[5:10, 5:10] = 255
    out = decoded(post(client, buffer.getvalue(), png(mask), model="photo-blocks"))
    assert out.shape[:2] == (40, 30)


def test_empty_mask_returns_the_picture(client, picture):
    out = decoded(post(client, png(picture), png(np.zeros((H, W), np.uint8)), model="photo-center"))
    np.testing.assert_array_equal(out, picture)


def test_health_models_page_and_docs(client):
    health = client.get("/api/v1/health").json()
    assert health["status"] == "ok" and health["busy"] is False and health["device"] == "cpu"
    listing = client.get("/api/v1/models").json()
    models, auto = registry_models()
    assert listing["default"] == "auto" and listing["auto"] is auto is True
    assert [m["name"] for m in listing["models"]] == [m["name"] for m in models]
    assert "style-classifier" not in {m["name"] for m in listing["models"]}  # not an inpainter
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    for asset in ("app.js", "app.css"):
        assert client.get(f"/static/{asset}").status_code == 200
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/v1/inpaint", "/api/v1/models", "/api/v1/health"} <= set(paths)


def test_page_fetches_nothing_from_elsewhere():
    for name in ("index.html", "app.js", "app.css"):
        text = (STATIC / name).read_text()
        assert "://" not in text, f"{name} refers to another site"
    js = (STATIC / "app.js").read_text()
    for api in ("api/v1/inpaint", "api/v1/models", "api/v1/health"):
        assert api in js  # the page uses exactly the REST API


# ---------- every bad request: 4xx JSON naming the problem ----------


@pytest.mark.parametrize(
    "image, mask, data, status, words",
    [
        (None, "ok", {}, 422, ["image", "required"]),
        ("ok", None, {}, 422, ["mask", "required"]),
        (b"", "ok", {}, 400, ["image", "empty"]),
        (b"this is not a picture", "ok", {}, 400, ["image", "cannot be decoded"]),
        ("ok", b"GIF89a-broken", {}, 400, ["mask", "cannot be decoded"]),
        ("truncated", "ok", {}, 400, ["image"]),
        ("ok", "small", {}, 400, ["96x40", "96x80"]),
        ("ok", "ok", {"model": "nope"}, 422, ["nope", "monet-blocks"]),
        ("ok", "ok", {"model": "hub/monet-blocks.safetensors"}, 422, ["unknown"]),  # never a path
        ("ok", "ok", {"dilate": "-1"}, 422, ["dilate"]),
        ("ok", "ok", {"dilate": "100000"}, 422, ["dilate"]),
        ("ok", "ok", {"dilate": "two"}, 422, ["dilate"]),
        ("ok", "ok", {"strategy": "bogus"}, 422, ["bogus"]),
    ],
)
def test_bad_requests(client, picture, hole, image, mask, data, status, words):
    good_image, good_mask = png(picture), png(hole)
    blobs = {"ok": None, "truncated": good_image[: len(good_image) // 2], "small": png(hole[:40])}
    files = {}
    if image is not None:
        files["image"] = ("picture.png", good_image if image == "ok" else blobs.get(image, image))
    if mask is not None:
        files["mask"] = ("mask.png", good_mask if mask == "ok" else blobs.get(mask, mask))
    response = client.post("/api/v1/inpaint", files=files, data={"model": "monet-blocks", **data})
    assert_error(response, status, *words)


def test_wrong_method_and_path_are_json(client):
    assert client.get("/api/v1/inpaint").status_code == 405
    assert client.get("/api/v1/nothing").json() == {"detail": "Not Found"}


def test_upload_limit_413_before_reading(picture, hole):
    with TestClient(create_app("monet-blocks", "cpu", max_upload_mb=0.001)) as small:
        big = png(np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8))
        assert_error(post(small, big, png(hole)), 413, "limit", "--max-upload-mb")

        def chunks():  # no Content-Length: the limit counts the streamed body
            boundary = b"--x\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n\r\n"
            yield boundary
            for _ in range(10):
                yield b"\0" * 500

        response = small.post(
            "/api/v1/inpaint", content=chunks(), headers={"content-type": "multipart/form-data; boundary=x"}
        )
        assert_error(response, 413, "limit")
        assert small.get("/api/v1/health").status_code == 200  # still serving


def test_picture_pixel_limit_413(picture, hole):
    with TestClient(create_app("monet-blocks", "cpu", max_pixels=1000)) as small:
        assert_error(post(small, png(picture), png(hole)), 413, "megapixels", "--max-megapixels")


def test_start_errors():
    with pytest.raises(ValueError, match="no such inpainter"):
        create_app("nope", "cpu")
    with pytest.raises(ValueError, match="style-classifier"):
        create_app("auto", "cpu", models=([{"name": "a"}], False))
    with pytest.raises(ValueError, match="max_upload_mb"):
        create_app("monet-blocks", "cpu", max_upload_mb=0)


# ---------- models loaded once, one fill at a time, health while a fill runs ----------


class FakeInpainter:
    """Fills the hole with grey; waits for ``gate`` first; records how many fills overlap."""

    def __init__(self, name: str, gate: threading.Event | None = None, error: Exception | None = None):
        self.name, self.gate, self.error = name, gate, error
        self.active = self.max_active = self.calls = 0

    def __call__(self, image, mask, *, dilate=0):
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        self.calls += 1
        try:
            if self.gate is not None:
                assert self.gate.wait(20), "test gate never opened"
            time.sleep(0.01)
            if self.error is not None:
                raise self.error
            out = np.array(image.convert("RGB"))
            out[np.asarray(mask.convert("L")) > 0] = 128
            return Image.fromarray(out)
        finally:
            self.active -= 1


def fake_app(fakes: dict, loads: list, **kwargs):
    def loader(name, **_):
        loads.append(name)
        return fakes[name]

    listed = [{"name": n, "style": "photo", "mask": None, "resolution": 64} for n in fakes]
    return create_app(next(iter(fakes)), "cpu", loader=loader, models=(listed, False), **kwargs)


def test_model_loaded_once_and_errors_free_the_worker(picture, hole):
    fakes = {"fake": FakeInpainter("fake"), "broken": FakeInpainter("broken", error=ValueError("cannot fill that"))}
    loads: list[str] = []
    with TestClient(fake_app(fakes, loads)) as client:
        for _ in range(3):
            decoded(post(client, png(picture), png(hole), model="fake"))
        assert_error(post(client, png(picture), png(hole), model="broken"), 422, "cannot fill that")
        assert_error(post(client, png(picture), png(hole), model="broken"), 422, "cannot fill that")
        decoded(post(client, png(picture), png(hole), model="fake"))  # the worker is free again
        assert client.get("/api/v1/health").json()["loaded"] == ["broken", "fake"]
    assert loads == ["fake", "broken"]
    assert fakes["fake"].calls == 4


def test_a_bug_is_a_json_500_not_a_hang(picture, hole):
    fakes = {"buggy": FakeInpainter("buggy", error=RuntimeError("index out of range"))}
    with TestClient(fake_app(fakes, []), raise_server_exceptions=False) as client:
        assert_error(post(client, png(picture), png(hole)), 500, "internal error", "index out of range")
        assert client.get("/api/v1/health").json()["busy"] is False


def test_auto_routes_through_the_pool():
    loads = []

    def loader(name, **kwargs):
        loads.append((name, sorted(kwargs)))
        return kwargs["loader"]("inner") if name == "auto" else FakeInpainter(name)

    pool = ModelPool(loader)
    assert pool.get("auto").name == "inner"
    assert pool.get("inner") is pool.get("auto")
    assert loads == [("auto", ["loader"]), ("inner", [])]


@pytest.fixture
def live_server():
    """Start an app with uvicorn on a free loopback port; yields ``start(app) -> base url``."""
    servers = []

    def start(app):
        url, server, thread = start_uvicorn(app)
        servers.append((server, thread))
        return url

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(10)


def test_health_answers_while_a_fill_runs_and_fills_never_overlap(live_server, picture, hole):
    import httpx

    gate = threading.Event()
    fake = FakeInpainter("slow", gate=gate)
    app = fake_app({"slow": fake}, [])
    base = live_server(app)
    pool = app.state.pool
    results = []

    def request():
        files = {"image": ("p.png", png(picture)), "mask": ("m.png", png(hole))}
        results.append(httpx.post(f"{base}/api/v1/inpaint", files=files, timeout=30))

    threads = [threading.Thread(target=request) for _ in range(3)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while not (pool.running == 1 and pool.waiting == 2):
        assert time.monotonic() < deadline, (pool.running, pool.waiting)
        time.sleep(0.01)
    health = httpx.get(f"{base}/api/v1/health", timeout=5).json()  # answers though a fill is blocked
    assert health["busy"] is True and health["queued"] == 2
    gate.set()
    for t in threads:
        t.join(30)
    assert [r.status_code for r in results] == [200, 200, 200]
    assert fake.calls == 3 and fake.max_active == 1


def test_full_queue_answers_503(live_server, picture, hole):
    import httpx

    gate = threading.Event()
    app = fake_app({"slow": FakeInpainter("slow", gate=gate)}, [], max_queue=0)
    base = live_server(app)
    files = {"image": ("p.png", png(picture)), "mask": ("m.png", png(hole))}
    first = threading.Thread(target=lambda: httpx.post(f"{base}/api/v1/inpaint", files=files, timeout=30))
    first.start()
    deadline = time.monotonic() + 10
    while app.state.pool.running != 1:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    response = httpx.post(f"{base}/api/v1/inpaint", files=files, timeout=10)
    gate.set()
    first.join(30)
    assert_error(response, 503, "retry")
    assert response.headers["retry-after"] == "2"


# ---------- the command ----------


def test_serve_command(monkeypatch, capsys):
    import uvicorn

    started = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: started.update(kw, app=app))
    assert cli.main(["serve", "--model", "monet-blocks", "--port", "8765"]) == 0
    assert started["host"] == "127.0.0.1" and started["port"] == 8765  # loopback unless asked
    assert started["app"].state.pool.loaded == ["monet-blocks"]  # preloaded: errors show at start
    out = capsys.readouterr()
    assert "http://127.0.0.1:8765/" in out.out and "warning" not in out.err
    assert cli.main(["serve", "--host", "0.0.0.0", "--model", "monet-blocks"]) == 0
    assert "other machines can reach" in capsys.readouterr().err


def test_serve_command_errors(monkeypatch, capsys):
    assert cli.main(["serve", "--model", "nope"]) == 1
    assert "no such inpainter" in capsys.readouterr().err
    assert cli.main(["serve", "--device", "cuda:7"]) == 1
    assert "cuda" in capsys.readouterr().err.lower()
    monkeypatch.setitem(__import__("sys").modules, "uvicorn", None)  # the extra is not installed
    assert cli.main(["serve"]) == 1
    assert "pip install 'inpaintlab[serve]'" in capsys.readouterr().err
