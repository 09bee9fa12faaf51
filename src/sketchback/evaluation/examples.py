"""The original study's own result figures, redone: its only published outputs, to check a reproduction against.

The original (BKHMSI/Sketchback) published no numbers and no test set: its README shows nine matplotlib
figures (Examples/faces_1.png ... faces_6.png, building_7.png ... building_9.png), each a row of panels
titled "Sketch", "Prediction" and "Ground Truth" on white with the axes off (building_9 has no ground
truth). This module cuts those figures back into their images (:func:`cut_panels`, :func:`read_example`),
runs our generators on the original's own sketches and scores each output against the original's
published prediction (how exactly a model reproduces the original) and, with the original's prediction
itself, against the ground truth (:func:`compare_with_original`).

How panels are found: matplotlib draws the images of a 1 x N row of subplots at one size, on the same
rows, evenly spaced, with each title centred above its image. The photos (prediction, ground truth) are
dense, so the large connected non-white areas give the image size and the image rows, and the titles,
small text above those rows, are left out. A sketch is mostly white paper, so its non-white pixels only
bound its image: its box is placed by the even spacing of the photos beside it, else under its title,
else anywhere around its strokes, and then moved (within a pixel, or within what its strokes leave
free) to where its edges line up best with the prediction's. On the nine real figures this finds
133 x 109 px images (faces), 103 x 78 (building_7, building_8) and 159 x 119 (building_9).
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from sketchback.io import atomic_path
from sketchback.evaluation.metrics import psnr, ssim

log = logging.getLogger(__name__)

PUBLISHED = "original (published)"  # the model column of the original's own prediction
REFERENCES = ("original prediction", "ground truth")
_PAPER = 235  # a pixel whose every channel is above this is the figure's white background
_BIG = 0.2  # connected areas with this fraction of the largest one's pixels are (part of) an image
_SPECK = 0.01  # columns holding fewer non-white pixels than this fraction of an image are noise
_TITLE_GAP = 8  # a title's words lie closer than 1/8 of an image width (titles lie farther apart)


# --------------------------------------------------------------------------- cutting a figure into panels


def _ink(figure: np.ndarray, name: str) -> np.ndarray:
    figure = np.asarray(figure)
    if figure.dtype != np.uint8 or figure.ndim != 3 or figure.shape[-1] not in (3, 4):
        raise ValueError(f"{name}: expected a uint8 RGB figure (H, W, 3), got {figure.dtype} {figure.shape}")
    return figure[..., :3].min(axis=-1) < _PAPER


def _tolerance(width: int) -> int:
    return max(2, round(0.02 * width))


def _image_rows(ink: np.ndarray, name: str) -> tuple[int, int, int]:
    """(top, bottom, width) of the row of images: the extent of the large connected non-white areas."""
    import cv2

    count, _, stats, _ = cv2.connectedComponentsWithStats(ink.astype(np.uint8), connectivity=8)
    if count < 2:
        raise ValueError(f"{name}: found no image panels (the figure is all white); expected one of the original's "
                         "example figures (Sketch | Prediction | Ground Truth); download it again")
    stats = stats[1:]
    area = stats[:, cv2.CC_STAT_AREA]
    top, height = stats[:, cv2.CC_STAT_TOP], stats[:, cv2.CC_STAT_HEIGHT]
    largest = int(np.argmax(area))
    # Large areas on the largest one's rows: a photo with a white sky is completed by its neighbours.
    big = (area >= _BIG * area[largest]) & (top < top[largest] + height[largest]) & (top + height > top[largest])
    return int(top[big].min()), int((top + height)[big].max()), int(stats[big, cv2.CC_STAT_WIDTH].max())


def _ink_groups(ink_rows: np.ndarray, width: int) -> list[tuple[int, int]]:
    """Column extents [x0, x1) of the non-white areas on the image rows; runs are joined while they fit
    in one image (a sketch's strokes), specks dropped."""
    columns = ink_rows.sum(axis=0)
    occupied = np.flatnonzero(columns)
    if not occupied.size:
        return []
    breaks = np.flatnonzero(np.diff(occupied) > 1)
    starts = np.r_[occupied[0], occupied[breaks + 1]]
    ends = np.r_[occupied[breaks] + 1, occupied[-1] + 1]
    groups: list[tuple[int, int]] = []
    for start, end in zip(starts.tolist(), ends.tolist()):
        if groups and end - groups[-1][0] <= width + _tolerance(width):
            groups[-1] = (groups[-1][0], end)
        else:
            groups.append((start, end))
    least = _SPECK * width * ink_rows.shape[0]
    return [(s, e) for s, e in groups if columns[s:e].sum() >= least]


def _title_centres(ink_above: np.ndarray, width: int) -> list[float]:
    """Centres (x) of the titles: the words of the line of text nearest above the images."""
    rows = np.flatnonzero(ink_above.any(axis=1))
    if not rows.size:
        return []
    gaps = np.flatnonzero(np.diff(rows) > 1)
    line = ink_above[rows[gaps[-1] + 1] if gaps.size else rows[0]:]
    cols = np.flatnonzero(line.any(axis=0))
    breaks = np.flatnonzero(np.diff(cols) > max(4, width // _TITLE_GAP))
    starts = np.r_[cols[0], cols[breaks + 1]]
    ends = np.r_[cols[breaks] + 1, cols[-1] + 1]
    return [(s + e) / 2 for s, e in zip(starts.tolist(), ends.tolist())]


def _panel_guesses(groups: list[tuple[int, int]], width: int, titles: list[float]) -> list[tuple[int, int]]:
    """(left edge, uncertainty in px) of each panel's image: exact where its content spans a whole
    image (a photo); otherwise the first of (even spacing, its title) that holds its content, good
    to a pixel, else anywhere that holds it (centred on its content)."""
    tol = _tolerance(width)
    exact = {i: s + (e - s - width) // 2 for i, (s, e) in enumerate(groups) if e - s >= width}
    first, last = min(exact), max(exact)
    out = []
    for i, (start, end) in enumerate(groups):
        if i in exact:
            out.append((exact[i], 0))
            continue
        guesses = [round(c - width / 2) for c in sorted(titles, key=lambda c: abs(c - (start + end) / 2))]
        if last > first:
            guesses.insert(0, round(exact[first] + (i - first) * (exact[last] - exact[first]) / (last - first)))
        fits = [x for x in guesses if x <= start + tol and x + width >= end - tol]
        out.append((fits[0], 1) if fits else ((start + end - width) // 2, (width - end + start) // 2))
    return out


def _edges(grey: np.ndarray) -> np.ndarray:
    import cv2

    return np.hypot(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1))[3:-3, 3:-3].ravel()


def _registered(grey: np.ndarray, width: int, guess: int, reach: int, photos: list[np.ndarray]) -> int:
    """The left edge within ``reach`` px of ``guess`` where a sketch's edges best line up with the
    prediction's (a network's output follows its input's edges; the truth's, photographed at another
    resolution, line up less well): even spacing and titles are only good to a pixel, as matplotlib
    rounds each image's position on its own."""
    best, best_score = guess, -np.inf
    for left in range(max(0, guess - reach), min(grey.shape[1] - width, guess + reach) + 1):
        edges = _edges(grey[:, left:left + width])
        scores = [np.corrcoef(edges, photo)[0, 1] for photo in photos] if edges.std() > 0 else []
        score = float(np.nanmean(scores)) if scores and not np.all(np.isnan(scores)) else -np.inf
        if score > best_score or (score == best_score and left == guess):
            best, best_score = left, score
    return best


def _panel_lefts(grey: np.ndarray, groups: list[tuple[int, int]], width: int, titles: list[float]) -> list[int]:
    """The left edge of each panel's image on the image rows ``grey`` (float32)."""
    guesses = _panel_guesses(groups, width, titles)
    exact = [x for x, reach in guesses if reach == 0]
    if guesses[1][1] == 0:  # the prediction: what a sketch is registered to
        exact = [guesses[1][0]]
    photos = [_edges(grey[:, x:x + width]) for x in exact]
    return [x if reach == 0 else _registered(grey, width, x, reach, photos) for x, reach in guesses]


def cut_panels(figure: np.ndarray, name: str = "figure") -> list[np.ndarray]:
    """The images of a figure in the original's layout, left to right, without titles and white margins.

    figure: uint8 RGB (H, W, 3) (an alpha channel is ignored: composite onto white first). Returns
    uint8 (h, w, 3) arrays, all of one size. Raises ValueError naming ``name`` when the figure holds
    fewer than 2 or more than 3 panels side by side.
    """
    ink = _ink(figure, name)
    top, bottom, width = _image_rows(ink, name)
    groups = _ink_groups(ink[top:bottom], width)
    if not 2 <= len(groups) <= 3:
        raise ValueError(f"{name}: found {len(groups)} image panel(s) side by side; the original's example figures "
                         "have 2 (Sketch, Prediction) or 3 (Sketch, Prediction, Ground Truth). Is it one of its "
                         "Examples/*.png? Download it again")
    grey = np.asarray(figure)[top:bottom, :, :3].mean(axis=-1, dtype=np.float32)
    lefts = _panel_lefts(grey, groups, width, _title_centres(ink[:top], width))
    lefts = [min(max(0, x), ink.shape[1] - width) for x in lefts]
    return [np.ascontiguousarray(figure[top:bottom, x:x + width, :3]) for x in lefts]


# --------------------------------------------------------------------------- reading an example


def read_figure(path: str | os.PathLike) -> np.ndarray:
    """A figure file as uint8 RGB (H, W, 3), transparency composited onto white."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"example figure {path} does not exist; download it first (snakemake {path})")
    try:
        with Image.open(path) as image:
            rgba = image.convert("RGBA")
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"{path} is not a readable image ({exc}); delete it and download it again") from exc
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"))


def _unit(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 (h, w, 3) -> float32 (H, W, 3) in [0, 1] at ``size`` (height, width)."""
    import cv2

    if image.shape[:2] != size:
        image = cv2.resize(image, size[::-1], interpolation=cv2.INTER_AREA)
    return image.astype(np.float32) / 255.0


def read_example(path: str | os.PathLike) -> dict:
    """One of the original's example figures, cut into its images at the sketch panel's size.

    Returns {"sketch": float32 (H, W) grey in [0, 1], "prediction": float32 (H, W, 3) in [0, 1],
    "truth": float32 (H, W, 3) in [0, 1], or None for a figure without a ground truth panel}.
    """
    import cv2

    panels = cut_panels(read_figure(path), name=str(path))
    size = panels[0].shape[:2]
    images = [_unit(panel, size) for panel in panels[1:]]
    sketch = cv2.cvtColor(panels[0], cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    return {"sketch": sketch, "prediction": images[0], "truth": images[1] if len(images) > 1 else None}


# --------------------------------------------------------------------------- running and scoring models


def model_outputs(generator, sketches: list[np.ndarray], batch_size: int = 8) -> list[np.ndarray]:
    """A generator's photo of each grey sketch, float32 (H, W) in [0, 1] -> float32 (H, W, 3) in [0, 1].

    Sketches of one size run together; each is padded with white paper (bottom and right) to a
    multiple of the model's ``size_multiple`` and its photo cropped back to the sketch's size.
    """
    from sketchback.evaluation.evaluate import predict, resize_images
    from sketchback.models.generators import size_multiple

    multiple = size_multiple(generator)
    by_size: dict[tuple[int, int], list[int]] = {}
    for i, sketch in enumerate(sketches):
        by_size.setdefault(tuple(sketch.shape[:2]), []).append(i)
    photos: list[np.ndarray | None] = [None] * len(sketches)
    for (h, w), rows in by_size.items():
        batch = np.stack([sketches[i] for i in rows]).astype(np.float32)[..., None]
        batch = np.pad(batch, ((0, 0), (0, -h % multiple), (0, -w % multiple), (0, 0)), constant_values=1.0)
        out = predict(generator, batch, batch_size=batch_size)
        out = out[:, :h, :w] if out.shape[1:3] == batch.shape[1:3] else resize_images(out, (h, w))
        for i, photo in zip(rows, out):
            photos[i] = photo
    return photos


def _score(figure: str, model: str, reference: str, image: np.ndarray, target: np.ndarray) -> dict:
    return {"figure": figure, "model": model, "reference": reference, "ssim": ssim(image, target),
            "psnr": psnr(image, target)}


def score_examples(examples: dict[str, dict], outputs: dict[str, dict[str, np.ndarray]]) -> pd.DataFrame:
    """One row per figure, model and reference: SSIM and PSNR (dB) of each model's output against the
    original's published prediction and against the ground truth, and of the published prediction
    (model ``PUBLISHED``) against the ground truth. outputs: model -> figure -> photo."""
    rows = []
    for name, example in examples.items():
        truth = example["truth"]
        if truth is not None:
            rows.append(_score(name, PUBLISHED, REFERENCES[1], example["prediction"], truth))
        for model, photos in outputs.items():
            rows.append(_score(name, model, REFERENCES[0], photos[name], example["prediction"]))
            if truth is not None:
                rows.append(_score(name, model, REFERENCES[1], photos[name], truth))
    return pd.DataFrame(rows, columns=["figure", "model", "reference", "ssim", "psnr"])


def summarize_examples(table: pd.DataFrame) -> pd.DataFrame:
    """Mean SSIM and PSNR per model and reference, with ``n`` images. An exact copy has infinite PSNR:
    it is left out of the PSNR mean and counted in ``psnr_inf``."""
    rows = []
    for (model, reference), group in table.groupby(["model", "reference"], sort=False):
        values = group["psnr"].to_numpy(dtype=float)
        finite = values[np.isfinite(values)]
        rows.append({"model": model, "reference": reference, "n": len(group), "ssim": group["ssim"].mean(),
                     "psnr": finite.mean() if finite.size else math.nan, "psnr_inf": int(np.isposinf(values).sum())})
    return pd.DataFrame(rows, columns=["model", "reference", "n", "ssim", "psnr", "psnr_inf"])


def summary_markdown(summary: pd.DataFrame) -> str:
    """The summary as a Markdown table (SSIM to 3 places, PSNR to 2)."""
    lines = ["| model | reference | n | SSIM | PSNR (dB) |", "|---|---|---|---|---|"]
    for row in summary.itertuples(index=False):
        lines.append(f"| {row.model} | {row.reference} | {row.n} | {row.ssim:.3f} | {row.psnr:.2f} |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- the figure


def _show(ax, image: np.ndarray | None) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    if image is None:
        ax.text(0.5, 0.5, "not published", ha="center", va="center", transform=ax.transAxes, color="grey",
                fontsize="small")
    elif image.ndim == 2:
        ax.imshow(image, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    else:
        ax.imshow(np.clip(image, 0.0, 1.0), interpolation="nearest")


def plot_comparison(examples: dict[str, dict], outputs: dict[str, dict[str, np.ndarray]], out_png: str | os.PathLike,
                    dpi: int = 150) -> None:
    """One row per example: its sketch, the original's published prediction, each model's output and the
    ground truth, under labelled columns (PNG, written atomically)."""
    import matplotlib

    matplotlib.use("Agg")  # headless: rules run without a display
    import matplotlib.pyplot as plt

    labels = ["sketch", PUBLISHED] + list(outputs) + ["ground truth"]
    fig, axes = plt.subplots(len(examples), len(labels), squeeze=False,
                             figsize=(1.5 * len(labels) + 0.8, 1.3 * len(examples) + 0.6))
    try:
        for row, (name, example) in zip(axes, examples.items()):
            models = [photos[name] for photos in outputs.values()]
            cells = [example["sketch"], example["prediction"], *models, example["truth"]]
            for ax, image in zip(row, cells):
                _show(ax, image)
            row[0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize="small")
        for ax, label in zip(axes[0], labels):
            ax.set_title(label, fontsize="small")
        fig.tight_layout()
        with atomic_path(out_png) as tmp:
            fig.savefig(tmp, dpi=dpi, format="png")
    finally:
        plt.close(fig)


# --------------------------------------------------------------------------- the whole comparison


def _write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)


def compare_with_original(figures: dict[str, str | os.PathLike], models: dict, out_csv: str | os.PathLike,
                          out_summary: str | os.PathLike, out_png: str | os.PathLike, *,
                          out_markdown: str | os.PathLike | None = None, batch_size: int = 8) -> pd.DataFrame:
    """Run each model on the sketches of the original's example figures and score it (see the module).

    figures: figure name -> figure file; models: model name -> a loaded Keras generator or a .keras file.
    Writes the per-figure table (``out_csv``: figure, model, reference, ssim, psnr), its summary
    (``out_summary``: model, reference, n, ssim, psnr, psnr_inf; also as Markdown to ``out_markdown``)
    and the comparison figure (``out_png``). Returns the table.
    """
    from sketchback.evaluation.evaluate import load_generator

    if not figures:
        raise ValueError("no example figures given; list the original's Examples/*.png figures")
    if not models:
        raise ValueError("no models given to compare with the original; name at least one generator")
    if PUBLISHED in models:
        raise ValueError(f"a model may not be named {PUBLISHED!r}: that row is the original's own prediction")
    examples = {name: read_example(path) for name, path in figures.items()}
    sketches = [example["sketch"] for example in examples.values()]
    outputs = {}
    for label, model in models.items():
        generator = load_generator(model) if isinstance(model, (str, os.PathLike)) else model
        outputs[label] = dict(zip(examples, model_outputs(generator, sketches, batch_size)))
        log.info("%s: ran on the sketches of %d example figures", label, len(examples))
    table = score_examples(examples, outputs)
    summary = summarize_examples(table)
    with atomic_path(out_csv) as tmp:
        table.to_csv(tmp, index=False)
    with atomic_path(out_summary) as tmp:
        summary.to_csv(tmp, index=False)
    if out_markdown is not None:
        _write_text(out_markdown, summary_markdown(summary))
    plot_comparison(examples, outputs, out_png)
    log.info("compared %d models with the original on %d figures:\n%s", len(models), len(examples),
             summary_markdown(summary))
    return table
