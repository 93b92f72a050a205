"""The brush page in a real headless Chromium (the system's package), driven by Playwright.

Load a picture, paint with pointer events (mouse down / move / up), erase, undo, inpaint, download:
the PNG has the picture's size, and pixels changed only under the painted stroke. Skips with the
reason when Playwright or a Chromium binary is missing (``apt-get install -y chromium``; the Python
``playwright`` package drives it, no browser is downloaded). ``INPAINTLAB_SCREENSHOT=path.png``
saves a screenshot of the painted page (the README's).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="the serve extra is not installed (pip install 'inpaintlab[serve]')")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")

from conftest import start_uvicorn

from inpaintlab.serve import create_app

REPO = Path(__file__).resolve().parents[1]
CHROMIUM_FLAGS = [  # this network is closed: no background connections, no GPU, root needs --no-sandbox
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    for candidate in (os.environ.get("INPAINTLAB_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser"), shutil.which("google-chrome")):  # fmt: skip
        if candidate and Path(candidate).is_file():
            return candidate
    return None


CHROMIUM = chromium_path()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium found (apt-get install -y chromium, or set INPAINTLAB_CHROMIUM)"
)


@pytest.fixture(scope="module")
def picture_file(tmp_path_factory) -> Path:
    """The shipped Monet painting as a 512x360 PNG (not square, not the model's size)."""
    path = tmp_path_factory.mktemp("page") / "antibes.png"
    with Image.open(REPO / "examples" / "assets" / "monet.jpg") as im:
        im.convert("RGB").resize((512, 360), Image.Resampling.LANCZOS).save(path)
    return path


def start_server(app) -> tuple[str, object, object]:
    """The page's address (with its trailing slash), the server and its thread (``conftest.start_uvicorn``)."""
    url, server, thread = start_uvicorn(app)
    return f"{url}/", server, thread


@pytest.fixture(scope="module")
def server_url():
    url, server, thread = start_server(create_app("auto", "cpu", preload=False))
    yield url
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    with sync_api.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),  # a new, empty profile
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_FLAGS,
            accept_downloads=True,
        )
        yield context
        context.close()


def segment_distance(shape: tuple[int, int], a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance of every pixel centre of an (H, W) image to the segment a-b (image coordinates x, y)."""
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]]
    p = np.stack([xs + 0.5, ys + 0.5], -1)
    d = b - a
    t = np.clip(((p - a) @ d) / max(float(d @ d), 1e-9), 0, 1)
    return np.linalg.norm(p - (a + t[..., None] * d), axis=-1)


class Page:
    """Drives the page in CSS pixels; converts the strokes to image coordinates for the checks."""

    def __init__(self, page, picture: Path):
        self.page = page
        with Image.open(picture) as im:
            self.size = im.size  # (W, H)

    def box(self) -> dict:
        return self.page.locator("#mask").bounding_box()

    def scale(self) -> float:
        return self.size[0] / self.box()["width"]

    def stroke(self, start: tuple[float, float], end: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
        """Drag from ``start`` to ``end`` (fractions of the picture); returns the end points in image px."""
        box = self.box()
        (x0, y0), (x1, y1) = [(box["x"] + fx * box["width"], box["y"] + fy * box["height"]) for fx, fy in (start, end)]
        mouse = self.page.mouse
        mouse.move(x0, y0)
        mouse.down()
        mouse.move(x1, y1, steps=15)
        mouse.up()
        s = self.scale()
        return np.array([x0 - box["x"], y0 - box["y"]]) * s, np.array([x1 - box["x"], y1 - box["y"]]) * s

    def inpaint_and_download(self, path: Path) -> np.ndarray:
        self.page.click("#inpaint")
        self.page.wait_for_selector("#result:not([hidden])", timeout=60_000)
        assert "Filled by" in self.page.text_content("#status")
        with self.page.expect_download() as download:
            self.page.click("#download")
        download.value.save_as(path)
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))


@pytest.mark.parametrize("viewport", [(1280, 900), (390, 844)], ids=["desktop", "phone"])
def test_paint_inpaint_download(browser, server_url, picture_file, tmp_path, viewport):
    page = browser.new_page()
    page.set_viewport_size({"width": viewport[0], "height": viewport[1]})
    try:
        page.goto(server_url)
        page.wait_for_function("document.querySelectorAll('#model option').length > 1")
        page.set_input_files("#file", str(picture_file))
        page.wait_for_selector("#frame:not([hidden])")
        driver = Page(page, picture_file)
        original = np.asarray(Image.open(picture_file).convert("RGB"))
        width, height = driver.size
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport[0]  # fits a phone

        page.keyboard.press("Enter")  # nothing painted yet: an error in words, not a request
        assert "mask is empty" in page.text_content("#error")

        for _ in range(3):
            page.keyboard.press("[")  # brush 40 -> 25 CSS px
        assert page.input_value("#size") == "25"
        radius = 25 * driver.scale() / 2
        a, b = driver.stroke((0.2, 0.35), (0.65, 0.5))
        full = viewport[0] > 600  # the phone-sized run paints one stroke only (the machine has 2 cores)
        if full:  # a second stroke, undone: it must leave no trace
            c, d = driver.stroke((0.75, 0.8), (0.9, 0.9))
            page.keyboard.press("Control+z")
            # the eraser across the first stroke: those pixels are no longer hole
            page.click("#eraser")
            e, f = driver.stroke((0.42, 0.2), (0.42, 0.7))
            page.click("#brush")
        if full and os.environ.get("INPAINTLAB_SCREENSHOT"):
            page.screenshot(path=os.environ["INPAINTLAB_SCREENSHOT"])

        out = driver.inpaint_and_download(tmp_path / "result.png")
        assert out.shape == original.shape == (height, width, 3)
        changed = (out != original).any(-1)
        stroke = segment_distance((height, width), a, b)
        assert not changed[stroke > radius + 1.5].any(), (
            f"pixels changed outside the stroke: up to {stroke[changed].max():.2f} px from it, radius {radius:.2f}"
        )
        core = stroke < radius - 1.5
        if full:
            eraser = segment_distance((height, width), e, f)
            assert not changed[eraser < radius - 1.5].any(), "erased pixels changed"
            assert not changed[segment_distance((height, width), c, d) < radius].any(), "the undone stroke changed pixels"
            core &= eraser > radius + 1.5
        assert changed[core].mean() > 0.5, "the painted hole was not filled"
        if not full:
            return

        # inpaint again on the result: only the new stroke changes it
        page.click("#again")
        g, h = driver.stroke((0.1, 0.85), (0.3, 0.85))
        again = driver.inpaint_and_download(tmp_path / "again.png")
        changed = (again != out).any(-1)
        new_stroke = segment_distance((height, width), g, h)
        assert changed.any() and not changed[new_stroke > radius + 1.5].any()
    finally:
        page.close()


def test_server_errors_are_shown_in_words(browser, picture_file):
    url, server, thread = start_server(create_app("monet-blocks", "cpu", max_pixels=100_000))
    page = browser.new_page()
    page.set_viewport_size({"width": 1000, "height": 800})
    try:
        page.goto(url)
        page.wait_for_function("document.querySelectorAll('#model option').length > 1")
        page.set_input_files("#file", str(picture_file))
        page.wait_for_selector("#frame:not([hidden])")
        Page(page, picture_file).stroke((0.3, 0.3), (0.6, 0.6))
        page.click("#inpaint")
        page.wait_for_selector("#error:not([hidden])", timeout=30_000)
        message = page.text_content("#error")
        assert "megapixels" in message and "--max-megapixels" in message  # the server's 413, in words
        assert page.locator("#result").is_hidden()
        assert not page.locator("#inpaint").is_disabled()  # ready to try again
    finally:
        page.close()
        server.should_exit = True
        thread.join(10)
