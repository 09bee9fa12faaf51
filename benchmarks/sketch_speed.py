"""Sketches per second per CPU core, for each sketch style: the workflow's shard path against a naive
per-image loop (read a JPEG, sketch it, write a PNG -- the original scripts' way), both measured in
this one run, interleaved, best of --repeats. Then the projected time to sketch all 202,599 CelebA
images on 8 cores.

Usage: python benchmarks/sketch_speed.py [--images 512] [--repeats 3] [--style-images 1] [--no-style]

Everything runs single-threaded (cv2.setNumThreads(1), one TensorFlow thread) and is timed in CPU
seconds of this process (user + system, time.process_time), so a figure is per core and other
work on a shared machine disturbs it less than wall-clock time would; the workflow runs one shard
per core. On a busy machine run it twice: the figures move, the ratios much less. Images are the project's synthetic faces, resized to
128x128 (the study's training size) and 178x218 (CelebA's aligned images), stored as JPEG for the
naive loop (CelebA's format) and as a prepared .npz shard for the shard path.

- naive loop: cv2.imread -> RGB -> the per-image function (pencil_sketch, xdog, style_sketch) ->
  cv2.imwrite PNG, one file at a time.
- shard path: sketchback.sketches.sketch.sketch_shard, end to end: memory-map the .npz shard, sketch the batch
  (vectorised), write the .npz of sketches atomically. "compute only" is sketch_images alone.
  JPEG decoding happens once, in the prepare stage, shared by every style; it is not counted here.

Style transfer runs its default parameters (sketchback.sketches.style.DEFAULT_PARAMS) with the seeded random
VGG16 (the demo's); the ImageNet weights cost the same. Its one-off set-up (building VGG16, tracing
the step) is reported separately and left out of the rates.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sketchback.sketches import style as style_module  # noqa: E402
from sketchback.io import save_npz  # noqa: E402
from sketchback.sketches.sketch import METHODS, sketch_images, sketch_shard  # noqa: E402
from sketchback.data.synthetic import synthetic_image  # noqa: E402

CELEBA_IMAGES = 202_599
CORES = 8
SIZES = {"128x128": (128, 128), "178x218 (CelebA)": (218, 178)}  # name -> (height, width)


def make_images(n: int, h: int, w: int) -> np.ndarray:
    side = max(h, w)
    return np.stack([cv2.resize(synthetic_image("faces", 0, i, side), (w, h), interpolation=cv2.INTER_AREA)
                     for i in range(n)])


def naive_loop(files: list[Path], out_dir: Path, fn) -> None:
    """Read each JPEG, sketch it, write a PNG."""
    for path in files:
        rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        cv2.imwrite(str(out_dir / f"{path.stem}.png"), fn(rgb))


def timed(fn) -> float:
    """CPU seconds (user + system) this process spends in ``fn()``."""
    start = time.process_time()
    fn()
    return time.process_time() - start


def fmt_rate(rate: float) -> str:
    return f"{rate:.0f}" if rate >= 100 else f"{rate:.3g}"


def fmt_duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.1f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=512, help="images per size for pencil and xdog")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats; the best is kept")
    parser.add_argument("--style-images", type=int, default=1, help="images per size and path for style")
    parser.add_argument("--no-style", action="store_true", help="skip neural style transfer (slow on a CPU)")
    args = parser.parse_args()

    cv2.setNumThreads(1)
    style_module.limit_threads(1)
    methods = [m for m in METHODS if not (args.no_style and m == "style")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for size_name, (h, w) in SIZES.items():
            for method in methods:
                n = args.style_images if method == "style" else args.images
                repeats = 1 if method == "style" else args.repeats
                images = make_images(n, h, w)
                work = tmp / f"{method}_{h}x{w}"
                (work / "png").mkdir(parents=True)
                files = []
                for i, image in enumerate(images):
                    files.append(work / f"{i:06d}.jpg")
                    cv2.imwrite(str(files[-1]), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
                shard = work / "shard.npz"
                save_npz(shard, images=images, names=np.array([f.name for f in files]), rows=np.arange(n))
                fn = METHODS[method]
                setup = None
                if method == "style":  # build VGG16 and trace the step once, outside the timings
                    setup = timed(lambda: sketch_images(images[:1], "style", {"steps": 1}))
                naive, shard_path, compute = [], [], []
                for _ in range(repeats):
                    naive.append(timed(lambda: naive_loop(files, work / "png", fn)))
                    shard_path.append(timed(lambda: sketch_shard(shard, work / "out.npz", method)))
                    compute.append(timed(lambda: sketch_images(images, method)))
                rows.append((size_name, method, n / min(naive), n / min(shard_path), n / min(compute), setup))
                print(f"  measured {method} at {size_name}", file=sys.stderr, flush=True)

    print(f"sketches per second per core (CPU time; best of {args.repeats} interleaved repeats of "
          f"{args.images} images; style: 1 run of {args.style_images} image(s))")
    print(f"{'size':18} {'style':7} {'naive loop':>11} {'shard path':>11} {'compute only':>13} {'speed-up':>9}"
          f"   {'all 202,599 CelebA images, 8 cores (shard path)'}")
    for size_name, method, naive, shard_rate, compute, setup in rows:
        projected = CELEBA_IMAGES / (shard_rate * CORES)
        note = f"   ({1 / shard_rate:.1f} s per image; + {setup:.0f} s set-up per job)" if setup is not None else ""
        print(f"{size_name:18} {method:7} {fmt_rate(naive):>11} {fmt_rate(shard_rate):>11} {fmt_rate(compute):>13} {shard_rate / naive:8.1f}x"
              f"   {fmt_duration(projected)}{note}")
    print("speed-up = shard path / naive loop, per core. Target: pencil and xdog >= 5x.")
    print(f"cv2 {cv2.__version__}, numpy {np.__version__}, {os.cpu_count()} CPUs visible, 1 thread used")


if __name__ == "__main__":
    main()
