"""Latency of `sketchback serve`: a server on loopback, N photo requests per canvas size, p50/p95 per request.

Usage: python benchmarks/serve_latency.py [MODEL.keras ...] [--requests 20] [--sizes 64 128 256] [--budget 240]

Without models it measures the two generator sizes of the configs, untrained (the time does not depend on
the weights): the demo's (scribbler, base_filters 16, 3 residual blocks) and the study's (32, 5). Each
request is what the page sends after a stroke: the canvas as PNG in a multipart form; each adds a stroke
to the drawing. Two requests per size run first untimed (the first call at a new size traces the model).
The page waits 120 ms after a stroke ends before it sends, so a stroke's photo appears 120 ms + the round
trip after the pen lifts. The run stops a size early when the time budget is spent. Only 127.0.0.1 is used.
"""

from __future__ import annotations

import argparse
import http.client
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_serve import form  # noqa: E402  (the tests' multipart encoder)

from sketchback.tools.cli import predict_photo, read_grey  # noqa: E402
from sketchback.tools.serve import Limits, start  # noqa: E402

DEBOUNCE_MS = 120  # app.js: schedule()


def drawing(size: int, strokes: int) -> bytes:
    """A canvas of ``size`` px with ``strokes`` strokes (a face drawn one stroke at a time), as PNG."""
    canvas = np.full((size, size), 255, np.uint8)
    rng = np.random.default_rng(strokes)
    cv2.ellipse(canvas, (size // 2, size // 2), (size * 5 // 16, size * 3 // 8), 0, 0, 360, 0, max(1, size // 64))
    for _ in range(strokes):
        a, b = rng.integers(size // 4, size * 3 // 4, 2), rng.integers(size // 4, size * 3 // 4, 2)
        cv2.line(canvas, tuple(int(v) for v in a), tuple(int(v) for v in b), 0, max(1, size // 96))
    return cv2.imencode(".png", canvas)[1].tobytes()


def post(address, name: str, sketch: bytes) -> tuple[float, float, float]:
    """(round trip, the server's model time, CPU time of this process: server and client) in seconds."""
    body, content_type = form({"model": name, "sketch": sketch})
    connection = http.client.HTTPConnection(*address, timeout=120)
    start_time, start_cpu = time.perf_counter(), time.process_time()
    connection.request("POST", "/predict", body=body, headers={"Content-Type": content_type})
    answer = connection.getresponse()
    answer.read()
    seconds, cpu = time.perf_counter() - start_time, time.process_time() - start_cpu
    connection.close()
    if answer.status != 200:
        raise SystemExit(f"{name}: HTTP {answer.status}")
    return seconds, float(answer.getheader("X-Sketchback-Seconds")), cpu


def measure(address, name: str, size: int, requests: int, deadline: float) -> dict:
    first = post(address, name, drawing(size, 0))[0]
    post(address, name, drawing(size, 1))
    trips, model, cpu = [], [], []
    for i in range(requests):
        if time.monotonic() > deadline:
            break
        trip, inside, used = post(address, name, drawing(size, 2 + i))
        trips.append(trip * 1000)
        model.append(inside * 1000)
        cpu.append(used * 1000)
    return {"first": first * 1000, "n": len(trips), "p50": np.percentile(trips, 50), "p95": np.percentile(trips, 95),
            "model": np.percentile(model, 50), "cpu": np.percentile(cpu, 50)}


def models(paths: list[str]) -> dict[str, object]:
    if paths:
        from sketchback.evaluation.evaluate import load_generator

        return {Path(p).parent.name if Path(p).stem == "generator" else Path(p).stem: load_generator(p) for p in paths}
    from sketchback.models.generators import build_generator

    return {"demo-size (16, 3 blocks)": build_generator("scribbler", 16, 3),
            "study-size (32, 5 blocks)": build_generator("scribbler", 32, 5)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="*", help="generator .keras files (default: untrained generators of the "
                                                 "demo's and the study's size)")
    parser.add_argument("--requests", type=int, default=20, help="timed requests per model and size (default 20)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--budget", type=float, default=240, help="seconds for the whole run (default 240)")
    args = parser.parse_args()
    deadline = time.monotonic() + args.budget
    generators = models(args.model)
    server = start(generators, Limits(), read_grey, predict_photo)
    address = server.server_address[:2]
    print(f"server on http://{address[0]}:{address[1]}/, {os.cpu_count()} CPUs, load average before "
          f"{os.getloadavg()[0]:.2f}; times in ms; per stroke = {DEBOUNCE_MS} ms wait + p50 round trip; CPU = "
          "CPU time this process used per request (all threads: server, model, client)")
    print(f"{'model':<28}{'px':>5}{'n':>4}{'first':>8}{'p50':>8}{'p95':>8}{'model p50':>11}{'per stroke':>12}"
          f"{'CPU p50':>9}")
    try:
        for name in generators:
            for size in args.sizes:
                r = measure(address, name, size, args.requests, deadline)
                print(f"{name:<28}{size:>5}{r['n']:>4}{r['first']:>8.0f}{r['p50']:>8.0f}{r['p95']:>8.0f}"
                      f"{r['model']:>11.0f}{DEBOUNCE_MS + r['p50']:>12.0f}{r['cpu']:>9.0f}", flush=True)
    finally:
        server.shutdown()
        server.server_close()
    print(f"load average after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
