"""The ablation: variants of one model (baseline, adversarial, multi-style, ...) on the same test images.

* ``ablation_table``: per variant and sketch style, the mean PSNR, SSIM, feature distance and
  sharpness of its predictions with 95% bootstrap intervals, and each one's paired difference to
  the baseline (the first variant) on the same images, with its interval; rows for the
  super-resolution stage (the baseline's predictions at twice the size, bicubic vs learned) are
  taken from its summary; each variant's FID and KID (set-level: no interval) and their difference
  to the baseline's; and where variants were trained with several seeds (``models.<name>.replicates``),
  the spread of each difference across seeds, its paired t-test and whether it holds
  (:mod:`sketchback.evaluation.seeds`).
* ``ablation_markdown``: that table as the README shows it, with the FID warnings under it.
* ``ablation_figure``: the same test images through every variant, side by side.

The plan (``ablation:`` in the config) and its checks are here too and import nothing heavy.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd

from sketchback.errors import ConfigError
from sketchback.io import atomic_path
from sketchback.evaluation.distribution import fid_note, read_distributions
from sketchback.evaluation.metrics import bootstrap_ci
from sketchback.evaluation.seeds import paired_spread

log = logging.getLogger(__name__)

# metric -> (label, higher is better)
METRICS = {"psnr": ("PSNR dB", True), "ssim": ("SSIM", True), "feature_distance": ("feature dist.", False),
           "sharpness": ("sharpness", None)}
SUPERRES_LABELS = {"bicubic": "2x bicubic", "superres": "2x super-resolved"}


BASELINE = "baseline"  # the label of ablation.baseline in the table and figure


def ablation_variants(plan: dict) -> dict[str, str]:
    """Label -> model, the baseline first (its label: ``baseline``), then ``ablation.variants`` in order."""
    return {BASELINE: plan["baseline"], **plan["variants"]}


def check_ablation(config: dict) -> None:
    """Raise ConfigError naming the key when ``ablation:`` asks for what the study does not make."""
    plan = config.get("ablation")
    if not plan:
        return
    models, test_set = config["models"], plan["test_set"]
    if BASELINE in plan["variants"]:
        raise ConfigError(f"ablation.variants.{BASELINE}: the label is the baseline's (ablation.baseline); "
                          f"name this variant otherwise")
    for label, model in ablation_variants(plan).items():
        key = "ablation.baseline" if label == BASELINE else f"ablation.variants.{label}"
        if model not in models:
            raise ConfigError(f"{key}: model {model!r} is not defined under models: "
                              f"(known: {', '.join(models)})")
        if test_set not in models[model]["test_on"]:
            raise ConfigError(f"{key}: model {model!r} is not tested on {test_set!r}; add it to "
                              f"models.{model}.test_on or change ablation.test_set")
    from sketchback.models.superres import superres_models

    superres = config.get("superres") or {}
    baseline = plan["baseline"]
    if plan["superres"] and superres.get("enabled") and baseline not in superres_models(config):
        raise ConfigError(f"ablation.superres: the baseline {baseline!r} is not in superres.models; add it there "
                          f"(its predictions are shown at twice the size) or set ablation.superres: false")
    for style in plan["styles"]:
        if style not in config["evaluation"]["styles"]:
            raise ConfigError(f"ablation.styles: {style!r} is not one of evaluation.styles "
                              f"({', '.join(config['evaluation']['styles'])})")


def _stats(values: np.ndarray, seed: int) -> tuple[float, float, float]:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return math.nan, math.nan, math.nan
    return (float(values.mean()), *bootstrap_ci(values, seed=seed))


def _variant_rows(per_image: dict[tuple[str, str], pd.DataFrame], baseline: str, seed: int) -> list[dict]:
    rows = []
    for (label, style), frame in per_image.items():
        columns = ["image"] + [f"{m}_prediction" for m in METRICS]
        paired = frame[columns].merge(per_image[(baseline, style)][columns], on="image", suffixes=("", "_ref"))
        row = {"variant": label, "model": frame["model"].iloc[0], "style": style, "reference": baseline,
               "n_images": len(frame)}
        for metric in METRICS:
            ours = paired[f"{metric}_prediction"].to_numpy(dtype=float)
            row[metric], row[f"{metric}_lo"], row[f"{metric}_hi"] = _stats(
                frame[f"{metric}_prediction"].to_numpy(dtype=float), seed)
            delta = ours - paired[f"{metric}_prediction_ref"].to_numpy(dtype=float)
            row[f"d_{metric}"], row[f"d_{metric}_lo"], row[f"d_{metric}_hi"] = _stats(delta, seed)
        rows.append(row)
    return rows


def _superres_rows(summary: pd.DataFrame, model: str, dataset: str, baseline: str) -> list[dict]:
    """The baseline's predictions at twice the size, bicubic and super-resolved, from the SR summary."""
    mine = summary[(summary["model"] == model) & (summary["dataset"] == dataset)]
    rows = []
    for (style, upscaler), group in mine.groupby(["method", "upscaler"], sort=False):
        if upscaler not in SUPERRES_LABELS:
            continue
        row = {"variant": f"{baseline}, {SUPERRES_LABELS[upscaler]}", "model": model, "style": style,
               "reference": f"{baseline}, {SUPERRES_LABELS['bicubic']}", "n_images": int(group["n"].iloc[0])}
        for metric in METRICS:
            found = group[group["metric"] == metric]
            row[metric], row[f"{metric}_lo"], row[f"{metric}_hi"] = (
                tuple(found[["mean", "ci_low", "ci_high"]].iloc[0]) if len(found) else (math.nan,) * 3)
            diff = mine[(mine["method"] == style) & (mine["upscaler"] == "superres-bicubic") & (mine["metric"] == metric)]
            paired = upscaler == "superres" and len(diff)
            row[f"d_{metric}"], row[f"d_{metric}_lo"], row[f"d_{metric}_hi"] = (
                tuple(diff[["mean", "ci_low", "ci_high"]].iloc[0]) if paired else (math.nan,) * 3)
        rows.append(row)
    return rows


def _distribution_columns(table: pd.DataFrame, distribution_csvs: dict[tuple[str, str], str | Path],
                          baseline: str) -> pd.DataFrame:
    """Add fid, kid, kid_std, fid_n, fid_network, fid_note and d_fid, d_kid (minus the baseline's, same style)
    to the variants' rows (NaN on the super-resolution rows, which have no set-level scores)."""
    found = read_distributions(list(distribution_csvs.values()))
    found.index = pd.MultiIndex.from_tuples(list(distribution_csvs))
    scores = found.rename(columns={"kid_mean": "kid", "n_images": "fid_n"})[
        ["fid", "kid", "kid_std", "fid_n", "fid_network"]]
    keys = list(zip(table["variant"], table["style"]))
    table = table.copy()
    for column in scores:
        table[column] = [scores.at[key, column] if key in scores.index else math.nan for key in keys]
    for metric in ("fid", "kid"):
        table[f"d_{metric}"] = [scores.at[key, metric] - scores.at[(baseline, key[1]), metric]
                                if key in scores.index else math.nan for key in keys]
    table["fid_note"] = [fid_note(n, net) for n, net in zip(table["fid_n"], table["fid_network"])]
    return table


def _read_metrics(path: str | Path) -> pd.DataFrame:
    """An evaluation's per-image metrics without colour hints, checked for the table's columns."""
    frame = pd.read_csv(path)
    missing = [f"{m}_prediction" for m in METRICS if f"{m}_prediction" not in frame]
    if missing:
        raise ValueError(f"{path} lacks {', '.join(missing)}; rerun the evaluate rule that makes it")
    return frame[frame["hints"] == 0] if "hints" in frame else frame


def _seed_means(frame: pd.DataFrame, reference: pd.DataFrame, metric: str) -> tuple[float, float]:
    """The means of one metric of a variant's run and its reference's run of the same seed over the images
    both scored with finite values (their difference is the run's mean paired difference)."""
    column = f"{metric}_prediction"
    paired = frame[["image", column]].merge(reference[["image", column]], on="image", suffixes=("", "_ref"))
    ours, theirs = paired[column].to_numpy(dtype=float), paired[f"{column}_ref"].to_numpy(dtype=float)
    finite = np.isfinite(ours - theirs)
    if not finite.any():
        return math.nan, math.nan
    return float(ours[finite].mean()), float(theirs[finite].mean())


def _seed_columns(table: pd.DataFrame, runs: dict[tuple[str, str], dict[int, pd.DataFrame]]) -> pd.DataFrame:
    """Add n_seeds, seeds and per metric d_<metric>_seed_mean, _seed_std, _seed_p and d_<metric>_across_seeds
    (the sentence) to the variants' rows; the reference's row gets its seeds only, the super-resolution rows
    nothing."""
    table = table.copy()
    columns: dict[str, list] = {"n_seeds": [], "seeds": []}
    for metric in METRICS:
        for suffix in ("seed_mean", "seed_std", "seed_p", "across_seeds"):
            columns[f"d_{metric}_{suffix}"] = []
    for variant, reference, style in zip(table["variant"], table["reference"], table["style"]):
        mine, theirs = runs.get((variant, style)), runs.get((reference, style))
        if mine is None or theirs is None:
            for values in columns.values():
                values.append(math.nan)
            continue
        paired = [s for s in mine if s in theirs] if variant != reference else list(mine)
        columns["n_seeds"].append(len(paired))
        columns["seeds"].append(" ".join(str(s) for s in paired))
        for metric in METRICS:
            if variant == reference:
                spread = None
            else:
                means = {s: _seed_means(mine[s], theirs[s], metric) for s in paired}
                spread = paired_spread({s: m[0] for s, m in means.items()}, {s: m[1] for s, m in means.items()})
            for suffix, value in (("seed_mean", "mean"), ("seed_std", "std"), ("seed_p", "p"),
                                  ("across_seeds", "verdict")):
                columns[f"d_{metric}_{suffix}"].append(math.nan if spread is None else getattr(spread, value))
    for column, values in columns.items():
        table[column] = values
    return table


def seed_csvs(metric_csvs: dict[tuple[str, str], str | Path], runs: dict[str, dict[int, str]],
              replicate_csvs: list[str | Path], seed: int) -> dict[tuple[str, str], dict[int, str | Path]]:
    """(variant label, style) -> {training seed: per-image metrics CSV}, for ``ablation_table``'s seed_csvs.

    metric_csvs: the base runs' files (label, style); runs: label -> {training seed: model}, the base run's
    ``seed`` first; replicate_csvs: the replicates' files, ordered by label, seed (after the base's) and
    style, as the ablation rule lists them.
    """
    extra = iter(replicate_csvs)
    styles = list(dict.fromkeys(style for _, style in metric_csvs))
    found: dict[tuple[str, str], dict[int, str | Path]] = {key: {} for key in metric_csvs}
    for label, seeds in runs.items():
        for s in seeds:
            for style in styles:
                found[(label, style)][int(s)] = metric_csvs[(label, style)] if int(s) == seed else next(extra)
    if next(extra, None) is not None:
        raise ValueError(f"{len(replicate_csvs)} replicate files for the runs {runs}: more than they need")
    return found


def ablation_table(metric_csvs: dict[tuple[str, str], str | Path], out_csv: str | Path, *,
                   superres_summary: str | Path | None = None, seed: int = 0,
                   distribution_csvs: dict[tuple[str, str], str | Path] | None = None,
                   seed_csvs: dict[tuple[str, str], dict[int, str | Path]] | None = None) -> pd.DataFrame:
    """The ablation table from the evaluations' per-image CSVs.

    metric_csvs: (variant label, style) -> the variant's per-image metrics CSV (the evaluate rule's)
    for that style, in the table's order; the first label is the baseline. Each row: variant,
    model, style, reference (what the differences are to), n_images, and for psnr, ssim,
    feature_distance and sharpness of the prediction: mean, _lo, _hi (95% bootstrap) and d_<metric>
    with _lo/_hi, the mean paired difference to the reference on the same images. PSNR's infinite
    values (a perfect prediction) are left out. superres_summary: the super-resolution stage's
    summary CSV; rows for the baseline's predictions at twice the size are added (their
    differences are super-resolved minus bicubic, from that summary). distribution_csvs: (variant label,
    style) -> the evaluation's set-level file, adding fid, kid, kid_std, fid_n, fid_network, fid_note and
    d_fid, d_kid (the variant's minus the baseline's on the same style; no interval: one number per set).

    seed_csvs: (variant label, style) -> {training seed: that run's per-image metrics CSV}, the base run's seed
    first (its file is the one in metric_csvs); default: the base runs alone. Adds n_seeds (the seeds the
    variant and the reference were both trained with) and seeds, and per metric the seed-wise differences
    (variant seed s minus reference seed s, each the mean paired difference on the same images):
    d_<metric>_seed_mean, d_<metric>_seed_std, d_<metric>_seed_p (paired t-test over seeds, from 3 seeds on)
    and d_<metric>_across_seeds, a sentence saying whether the difference holds across the seeds
    (:func:`sketchback.evaluation.seeds.verdict`).
    """
    if not metric_csvs:
        raise ValueError("the ablation has no variants")
    baseline = next(iter(metric_csvs))[0]
    per_image = {key: _read_metrics(path) for key, path in metric_csvs.items()}
    rows = _variant_rows(per_image, baseline, seed)
    # each run's per-image metrics by training seed; the base run (first) is the one read above
    seed_csvs = seed_csvs or {key: {seed: path} for key, path in metric_csvs.items()}
    runs = {key: {s: per_image[key] if k == 0 else _read_metrics(path) for k, (s, path) in enumerate(paths.items())}
            for key, paths in seed_csvs.items()}
    if superres_summary is not None:
        first = per_image[next(iter(per_image))]
        rows += _superres_rows(pd.read_csv(superres_summary), first["model"].iloc[0], first["dataset"].iloc[0],
                               baseline)
    table = pd.DataFrame(rows)
    if distribution_csvs is not None:
        table = _distribution_columns(table, distribution_csvs, baseline)
    table = _seed_columns(table, runs)
    with atomic_path(out_csv) as tmp:
        table.to_csv(tmp, index=False)
    return table


def _cell(row: pd.Series, metric: str) -> str:
    digits = 2 if metric == "psnr" else 3
    if not math.isfinite(row[metric]):
        return "—"
    text = f"{row[metric]:.{digits}f} [{row[f'{metric}_lo']:.{digits}f}, {row[f'{metric}_hi']:.{digits}f}]"
    if math.isfinite(row[f"d_{metric}"]) and row["variant"] != row["reference"]:
        text += f"<br>Δ {row[f'd_{metric}']:+.{digits}f} [{row[f'd_{metric}_lo']:+.{digits}f}, {row[f'd_{metric}_hi']:+.{digits}f}]"
        text += _seed_text(row, metric, digits)
    return text


def _seed_text(row: pd.Series, metric: str, digits: int) -> str:
    """Below a difference: its mean ± standard deviation over training seeds and the t-test's p, from 2 seeds on."""
    n = row.get("n_seeds", math.nan)
    if not (isinstance(n, (int, float)) and n >= 2 and math.isfinite(row[f"d_{metric}_seed_mean"])):
        return ""
    p = row[f"d_{metric}_seed_p"]
    return (f"<br>{int(n)} seeds: Δ {row[f'd_{metric}_seed_mean']:+.{digits}f} ± {row[f'd_{metric}_seed_std']:.{digits}f}"
            + (f", p {p:.2g}" if math.isfinite(p) else ""))


def _seed_notes(table: pd.DataFrame) -> list[str]:
    """Under the table: per difference whether it holds across training seeds (one line when every
    difference rests on a single seed)."""
    if "n_seeds" not in table:
        return []
    compared = table[(table["variant"] != table["reference"]) & table["n_seeds"].notna()]
    if compared.empty:
        return []
    if (compared["n_seeds"] == 1).all():
        seed = compared["seeds"].iloc[0]
        return [f"Every difference rests on a single training seed ({seed}): its interval covers the choice of "
                f"test images, not the training seed; models.<name>.replicates trains more."]
    notes = []
    for _, row in compared.iterrows():
        for metric, (label, _) in METRICS.items():
            if isinstance(row[f"d_{metric}_across_seeds"], str) and math.isfinite(row[f"d_{metric}"]):
                notes.append(f"{row['variant']}, {row['style']}, {label} (Δ {row[f'd_{metric}']:+.3g}): "
                             f"{row[f'd_{metric}_across_seeds']}")
    return notes


def _set_cell(row: pd.Series, metric: str) -> str:
    """A set-level score (FID, KID): the number and, below it, Δ to the baseline; a warning mark (†) where
    the table's notes apply."""
    if metric not in row or not math.isfinite(row[metric]):
        return "—"
    text = f"{row[metric]:.4g}" + ("†" if isinstance(row.get("fid_note"), str) and row["fid_note"] else "")
    if math.isfinite(row[f"d_{metric}"]) and row["variant"] != row["reference"]:
        text += f"<br>Δ {row[f'd_{metric}']:+.3g}"
    return text


def ablation_markdown(table: pd.DataFrame) -> str:
    """The table in Markdown: mean [95% interval] and, below it, Δ to the reference [interval] and, from two
    training seeds on, its mean ± standard deviation over seeds (and the t-test's p from three); where the
    table has them FID and KID (Δ: minus the baseline's); under the table the warnings they carry and per
    difference whether it holds across the seeds."""
    set_level = [m for m in ("fid", "kid") if m in table]
    seeds = ["seeds"] * ("n_seeds" in table)
    header = ["variant", "style", "n", *seeds] + [label for label, _ in METRICS.values()] + [m.upper() for m in set_level]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, row in table.iterrows():
        n_seeds = [str(int(row["n_seeds"])) if math.isfinite(row["n_seeds"]) else "—"] if seeds else []
        cells = [row["variant"], row["style"], str(int(row["n_images"])), *n_seeds] + [_cell(row, m) for m in METRICS]
        lines.append("| " + " | ".join(cells + [_set_cell(row, m) for m in set_level]) + " |")
    notes = dict.fromkeys(n for n in table.get("fid_note", pd.Series(dtype=object)) if isinstance(n, str) and n)
    lines += [""] * bool(notes) + [f"† {note}" + "  " * (k < len(notes) - 1) for k, note in enumerate(notes)]
    across = _seed_notes(table)
    if len(across) > 1:
        lines += ["", "Across training seeds (seed-wise Δ: each variant's seed minus the baseline's same seed):", "",
                  *[f"- {note}" for note in across]]
    elif across:
        lines += ["", across[0]]
    return "\n".join(lines) + "\n"


def ablation_figure(models: dict[str, str | Path], style_pairs: dict[str, list], out_png: str | Path, *, title: str,
                    rows: int = 6, width: int = 1800, dpi: int = 300) -> list[str]:
    """The first ``rows`` test images every style has: per style the sketch and each variant's
    prediction, then the ground truth. models: variant label -> generator file. Returns the names."""
    from sketchback.data.shards import sketch_to_input
    from sketchback.evaluation.evaluate import _cell as cell_size
    from sketchback.evaluation.evaluate import common_samples, load_generator, predict
    from sketchback.evaluation.figures import evaluation_grid, save_png
    from sketchback.sketches.hints import hint_input, takes_hints

    names, sketches, photos = common_samples(style_pairs, rows)
    columns = []
    for label, path in models.items():
        generator = load_generator(path)
        for style, drawn in sketches.items():
            x = sketch_to_input(drawn)
            columns.append((style, label, predict(generator, hint_input(x) if takes_hints(generator) else x)))
    grid, grid_labels = [], []
    for style, drawn in sketches.items():
        grid.append(drawn)
        grid_labels.append(f"{style} sketch")
        for s, label, predicted in columns:
            if s == style:
                grid.append(predicted)
                grid_labels.append(label)
    grid.append(photos)
    grid_labels.append("ground truth")
    figure = evaluation_grid(grid, grid_labels, max_rows=rows, cell=cell_size(width, len(grid)), title=title)
    save_png(out_png, figure, dpi=dpi)
    log.info("ablation figure: %d variants x %d styles on %d images: %s", len(models), len(sketches), len(names),
             ", ".join(names))
    return names
