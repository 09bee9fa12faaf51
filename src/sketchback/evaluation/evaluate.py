"""Evaluate trained generators and build the study's report from the results.

* ``evaluate``: one model on one test set in one sketch style: per-image PSNR, SSIM and VGG
  feature distance of the prediction and of two baselines (the sketch itself as a grey image, the
  mean training photo), and a grid of sketch | prediction | ground truth; ``Evaluator`` does the same
  for several styles of one test set with the model and networks loaded once.
* ``summarize``: each set's means with 95% bootstrap confidence intervals.
* ``write_cross_style``: the cross-style matrix, every model on every sketch style of its test
  sets (the style it was trained on and the others), as a table and a heat map.
* ``poster_figure``, ``sketch_examples``, ``data_overview``: the poster's figures.

The evaluation plan (which model meets which test set in which style) is in ``sketchback.tools.config``.
Keras is imported only where a model runs.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd

from sketchback.data.sources import HANDDRAWN
from sketchback.data.shards import photo_to_target, sketch_to_input
from sketchback.sketches.hints import hint_input, sample_hints, takes_hints
from sketchback.io import atomic_path, load_npz
from sketchback.evaluation.distribution import (DistributionOptions, SetFeatures, feature_network, fid_note,
                                                 read_distributions)
from sketchback.evaluation.metrics import bootstrap_ci, colour_error, feature_distance, image_metrics, sharpness_ratio
from sketchback.evaluation.seeds import spread_over_seeds

log = logging.getLogger(__name__)

ESTIMATORS = ("prediction", "sketch", "mean_image")
METRICS = ("psnr", "ssim", "feature_distance", "sharpness")
GRID_LABELS = ["sketch", "prediction", "ground truth"]
# Scored for models that take colour hints only (how well they follow them), and summarised where present:
# the mean CIEDE2000 difference of the prediction and of the mean training photo (the sketch is grey).
HINT_METRICS = {"colour_error": ("prediction", "mean_image")}
# Pixels per generator or VGG call at most: the full study's batch of 64 at 128 px. An eager call
# holds every layer's output for its whole batch until it returns (6.7 GB measured for the study's
# generator and the feature distance at 64 x 128 px; past 17.8 GB at 64 x 256 px), so at bigger sizes
# fewer images go into one call and evaluation needs what it needs at 128 px
# (benchmarks/train_step_size.py).
MAX_PIXELS_PER_CALL = 64 * 128 * 128


def style_label(style: str) -> str:
    return "hand-drawn" if style == HANDDRAWN else style


# --------------------------------------------------------------------------- running a model


def load_generator(path: str | Path):
    """Load a saved generator for inference (the file carries its architecture)."""
    import keras

    import sketchback.models.generators  # noqa: F401 (registers TrainingSize, the layer a converted released model has)

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model {path} does not exist; train it first (snakemake {path})")
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as exc:
        raise ValueError(f"{path} is not a loadable Keras generator ({exc}); retrain it") from exc


def images_per_call(batch_size: int, height: int, width: int) -> int:
    """``batch_size``, or fewer where that many images would exceed ``MAX_PIXELS_PER_CALL``."""
    return max(1, min(batch_size, MAX_PIXELS_PER_CALL // (height * width)))


def predict(generator, sketches: np.ndarray, batch_size: int = 16) -> np.ndarray:
    """Photos for float32 (N, H, W, 1) sketches in [0, 1]: float32 (N, H, W, 3) clipped to [0, 1].

    A model that takes colour hints gets the sketches with no hints (an empty mask), or takes the
    full (N, H, W, 5) input of ``sketchback.sketches.hints.hint_input``.

    A model that records the size it was trained at (the original's released weights, converted by
    ``sketchback.models.released``) runs at that size: the sketches are resized to it and the photos back.

    Eager calls batch by batch: ``Model.predict`` retraces per input size and, after a few sizes,
    relaxes the traced shape, which the bilinear upsampling layer cannot trace.
    """
    from sketchback.models.generators import trained_size

    size = trained_size(generator)
    if size is not None and tuple(sketches.shape[1:3]) != size:
        return _predict_at_training_size(generator, sketches, size, batch_size)
    if sketches.shape[-1] == 1 and takes_hints(generator):
        sketches = hint_input(sketches)
    out = [np.asarray(generator(sketches[i:i + batch_size], training=False)) for i in range(0, len(sketches), batch_size)]
    if not out:
        return np.empty(sketches.shape[:3] + (3,), np.float32)
    photos = np.concatenate(out)
    out.clear()  # a shard's predictions held twice at most (batches, joined), not three times (and clipped)
    return np.clip(photos, 0.0, 1.0, out=photos)


def resize_images(images: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """float32 (N, H, W, C) images resized to ``size`` (height, width): area averaging down, cubic up."""
    import cv2

    height, width = size
    shrink = height * width < images.shape[1] * images.shape[2]
    method = cv2.INTER_AREA if shrink else cv2.INTER_CUBIC
    out = np.empty((len(images), height, width, images.shape[-1]), np.float32)
    for i, image in enumerate(images):
        out[i] = cv2.resize(image, (width, height), interpolation=method).reshape(height, width, -1)
    return out


def _predict_at_training_size(generator, sketches: np.ndarray, size: tuple[int, int], batch_size: int) -> np.ndarray:
    """``predict`` of sketches resized to the model's training size, the photos resized back."""
    photos = predict(generator, np.clip(resize_images(sketches, size), 0.0, 1.0), batch_size)
    return np.clip(resize_images(photos, sketches.shape[1:3]), 0.0, 1.0)


def _load_pair(photo_path: str | Path, sketch_path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """uint8 sketches (N, H, W), uint8 photos (N, H, W, 3) and names of one (photo, sketch) shard pair."""
    photos = load_npz(photo_path)
    drawn = photos if Path(sketch_path) == Path(photo_path) else load_npz(sketch_path)
    images, sketches, names = photos["images"], drawn["sketches"], photos["names"]
    if images.shape[:3] != sketches.shape[:3]:
        raise ValueError(f"{photo_path} holds {images.shape[:3]} photos but {sketch_path} holds {sketches.shape[:3]} "
                         f"sketches; rerun the rule that makes {sketch_path}")
    if "names" in drawn and not np.array_equal(drawn["names"], names):
        raise ValueError(f"{sketch_path} does not sketch the photos of {photo_path} in the same order (names differ); "
                         f"rerun the rule that makes {sketch_path}")
    return sketches, images, names


class Evaluator:
    """One model on one test set, loaded once and scored in as many sketch styles and hint counts as asked.

    The generator, the feature distance's VGG16 ``block2_conv2`` (``vgg_weights``: a notop weights file, or
    "random": seeded random filters, ``seed``), the FID/KID feature network (``distribution``, optional)
    and the mean training photo are loaded when it is made; each call scores one style (one hint count)
    and writes its files, as :func:`evaluate` does. An evaluation job runs every style of its test set
    this way: TensorFlow, the model and the networks start once, not once per style.
    """

    def __init__(self, model_path: str | Path, mean_image_path: str | Path, *, model_name: str, dataset: str,
                 grid_rows: int = 8, batch_size: int = 16, vgg_weights: str = "random", vgg_md5: str | None = None,
                 seed: int = 0, hint_params: dict | None = None, distribution: DistributionOptions | None = None):
        from sketchback.vgg import vgg_feature_extractor

        self.model_path, self.mean_image_path = model_path, mean_image_path
        self.model_name, self.dataset, self.grid_rows, self.batch_size = model_name, dataset, grid_rows, batch_size
        self.seed, self.hint_params, self.distribution = seed, hint_params, distribution
        self.generator = load_generator(model_path)
        self.extractor = vgg_feature_extractor(vgg_weights, vgg_md5, seed)
        self.network = None if distribution is None else feature_network(distribution)
        self.mean = np.load(mean_image_path).astype(np.float32)

    def __call__(self, test_pairs: list, out_csv: str | Path, out_grid: str | Path, *, method: str,
                 hint_strokes: int = 0, out_distribution: str | Path | None = None) -> pd.DataFrame:
        """Score the test pairs of one style (see :func:`evaluate`); returns the per-image metrics."""
        _check_outputs(self.distribution, out_distribution)
        if not test_pairs:
            raise ValueError(f"{self.dataset}/{method}: no test shards to evaluate")
        if hint_strokes and not takes_hints(self.generator):
            raise ValueError(f"{self.model_path} is a sketch-only model (1 input channel); it cannot take "
                             f"{hint_strokes} colour hints: evaluate hint counts only for models with "
                             f"models.<name>.hints")
        set_features = None if self.network is None else SetFeatures(self.network)
        name, dataset, mean = self.model_name, self.dataset, self.mean
        frames, grid = [], []
        keys = {"model": name, "dataset": dataset, "method": method, "hints": hint_strokes}
        for k, (photo_path, sketch_path) in enumerate(test_pairs, 1):
            sketches_u8, photos_u8, names = _load_pair(photo_path, sketch_path)
            if len(names) == 0:
                continue
            if mean.shape != photos_u8.shape[1:]:
                raise ValueError(f"{self.mean_image_path} is {mean.shape} but the test photos of {photo_path} are "
                                 f"{photos_u8.shape[1:]}; rerun mean_image for {dataset}")
            frame = pd.DataFrame({**keys, "image": names})
            hints = (_test_hints(photo_path, photos_u8, hint_strokes, self.hint_params, self.seed)
                     if hint_strokes else None)
            predictions = _predict_and_score(frame, self.generator, sketches_u8, photos_u8, mean, self.extractor,
                                             self.batch_size, hints)
            if set_features is not None:
                set_features.add(predictions, photos_u8, images_per_call(self.batch_size, *photos_u8.shape[1:3]))
            frames.append(frame)
            _add_grid_rows(grid, self.grid_rows, sketches_u8, hints, predictions, photos_u8)
            del predictions, sketches_u8, photos_u8  # freed before the next shard is loaded
            log.info("%s on %s/%s: shard %d/%d, %d images, mean SSIM %.3f", name, dataset, method, k,
                     len(test_pairs), len(names), frame["ssim_prediction"].mean())
        if not frames:
            raise ValueError(f"{dataset}/{method}: the test shards hold no images "
                             f"({', '.join(str(s) for _, s in test_pairs)})")
        per_image = pd.concat(frames, ignore_index=True)
        with atomic_path(out_csv) as tmp:
            per_image.to_csv(tmp, index=False)
        _save_grid(out_grid, grid, self.grid_rows, f"{name} model on {dataset} / {style_label(method)} sketches",
                   hint_strokes)
        if set_features is not None:
            set_features.write(out_distribution, self.distribution, **keys)
        _log_means(per_image, f"{name} on {dataset}/{method}")
        return per_image


def evaluate(model_path: str | Path, test_pairs: list, mean_image_path: str | Path, out_csv: str | Path,
             out_grid: str | Path, *, model_name: str, dataset: str, method: str, grid_rows: int = 8,
             batch_size: int = 16, vgg_weights: str = "random", vgg_md5: str | None = None,
             seed: int = 0, hint_strokes: int = 0, hint_params: dict | None = None,
             distribution: DistributionOptions | None = None, out_distribution: str | Path | None = None
             ) -> pd.DataFrame:
    """Predict every test pair, shard by shard; write per-image metrics, a grid and the set-level scores.

    test_pairs: (photo shard, sketch shard) paths of the test set in this style. The CSV has one
    row per image: model, dataset, method, image, and ``{metric}_{estimator}`` for metric in
    psnr (dB; inf where identical), ssim, feature_distance, sharpness (``metrics.sharpness_ratio``) and
    estimator in prediction, sketch (the sketch as a grey photo), mean_image (the mean training photo). The feature distance uses
    VGG16 ``block2_conv2`` with ``vgg_weights`` (a notop weights file, or "random": seeded random
    filters, ``seed``). The grid shows the first ``grid_rows`` test images.

    A hint model gets ``hint_strokes`` strokes per image drawn from its test photo as in training
    (``hints.sample_hints``, ``hint_params``, seeded by (``seed``, dataset row)); its CSV also has
    ``colour_error_{estimator}`` (mean CIEDE2000). Every CSV has a ``hints`` column (the count).

    With ``distribution`` (``sketchback.evaluation.distribution``), the set's FID and KID of the predictions
    against their photos go to ``out_distribution``. Several styles of one test set: :class:`Evaluator`.
    """
    _check_outputs(distribution, out_distribution)  # before the model loads
    evaluator = Evaluator(model_path, mean_image_path, model_name=model_name, dataset=dataset, grid_rows=grid_rows,
                          batch_size=batch_size, vgg_weights=vgg_weights, vgg_md5=vgg_md5, seed=seed,
                          hint_params=hint_params, distribution=distribution)
    return evaluator(test_pairs, out_csv, out_grid, method=method, hint_strokes=hint_strokes,
                     out_distribution=out_distribution)


def _check_outputs(distribution: DistributionOptions | None, out_distribution) -> None:
    """The FID/KID options and their output file come together or not at all."""
    if (distribution is None) != (out_distribution is None):
        raise ValueError("evaluate: give distribution (the FID/KID options) and out_distribution together")


def split_by_style(paths: list, styles: list[str]) -> dict[str, list]:
    """Style -> its part of ``paths``: every style's test shards one style after another in ``styles`` order,
    each style with as many (an evaluation job's flat input list; the styles of a test set share its shards)."""
    if not styles or len(paths) % len(styles):
        raise ValueError(f"{len(paths)} test shards cannot be split evenly over the styles {', '.join(styles)}")
    n = len(paths) // len(styles)
    return {style: list(paths[k * n:(k + 1) * n]) for k, style in enumerate(styles)}


def _save_grid(out_grid, grid: list, grid_rows: int, title: str, hint_strokes: int) -> None:
    """The grid of sketch (| hints) | prediction | ground truth rows collected by ``_add_grid_rows``."""
    from sketchback.evaluation.figures import evaluation_grid, save_png

    title += f" with {hint_strokes} colour hints" if hint_strokes else ""
    labels = GRID_LABELS[:1] + [f"{hint_strokes} hints"] * bool(hint_strokes) + GRID_LABELS[1:]
    save_png(out_grid, evaluation_grid([np.concatenate(c) for c in zip(*grid)], labels, max_rows=grid_rows, title=title))


def _log_means(per_image: pd.DataFrame, what: str) -> None:
    log.info("%s: %d images; prediction SSIM %.3f PSNR %.2f dB feature distance %.4f; SSIM of the sketch "
             "%.3f, of the mean image %.3f", what, len(per_image), per_image["ssim_prediction"].mean(),
             _finite_mean(per_image["psnr_prediction"]), per_image["feature_distance_prediction"].mean(),
             per_image["ssim_sketch"].mean(), per_image["ssim_mean_image"].mean())


def _add_grid_rows(grid: list, grid_rows: int, sketches_u8, hints, predictions, photos_u8) -> None:
    """Add this shard's first images to the grid until it has ``grid_rows`` (the hints over the sketch too)."""
    shown = sum(len(part[0]) for part in grid)
    if shown < grid_rows:  # copies: views would keep this shard's whole arrays alive to the end
        take = slice(0, grid_rows - shown)
        shown_hints = () if hints is None else (hint_overlay(sketches_u8[take], *(h[take] for h in hints)),)
        grid.append((sketches_u8[take].copy(), *shown_hints, predictions[take].copy(), photos_u8[take].copy()))


def _test_hints(photo_path, photos_u8: np.ndarray, strokes: int, params: dict | None,
                seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``strokes`` colour hints per test photo of one shard, seeded by (seed, dataset row) as in training."""
    with np.load(photo_path, allow_pickle=False) as shard:
        if "rows" not in shard.files:
            raise ValueError(f"{photo_path} has no 'rows' array (the dataset row of each image), which seeds the "
                             f"colour hints; rerun the rule that makes it")
        rows = shard["rows"]
    return sample_hints(photos_u8, rows, seed, params, strokes=strokes, stream=0)


def hint_overlay(sketches_u8: np.ndarray, rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W, 3): the grey sketches with the colour hints painted over them, for the figures."""
    grey = np.repeat(sketches_u8[..., None].astype(np.float32) / 255.0, 3, axis=-1)
    return np.round(255 * np.where(mask > 0.5, rgb, grey)).astype(np.uint8)


def _predict_and_score(frame: pd.DataFrame, generator, sketches_u8, photos_u8, mean, extractor,
                       batch_size: int, hints: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Predict one shard and add its metric columns to ``frame``; returns the predictions. At most
    :func:`images_per_call` images go into one generator or VGG call. ``hints``: (RGB, mask) of
    colour hints for a model that takes them (None: none)."""
    sketches, truths = sketch_to_input(sketches_u8), photo_to_target(photos_u8)
    per_call = images_per_call(batch_size, *sketches.shape[1:3])
    if per_call < batch_size:
        log.info("%d images per generator and VGG call (evaluation.batch_size %d) at %dx%d px: memory stays as at "
                 "128 px", per_call, batch_size, *sketches.shape[1:3])
    hinted = takes_hints(generator)
    predictions = predict(generator, hint_input(sketches, *hints) if hints is not None else sketches, per_call)
    _score(frame, predictions, sketches, truths, mean, extractor, per_call)
    if hinted:
        for estimator in HINT_METRICS["colour_error"]:
            frame[f"colour_error_{estimator}"] = colour_error(
                predictions if estimator == "prediction" else np.broadcast_to(mean, truths.shape), truths)
    return predictions


def _score(frame: pd.DataFrame, predictions, sketches, truths, mean, extractor, batch_size: int) -> pd.DataFrame:
    """Add ``{metric}_{estimator}`` columns: the prediction and both baselines against the truth."""
    estimates = {
        "prediction": predictions,
        "sketch": np.repeat(sketches, 3, axis=-1),
        "mean_image": np.broadcast_to(mean, truths.shape),
    }
    for estimator, images in estimates.items():
        for metric, values in image_metrics(images, truths).items():
            frame[f"{metric}_{estimator}"] = values
        frame[f"feature_distance_{estimator}"] = feature_distance(extractor, images, truths, batch_size)
        frame[f"sharpness_{estimator}"] = sharpness_ratio(images, truths)
    return frame


def _finite_mean(values) -> float:
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else math.nan


# --------------------------------------------------------------------------- per-set summaries


def summarize(metric_csvs: list[str | Path], out_csv: str | Path, seed: int = 0,
              distribution_csvs: list[str | Path] | None = None) -> pd.DataFrame:
    """One row per (model, dataset, method, hints): n_images, and the mean of each metric and estimator with
    its 95% percentile-bootstrap interval (``_lo``, ``_hi``; 1000 resamples seeded with ``seed``).

    distribution_csvs: the evaluations' set-level files (``distribution.write_distribution``), one per row,
    add :data:`DISTRIBUTION_COLUMNS`: ``fid``, ``kid`` (the mean over KID's subsets), ``kid_std``, ``fid_n``
    (images scored), ``fid_network`` and ``fid_note`` (the warnings a reader needs: a small set, the stand-in).

    PSNR is infinite for a perfect prediction; such images are left out of the PSNR mean (and
    counted in ``psnr_inf``), never silently averaged as a huge number. Rows are per number of colour
    ``hints`` too (0 where the CSV has none); the colour error (:data:`HINT_METRICS`) is summarised
    where present (NaN for sketch-only models).
    """
    per_image = pd.concat([pd.read_csv(path) for path in metric_csvs], ignore_index=True)
    per_image["hints"] = per_image["hints"].fillna(0).astype(int) if "hints" in per_image else 0
    extra = [(m, e) for m, estimators in HINT_METRICS.items() for e in estimators if f"{m}_{e}" in per_image]
    missing = [f"{m}_{e}" for m in METRICS for e in ESTIMATORS if f"{m}_{e}" not in per_image.columns]
    if missing:
        raise ValueError(f"per-image metrics lack columns {missing}; rerun the evaluate rule for {metric_csvs[0]}")
    rows = []
    for (model, dataset, method, hints), group in per_image.groupby(["model", "dataset", "method", "hints"], sort=False):
        row = {"model": model, "dataset": dataset, "method": method, "hints": hints, "n_images": len(group)}
        for metric, estimator in [(m, e) for m in METRICS for e in ESTIMATORS] + extra:
            column = f"{metric}_{estimator}"
            values = group[column].to_numpy(dtype=float)
            finite = values[np.isfinite(values)]
            if metric == "psnr":
                row[f"psnr_inf_{estimator}"] = int(np.sum(np.isposinf(values)))
            if finite.size == 0:
                row[column] = row[f"{column}_lo"] = row[f"{column}_hi"] = math.nan
                continue
            row[column] = finite.mean()
            row[f"{column}_lo"], row[f"{column}_hi"] = bootstrap_ci(finite, seed=seed)
        rows.append(row)
    summary = pd.DataFrame(rows)
    if distribution_csvs is not None:
        summary = with_distributions(summary, distribution_csvs)
    with atomic_path(out_csv) as tmp:
        summary.to_csv(tmp, index=False)
    return summary


# The set-level columns of the metrics summary and the cross-style table, and their names in distribution.csv.
DISTRIBUTION_COLUMNS = {"fid": "fid", "kid": "kid_mean", "kid_std": "kid_std", "fid_n": "n_images",
                        "fid_network": "fid_network"}
KEYS = ["model", "dataset", "method", "hints"]


def with_distributions(summary: pd.DataFrame, distribution_csvs: list[str | Path]) -> pd.DataFrame:
    """``summary`` with the set-level columns of each row's distribution file (every row must have one)."""
    found = read_distributions(distribution_csvs)
    table = found[KEYS + list(DISTRIBUTION_COLUMNS.values())].rename(
        columns={v: k for k, v in DISTRIBUTION_COLUMNS.items()})
    merged = summary.merge(table, on=KEYS, how="left", validate="one_to_one", indicator=True)
    lacking = merged.loc[merged["_merge"] != "both", KEYS]
    if len(lacking):
        raise ValueError(f"no distribution.csv for {lacking.to_dict('records')}; rerun their evaluate jobs")
    merged["fid_note"] = [fid_note(n, net) for n, net in zip(merged["fid_n"], merged["fid_network"])]
    return merged.drop(columns="_merge")


# --------------------------------------------------------------------------- the cross-style matrix


def cross_style_table(summary: pd.DataFrame, training: dict[str, dict], styles: list[str]) -> pd.DataFrame:
    """The cross-style matrix as a long table: one row per model, test set and style.

    summary: the output of ``summarize``. training: model -> {"dataset": its training set,
    "methods": the styles it was trained on}. styles: the matrix's style order. Columns: model,
    training_set, training_styles, test_set, style, seen_style (the model was trained on this
    style), hints (colour hints given: 0, or the counts a hint model is also evaluated with),
    n_images, and for psnr, ssim, feature_distance of the prediction (and the colour error where
    the summary has it): mean, _lo, _hi; and where the summary has them the set-level fid, kid, kid_std,
    fid_n, fid_network and fid_note.

    A training-seed replicate (``training[model]`` with ``replicate_of``: its base model) has no rows of its
    own: its base model's rows gain n_seeds (runs with this cell: the base run and its replicates) and per
    metric ``<metric>_seed_mean`` and ``<metric>_seed_std`` over those runs, next to the base run's mean and
    interval (std NaN for one run).
    """
    unknown = sorted(set(summary["model"]) - set(training))
    if unknown:
        raise ValueError(f"the metrics summary has models {unknown} that are not in the config's models:")
    order = {style: i for i, style in enumerate(styles)}
    rows, replicates = [], []
    for _, r in summary.iterrows():
        if r["method"] not in order:
            continue
        if training[r["model"]].get("replicate_of"):
            replicates.append(r)
            continue
        spec = training[r["model"]]
        row = {"model": r["model"], "training_set": spec["dataset"], "training_styles": "+".join(spec["methods"]),
               "test_set": r["dataset"], "style": r["method"], "seen_style": r["method"] in spec["methods"],
               "hints": int(r["hints"]) if "hints" in r else 0, "n_images": int(r["n_images"])}
        for metric in METRICS + tuple(m for m in HINT_METRICS if f"{m}_prediction" in r):
            for suffix in ("", "_lo", "_hi"):
                row[f"{metric}{suffix}"] = r[f"{metric}_prediction{suffix}"]
        row.update({column: r[column] for column in [*DISTRIBUTION_COLUMNS, "fid_note"] if column in r})
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        raise ValueError(f"the metrics summary has no rows for the styles {styles}")
    table = _seed_spread_columns(table, replicates, training)
    models = list(training)
    table["_m"] = table["model"].map(models.index)
    table["_s"] = table["style"].map(order)
    tests = {}
    for m, t in zip(table["model"], table["test_set"]):
        tests.setdefault((m, t), len(tests))
    table["_t"] = [tests[(m, t)] for m, t in zip(table["model"], table["test_set"])]
    return (table.sort_values(["_m", "_t", "_s", "hints"], kind="stable").drop(columns=["_m", "_t", "_s"])
            .reset_index(drop=True))


def _seed_spread_columns(table: pd.DataFrame, replicates: list[pd.Series], training: dict[str, dict]) -> pd.DataFrame:
    """Add n_seeds and <metric>_seed_mean, <metric>_seed_std over the base run and its replicates' summary rows
    (``replicates``) of the same test set, style and hint count."""
    found: dict[tuple, list[pd.Series]] = {}
    for r in replicates:
        key = (training[r["model"]]["replicate_of"], r["dataset"], r["method"], int(r["hints"]) if "hints" in r else 0)
        found.setdefault(key, []).append(r)
    metrics = [m for m in (*METRICS, *HINT_METRICS) if m in table] + [m for m in ("fid", "kid") if m in table]
    table = table.copy()
    columns: dict[str, list] = {"n_seeds": [], **{f"{m}_seed_{s}": [] for m in metrics for s in ("mean", "std")}}
    for _, row in table.iterrows():
        runs = found.get((row["model"], row["test_set"], row["style"], row["hints"]), [])
        for metric in metrics:
            column = metric if metric in ("fid", "kid") else f"{metric}_prediction"
            mean, std, n = spread_over_seeds([float(row[metric])] + [float(r.get(column, math.nan)) for r in runs])
            columns[f"{metric}_seed_mean"].append(mean)
            columns[f"{metric}_seed_std"].append(std)
        columns["n_seeds"].append(1 + len(runs))
    for column, values in columns.items():
        table[column] = values
    return table


def hint_columns(table: pd.DataFrame, styles: list[str], labels: dict[str, str]) -> tuple[pd.DataFrame, list, dict]:
    """The cross-style table for the heat map with the hint count as extra columns: a style evaluated
    with n > 0 colour hints becomes the column ``{style}+{n}hints`` next to its style (n/a for
    models that take no hints). Returns (table, column order, column labels)."""
    if "hints" not in table or not (table["hints"] > 0).any():
        return table, styles, labels
    table, columns, labels = table.copy(), [], dict(labels)
    counts = sorted(set(table.loc[table["hints"] > 0, "hints"]))
    for style in styles:
        columns.append(style)
        for n in counts:
            if ((table["style"] == style) & (table["hints"] == n)).any():
                columns.append(f"{style}+{n}hints")
                labels[columns[-1]] = f"{labels.get(style, style)}\n+{n} hints"
    hinted = table["hints"] > 0
    table.loc[hinted, "style"] = [f"{s}+{n}hints" for s, n in zip(table.loc[hinted, "style"], table.loc[hinted, "hints"])]
    return table, columns, labels


def write_cross_style(summary_csv: str | Path, out_csv: str | Path, out_png: str | Path, *,
                      training: dict[str, dict], styles: list[str], dpi: int = 300) -> pd.DataFrame:
    """Write the cross-style table (CSV) and its heat map (PNG) from the metrics summary."""
    from sketchback.evaluation.figures import plot_cross_style

    table = cross_style_table(pd.read_csv(summary_csv), training, styles)
    with atomic_path(out_csv) as tmp:
        table.to_csv(tmp, index=False)
    shown, columns, labels = hint_columns(table, [s for s in styles if s in set(table["style"])],
                                          {s: style_label(s) for s in styles})
    plot_cross_style(shown, out_png, styles=columns, style_labels=labels, dpi=dpi)
    log.info("cross-style matrix: %d models x test sets, %d styles", table.groupby(["model", "test_set"]).ngroups,
             table["style"].nunique())
    return table


# --------------------------------------------------------------------------- poster figures


def _shard_names(photo_path: str | Path, sketch_path: str | Path) -> np.ndarray:
    """The image names of a (photo, sketch) shard pair, read without loading its images."""
    for path in (sketch_path, photo_path):
        try:
            with np.load(path, allow_pickle=False) as data:
                if "names" in data.files:
                    return data["names"]
        except FileNotFoundError:
            raise FileNotFoundError(f"{path} does not exist; rerun the stage that makes it (snakemake {path})") from None
        except Exception as exc:
            raise ValueError(f"{path} is not a readable .npz shard ({exc}); delete it and rerun its rule") from exc
    raise ValueError(f"neither {sketch_path} nor {photo_path} lists image names; rerun the rules that make them")


def common_samples(style_pairs: dict[str, list], rows: int) -> tuple[list[str], dict[str, np.ndarray], np.ndarray]:
    """The first ``rows`` test images that every style has, in test-set order (never cherry-picked).

    style_pairs: style -> (photo shard, sketch shard) pairs of one test set. Styles that sketch a
    subset of each shard (neural style) decide which images qualify. Returns the names, style ->
    uint8 sketches (rows, H, W), and the uint8 photos (rows, H, W, 3).
    """
    if not style_pairs:
        raise ValueError("no styles given")
    per_style = {style: [(pair, _shard_names(*pair)) for pair in pairs] for style, pairs in style_pairs.items()}
    name_sets = [set(str(n) for _, names in shards for n in names) for shards in per_style.values()]
    first = next(iter(per_style.values()))
    chosen = [str(n) for _, names in first for n in names if all(str(n) in s for s in name_sets)][:rows]
    if not chosen:
        raise ValueError(f"no test image has a sketch in every style ({', '.join(style_pairs)})")
    wanted = {name: i for i, name in enumerate(chosen)}
    sketches, photos = {}, None
    for style, shards in per_style.items():
        out = None
        for (photo_path, sketch_path), names in shards:
            hits = [(j, wanted[str(n)]) for j, n in enumerate(names) if str(n) in wanted]
            if not hits:
                continue
            drawn, images, _ = _load_pair(photo_path, sketch_path)
            if out is None:
                out = np.zeros((len(chosen),) + drawn.shape[1:], np.uint8)
            if photos is None:
                photos = np.zeros((len(chosen),) + images.shape[1:], np.uint8)
            for j, i in hits:
                out[i] = drawn[j]
                photos[i] = images[j]
        sketches[style] = out
    return chosen, sketches, photos


def _cell(width: int, ncols: int) -> int:
    from sketchback.evaluation.figures import GUTTER

    return max(32, (width - GUTTER) // ncols - GUTTER)


def poster_figure(model_path: str | Path, style_pairs: dict[str, list], out_png: str | Path, *, title: str,
                  rows: int = 6, width: int = 1800, dpi: int = 300) -> list[str]:
    """Poster grid of one model on one test set: for each style a sketch and the prediction from
    it, then the ground truth; the first ``rows`` images every style has; ``width`` px wide.
    Returns the names of the images shown."""
    from sketchback.evaluation.figures import evaluation_grid, save_png

    names, sketches, photos = common_samples(style_pairs, rows)
    generator = load_generator(model_path)
    columns, labels = [], []
    for style, drawn in sketches.items():
        columns += [drawn, predict(generator, sketch_to_input(drawn))]
        labels += [f"{style_label(style)} sketch", "prediction"]
    columns.append(photos)
    labels.append("ground truth")
    grid = evaluation_grid(columns, labels, max_rows=rows, cell=_cell(width, len(columns)), title=title)
    save_png(out_png, grid, dpi=dpi)
    log.info("%s: %d images (%s), %dx%d px", out_png, len(names), ", ".join(names), grid.shape[1], grid.shape[0])
    return names


def sketch_examples(style_pairs: dict[str, list], out_png: str | Path, *, title: str, rows: int = 6,
                    width: int = 1800, dpi: int = 300) -> list[str]:
    """Photo and its sketch in every style, for the first ``rows`` test images every style has."""
    from sketchback.evaluation.figures import evaluation_grid, save_png

    names, sketches, photos = common_samples(style_pairs, rows)
    columns = [photos] + list(sketches.values())
    labels = ["photo"] + [style_label(s) for s in sketches]
    grid = evaluation_grid(columns, labels, max_rows=rows, cell=_cell(width, len(columns)), title=title)
    save_png(out_png, grid, dpi=dpi)
    log.info("%s: %d images, styles %s", out_png, len(names), ", ".join(sketches))
    return names


def data_overview(datasets: dict[str, dict], out_csv: str | Path, out_png: str | Path, *, image_size: int,
                  rows: int = 6, dpi: int = 300) -> pd.DataFrame:
    """Images per dataset and split (CSV) and the first prepared training photos of each dataset (PNG).

    datasets: name -> {"source": source name, "index": its index.csv, "shard": a prepared shard}.
    The counts are those the split assigns; images found unusable when preparing are listed in
    each shard's ``.rejected.csv``.
    """
    from sketchback.evaluation.figures import plot_image_rows

    rows_out, examples = [], {}
    for name, spec in datasets.items():
        index = pd.read_csv(spec["index"], keep_default_na=False)
        counts = index.groupby("split")["path"].count()
        shards = index.groupby("split")["shard"].nunique()
        for split in ("train", "val", "test"):
            rows_out.append({"dataset": name, "source": spec["source"], "split": split,
                             "images": int(counts.get(split, 0)), "shards": int(shards.get(split, 0)),
                             "image_size": image_size})
        label = (f"{name}\n({spec['source']})\n{counts.get('train', 0)} / {counts.get('val', 0)} / "
                 f"{counts.get('test', 0)}")
        examples[label] = load_npz(spec["shard"])["images"][:rows]
    table = pd.DataFrame(rows_out)
    with atomic_path(out_csv) as tmp:
        table.to_csv(tmp, index=False)
    plot_image_rows(examples, out_png, dpi=dpi, title=f"The first prepared training photos of each dataset "
                                                       f"({image_size} px); train / val / test images")
    return table
