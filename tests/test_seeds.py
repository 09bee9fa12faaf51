"""The spread of a result across training seeds (sketchback.evaluation.seeds) and the cross-style table's
seed columns for models with replicates."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sketchback.evaluation.evaluate import cross_style_table, write_cross_style
from sketchback.evaluation.seeds import paired_spread, spread_over_seeds


def test_one_seed_says_a_single_seed_and_runs_no_test():
    spread = paired_spread({0: 0.62}, {0: 0.60})
    assert spread.seeds == (0,) and spread.mean == pytest.approx(0.02)
    assert math.isnan(spread.std) and math.isnan(spread.p)
    assert spread.verdict.startswith("a single seed (0)")


def test_two_seeds_of_one_sign_are_not_called_a_result_without_a_test():
    spread = paired_spread({0: 0.62, 1: 0.65}, {0: 0.60, 1: 0.60})
    assert spread.deltas == pytest.approx((0.02, 0.05)) and spread.std == pytest.approx(np.std([0.02, 0.05], ddof=1))
    assert math.isnan(spread.p)
    assert spread.verdict.startswith("same sign on 2 seeds") and "too few seeds for a t-test (3 needed)" in spread.verdict


def test_three_seeds_get_scipys_paired_t_test():
    variant, reference = {0: 0.620, 1: 0.621, 2: 0.619}, {0: 0.60, 1: 0.60, 2: 0.60}
    spread = paired_spread(variant, reference)
    expected = stats.ttest_rel([0.620, 0.621, 0.619], [0.60, 0.60, 0.60]).pvalue
    assert spread.p == pytest.approx(expected) and spread.p < 0.01  # deltas 0.020 ± 0.001: t = 34.6 on 2 df
    assert spread.verdict == (f"holds across 3 seeds: every seed-wise delta has the sign of the mean and "
                              f"p = {expected:.3g} < 0.05")


def test_a_consistent_sign_with_a_large_p_does_not_hold():
    spread = paired_spread({0: 0.62, 1: 0.63, 2: 0.61}, {0: 0.60, 1: 0.60, 2: 0.605})
    expected = stats.ttest_rel([0.62, 0.63, 0.61], [0.60, 0.60, 0.605]).pvalue
    assert spread.p == pytest.approx(expected) and expected >= 0.05
    assert spread.verdict.startswith("does not hold across 3 seeds: every seed-wise delta has the sign of the mean "
                                     f"but p = {expected:.3g}")


def test_a_seed_against_the_mean_is_named():
    spread = paired_spread({0: 0.62, 1: 0.58, 2: 0.63}, {0: 0.60, 1: 0.60, 2: 0.60})
    assert spread.mean == pytest.approx(0.01)
    assert spread.verdict.startswith("does not hold across 3 seeds: seed 1 (-0.02) against the mean's sign (+0.01)")


def test_seeds_only_one_side_has_are_left_out():
    spread = paired_spread({0: 0.62, 1: 0.63, 3: 0.9}, {0: 0.60, 1: 0.60, 2: 0.1})
    assert spread.seeds == (0, 1) and spread.deltas == pytest.approx((0.02, 0.03))


def test_spread_over_seeds():
    assert spread_over_seeds([1.0, 2.0, 3.0]) == (2.0, 1.0, 3)
    mean, std, n = spread_over_seeds([0.5, math.nan])
    assert (mean, n) == (0.5, 1) and math.isnan(std)


# --- the cross-style table: replicates folded into their base model's rows -----------------------

def summary_rows(model, ssim_by_style, dataset="faces"):
    rows = []
    for style, ssim in ssim_by_style.items():
        row = {"model": model, "dataset": dataset, "method": style, "hints": 0, "n_images": 6}
        for metric, value in (("ssim", ssim), ("psnr", 20 + 10 * ssim), ("feature_distance", 1 - ssim),
                              ("sharpness", 0.5)):
            row.update({f"{metric}_prediction": value, f"{metric}_prediction_lo": value - 0.01,
                        f"{metric}_prediction_hi": value + 0.01})
        rows.append(row)
    return rows


TRAINING = {"faces": {"dataset": "faces", "methods": ["pencil"]},
            "other": {"dataset": "faces", "methods": ["pencil"]},
            "faces_seed1": {"dataset": "faces", "methods": ["pencil"], "replicate_of": "faces", "training_seed": 1},
            "faces_seed2": {"dataset": "faces", "methods": ["pencil"], "replicate_of": "faces", "training_seed": 2}}


def test_cross_style_rows_of_a_model_with_replicates_carry_the_mean_and_std_over_seeds(tmp_path):
    summary = pd.DataFrame(summary_rows("faces", {"pencil": 0.70, "xdog": 0.50})
                           + summary_rows("other", {"pencil": 0.60, "xdog": 0.40})
                           + summary_rows("faces_seed1", {"pencil": 0.72, "xdog": 0.53})
                           + summary_rows("faces_seed2", {"pencil": 0.74, "xdog": 0.47}))
    table = cross_style_table(summary, TRAINING, ["pencil", "xdog"])
    assert list(zip(table["model"], table["style"])) == [("faces", "pencil"), ("faces", "xdog"),
                                                         ("other", "pencil"), ("other", "xdog")]
    faces = table[table["model"] == "faces"].set_index("style")
    assert list(faces["n_seeds"]) == [3, 3]
    assert faces.loc["pencil", "ssim"] == 0.70  # the base run's mean and interval stay
    assert faces.loc["pencil", "ssim_seed_mean"] == pytest.approx(0.72)
    assert faces.loc["pencil", "ssim_seed_std"] == pytest.approx(np.std([0.70, 0.72, 0.74], ddof=1))
    assert faces.loc["xdog", "psnr_seed_mean"] == pytest.approx(np.mean([25.0, 25.3, 24.7]))
    other = table[table["model"] == "other"]
    assert list(other["n_seeds"]) == [1, 1] and list(other["ssim_seed_mean"]) == [0.60, 0.40]
    assert other["ssim_seed_std"].isna().all()
    written = write_cross_style(_csv(summary, tmp_path), tmp_path / "c.csv", tmp_path / "c.png", training=TRAINING,
                                styles=["pencil", "xdog"], dpi=100)
    assert "faces_seed1" not in set(written["model"]) and (tmp_path / "c.png").exists()


def _csv(frame, tmp_path):
    frame.to_csv(tmp_path / "summary.csv", index=False)
    return tmp_path / "summary.csv"
