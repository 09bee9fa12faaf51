"""Super-resolution's scores: the upsampler of :mod:`sketchback.models.superres` against bicubic.

* ``evaluate_superres``: on one test set, the test photos (from their S shard) and each model's
  predictions (from its training sketch style) upscaled by bicubic and by the upsampler, each
  scored against the factor x S truth (PSNR, SSIM, VGG feature distance); an example figure.
* ``summarize_superres``: means with 95% bootstrap intervals per upscaler, the paired difference
  super-resolution minus bicubic, a chart of that difference, and a verdict per row.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sketchback.io import atomic_path, load_npz
from sketchback.models.superres import PHOTOS, bicubic, load_upsampler, upscale

log = logging.getLogger(__name__)

PHOTO_METHOD = "photo"  # and their method column (there is no sketch)
UPSCALERS = ("bicubic", "superres")
DIFFERENCE = "superres-bicubic"  # the upscaler column of the paired differences
METRICS = ("psnr", "ssim", "feature_distance")
METRIC_LABELS = {"psnr": "PSNR (dB)", "ssim": "SSIM", "feature_distance": "feature distance"}
HIGHER_IS_BETTER = {"psnr": True, "ssim": True, "feature_distance": False}
SUMMARY_COLUMNS = ["model", "dataset", "method", "upscaler", "metric", "mean", "ci_low", "ci_high", "n"]


@dataclass
class _Scorer:
    """Scores low-resolution images upscaled both ways against the truth, and keeps figure rows."""

    upsampler: object
    extractor: object
    factor: int
    batch_size: int
    shown: dict  # image name -> row of the figure (the first test images)
    cells: dict  # (column label, image name) -> uint8 image

    def score(self, frame: pd.DataFrame, low: np.ndarray, truth_u8: np.ndarray, label: str) -> pd.DataFrame:
        from sketchback.evaluation.evaluate import images_per_call
        from sketchback.evaluation.metrics import feature_distance, image_metrics

        truth = truth_u8.astype(np.float32) / 255.0
        # as the evaluate rule: fewer images per call at big sizes, so memory stays as at 128 px
        per_call = images_per_call(self.batch_size, *truth.shape[1:3])
        upscaled = {"bicubic": bicubic(low, self.factor), "superres": upscale(self.upsampler, low, per_call)}
        if upscaled["superres"].shape != truth.shape:
            raise ValueError(f"{label}: upscaled images are {upscaled['superres'].shape[1:]}, the truth "
                             f"{truth.shape[1:]}; rerun superres_prepare and superres_train")
        for upscaler, images in upscaled.items():
            for metric, values in image_metrics(images, truth).items():
                frame[f"{metric}_{upscaler}"] = values
            frame[f"feature_distance_{upscaler}"] = feature_distance(self.extractor, images, truth, per_call)
            for j, name in enumerate(frame["image"]):
                if name in self.shown:
                    self.cells[(f"{label}: {upscaler}", name)] = (images[j] * 255.0 + 0.5).astype(np.uint8)
        for j, name in enumerate(frame["image"]):
            if name in self.shown:
                self.cells[("truth", name)] = truth_u8[j]
        return frame


def _model_shard(generator, photo_path, sketch_path) -> tuple[np.ndarray, np.ndarray]:
    """Predictions (float32 (N, S, S, 3)) of one test shard's sketches and their image names."""
    from sketchback.data.shards import sketch_to_input
    from sketchback.evaluation.evaluate import predict

    drawn = load_npz(sketch_path)
    names = drawn["names"] if "names" in drawn else load_npz(photo_path)["names"]
    return predict(generator, sketch_to_input(drawn["sketches"])), names.astype(str)


def evaluate_superres(upsampler_path: str | Path, photo_shards: list, truth_shards: list, models: dict,
                      out_csv: str | Path, out_png: str | Path, *, dataset: str, factor: int, rows: int = 4,
                      vgg_weights: str = "random", vgg_md5: str | None = None, seed: int = 0,
                      batch_size: int = 16) -> pd.DataFrame:
    """Upscale one test set's photos and each model's predictions by bicubic and by the upsampler; score both
    against the truth at factor x S; write per-image metrics and a figure of the first ``rows`` images.

    photo_shards: the test set's prepared (S) shards; truth_shards: the same shards at factor x S
    (``prepare_photos``). models: model -> {"generator": its .keras, "method": its sketch style,
    "pairs": (photo shard, sketch shard) per test shard, in the order of ``truth_shards``}. The CSV
    has one row per image and input: model (``photos`` for the photos themselves), dataset, method
    (``photo`` for the photos), image, and ``{metric}_{upscaler}`` for psnr (dB), ssim and
    feature_distance (VGG16 relu2_2 with ``vgg_weights``, as the evaluate rule), upscaler bicubic
    or superres.
    """
    from sketchback.evaluation.evaluate import load_generator
    from sketchback.vgg import vgg_feature_extractor

    if len(photo_shards) != len(truth_shards) or any(len(m["pairs"]) != len(truth_shards) for m in models.values()):
        raise ValueError(f"{dataset}: {len(truth_shards)} truth shards, {len(photo_shards)} photo shards and "
                         f"{[len(m['pairs']) for m in models.values()]} sketch shards per model do not match")
    first = load_npz(truth_shards[0])["names"].astype(str)[:rows] if truth_shards else []
    scorer = _Scorer(load_upsampler(upsampler_path), vgg_feature_extractor(vgg_weights, vgg_md5, seed), factor,
                     batch_size, {name: k for k, name in enumerate(first)}, {})
    generators = {model: load_generator(spec["generator"]) for model, spec in models.items()}
    frames = []
    for k, (photo_path, truth_path) in enumerate(zip(photo_shards, truth_shards)):
        frames += _evaluate_shard(scorer, k, photo_path, truth_path, models, generators, dataset)
    if not frames or not sum(len(f) for f in frames):
        raise ValueError(f"{dataset}: the test shards hold no images ({', '.join(map(str, truth_shards))})")
    per_image = pd.concat(frames, ignore_index=True)
    with atomic_path(out_csv) as tmp:
        per_image.to_csv(tmp, index=False)
    _example_figure(scorer, out_png, [PHOTOS] + list(models), dataset, factor)
    for (model, method), group in per_image.groupby(["model", "method"], sort=False):
        log.info("%s on %s (%s): PSNR bicubic %.2f dB, super-resolution %.2f dB; SSIM %.4f / %.4f; feature distance "
                 "%.4f / %.4f (%d images)", model, dataset, method, group["psnr_bicubic"].mean(),
                 group["psnr_superres"].mean(), group["ssim_bicubic"].mean(), group["ssim_superres"].mean(),
                 group["feature_distance_bicubic"].mean(), group["feature_distance_superres"].mean(), len(group))
    return per_image


def _evaluate_shard(scorer: _Scorer, k: int, photo_path, truth_path, models: dict, generators: dict,
                    dataset: str) -> list[pd.DataFrame]:
    """The per-image frames of one test shard: its photos, then each model's predictions."""
    truth = load_npz(truth_path)
    truth_names = truth["names"].astype(str)
    photos = load_npz(photo_path)
    if not np.array_equal(photos["names"].astype(str), truth_names):
        raise ValueError(f"{truth_path} does not hold the images of {photo_path} in its order; rerun superres_prepare")
    where = {name: j for j, name in enumerate(truth_names)}
    frame = pd.DataFrame({"model": PHOTOS, "dataset": dataset, "method": PHOTO_METHOD, "image": truth_names})
    frames = [scorer.score(frame, photos["images"].astype(np.float32) / 255.0, truth["images"], PHOTOS)]
    for model, spec in models.items():
        predictions, names = _model_shard(generators[model], *spec["pairs"][k])
        missing = [n for n in names if n not in where]
        if missing:
            raise ValueError(f"{spec['pairs'][k][1]} sketches images that {truth_path} lacks ({missing[:3]}); "
                             f"rerun the rules that make them")
        frame = pd.DataFrame({"model": model, "dataset": dataset, "method": spec["method"], "image": names})
        frames.append(scorer.score(frame, predictions, truth["images"][[where[n] for n in names]], model))
        log.info("%s/%s: shard %d, %d images of %s", dataset, model, k + 1, len(names), truth_path)
    return frames


def _example_figure(scorer: _Scorer, out_png: str | Path, sources: list[str], dataset: str, factor: int) -> None:
    """Per source (the photos, each model): bicubic | super-resolved, then the truth; the first test images."""
    from sketchback.evaluation.figures import evaluation_grid, save_png

    names = [n for n in scorer.shown if all((f"{s}: {u}", n) in scorer.cells for s in sources for u in UPSCALERS)]
    if not names:
        raise ValueError(f"{dataset}: no test image was upscaled for every model; nothing to show")
    labels = [f"{s}: {u}" for s in sources[1:] + sources[:1] for u in UPSCALERS] + ["truth"]
    columns = [np.stack([scorer.cells[(label, n)] for n in names]) for label in labels]
    shown = [label.replace(": superres", ": super-res.").replace(f"{PHOTOS}: ", "photo: ") for label in labels]
    size = columns[-1].shape[1]
    grid = evaluation_grid(columns, shown, max_rows=len(names), cell=size,
                           title=f"{dataset}: {size // factor} px predictions and photos upscaled x{factor}")
    save_png(out_png, grid)


# --------------------------------------------------------------------------- summary


def _summary_row(key: tuple, upscaler: str, metric: str, values: np.ndarray, seed: int) -> dict:
    from sketchback.evaluation.metrics import bootstrap_ci

    values = values[np.isfinite(values)]  # an identical image has infinite PSNR: left out, as summarize does
    model, dataset, method = key
    row = {"model": model, "dataset": dataset, "method": method, "upscaler": upscaler, "metric": metric,
           "mean": math.nan, "ci_low": math.nan, "ci_high": math.nan, "n": len(values)}
    if len(values):
        row["mean"] = float(values.mean())
        row["ci_low"], row["ci_high"] = bootstrap_ci(values, seed=seed)
    return row


def superres_summary(per_image: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Long table (SUMMARY_COLUMNS): per (model, dataset, method) and metric, the mean of each
    upscaler and of the paired per-image difference super-resolution minus bicubic (upscaler
    ``superres-bicubic``), with 95% percentile-bootstrap intervals (1000 resamples, ``seed``)."""
    missing = [f"{m}_{u}" for m in METRICS for u in UPSCALERS if f"{m}_{u}" not in per_image.columns]
    if missing:
        raise ValueError(f"the super-resolution metrics lack columns {missing}; rerun superres_evaluate")
    rows = []
    for key, group in per_image.groupby(["model", "dataset", "method"], sort=False):
        for metric in METRICS:
            values = {u: group[f"{metric}_{u}"].to_numpy(dtype=float) for u in UPSCALERS}
            for upscaler in UPSCALERS:
                rows.append(_summary_row(key, upscaler, metric, values[upscaler], seed))
            rows.append(_summary_row(key, DIFFERENCE, metric, values["superres"] - values["bicubic"], seed))
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def verdicts(summary: pd.DataFrame) -> dict[tuple[str, str], str]:
    """(model, dataset) -> one sentence: does super-resolution beat bicubic there? It beats it on a
    metric when the 95% interval of the paired difference lies on the better side of zero."""
    out = {}
    differences = summary[summary["upscaler"] == DIFFERENCE]
    for (model, dataset), group in differences.groupby(["model", "dataset"], sort=False):
        better, worse, parts = [], [], []
        for _, r in group.iterrows():
            sign = 1 if HIGHER_IS_BETTER[r["metric"]] else -1
            low, high = sorted((sign * r["ci_low"], sign * r["ci_high"]))
            (better if low > 0 else worse if high < 0 else []).append(METRIC_LABELS[r["metric"]])
            parts.append(f"{METRIC_LABELS[r['metric']]} {r['mean']:+.4g} [{r['ci_low']:+.4g}, {r['ci_high']:+.4g}]")
        subject = "the test photos" if model == PHOTOS else f"the {model} model's predictions"
        if better and not worse:
            verdict = "helps" if len(better) == len(group) else f"helps on {', '.join(better)}"
        elif worse and not better:
            verdict = "hurts" if len(worse) == len(group) else f"hurts on {', '.join(worse)}"
        elif better:
            verdict = f"helps on {', '.join(better)} and hurts on {', '.join(worse)}"
        else:
            verdict = "makes no clear difference"
        out[(model, dataset)] = f"{dataset}, {subject}: super-resolution {verdict} ({'; '.join(parts)})"
    return out


def summarize_superres(metric_csvs: list[str | Path], out_csv: str | Path, out_png: str | Path, *,
                       seed: int = 0, dpi: int = 150) -> pd.DataFrame:
    """The summary table of every test set's super-resolution metrics (``superres_summary``) and a chart
    of the paired differences with their intervals; each verdict is logged and shown on the chart."""
    per_image = pd.concat([pd.read_csv(path) for path in metric_csvs], ignore_index=True)
    summary = superres_summary(per_image, seed)
    with atomic_path(out_csv) as tmp:
        summary.to_csv(tmp, index=False)
    said = verdicts(summary)
    for line in said.values():
        log.info("%s", line)
    plot_differences(summary, said, out_png, dpi=dpi)
    return summary


def plot_differences(summary: pd.DataFrame, said: dict, path: str | Path, dpi: int = 150) -> None:
    """One panel per metric: the paired difference super-resolution minus bicubic with its 95% interval,
    one bar per (test set, photos or model); the verdicts underneath."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    differences = summary[summary["upscaler"] == DIFFERENCE]
    keys = list(dict.fromkeys(zip(differences["dataset"], differences["model"])))
    fig, axes = plt.subplots(1, len(METRICS), figsize=(4.2 * len(METRICS), 1.2 + 0.45 * len(keys)), squeeze=False)
    try:
        for ax, metric in zip(axes[0], METRICS):
            rows = differences[differences["metric"] == metric].set_index(["dataset", "model"]).loc[keys]
            y = np.arange(len(keys))[::-1]
            good = (rows["mean"] > 0) == HIGHER_IS_BETTER[metric]
            ax.barh(y, rows["mean"], color=np.where(good, "#4c9a5b", "#c0504d"),
                    xerr=[rows["mean"] - rows["ci_low"], rows["ci_high"] - rows["mean"]], capsize=3)
            ax.axvline(0, color="black", linewidth=0.8)
            ax.set_yticks(y, [f"{d}: {'photos' if m == PHOTOS else m + ' predictions'}" for d, m in keys])
            better = "higher" if HIGHER_IS_BETTER[metric] else "lower"
            ax.set_title(f"{METRIC_LABELS[metric]}: super-res. - bicubic\n({better} is better for super-res.)",
                         fontsize=9)
            if ax is not axes[0][0]:
                ax.set_yticklabels([])
        fig.text(0.01, -0.02, "\n".join(said[(m, d)] for d, m in keys), fontsize=7, va="top", wrap=True)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi, format="png", bbox_inches="tight")
    finally:
        plt.close(fig)
