"""``deepcolor serve``: a local page to colour a photo where you say (issue 27).

The server is the standard library's (`http.server.ThreadingHTTPServer`) and the page one
hand-written HTML file with its script and style inline (``page.html``): nothing is installed for
it and nothing is fetched from the internet, so it works with the network unplugged (docs/hints.md
says why not Gradio or FastAPI). It binds 127.0.0.1 unless ``--host`` says otherwise.

Routes (JSON in and out, images as PNG data URLs):

- ``GET /``: the page;
- ``POST /api/photo?name=FILE&method=M&vividness=V`` (body: the image file's bytes) or
  ``POST /api/example?method=M&vividness=V``: a new photo; ``{"id", "width", "height", "gray", "result"}``;
- ``POST /api/colorize`` ``{"id", "method", "vividness", "hints": [{"x", "y", "colour"}], "global": false}``: ``{"result"}``
  (``global``: `deepcolor.hints.global_chroma_fit` first);
- ``POST /api/suggest`` ``{"id", "method", "vividness", "x", "y"}``: ``{"suggestions": [{"hex", "probability", "source"}]}``.

A bad upload or request is ``{"error": one line}`` with status 400 (the page shows it); an internal
error is one line too, its traceback only in the server's terminal.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import sys
import threading
import traceback
from collections import OrderedDict
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlparse

from deepcolor.errors import DeepcolorError
from deepcolor.hints import GLOBAL_FIT
from deepcolor.io.common import DEFAULT_MAX_PIXELS
from deepcolor.web.session import Models, PhotoSession, UploadError, check_vividness, example_luma, png_bytes, read_upload

__all__ = ["DEFAULT_PORT", "MAX_UPLOAD_BYTES", "MAX_JSON_BYTES", "KEPT_PHOTOS", "App", "make_server", "main"]

logger = logging.getLogger("deepcolor")
DEFAULT_PORT = 8765
MAX_UPLOAD_BYTES = 64 * 1024 * 1024  # an upload larger than this is refused before it is read
MAX_JSON_BYTES = 4 * 1024 * 1024  # hints and clicks
KEPT_PHOTOS = 8  # photos whose model results are kept (least recently used dropped)


def data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


class App:
    """What the handlers share: the models, the photos kept, the limits."""

    def __init__(self, *, max_pixels: int = DEFAULT_MAX_PIXELS, max_bytes: int = MAX_UPLOAD_BYTES) -> None:
        self.models = Models()
        self.photos: OrderedDict[str, PhotoSession] = OrderedDict()
        self.max_pixels, self.max_bytes = max_pixels, max_bytes
        self.lock = threading.Lock()
        self.page = resources.files("deepcolor.web").joinpath("page.html").read_bytes()

    def add(self, photo: PhotoSession) -> str:
        key = secrets.token_hex(8)
        with self.lock:
            self.photos[key] = photo
            while len(self.photos) > KEPT_PHOTOS:
                self.photos.popitem(last=False)
        return key

    def photo(self, key: Any) -> PhotoSession:
        with self.lock:
            if not isinstance(key, str) or key not in self.photos:
                raise UploadError("this photo is no longer on the server: choose it again")
            self.photos.move_to_end(key)
            return self.photos[key]

    def new_photo(self, photo: PhotoSession, method: str, vividness: float) -> dict[str, Any]:
        key = self.add(photo)
        result = photo.render(self.models, method, vividness, [])
        height, width = photo.luma.shape
        return {"id": key, "name": photo.name, "width": width, "height": height, "gray": data_url(photo.gray_png()),
                "result": data_url(png_bytes(result))}

    def colorize(self, request: dict[str, Any]) -> dict[str, Any]:
        photo = self.photo(request.get("id"))
        method, vividness = str(request.get("method")), check_vividness(request.get("vividness", 0.4))
        global_fit = GLOBAL_FIT if request.get("global") is True else 0.0
        rgb = photo.render(self.models, method, vividness, request.get("hints") or [], global_fit=global_fit)
        return {"result": data_url(png_bytes(rgb))}

    def suggest(self, request: dict[str, Any]) -> dict[str, Any]:
        photo = self.photo(request.get("id"))
        method, vividness = str(request.get("method")), check_vividness(request.get("vividness", 0.4))
        try:
            x, y = float(request["x"]), float(request["y"])
            out = photo.suggest(self.models, method, vividness, x, y)
        except (KeyError, TypeError, ValueError) as exc:
            raise UploadError(f"bad point: {str(exc).splitlines()[0] if str(exc) else 'x and y are needed'}") from None
        return {"suggestions": [{"hex": s.hex, "probability": s.probability, "source": s.source} for s in out]}


class Handler(BaseHTTPRequestHandler):
    """One request: the page, or an API call answered with JSON."""

    app: App  # set on the class `make_server` builds
    server_version = "deepcolor"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        logger.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if urlparse(self.path).path in ("/", "/index.html"):
            self._send(HTTPStatus.OK, self.app.page, "text/html; charset=utf-8")
        else:
            self._json(HTTPStatus.NOT_FOUND, {"error": "no such page"})

    def do_POST(self) -> None:  # noqa: N802
        url = urlparse(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            answer = self._route(url.path, query)
        except DeepcolorError as exc:  # the user's: bad upload, bad hint, unknown method
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc).splitlines()[0]})
        except Exception as exc:  # a bug: one line on the page, the traceback in the terminal
            traceback.print_exc(file=sys.stderr)
            self._json(HTTPStatus.INTERNAL_SERVER_ERROR,
                       {"error": f"internal error ({type(exc).__name__}); the server's terminal shows the traceback"})
        else:
            self._json(HTTPStatus.OK, answer)

    def _route(self, path: str, query: dict[str, str]) -> dict[str, Any]:
        method, vividness = query.get("method", "global-prior"), check_vividness(query.get("vividness", 0.4))
        if path == "/api/photo":
            name = query.get("name", "upload.png")[:200]
            data = self._body(self.app.max_bytes, f"{name}: larger than the limit of {self.app.max_bytes // (1024 * 1024)} MB")
            photo = PhotoSession(read_upload(data, name, max_pixels=self.app.max_pixels), name)
            return self.app.new_photo(photo, method, vividness)
        if path == "/api/example":
            return self.app.new_photo(PhotoSession(example_luma(), "example.png"), method, vividness)
        if path in ("/api/colorize", "/api/suggest"):
            try:
                request = json.loads(self._body(MAX_JSON_BYTES, "request too large"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                raise UploadError("the request is not valid JSON") from None
            if not isinstance(request, dict):
                raise UploadError("the request must be a JSON object")
            return self.app.colorize(request) if path == "/api/colorize" else self.app.suggest(request)
        raise UploadError(f"no such call {path}")

    def _body(self, limit: int, too_large: str) -> bytes:
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            raise UploadError("bad Content-Length") from None
        if length > limit:
            if length <= 16 * limit:  # read and dropped in chunks, so the browser gets the answer, not a broken pipe
                while length > 0 and (chunk := self.rfile.read(min(length, 1 << 20))):
                    length -= len(chunk)
            self.close_connection = True
            raise UploadError(too_large)
        return self.rfile.read(length)

    def _json(self, status: HTTPStatus, payload: dict[str, Any]) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json")

    def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)


def make_server(host: str = "127.0.0.1", port: int = DEFAULT_PORT, *, app: App | None = None) -> ThreadingHTTPServer:
    """The server (not yet serving): ``port`` 0 picks a free one (``server.server_address``)."""
    handler = type("BoundHandler", (Handler,), {"app": app or App()})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def main(argv: list[str] | None = None, *, prog: str = "deepcolor serve") -> int:
    """``deepcolor serve [--port N] [--host ADDRESS] [--max-pixels N]``: serve the page until Ctrl-C."""
    import argparse

    from deepcolor.cli.parsers import OneLineParser, loudness_flags, positive_int
    from deepcolor.cli.runtime import CommandError, run_main

    parser = OneLineParser(prog=prog, parents=[loudness_flags()],
                           description="A local page: colour a photo, place hints where you say, download the result.")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0: any free one)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--max-pixels", type=positive_int, default=None, help="refuse larger photos (default: 100 million, as colorize)")

    def body(args: argparse.Namespace) -> int:
        if not 0 <= args.port <= 65535:
            raise CommandError(f"--port must be 0..65535, got {args.port}")
        try:
            server = make_server(args.host, args.port, app=App(max_pixels=args.max_pixels or DEFAULT_MAX_PIXELS))
        except OSError as exc:
            raise CommandError(f"cannot listen on {args.host}:{args.port} ({exc.strerror or exc})") from None
        host, port = server.server_address[:2]
        shown_host = f"[{host}]" if ":" in str(host) else host
        print(f"deepcolor serve: open http://{shown_host}:{port}/ (Ctrl-C stops)", flush=True)
        try:
            server.serve_forever()
        finally:
            server.server_close()
        return 0

    return run_main(parser, argv, "deepcolor serve", body, resume_hint="stopped")
