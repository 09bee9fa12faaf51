"""Write the golden files of the sketch-style tests: a fixed photo and each style's expected sketch.

Run only after an intended change of a style's output, and say so in the change:
    python tests/golden/make_golden.py            (expected outputs; the photo is kept)
    python tests/golden/make_golden.py --photo    (also redraw the photo; then every file changes)
tests/test_sketch.py and tests/test_style.py compare against these files with stated tolerances.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "src"))
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

# The parameters each golden file is made with; the tests import them from here.
GOLDEN = {
    "pencil": ("pencil", {}),
    "pencil_paper": ("pencil", {"paper": 0.15}),
    "xdog": ("xdog", {}),
    "style": ("style", {}),
}
SEED = 0


def draw_photo(size: int = 64) -> np.ndarray:
    """A small RGB scene with flat areas, gradients, hard and soft edges and fine texture."""
    rng = np.random.default_rng(2012)
    y, x = np.mgrid[0:size, 0:size] / (size - 1)
    img = np.stack([200 - 60 * y, 215 - 40 * y, 240 - 20 * y], axis=-1)  # sky gradient
    img[int(0.7 * size):] = (90, 120, 70)  # ground
    img = img.astype(np.uint8)
    s = size / 64
    cv2.rectangle(img, (int(8 * s), int(22 * s)), (int(30 * s), int(46 * s)), (170, 90, 60), -1)  # wall
    cv2.rectangle(img, (int(13 * s), int(28 * s)), (int(19 * s), int(35 * s)), (40, 50, 70), -1)  # window
    cv2.circle(img, (int(46 * s), int(24 * s)), int(11 * s), (235, 190, 160), -1, cv2.LINE_AA)  # face
    cv2.circle(img, (int(42 * s), int(22 * s)), max(1, int(1.5 * s)), (30, 30, 30), -1, cv2.LINE_AA)
    cv2.circle(img, (int(50 * s), int(22 * s)), max(1, int(1.5 * s)), (30, 30, 30), -1, cv2.LINE_AA)
    cv2.ellipse(img, (int(46 * s), int(28 * s)), (int(4 * s), int(2 * s)), 0, 0, 180, (120, 40, 40), 1, cv2.LINE_AA)
    cv2.line(img, (0, int(50 * s)), (size - 1, int(56 * s)), (60, 60, 60), 1, cv2.LINE_AA)
    grass = rng.integers(-18, 19, (size - int(0.7 * size), size, 1))
    img[int(0.7 * size):] = np.clip(img[int(0.7 * size):].astype(int) + grass, 0, 255)
    return img


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photo", action="store_true", help="redraw photo.png too")
    args = parser.parse_args()
    from sketchback.sketches.sketch import sketch_images

    photo_path = HERE / "photo.png"
    if args.photo or not photo_path.exists():
        cv2.imwrite(str(photo_path), cv2.cvtColor(draw_photo(), cv2.COLOR_RGB2BGR))
    photo = cv2.cvtColor(cv2.imread(str(photo_path)), cv2.COLOR_BGR2RGB)
    for name, (method, params) in GOLDEN.items():
        sketch = sketch_images(photo[None], method, params, seed=SEED)[0]
        cv2.imwrite(str(HERE / f"{name}.png"), sketch)
        print(f"wrote {HERE / f'{name}.png'}")


if __name__ == "__main__":
    main()
