"""``sketchback serve``: a local drawing page that turns each stroke into a photo.

A standard-library HTTP server (``ThreadingHTTPServer``) serves the page in ``sketchback/tools/web`` (a
canvas, no third-party script, font or request to any other host) and ``POST /predict``: a
multipart form with ``model`` (a name from ``GET /models``), ``sketch`` (an image file) and, for a
model that takes colour hints, ``hints`` (an RGBA image of the sketch's size, transparent = no
hint). The answer is the photo as PNG, or a JSON ``{"error": ...}`` with a 4xx/5xx status.

Every request is bounded: its body (``Content-Length`` checked before reading, a chunked body
counted while it streams), the pixels its images declare (checked before decoding), the size the
model runs at, the model runs at once and waiting (excess requests get 503 with Retry-After), and
the open connections. The image functions (decoding a sketch, running a generator on it) are the
command line's, passed in by it, so a photo here is the photo ``sketchback predict`` writes.
"""

from __future__ import annotations

import contextlib
import email.parser
import email.policy
import json
import logging
import socket
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from pathlib import Path
from typing import Callable

import numpy as np

from sketchback.images import DEFAULT_MAX_PIXELS

log = logging.getLogger("sketchback.tools.serve")

PAGES = {"/": ("index.html", "text/html; charset=utf-8"), "/app.js": ("app.js", "text/javascript; charset=utf-8"),
         "/style.css": ("style.css", "text/css; charset=utf-8")}
# The page may load nothing from anywhere but this server (and the photos it made, as blob: URLs).
SECURITY_HEADERS = {"Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; base-uri 'none'; "
                                               "form-action 'none'; frame-ancestors 'none'",
                    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
LINGER_SECONDS = 2.0  # after refusing a body, read (and drop) what the client still sends, so it sees the answer


@dataclass(frozen=True)
class Limits:
    """What one request may cost; the command line's defaults, stated in ``sketchback serve --help``."""

    max_body: int = 10_000_000  # bytes; a 512 px canvas as PNG is under 0.3 MB
    max_pixels: int | None = DEFAULT_MAX_PIXELS  # declared by an image's header, checked before decoding
    max_side: int | None = 512  # px; larger sketches run scaled down (None: never)
    size: int | None = None  # px; run every sketch with its longer side scaled to this
    workers: int = 1  # model runs at once (TensorFlow already uses every core for one)
    queue: int = 4  # requests waiting for a worker; more get 503 at once
    wait: float = 30.0  # seconds a waiting request waits before it gets 503
    connections: int = 32  # open connections; more are answered 503 and closed
    timeout: float = 10.0  # seconds a connection may stay silent mid-request


@dataclass(frozen=True)
class Served:
    """A generator as the page offers it."""

    name: str
    generator: object
    hints: bool  # its input has 5 channels: sketch, hint RGB, hint mask


class ServeError(Exception):
    """A request that gets an error answer: HTTP status, a message for the person, extra headers."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


# --------------------------------------------------------------------------- models


def model_name(path: Path) -> str:
    """The name the page shows: results/models/faces/generator.keras -> faces, buildings.keras -> buildings."""
    return path.parent.name if path.stem == "generator" and path.parent.name else path.stem


def model_paths(specs: list[str]) -> dict[str, Path]:
    """``PATH`` or ``NAME=PATH`` arguments as {name: path}; a name given twice gets -2, -3, ..."""
    named: dict[str, Path] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        path = Path(path if sep else spec)
        base = name.strip() if sep and name.strip() else model_name(path)
        unique, n = base, 2
        while unique in named:
            unique, n = f"{base}-{n}", n + 1
        named[unique] = path
    return named


class Traced:
    """A Keras generator called through one traced TensorFlow graph per input shape, the ``keep`` shapes
    used last (a canvas has one size; uploads bring others). An eager call dispatches layer by layer:
    measured here on the demo-size generator, 413 ms eager vs 14 ms traced at 64 px, 1030 vs 189 ms
    at 256 px. Everything else (``inputs``, ``layers``, ``name``) is the model's."""

    def __init__(self, model, keep: int = 8):
        self.model, self.keep = model, keep
        self.graphs: OrderedDict = OrderedDict()
        self.lock = threading.Lock()

    def __getattr__(self, name: str):
        return getattr(self.__dict__["model"], name)

    def graph(self, shape: tuple[int, ...]):
        import tensorflow as tf

        with self.lock:
            graph = self.graphs.pop(shape, None)
            if graph is None:
                graph = tf.function(lambda x: self.model(x, training=False), autograph=False,
                                    input_signature=[tf.TensorSpec(shape, tf.float32)])
            self.graphs[shape] = graph
            while len(self.graphs) > self.keep:
                self.graphs.popitem(last=False)
            return graph

    def __call__(self, x, training: bool = False):
        import keras

        if training or keras.backend.backend() != "tensorflow":
            return self.model(x, training=training)
        return self.graph(tuple(np.shape(x)))(np.asarray(x, np.float32))


def served_models(generators: dict[str, object]) -> dict[str, Served]:
    from sketchback.sketches.hints import takes_hints

    if not generators:
        raise ValueError("give at least one model (a generator .keras file)")
    return {name: Served(name, Traced(g), takes_hints(g)) for name, g in generators.items()}


# --------------------------------------------------------------------------- images


def decode_sketch(data: bytes, label: str, read_grey: Callable, max_pixels: int | None) -> np.ndarray:
    """An uploaded sketch as uint8 grey (H, W), through the command line's reader and its pixel guard
    (read from a temporary file, as ``predict`` reads a file); errors name ``label``, not the temp file."""
    if not data:
        raise ServeError(400, f"{label}: the file is empty; send an image (PNG, JPEG, ...)")
    with tempfile.TemporaryDirectory(prefix="sketchback-serve-") as tmp:
        path = Path(tmp) / "upload"
        path.write_bytes(data)
        try:
            return read_grey(path, max_pixels)
        except ValueError as exc:  # UnreadableImage, TooManyPixels
            raise ServeError(400, str(exc).replace(str(path), label)) from exc


def decode_hints(data: bytes, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """An RGBA hint image of the sketch's (H, W) as (hint RGB (H, W, 3), mask (H, W, 1)), float32, through
    ``sketchback.sketches.hints.read_hint_file`` (its size checked before decoding, alpha required)."""
    from sketchback.sketches.hints import read_hint_file

    with tempfile.TemporaryDirectory(prefix="sketchback-serve-") as tmp:
        path = Path(tmp) / "hints"
        path.write_bytes(data)
        try:
            return read_hint_file(path, shape)
        except ValueError as exc:
            raise ServeError(400, str(exc).replace(f"hint file {path}", "the hints")) from exc


def photo_of(model: Served, grey: np.ndarray, hints, predict: Callable, limits: Limits) -> np.ndarray:
    """uint8 RGB photo of the sketch's size, from ``predict`` (``predict_photo``: scaled to the run size, padded
    to a multiple of 4, cropped and scaled back; hints with the sketch). A hint model without hints gets none."""
    if not model.hints:
        return predict(model.generator, grey, max_side=limits.max_side, size=limits.size)
    return predict(model.generator, grey, max_side=limits.max_side, size=limits.size, hints=hints)


def png_bytes(rgb: np.ndarray) -> bytes:
    import cv2

    ok, encoded = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ServeError(500, "the photo could not be encoded as PNG")
    return encoded.tobytes()


# --------------------------------------------------------------------------- requests


class Gate:
    """At most ``workers`` model runs at once and ``queue`` requests waiting for one, each at most ``wait``
    seconds; any request beyond that gets 503 with Retry-After at once, so nothing piles up."""

    def __init__(self, workers: int, queue: int, wait: float):
        self.workers, self.queue, self.wait = workers, queue, wait
        self.slots = threading.BoundedSemaphore(workers)
        self.lock = threading.Lock()
        self.admitted = 0

    @contextlib.contextmanager
    def admit(self):
        retry = {"Retry-After": "1"}
        with self.lock:
            if self.admitted >= self.workers + self.queue:
                raise ServeError(503, f"busy: {self.workers} sketch(es) running and {self.queue} waiting "
                                      "(--workers, --queue); try again in a second", retry)
            self.admitted += 1
        try:
            if not self.slots.acquire(timeout=self.wait):
                raise ServeError(503, f"busy: waited {self.wait:g} s (--wait) for a free worker; try again", retry)
            try:
                yield
            finally:
                self.slots.release()
        finally:
            with self.lock:
                self.admitted -= 1


def read_chunked(stream, max_body: int) -> bytes:
    """A ``Transfer-Encoding: chunked`` body, refused (413) as soon as it grows past ``max_body``."""
    parts, total = [], 0
    while True:
        line = stream.readline(1024)
        try:
            size = int(line.split(b";")[0].strip(), 16)
        except ValueError:
            raise ServeError(400, f"a malformed chunk header {line[:40]!r} in the chunked body") from None
        if size == 0:
            while stream.readline(1024).strip():  # trailer lines up to the blank one
                pass
            return b"".join(parts)
        total += size
        if total > max_body:
            raise ServeError(413, f"the request body grows past {max_body:,} bytes (--max-body); a sketch is far "
                                  "smaller: send a PNG or JPEG of at most that size")
        chunk = stream.read(size)
        if len(chunk) < size:
            raise ServeError(400, "the chunked body ended early (connection closed mid-chunk)")
        parts.append(chunk)
        stream.readline(16)  # the CRLF after the chunk


def parse_form(content_type: str, body: bytes) -> dict[str, bytes]:
    """The fields of a multipart/form-data body (the standard library's MIME parser) as {name: bytes}."""
    if not content_type.lower().startswith("multipart/form-data"):
        raise ServeError(415, f"send a multipart/form-data form (fields model, sketch, hints), not "
                              f"{content_type or 'a body without Content-Type'!r}; e.g. "
                              "curl -F model=NAME -F sketch=@sketch.png")
    head = b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n"
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise ServeError(400, "the multipart form could not be parsed (no parts, or a wrong boundary)")
    fields = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            fields[name] = part.get_payload(decode=True) or b""
    return fields


class Handler(BaseHTTPRequestHandler):
    """The page's files, ``GET /models`` and ``POST /predict``; every failure is a JSON error answer."""

    server: SketchServer
    protocol_version = "HTTP/1.1"  # keep-alive: the page sends a request per stroke

    def setup(self):
        self.timeout = self.server.limits.timeout  # a silent client cannot hold a thread for long
        super().setup()

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        log.info("%s %s", self.address_string(), format % args)

    def send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        if self.close_connection:
            headers = {**(headers or {}), "Connection": "close"}
        for key, value in {"Content-Type": content_type, "Content-Length": str(len(body)),
                           "Cache-Control": "no-store", **SECURITY_HEADERS, **(headers or {})}.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def fail(self, error: ServeError) -> None:
        log.warning("%s %s: %d %s", self.command, self.path, error.status, error.message)
        body = json.dumps({"error": error.message}).encode()
        self.send(error.status, body, "application/json", error.headers)

    def host_allowed(self) -> bool:
        """On loopback, only requests addressed to this machine (a guard against DNS rebinding)."""
        if not self.server.loopback:
            return True
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0].strip("[]").lower()
        return host in ("127.0.0.1", "localhost", "::1", "")

    def do_GET(self):  # noqa: N802 (http.server's naming)
        path = self.path.split("?", 1)[0]
        try:
            if not self.host_allowed():
                raise ServeError(403, f"Host {self.headers.get('Host')!r}: open the page as http://127.0.0.1:PORT/")
            if path == "/models":
                self.send(200, json.dumps(self.server.describe()).encode(), "application/json")
            elif path in PAGES:
                name, content_type = PAGES[path]
                self.send(200, (files("sketchback.tools") / "web" / name).read_bytes(), content_type)
            elif path == "/favicon.ico":
                self.send(204, b"", "image/x-icon")
            else:
                raise ServeError(404, f"{path}: no such page; the drawing page is at /")
        except ServeError as error:
            self.fail(error)

    do_HEAD = do_GET

    def do_POST(self):  # noqa: N802
        try:
            if not self.host_allowed():
                raise ServeError(403, f"Host {self.headers.get('Host')!r}: post to http://127.0.0.1:PORT/predict")
            if self.path.split("?", 1)[0] != "/predict":
                raise ServeError(404, f"{self.path}: POST goes to /predict")
            fields = parse_form(self.headers.get("Content-Type", ""), self.read_body())
            start = time.perf_counter()
            png, name = self.server.predict(fields)
            self.send(200, png, "image/png", {"X-Sketchback-Model": name,
                                              "X-Sketchback-Seconds": f"{time.perf_counter() - start:.4f}"})
        except ServeError as error:
            self.fail(error)
            if self.close_connection:
                self.linger()
        except Exception as exc:  # a bug or a model failing on an odd input: answer, log, keep serving
            log.exception("POST %s failed", self.path)
            self.fail(ServeError(500, f"the server failed on this sketch: {type(exc).__name__}: {exc}"))

    def read_body(self) -> bytes:
        """The request body, at most ``max_body`` bytes: refused by its Content-Length before reading, or
        while it streams when chunked. After a refusal the connection is closed (the rest is never read)."""
        max_body = self.server.limits.max_body
        length = self.headers.get("Content-Length")
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True  # set back below once the whole body was read
            body = read_chunked(self.rfile, max_body)
            self.close_connection = False
            return body
        if length is None:
            self.close_connection = True
            raise ServeError(411, "a POST needs a Content-Length header or a chunked body")
        if not length.strip().isdigit():
            self.close_connection = True
            raise ServeError(400, f"Content-Length {length!r} is not a number of bytes")
        if int(length) > max_body:
            self.close_connection = True
            raise ServeError(413, f"the request body is {int(length):,} bytes, over the limit of {max_body:,} "
                                  "bytes (--max-body); a sketch is far smaller: send a PNG or JPEG of at most that")
        body = self.rfile.read(int(length))
        if len(body) < int(length):
            self.close_connection = True
            raise ServeError(400, f"the body ended after {len(body):,} of {int(length):,} bytes")
        return body

    def linger(self) -> None:
        """Half-close and drop what the client still sends for a moment, so it reads our answer instead of
        a connection reset (what web servers call a lingering close)."""
        with contextlib.suppress(OSError):
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            deadline, dropped = time.monotonic() + LINGER_SECONDS, 0
            while time.monotonic() < deadline and dropped < self.server.limits.max_body:
                # up to the deadline: a client held up for a moment (a busy machine) still gets its answer
                self.connection.settimeout(max(deadline - time.monotonic(), 0.01))
                data = self.connection.recv(65536)
                if not data:
                    break
                dropped += len(data)


_BUSY_BODY = b'{"error": "busy: too many open connections (--connections); try again in a second"}'
BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
        b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(_BUSY_BODY), _BUSY_BODY))


class SketchServer(ThreadingHTTPServer):
    """The server: the models, the limits, the gate of model runs and a cap on open connections."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], generators: dict[str, object], limits: Limits,
                 read_grey: Callable, predict: Callable):
        self.models = served_models(generators)
        self.limits, self.read_grey, self.predict_photo = limits, read_grey, predict
        self.gate = Gate(limits.workers, limits.queue, limits.wait)
        self.open_lock, self.open = threading.Lock(), 0
        super().__init__(address, Handler)
        self.loopback = self.server_address[0] in ("127.0.0.1", "::1", "localhost")

    def process_request(self, request, client_address):
        """A thread per connection, at most ``connections`` of them; one more is answered 503 and closed."""
        with self.open_lock:
            busy = self.open >= self.limits.connections
            self.open += 0 if busy else 1
        if busy:
            with contextlib.suppress(OSError):
                request.sendall(BUSY)
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self.open_lock:
                self.open -= 1

    def describe(self) -> dict:
        limits = self.limits
        return {"models": [{"name": m.name, "hints": m.hints} for m in self.models.values()],
                "limits": {"max_body": limits.max_body, "max_pixels": limits.max_pixels,
                           "max_side": limits.max_side, "size": limits.size}}

    def predict(self, fields: dict[str, bytes]) -> tuple[bytes, str]:
        """The PNG photo for a form's fields, and the model's name."""
        name = fields.get("model", b"").decode("utf-8", "replace")
        if name not in self.models:
            raise ServeError(400, f"model {name!r}: choose one of {', '.join(self.models)} (GET /models)")
        if "sketch" not in fields:
            raise ServeError(400, "the form has no 'sketch' field (an image file)")
        model = self.models[name]
        with self.gate.admit():
            grey = decode_sketch(fields["sketch"], "the uploaded sketch", self.read_grey, self.limits.max_pixels)
            hints = decode_hints(fields["hints"], grey.shape) if model.hints and fields.get("hints") else None
            return png_bytes(photo_of(model, grey, hints, self.predict_photo, self.limits)), name


def start(generators: dict[str, object], limits: Limits, read_grey: Callable, predict: Callable,
          host: str = "127.0.0.1", port: int = 0) -> SketchServer:
    """A server running in a background thread (port 0: any free port, see ``server.server_address``);
    stop it with ``server.shutdown(); server.server_close()``."""
    server = SketchServer((host, port), generators, limits, read_grey, predict)
    threading.Thread(target=server.serve_forever, name="sketchback-serve", daemon=True).start()
    return server
