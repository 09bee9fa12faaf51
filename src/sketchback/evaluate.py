"""Evaluate a trained generator on a test set: per-image metrics against two baselines, and a grid.

Baselines put the numbers in context: the sketch itself (as a grey image) and the mean training
photo of the test set's dataset. A model that has learned something beats both.
"""

from __future__ import annotations

import logging
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from sketchback.data import load_pairs
from sketchback.figures import evaluation_grid, save_png
from sketchback.io import atomic_path, load_npz
from sketchback.metrics import bootstrap_ci, image_metrics

log = logging.getLogger(__name__)

ESTIMATORS = ("prediction", "sketch", "mean_image")
METRICS = ("psnr", "ssim")


def load_generator(path: str | Path) -> keras.Model:
    """Load a saved generator for inference (the file carries its architecture)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model {path} does not exist; train it first (snakemake {path})")
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as exc:
        raise ValueError(f"{path} is not a loadable Keras generator ({exc}); retrain it") from exc


def evaluate(model_path: str | Path, test_pairs: list, mean_image_path: str | Path, out_csv: str | Path,
             out_grid: str | Path, *, model_name: str, dataset: str, method: str, grid_rows: int = 8,
             batch_size: int = 16) -> pd.DataFrame:
    """Predict every test pair; write per-image PSNR/SSIM of prediction, sketch and mean image, and a grid."""
    generator = load_generator(model_path)
    sketches, truths = load_pairs(test_pairs)
    names = np.concatenate([load_npz(photo)["names"] for photo, _ in test_pairs])
    predictions = np.clip(generator.predict(sketches, batch_size=batch_size, verbose=0), 0.0, 1.0)
    mean = np.load(mean_image_path)
    estimates = {
        "prediction": predictions,
        "sketch": np.repeat(sketches, 3, axis=-1),
        "mean_image": np.broadcast_to(mean, truths.shape),
    }
    frame = pd.DataFrame({"model": model_name, "dataset": dataset, "method": method, "image": names})
    for estimator, images in estimates.items():
        for metric, values in image_metrics(images, truths).items():
            frame[f"{metric}_{estimator}"] = values
    with atomic_path(out_csv) as tmp:
        frame.to_csv(tmp, index=False)
    grid = evaluation_grid([sketches[..., 0], predictions, truths], ["sketch", "prediction", "ground truth"],
                           max_rows=grid_rows, title=f"{model_name} model on {dataset} / {method} sketches")
    save_png(out_grid, grid)
    log.info("%s on %s/%s: %d images, SSIM prediction %.3f sketch %.3f mean image %.3f", model_name, dataset, method,
             len(frame), frame["ssim_prediction"].mean(), frame["ssim_sketch"].mean(), frame["ssim_mean_image"].mean())
    return frame


def summarize(metric_csvs: list[str | Path], out_csv: str | Path, seed: int = 0) -> pd.DataFrame:
    """One row per (model, dataset, method): the mean of each metric and estimator with a 95% bootstrap CI."""
    per_image = pd.concat([pd.read_csv(path) for path in metric_csvs], ignore_index=True)
    rows = []
    for (model, dataset, method), group in per_image.groupby(["model", "dataset", "method"], sort=False):
        row = {"model": model, "dataset": dataset, "method": method, "n_images": len(group)}
        for metric in METRICS:
            for estimator in ESTIMATORS:
                column = f"{metric}_{estimator}"
                values = group[column].to_numpy(dtype=float)
                finite = values[np.isfinite(values)]
                row[column] = finite.mean()
                row[f"{column}_lo"], row[f"{column}_hi"] = bootstrap_ci(finite, seed=seed)
        rows.append(row)
    summary = pd.DataFrame(rows)
    with atomic_path(out_csv) as tmp:
        summary.to_csv(tmp, index=False)
    return summary
