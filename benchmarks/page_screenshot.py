"""A screenshot of the ``deepcolor serve`` page (docs/images/hints_page.png): the built-in example, two hints.

    PYTHONPATH=. python benchmarks/page_screenshot.py    # needs playwright and Chromium (as tests/test_web.py)
"""

from __future__ import annotations

import io
import shutil
import threading

from PIL import Image

from _common import ROOT, write_atomic

HINTS = [((300, 120), "#d04030"), ((150, 420), "#3060d0")]  # (x, y) on the 512 x 512 example, colour


def main() -> None:
    from playwright.sync_api import sync_playwright

    from deepcolor.web.server import make_server

    httpd = make_server("127.0.0.1", 0)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1280, "height": 640})
        page.goto(url)
        page.click("#example")
        page.wait_for_function("document.getElementById('after').naturalWidth > 0", timeout=300_000)
        for n, ((x, y), colour) in enumerate(HINTS, start=1):
            box = page.locator("#after").bounding_box()
            page.mouse.click(box["x"] + (x + 0.5) * box["width"] / 512, box["y"] + (y + 0.5) * box["height"] / 512)
            page.locator("#colour").fill(colour)
            shown = "(n) => { const k = document.getElementById('after').dataset.hints.split(';'); return k.length === n && k[n - 1].endsWith('%s'); }"
            page.wait_for_function(shown % colour, arg=n, timeout=300_000)
        page.wait_for_selector("#suggestions button", timeout=300_000)
        shot = page.screenshot(full_page=False)
        browser.close()
    httpd.shutdown()
    image = Image.open(io.BytesIO(shot)).convert("RGB")
    image = image.resize((image.width * 3 // 4, image.height * 3 // 4), Image.LANCZOS).quantize(128)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    write_atomic(ROOT / "docs" / "images" / "hints_page.png", buffer.getvalue())
    print(f"docs/images/hints_page.png: {len(buffer.getvalue()) // 1024} KB")


if __name__ == "__main__":
    main()
