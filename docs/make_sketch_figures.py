"""Draw the README's sketch-style figures: each style on the project's synthetic images, and the
built-in pencil style image. Usage: python docs/make_sketch_figures.py  (about a minute on a CPU)

Writes docs/figures/sketch_styles.png and docs/figures/style_image.png. The neural style column
uses the seeded random VGG16 of the offline demo, as `snakemake` with config/demo.yaml would.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import numpy as np  # noqa: E402

from sketchback.evaluation.figures import evaluation_grid, save_png  # noqa: E402
from sketchback.sketches.sketch import sketch_images  # noqa: E402
from sketchback.sketches.style import pencil_style_image  # noqa: E402
from sketchback.data.synthetic import synthetic_image  # noqa: E402

OUT = Path(__file__).resolve().parent / "figures"
SIZE = 128
SEED = 0


def main() -> None:
    photos = np.stack([synthetic_image("faces", SEED, 3, SIZE), synthetic_image("faces", SEED, 11, SIZE),
                       synthetic_image("buildings", SEED, 2, SIZE)])
    columns = [photos]
    labels = ["photo"]
    for label, method, params in [("pencil", "pencil", {}), ("pencil+paper", "pencil", {"paper": 0.15}),
                                  ("xdog", "xdog", {}), ("style", "style", {})]:
        columns.append(sketch_images(photos, method, params, seed=SEED))
        labels.append(label)
    save_png(OUT / "sketch_styles.png", evaluation_grid(columns, labels, max_rows=len(photos), cell=SIZE))
    save_png(OUT / "style_image.png", pencil_style_image(256))
    print(f"wrote {OUT / 'sketch_styles.png'} and {OUT / 'style_image.png'}")


if __name__ == "__main__":
    main()
