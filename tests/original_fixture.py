"""Stand-ins for the original study's example figures (its README's Examples/*.png), in their layout.

The real figures are matplotlib notebook output: ``fig.add_subplot(1, n, i)``, ``imshow`` (the sketch
with ``cmap='gray'``), ``set_title("Sketch" | "Prediction" | "Ground Truth")``, ``axis("off")``,
default subplot box, shown at 72 dpi and cropped to their content. Measured by hand: 477-532 x 156-165 px
with 133 x 109 px face images, 380-384 x 119 px with 103 x 78 px building images, and building_9
(two panels) 394 x 161 px with 159 x 119 px images; the titles' text is about 11-14 px high.

Here the figure is sized so that each image is drawn at ``panel_width`` px (by default its own width:
one figure pixel per image pixel, so a test can compare the cut panels with what it drew exactly).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import cv2
import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

TITLES = ("Sketch", "Prediction", "Ground Truth")
DPI = 72  # the notebook's inline resolution
# matplotlib's default subplot box: axes span 0.125..0.9 of the width, 0.11..0.88 of the height, with
# 0.2 of an axes width between axes.
_BOX_WIDTH, _BOX_HEIGHT, _WSPACE = 0.775, 0.77, 0.2
# The real figures' names and the size (height, width) their images show at, in px.
FIGURE_SIZES = {**{f"faces_{i}": (109, 133) for i in range(1, 7)},
                "building_7": (78, 103), "building_8": (78, 103), "building_9": (119, 159)}
TWO_PANELS = {"building_9"}  # the figure without a ground truth panel


def write_original_layout_figure(path, sketch: np.ndarray, prediction: np.ndarray, truth: np.ndarray | None = None,
                                 *, panel_width: int | None = None, dpi: int = DPI,
                                 interpolation: str = "nearest", titles: tuple[str, ...] = TITLES) -> Path:
    """A PNG in the original's layout: Sketch | Prediction [| Ground Truth], titled, axes off.

    sketch: uint8 (H, W) grey, drawn with vmin 0 and vmax 255 (the original let matplotlib stretch
    its sketch's range: the same for a sketch that spans 0..255); prediction, truth: uint8 (H, W, 3).
    Images show ``panel_width`` px wide (default W), resampled with ``interpolation`` (nearest: drawn
    one to one, the figure holds the arrays' exact pixels; the real figures look bilinear). ``titles``: the
    panels' titles ("" for none).
    """
    panels = [sketch, prediction] + ([] if truth is None else [truth])
    height, width = sketch.shape[:2]
    shown, n = panel_width or width, len(panels)
    fig_width = shown * (n + _WSPACE * (n - 1)) / _BOX_WIDTH / dpi
    fig_height = max(0.75 * fig_width, 1.5 * shown * height / width / _BOX_HEIGHT / dpi)
    fig = plt.figure(figsize=(fig_width, fig_height), dpi=dpi)
    try:
        for i, (image, title) in enumerate(zip(panels, titles)):
            ax = fig.add_subplot(1, n, i + 1)
            if image.ndim == 2:
                ax.imshow(image, cmap="gray", vmin=0, vmax=255, interpolation=interpolation)
            else:
                ax.imshow(image, interpolation=interpolation)
            ax.set_title(title)
            ax.axis("off")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=dpi, bbox_inches="tight")  # as the notebook showed it: cropped to its content
    finally:
        plt.close(fig)
    return path


def blurred(sketch: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """A stand-in prediction when no generator is given: the truth, blurred (uint8 (H, W, 3))."""
    return cv2.GaussianBlur(truth, (7, 7), 0)


def standin_images(name: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A seeded synthetic photo (uint8 (H, W, 3), the real figure's image size) and its pencil sketch."""
    from sketchback.sketches.sketch import pencil_sketch
    from sketchback.data.synthetic import synthetic_image

    height, width = FIGURE_SIZES[name]
    kind = "faces" if name.startswith("faces") else "buildings"
    photo = synthetic_image(kind, seed, int(name.rsplit("_", 1)[1]), max(height, width))
    photo = cv2.resize(photo, (width, height), interpolation=cv2.INTER_AREA)
    return photo, pencil_sketch(photo)


def write_original_standins(folder, predict: Callable[[np.ndarray, np.ndarray], np.ndarray] = blurred,
                            seed: int = 0) -> dict[str, Path]:
    """All nine stand-ins under the real file names (faces_1.png ... building_9.png) in ``folder``.

    predict(sketch uint8 (H, W), truth uint8 (H, W, 3)) -> uint8 (H, W, 3) draws the Prediction panel
    (e.g. a known generator's output on the sketch). building_9 has no Ground Truth panel, as the real one.
    Returns name -> path.
    """
    paths = {}
    for name in FIGURE_SIZES:
        photo, sketch = standin_images(name, seed)
        truth = None if name in TWO_PANELS else photo
        paths[name] = write_original_layout_figure(Path(folder) / f"{name}.png", sketch, predict(sketch, photo), truth)
    return paths
