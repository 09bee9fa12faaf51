"""``sketchback serve``: the photo for a posted sketch, hint models, and every bad request (not an image,
corrupt, a 20000 x 20000 px bomb, an oversized body by Content-Length and streamed, too many requests or
connections at once, a silent client), each answered with a clear error and followed by a successful
request to the same server. The page itself runs in a real browser in test_serve_browser.py."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import keras
import numpy as np
import pytest
from keras import layers
from test_images import png_declaring

from sketchback.tools.cli import predict_photo, read_grey
from sketchback.models.generators import build_generator
from sketchback.sketches.hints import takes_hints
from sketchback.tools.serve import Limits, Traced, model_paths, photo_of, served_models, start

WEB = Path(__file__).resolve().parents[1] / "src" / "sketchback" / "tools" / "web"


# --------------------------------------------------------------------------- tiny models and requests


def ink_model() -> keras.Model:
    """A sketch-only 'generator' whose photo shows the sketch: R = sketch, G = 1 - sketch, B = sketch / 2 + 1/4."""
    sketch = keras.Input(shape=(None, None, 1))
    photo = layers.Concatenate()([sketch, layers.Rescaling(-1.0, offset=1.0)(sketch),
                                  layers.Rescaling(0.5, offset=0.25)(sketch)])
    return keras.Model(sketch, photo, name="ink")


def hint_model() -> keras.Model:
    """A colour-hint 'generator' (5 channels): photo = sketch / 2 + hint RGB / 2 (hint RGB is 0 without a hint)."""
    inputs = keras.Input(shape=(None, None, 5))
    conv = layers.Conv2D(3, 1, use_bias=False)
    photo = conv(inputs)
    kernel = np.zeros((1, 1, 5, 3), np.float32)
    kernel[0, 0, 0, :] = 0.5
    kernel[0, 0, 1:4, :] = 0.5 * np.eye(3)
    conv.set_weights([kernel])
    return keras.Model(inputs, photo, name="hinted")


@pytest.fixture(scope="module")
def models():
    return {"ink": ink_model(), "hinted": hint_model()}


def serve(models, **limits):
    return start(models, Limits(**limits), read_grey, predict_photo)


@pytest.fixture
def server(models):
    server = serve(models, max_body=2_000_000, timeout=2.0)
    yield server
    server.shutdown()
    server.server_close()


def png(image: np.ndarray) -> bytes:
    return cv2.imencode(".png", image)[1].tobytes()


def sketch(h: int = 48, w: int = 64) -> np.ndarray:
    image = np.full((h, w), 255, np.uint8)
    cv2.line(image, (4, 4), (w - 5, h - 5), 0, 3)
    return image


def form(fields: dict[str, str | bytes]) -> tuple[bytes, str]:
    """A multipart/form-data body and its Content-Type (bytes fields are sent as files)."""
    boundary = "sketchback-test-boundary"
    parts = []
    for name, value in fields.items():
        filename = f'; filename="{name}.png"' if isinstance(value, bytes) else ""
        data = value if isinstance(value, bytes) else value.encode()
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"{filename}\r\n\r\n'.encode()
                     + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def request(server, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    """(status, headers, body) of one request."""
    connection = http.client.HTTPConnection(*server.server_address[:2], timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        answer = connection.getresponse()
        return answer.status, dict(answer.getheaders()), answer.read()
    finally:
        connection.close()


def predict(server, fields: dict[str, str | bytes]):
    body, content_type = form(fields)
    return request(server, "POST", "/predict", body, {"Content-Type": content_type})


def error_of(answer) -> str:
    status, headers, body = answer
    assert headers["Content-Type"] == "application/json", answer
    return json.loads(body)["error"]


def decoded(body: bytes) -> np.ndarray:
    photo = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_UNCHANGED)
    assert photo is not None and photo.ndim == 3 and photo.shape[2] == 3, "not a colour PNG"
    return cv2.cvtColor(photo, cv2.COLOR_BGR2RGB)


def assert_serves(server) -> None:
    """The server still answers a good sketch with its photo (R channel = the sketch, for the ink model)."""
    grey = sketch()
    status, headers, body = predict(server, {"model": "ink", "sketch": png(grey)})
    assert status == 200 and headers["Content-Type"] == "image/png", (status, body[:200])
    np.testing.assert_array_equal(decoded(body)[..., 0], grey)


# --------------------------------------------------------------------------- models


def test_model_names_come_from_the_files():
    named = model_paths(["results/models/faces/generator.keras", "a/buildings.keras", "b/buildings.keras",
                         "mine=c/generator.keras"])
    assert list(named) == ["faces", "buildings", "buildings-2", "mine"]
    assert named["mine"] == Path("c/generator.keras")


def test_hint_models_are_told_by_their_input_channels(models):
    assert not takes_hints(models["ink"]) and takes_hints(models["hinted"])
    assert not takes_hints(build_generator("scribbler", base_filters=4, residual_blocks=1))
    three = keras.Model(inputs := keras.Input((None, None, 3)), layers.Conv2D(3, 1)(inputs))
    with pytest.raises(ValueError, match="takes 3 input channels"):
        served_models({"rgb": three})


def test_traced_generators_give_the_eager_photo_and_keep_a_few_shapes():
    generator = build_generator("scribbler", base_filters=4, residual_blocks=1)
    traced = Traced(generator, keep=2)
    for h, w in [(16, 16), (20, 28), (16, 16), (32, 24)]:
        x = np.random.default_rng(h * w).random((1, h, w, 1), np.float32)
        np.testing.assert_allclose(np.asarray(traced(x)), np.asarray(generator(x, training=False)), atol=1e-6)
    assert list(traced.graphs) == [(1, 16, 16, 1), (1, 32, 24, 1)]  # the two used last
    assert traced.name == generator.name and not takes_hints(traced)


# --------------------------------------------------------------------------- good requests


def test_a_posted_sketch_gets_the_photo_predict_makes(server, models):
    grey = sketch(50, 70)  # not a multiple of 4: padded and cropped as predict does
    status, headers, body = predict(server, {"model": "ink", "sketch": png(grey)})
    assert status == 200 and headers["X-Sketchback-Model"] == "ink"
    photo = decoded(body)
    np.testing.assert_array_equal(photo, predict_photo(models["ink"], grey, max_side=512))
    assert photo.shape == (50, 70, 3) and (photo[..., 0] == grey).all() and (photo[..., 1] == 255 - grey).all()


def test_the_page_and_its_files_are_served_and_load_nothing_from_elsewhere(server):
    status, headers, page = request(server, "GET", "/")
    assert status == 200 and b"<canvas" in page and b'src="app.js"' in page
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    for name in ("app.js", "style.css"):
        status, _, body = request(server, "GET", f"/{name}")
        assert status == 200 and body == (WEB / name).read_bytes()
    for path in WEB.iterdir():  # no CDN, web font or analytics: no address of another host at all
        assert not re.search(r"(https?:)?//[a-z0-9]", path.read_text().replace("://", "//"), re.I), path
    status, _, body = request(server, "GET", "/models")
    assert json.loads(body)["models"] == [{"name": "ink", "hints": False}, {"name": "hinted", "hints": True}]
    assert request(server, "GET", "/../pyproject.toml")[0] == 404
    assert_serves(server)


def test_a_hint_model_follows_the_hints_and_works_without_them(server):
    grey = np.full((40, 60), 255, np.uint8)
    hints = np.zeros((40, 60, 4), np.uint8)
    hints[10:20, 30:50] = (0, 0, 255, 255)  # BGRA: opaque red
    status, _, body = predict(server, {"model": "hinted", "sketch": png(grey), "hints": png(hints)})
    photo = decoded(body).astype(int)
    assert status == 200 and photo.shape == (40, 60, 3)
    np.testing.assert_allclose(photo[15, 40], [255, 128, 128], atol=1)  # paper / 2 + red / 2
    np.testing.assert_allclose(photo[30, 10], [128, 128, 128], atol=1)  # no hint: paper / 2
    status, _, body = predict(server, {"model": "hinted", "sketch": png(grey)})  # no hints field: an empty mask
    assert status == 200 and np.abs(decoded(body).astype(int) - 128).max() <= 1
    assert_serves(server)


def test_hints_are_scaled_with_the_sketch_when_it_runs_smaller(models):
    grey = np.full((200, 120), 255, np.uint8)
    rgb, mask = np.zeros((200, 120, 3), np.float32), np.zeros((200, 120, 1), np.float32)
    rgb[100:200, :, 2], mask[100:200] = 1.0, 1.0  # blue hints on the lower half
    model = served_models({"hinted": models["hinted"]})["hinted"]
    photo = photo_of(model, grey, (rgb, mask), predict_photo, Limits(max_side=64)).astype(int)
    assert photo.shape == (200, 120, 3)
    np.testing.assert_allclose(photo[20, 60], [128, 128, 128], atol=1)
    np.testing.assert_allclose(photo[180, 60], [128, 128, 255], atol=1)


def test_a_chunked_body_within_the_limit_is_read(server):
    body, content_type = form({"model": "ink", "sketch": png(sketch())})
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 1000]), body[i:i + 1000]) for i in range(0, len(body), 1000))
    answer = raw(server, b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
                         b"Content-Type: " + content_type.encode() + b"\r\nConnection: close\r\n\r\n"
                 + chunks + b"0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    assert_serves(server)


# --------------------------------------------------------------------------- bad images


def test_an_upload_that_is_not_an_image_gets_a_clear_error(server):
    status, _, _ = answer = predict(server, {"model": "ink", "sketch": b"just some text, no image"})
    assert status == 400
    assert error_of(answer) == ("the uploaded sketch: cannot be decoded as an image "
                                "(corrupt, truncated or not an image file)")
    assert error_of(predict(server, {"model": "ink", "sketch": b""})).startswith("the uploaded sketch: the file is empty")
    assert_serves(server)


def test_a_corrupt_image_gets_a_clear_error(server):
    data = bytearray(png(sketch()))
    status, _, _ = answer = predict(server, {"model": "ink", "sketch": bytes(data[:60])})  # truncated
    assert status == 400 and "the uploaded sketch: cannot be decoded" in error_of(answer)
    data[40:80] = bytes(40)  # a damaged image stream
    status, _, _ = answer = predict(server, {"model": "ink", "sketch": bytes(data)})
    assert status == 400 and "the uploaded sketch: cannot be decoded" in error_of(answer)
    assert_serves(server)


def test_a_20000x20000_image_is_refused_before_it_is_decoded(server):
    bomb = png_declaring(20000, 20000, rows=20000)  # 0.4 MB that decodes to 400 megapixels
    assert len(bomb) < 2_000_000
    start_time = time.perf_counter()
    status, _, _ = answer = predict(server, {"model": "ink", "sketch": bomb})
    assert time.perf_counter() - start_time < 2
    assert status == 400
    assert error_of(answer) == ("the uploaded sketch: declares 20000x20000 = 400,000,000 px (400 megapixels), over "
                                "the limit of 178,956,970 px (179 megapixels), a guard against decompression bombs. If "
                                "the image is genuine, raise the limit: --max-pixels 400000000 (or --max-pixels none)")
    assert_serves(server)


def test_bad_hint_images_get_clear_errors(server):
    grey = png(np.full((40, 60), 255, np.uint8))
    cases = {png(np.zeros((40, 61, 4), np.uint8)): "the hints: is 61x40 px but its sketch is 60x40 px",
             png(np.zeros((40, 60, 3), np.uint8)): "the hints: has no alpha channel",
             b"not a png": "the hints: not a readable image"}
    for hints, message in cases.items():
        status, _, _ = answer = predict(server, {"model": "hinted", "sketch": grey, "hints": hints})
        assert status == 400 and error_of(answer).startswith(message), error_of(answer)
    assert_serves(server)


# --------------------------------------------------------------------------- bad requests


def test_bad_forms_and_paths_get_clear_errors(server):
    answer = predict(server, {"model": "nope", "sketch": png(sketch())})
    assert answer[0] == 400 and error_of(answer) == "model 'nope': choose one of ink, hinted (GET /models)"
    answer = predict(server, {"model": "ink"})
    assert answer[0] == 400 and "no 'sketch' field" in error_of(answer)
    answer = request(server, "POST", "/predict", png(sketch()), {"Content-Type": "image/png"})
    assert answer[0] == 415 and "send a multipart/form-data form" in error_of(answer)
    answer = request(server, "GET", "/nothing")
    assert answer[0] == 404 and "the drawing page is at /" in error_of(answer)
    answer = request(server, "GET", "/", headers={"Host": "rebound.example:8000"})
    assert answer[0] == 403 and "open the page as http://127.0.0.1:PORT/" in error_of(answer)
    answer = raw(server, b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 411") and b"needs a Content-Length header or a chunked body" in answer
    assert_serves(server)


def raw(server, data: bytes, read_after: float = 10.0) -> bytes:
    """Send raw bytes and read the answer until the server closes the connection."""
    with socket.create_connection(server.server_address[:2], timeout=read_after) as connection:
        connection.sendall(data)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
        return answer


def test_a_body_over_the_limit_is_refused_by_its_content_length_before_reading(server):
    start_time = time.perf_counter()
    # announces a gigabyte and sends none of it: the answer comes at once, nothing is read or buffered
    answer = raw(server, b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; "
                         b"boundary=x\r\nContent-Length: 1000000000\r\n\r\n")
    assert time.perf_counter() - start_time < 3
    assert answer.startswith(b"HTTP/1.1 413") and b"Connection: close" in answer
    assert (b"the request body is 1,000,000,000 bytes, over the limit of 2,000,000 bytes (--max-body)"
            in answer), answer
    # a client that does send a body over the limit (http.client, all at once) still reads the answer: the
    # server drops up to the limit again (2 MB) for up to 2 s before it closes (a lingering close); the
    # kernel's socket buffers hold the rest
    status, _, _ = answer = request(server, "POST", "/predict", bytes(3_000_000),
                                    {"Content-Type": "multipart/form-data; boundary=x"})
    assert status == 413 and "over the limit of 2,000,000 bytes" in error_of(answer)
    assert_serves(server)


def test_a_streamed_body_without_length_is_cut_off_at_the_limit(server):
    with socket.create_connection(server.server_address[:2], timeout=10) as connection:
        connection.sendall(b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
                           b"Content-Type: multipart/form-data; boundary=x\r\n\r\n")
        chunk = b"%x\r\n%s\r\n" % (100_000, bytes(100_000))
        sent = 0
        with pytest.raises(OSError):  # the server stops reading and closes: sending fails at some point
            while sent < 100_000_000:  # would be 100 MB
                connection.sendall(chunk)
                sent += 100_000
        answer = connection.recv(65536)
    # read up to the 2 MB limit, then at most 2 MB more dropped while the answer goes out (a lingering
    # close), plus what the kernel's socket buffers hold: far from the 100 MB stream
    assert sent < 20_000_000, sent
    assert answer.startswith(b"HTTP/1.1 413") and b"grows past 2,000,000 bytes (--max-body)" in answer, answer
    assert_serves(server)


class Blocking:
    """predict_photo that waits for ``release`` (a model run that takes as long as a test wants)."""

    def __init__(self):
        self.release, self.running = threading.Event(), threading.Semaphore(0)

    def __call__(self, *args, **kwargs):
        self.running.release()
        assert self.release.wait(30)
        return predict_photo(*args, **kwargs)


def test_requests_beyond_the_workers_and_queue_get_503_at_once(models):
    blocking = Blocking()
    server = start(models, Limits(workers=1, queue=2, wait=30), read_grey, blocking)
    try:
        answers = []
        threads = [threading.Thread(target=lambda: answers.append(predict(server, {"model": "ink",
                                                                                     "sketch": png(sketch())})))
                   for _ in range(8)]
        for thread in threads:
            thread.start()
        assert blocking.running.acquire(timeout=10)  # one runs, two wait, five are turned away at once
        deadline = time.monotonic() + 10
        while len(answers) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sorted(a[0] for a in answers) == [503] * 5
        for status, headers, _ in answers:
            assert headers["Retry-After"] == "1"
            assert error_of((status, headers, _)).startswith("busy: 1 sketch(es) running and 2 waiting")
        blocking.release.set()
        for thread in threads:
            thread.join(30)
        assert sorted(a[0] for a in answers) == [200] * 3 + [503] * 5
        assert_serves(server)
    finally:
        blocking.release.set()
        server.shutdown()
        server.server_close()


def test_a_waiting_request_gives_up_after_the_wait(models):
    blocking = Blocking()
    server = start(models, Limits(workers=1, queue=1, wait=0.5), read_grey, blocking)
    try:
        first = []
        thread = threading.Thread(target=lambda: first.append(predict(server, {"model": "ink",
                                                                                "sketch": png(sketch())})))
        thread.start()
        assert blocking.running.acquire(timeout=10)
        start_time = time.perf_counter()
        answer = predict(server, {"model": "ink", "sketch": png(sketch())})
        assert 0.4 < time.perf_counter() - start_time < 5
        assert answer[0] == 503 and answer[1]["Retry-After"] == "1"
        assert error_of(answer) == "busy: waited 0.5 s (--wait) for a free worker; try again"
        blocking.release.set()
        thread.join(30)
        assert first[0][0] == 200
        assert_serves(server)
    finally:
        blocking.release.set()
        server.shutdown()
        server.server_close()


def test_connections_beyond_the_limit_get_503_and_silent_ones_are_dropped(models):
    server = serve(models, connections=2, timeout=1.0)
    try:
        idle = [socket.create_connection(server.server_address[:2], timeout=10) for _ in range(2)]
        for connection in idle:
            connection.sendall(b"POST /predict HTTP/1.1\r\n")  # and then nothing
        time.sleep(0.2)
        answer = raw(server, b"GET /models HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 503") and b"Retry-After: 1" in answer and b"--connections" in answer
        for connection in idle:  # the server hangs up on a client silent for longer than the timeout
            assert connection.recv(100) == b""
            connection.close()
        time.sleep(0.2)
        assert_serves(server)
    finally:
        server.shutdown()
        server.server_close()


# --------------------------------------------------------------------------- the command


def test_the_command_serves_models_named_after_their_files(tmp_path):
    generator = build_generator("scribbler", base_filters=4, residual_blocks=1)
    (tmp_path / "faces").mkdir()
    generator.save(tmp_path / "faces" / "generator.keras")
    process = subprocess.Popen([sys.executable, "-m", "sketchback.tools.cli", "serve",
                                str(tmp_path / "faces" / "generator.keras"), "--port", "0"],
                               stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        for line in process.stderr:
            if match := re.search(r"sketchback serve: faces on http://127\.0\.0\.1:(\d+)/", line):
                break
        else:
            pytest.fail(f"no address printed; exit status {process.wait()}")
        client = type("Client", (), {"server_address": ("127.0.0.1", int(match[1]))})
        assert json.loads(request(client, "GET", "/models")[2])["models"] == [{"name": "faces", "hints": False}]
        grey = sketch(36, 52)
        status, _, body = predict(client, {"model": "faces", "sketch": png(grey)})
        assert status == 200
        np.testing.assert_array_equal(decoded(body), predict_photo(generator, grey))
        process.send_signal(signal.SIGINT)
        rest = process.communicate(timeout=30)[1]  # what it says while it stops (read, so a full pipe cannot block it)
        assert process.returncode == 0 and "sketchback serve: stopped" in rest, rest[-3000:]
    finally:
        process.kill()
        process.wait()


def test_bad_limits_are_refused_by_the_command(tmp_path, capsys):
    from sketchback.tools.cli import main

    assert main(["serve", str(tmp_path / "m.keras"), "--workers", "0"]) == 1
    assert "--workers 0: give at least 1" in capsys.readouterr().err
    assert main(["serve", str(tmp_path / "missing.keras")]) == 1
    assert "missing.keras does not exist" in capsys.readouterr().err
