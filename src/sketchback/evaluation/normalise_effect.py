"""What the sketch normaliser changes: each model's metrics on a style's normalised test sketches
minus those on the raw ones, image by image (the same test images, paired), with a bootstrap CI.

Reads the per-image ``metrics.csv`` files the evaluation writes; writes
``results/report/normalise_effect.csv``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from sketchback.io import atomic_path
from sketchback.evaluation.metrics import bootstrap_ci

log = logging.getLogger(__name__)

# metric -> True when higher is better
METRICS = {"ssim": True, "psnr": True, "feature_distance": False}


def _verdict(lo: float, hi: float, higher_is_better: bool) -> str:
    if lo <= 0.0 <= hi:
        return "no clear change"
    return "better" if (lo > 0.0) == higher_is_better else "worse"


def paired_change(raw: pd.DataFrame, normalised: pd.DataFrame, seed: int) -> dict[str, object]:
    """The change normalised - raw of each metric of the prediction, over the images both frames
    score (joined on ``image``): the means, the mean change with its 95% bootstrap interval
    (``seed``) and a verdict (better / worse / no clear change: the interval excludes 0 or not).
    Pairs with an infinite PSNR (a perfect prediction) are left out of the PSNR change."""
    both = raw.merge(normalised, on="image", suffixes=("_raw", "_norm"), validate="one_to_one")
    if both.empty:
        raise ValueError("the raw and normalised evaluations share no test image (column 'image')")
    row: dict[str, object] = {"n_images": len(both)}
    for metric, higher in METRICS.items():
        a, b = both[f"{metric}_prediction_raw"].to_numpy(float), both[f"{metric}_prediction_norm"].to_numpy(float)
        finite = np.isfinite(a) & np.isfinite(b)
        change = b[finite] - a[finite]
        lo, hi = bootstrap_ci(change, seed=seed)
        row.update({f"{metric}_raw": a[finite].mean(), f"{metric}_normalised": b[finite].mean(),
                    f"{metric}_change": change.mean(), f"{metric}_change_lo": lo, f"{metric}_change_hi": hi,
                    f"{metric}_verdict": _verdict(lo, hi, higher)})
    return row


def normalise_effect(raw_csvs: list[str | Path], normalised_csvs: list[str | Path], out_csv: str | Path, *,
                     seed: int) -> pd.DataFrame:
    """One row per (model, test set, style): the paired change of each metric when the style's test
    sketches are normalised (``raw_csvs[i]`` and ``normalised_csvs[i]`` are one model's evaluations
    of one test set in a style and in its ``_normalised`` form). Written atomically to ``out_csv``."""
    if len(raw_csvs) != len(normalised_csvs):
        raise ValueError(f"{len(raw_csvs)} raw evaluations but {len(normalised_csvs)} normalised ones")
    rows = []
    for raw_csv, norm_csv in zip(raw_csvs, normalised_csvs):
        raw, norm = pd.read_csv(raw_csv), pd.read_csv(norm_csv)
        try:
            change = paired_change(raw, norm, seed)
        except ValueError as error:
            raise ValueError(f"{raw_csv} vs {norm_csv}: {error}") from None
        first = raw.iloc[0]
        rows.append({"model": first["model"], "test_set": first["dataset"], "style": first["method"], **change})
        log.info("%s/%s/%s normalised: SSIM %+.3f [%+.3f, %+.3f] (%s)", first["model"], first["dataset"],
                 first["method"], change["ssim_change"], change["ssim_change_lo"], change["ssim_change_hi"],
                 change["ssim_verdict"])
    table = pd.DataFrame(rows)
    with atomic_path(out_csv) as tmp:
        table.to_csv(tmp, index=False)
    return table
