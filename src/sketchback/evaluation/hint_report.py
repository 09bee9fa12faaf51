"""The colour-hint part of the report: the table of each hint model with 0, a few and many hints, and
the figure of the same sketches with increasing hints (``sketchback.sketches.hints`` draws the strokes)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from sketchback.data.shards import sketch_to_input
from sketchback.evaluation.evaluate import _load_pair, hint_overlay, load_generator, predict, style_label
from sketchback.sketches.hints import hint_input, sample_hints, takes_hints
from sketchback.io import atomic_path, load_npz

log = logging.getLogger(__name__)

# The hint table's metrics of the prediction, each with its 95% bootstrap interval (_lo, _hi).
TABLE_METRICS = ("colour_error", "ssim", "psnr", "feature_distance")


def hint_table(summary_csv: str | Path, out_csv: str | Path, models: list[str]) -> pd.DataFrame:
    """Write the hint table: one row per hint model, test set, style and number of hints (0 first).

    summary_csv: ``sketchback.evaluation.evaluate.summarize``'s output. Columns: model, test_set, style,
    hints, n_images, and for each of :data:`TABLE_METRICS` of the prediction: mean, _lo, _hi;
    then the colour error of the mean training photo (a baseline that ignores the sketch).
    """
    summary = pd.read_csv(summary_csv)
    missing = [m for m in models if m not in set(summary["model"])]
    if missing:
        raise ValueError(f"{summary_csv} has no rows for the hint models {missing}; rerun summarize")
    if "hints" not in summary or "colour_error_prediction" not in summary:
        raise ValueError(f"{summary_csv} has no hints / colour_error_prediction columns; rerun evaluate and summarize")
    rows = summary[summary["model"].isin(models)].copy()
    rows["_m"] = rows["model"].map(models.index)
    rows = rows.sort_values(["_m", "dataset", "method", "hints"], kind="stable")
    table = pd.DataFrame({"model": rows["model"], "test_set": rows["dataset"], "style": rows["method"],
                          "hints": rows["hints"].astype(int), "n_images": rows["n_images"].astype(int)})
    for metric in TABLE_METRICS:
        for suffix in ("", "_lo", "_hi"):
            table[f"{metric}{suffix}"] = rows[f"{metric}_prediction{suffix}"]
    table["colour_error_mean_image"] = rows["colour_error_mean_image"]
    table = table.reset_index(drop=True)
    with atomic_path(out_csv) as tmp:
        table.to_csv(tmp, index=False)
    log.info("hint table: %d rows for %s", len(table), ", ".join(models))
    return table


def _first_test_images(test_pairs: list, rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """uint8 sketches, uint8 photos and dataset rows of the first ``rows`` test images (test-set order)."""
    sketches, photos, dataset_rows = [], [], []
    for photo_path, sketch_path in test_pairs:
        drawn, images, _ = _load_pair(photo_path, sketch_path)
        shard_rows = load_npz(photo_path)["rows"] if len(images) else np.empty(0, np.int64)
        take = rows - sum(len(s) for s in sketches)
        sketches.append(drawn[:take])
        photos.append(images[:take])
        dataset_rows.append(shard_rows[:take])
        if take <= len(drawn):
            break
    if not sum(len(s) for s in sketches):
        raise ValueError(f"the test shards hold no images ({', '.join(str(s) for _, s in test_pairs)})")
    return np.concatenate(sketches), np.concatenate(photos), np.concatenate(dataset_rows)


def hint_figure(model_path: str | Path, test_pairs: list, out_png: str | Path, *, counts: list[int],
                hint_params: dict | None, seed: int, style: str, rows: int = 4, width: int = 1800,
                dpi: int = 300, title: str | None = None) -> None:
    """The same sketches with increasing colour hints: sketch, then for each count the hints over the
    sketch and the prediction from them (0: the prediction from the sketch alone), then the truth.

    The first ``rows`` test images in test-set order (not cherry-picked); the strokes are those of
    the evaluation (seeded by (seed, dataset row), nested: more hints add strokes).
    """
    from sketchback.evaluation.figures import GUTTER, evaluation_grid, save_png

    generator = load_generator(model_path)
    if not takes_hints(generator):
        raise ValueError(f"{model_path} is a sketch-only model; the hint figure needs a model with models.<name>.hints")
    sketches_u8, photos_u8, dataset_rows = _first_test_images(test_pairs, rows)
    sketches = sketch_to_input(sketches_u8)
    columns, labels = [sketches_u8], [f"{style_label(style)} sketch"]
    for count in counts:
        rgb, mask = sample_hints(photos_u8, dataset_rows, seed, hint_params, strokes=count, stream=0)
        if count:
            columns.append(hint_overlay(sketches_u8, rgb, mask))
            labels.append(f"{count} hints")
        columns.append(predict(generator, hint_input(sketches, rgb, mask)))
        labels.append(f"prediction, {count} hints" if count else "prediction, no hints")
    columns.append(photos_u8)
    labels.append("ground truth")
    cell = max(32, (width - GUTTER) // len(columns) - GUTTER)
    grid = evaluation_grid(columns, labels, max_rows=rows, cell=cell, title=title)
    save_png(out_png, grid, dpi=dpi)
    log.info("%s: %d images, hints %s, %dx%d px", out_png, len(sketches_u8), counts, grid.shape[1], grid.shape[0])
