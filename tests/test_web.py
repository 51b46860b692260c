"""``deepcolor serve``: the API answers (hints held, luma kept, bad uploads one line), and in a real browser
(headless Chromium driven by Playwright) the page uploads a photo, places two hints and downloads the result."""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import threading
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

from deepcolor.colorspace import rgb_to_luma, split_luma_chroma
from deepcolor.hints import Hint, hint_chroma
from deepcolor.metrics import to_uint8
from deepcolor.web.server import App, make_server

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def gray_photo() -> np.ndarray:
    return to_uint8(rgb_to_luma(data.chelsea()[::4, ::4] / 255.0))  # 113 x 75


@pytest.fixture(scope="module")
def server():
    """The page on a free port of 127.0.0.1, with a small pixel limit to test the refusal."""
    httpd = make_server("127.0.0.1", 0, app=App(max_pixels=200_000, max_bytes=2_000_000))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def post(url: str, body: bytes, content_type: str = "application/json") -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def decode(url: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB"))


def check_hints_held(rgb: np.ndarray, gray: np.ndarray, hints: list[Hint]) -> None:
    _, chroma = split_luma_chroma(rgb.astype(np.float32) / 255.0)
    wanted = hint_chroma(hints, gray / 255.0)
    for hint, uv in zip(hints, wanted):
        assert np.abs(chroma[int(hint.y), int(hint.x)] - uv).max() <= 2.5 / 255, (hint, chroma[int(hint.y), int(hint.x)], uv)
    assert np.abs(rgb_to_luma(rgb.astype(np.float32)) - gray).max() <= 1.0  # the input's luma


def test_api_hints_and_bad_uploads(server):
    gray = gray_photo()
    status, photo = post(f"{server}/api/photo?name=cat.png&method=cheng", png(gray), "application/octet-stream")
    assert status == 200 and (photo["width"], photo["height"]) == (gray.shape[1], gray.shape[0])
    assert np.array_equal(decode(photo["gray"])[..., 0], gray)
    hints = [Hint(20, 30, (200, 50, 40)), Hint(90, 50, (40, 90, 200))]
    request = {"id": photo["id"], "method": "cheng", "vividness": 0.4,
               "hints": [{"x": h.x, "y": h.y, "colour": "#%02x%02x%02x" % h.rgb} for h in hints]}
    status, answer = post(f"{server}/api/colorize", json.dumps(request).encode())
    assert status == 200
    check_hints_held(decode(answer["result"]), gray, hints)
    status, fitted = post(f"{server}/api/colorize", json.dumps(dict(request, **{"global": True})).encode())
    assert status == 200 and not np.array_equal(decode(fitted["result"]), decode(answer["result"]))  # the whole photo moves
    check_hints_held(decode(fitted["result"]), gray, hints)
    status, answer = post(f"{server}/api/suggest", json.dumps({"id": photo["id"], "method": "cheng", "x": 20, "y": 30}).encode())
    assert status == 200 and answer["suggestions"] and answer["suggestions"][0]["hex"].startswith("#")

    bad = {
        ("/api/photo?name=notes.txt", b"text"): "notes.txt: unsupported file type",
        ("/api/photo?name=broken.png", b"\x89PNG not really"): "broken.png: ",
        ("/api/photo?name=big.png", png(np.zeros((500, 500), np.uint8))): "over the limit",
        ("/api/photo?name=huge.png", b"\0" * 2_000_001): "larger than the limit",
        ("/api/colorize", json.dumps(dict(request, hints=[{"x": 500, "y": 1, "colour": "#ff0000"}])).encode()): "outside",
        ("/api/colorize", json.dumps(dict(request, hints=[{"x": 5, "y": 1, "colour": "red"}])).encode()): "bad colour",
        ("/api/colorize", json.dumps(dict(request, id="gone")).encode()): "no longer on the server",
        ("/api/colorize", b"{not json"): "not valid JSON",
        ("/api/colorize", json.dumps(dict(request, vividness=3)).encode()): "vividness",
    }
    for (path, body), message in bad.items():
        status, answer = post(server + path, body, "application/octet-stream")
        assert status == 400 and message in answer["error"] and "\n" not in answer["error"], (path, answer)
        assert "Traceback" not in answer["error"]


def test_vividness_in_the_query_string_is_read_as_a_number(server):
    """The page sends ``?vividness=0.6`` (a string): it is taken as the number, and a word is a line on the page."""
    gray = gray_photo()
    status, photo = post(f"{server}/api/photo?name=cat.png&method=global-prior&vividness=0.6", png(gray), "application/octet-stream")
    assert status == 200 and (photo["width"], photo["height"]) == (gray.shape[1], gray.shape[0])
    status, answer = post(f"{server}/api/photo?name=cat.png&method=global-prior&vividness=lots", png(gray), "application/octet-stream")
    assert status == 400 and "\n" not in answer["error"] and "Traceback" not in answer["error"]


def test_serve_command_binds_localhost_and_refuses_bad_ports(capsys, monkeypatch):
    from deepcolor.cli.main import main
    from deepcolor.web import server as web_server

    assert main(["serve", "--port", "70000"]) == 2
    assert capsys.readouterr().err.strip() == "deepcolor serve: error: --port must be 0..65535, got 70000"
    seen = {}

    class Stub:
        server_address = ("127.0.0.1", 4321)

        def serve_forever(self):
            seen["served"] = True

        def server_close(self):
            pass

    monkeypatch.setattr(web_server, "make_server", lambda host, port, app: seen.update(host=host, port=port) or Stub())
    assert main(["serve", "--port", "0"]) == 0
    assert seen == {"host": "127.0.0.1", "port": 0, "served": True}  # this machine only, unless --host
    assert "open http://127.0.0.1:4321/" in capsys.readouterr().out


def chromium_or_skip() -> str:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("needs the Python package playwright (pip install '.[test]')")
    path = os.environ.get("DEEPCOLOR_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.skip("needs Chromium (Debian: apt-get install chromium; or DEEPCOLOR_CHROMIUM=/path/to/chrome)")
    return path


def test_page_in_a_real_browser(server, tmp_path):
    """Upload a photo, pick two colours, click two points; the downloaded PNG holds them and the luma."""
    from playwright.sync_api import sync_playwright

    executable = chromium_or_skip()
    gray = gray_photo()
    photo = tmp_path / "cat.png"
    Image.fromarray(gray).save(photo)
    hints = [Hint(25, 20, (210, 40, 40)), Hint(85, 55, (30, 80, 220))]
    with sync_playwright() as p:
        # Playwright gives the browser a fresh profile folder of its own (its stand-in for --user-data-dir).
        browser = p.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(accept_downloads=True)
            outside: list[str] = []  # the page must work with the network unplugged: nothing but the server is asked

            def local_only(route):
                if route.request.url.startswith((server, "data:", "blob:")):
                    route.continue_()
                else:
                    outside.append(route.request.url)
                    route.abort()

            page.route("**/*", local_only)
            page.goto(server + "/")
            page.select_option("#method", "cheng")
            page.set_input_files("#file", str(photo))
            page.wait_for_function("document.getElementById('after').naturalWidth > 0", timeout=120_000)
            for n, hint in enumerate(hints, start=1):  # click a point, then choose its colour
                box = page.locator("#after").bounding_box()
                page.mouse.click(box["x"] + (hint.x + 0.5) * box["width"] / gray.shape[1],
                                 box["y"] + (hint.y + 0.5) * box["height"] / gray.shape[0])
                page.locator("#colour").fill("#%02x%02x%02x" % hint.rgb)
                shown = ";".join(f"{h.x:g},{h.y:g}#%02x%02x%02x" % h.rgb for h in hints[:n])
                page.wait_for_selector(f"#after[data-hints='{shown}']", timeout=120_000)
            assert page.locator("#message").get_attribute("class") != "error"
            with page.expect_download() as download:
                page.click("#downloadPng")
            result = tmp_path / "result.png"
            download.value.save_as(result)
            with page.expect_download() as download:
                page.click("#downloadHints")
            download.value.save_as(tmp_path / "hints.json")
            page.set_input_files("#file", str(tmp_path / "hints.json"))  # not an image: a message on the page
            page.wait_for_selector("#message.error", timeout=60_000)
            assert "unsupported file type" in page.inner_text("#message")
        finally:
            browser.close()
    assert outside == []
    from deepcolor.hints import read_hints

    placed = read_hints(tmp_path / "hints.json", gray.shape)
    assert [(h.x, h.y, h.rgb) for h in placed] == [(h.x, h.y, h.rgb) for h in hints]
    check_hints_held(np.asarray(Image.open(result).convert("RGB")), gray, hints)
