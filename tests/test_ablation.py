"""The ablation: paired differences to the baseline with intervals, super-resolution rows, config checks, figure."""

import copy

import numpy as np
import pandas as pd
import pytest
import yaml

from sketchback.evaluation.ablation import ablation_figure, ablation_markdown, ablation_table, check_ablation
from sketchback.errors import ConfigError
from sketchback.io import save_npz
from sketchback.models.generators import build_generator
from snakemake_run import REPO

METRICS = ("psnr", "ssim", "feature_distance", "sharpness")


def per_image(path, model, ssim, names=None, hints=None):
    n = len(ssim)
    frame = pd.DataFrame({"model": model, "dataset": "faces", "method": "pencil",
                          "image": names or [f"i{i:02d}" for i in range(n)]})
    if hints is not None:
        frame["hints"] = hints
    ssim = np.asarray(ssim, float)
    frame["psnr_prediction"], frame["ssim_prediction"] = 20 + 10 * ssim, ssim
    frame["feature_distance_prediction"], frame["sharpness_prediction"] = 1 - ssim, 0.5 + ssim
    frame.to_csv(path, index=False)
    return path


def test_differences_are_paired_by_image_with_intervals(tmp_path):
    rng = np.random.default_rng(0)
    base = rng.uniform(0.3, 0.9, 40)  # a wide spread between images ...
    better = base + 0.01 + rng.normal(0, 0.001, 40)  # ... and a small, consistent gain on each
    # the variant's CSV lists the images in another order: pairs are matched by name, not by position
    order = rng.permutation(40)
    csvs = {("baseline", "pencil"): per_image(tmp_path / "a.csv", "control", base),
            ("better", "pencil"): per_image(tmp_path / "b.csv", "better", better[order],
                                            names=[f"i{i:02d}" for i in order])}
    table = ablation_table(csvs, tmp_path / "ablation.csv", seed=0)
    row = table.set_index("variant").loc["better"]
    assert row["ssim"] == pytest.approx(better.mean()) and row["d_ssim"] == pytest.approx(0.01, abs=1e-3)
    # unpaired intervals overlap widely; the paired one excludes 0
    assert row["ssim_lo"] < table.set_index("variant").loc["baseline", "ssim_hi"]
    assert 0 < row["d_ssim_lo"] < row["d_ssim"] < row["d_ssim_hi"]
    assert row["d_feature_distance"] == pytest.approx(-0.01, abs=1e-3) and row["reference"] == "baseline"
    assert table.set_index("variant").loc["baseline", "d_ssim"] == 0.0
    assert pd.read_csv(tmp_path / "ablation.csv")["variant"].tolist() == ["baseline", "better"]
    text = ablation_markdown(table)
    assert "| better | pencil | 40 |" in text and "Δ +0.010" in text


def distribution(path, model, fid, kid, n=40, network="random"):
    pd.DataFrame([{"model": model, "dataset": "faces", "method": "pencil", "hints": 0, "fid_network": network,
                   "n_images": n, "fid": fid, "kid_mean": kid, "kid_std": kid / 10, "kid_subsets": 100,
                   "kid_subset_size": n}]).to_csv(path, index=False)
    return path


def test_fid_and_kid_are_the_variants_minus_the_baselines_with_their_warnings(tmp_path):
    csvs = {("baseline", "pencil"): per_image(tmp_path / "a.csv", "control", [0.5, 0.6, 0.7]),
            ("adversarial", "pencil"): per_image(tmp_path / "b.csv", "adversarial", [0.4, 0.5, 0.6])}
    sets = {("baseline", "pencil"): distribution(tmp_path / "a_d.csv", "control", 30.0, 0.020, n=3),
            ("adversarial", "pencil"): distribution(tmp_path / "b_d.csv", "adversarial", 21.5, 0.012, n=3)}
    table = ablation_table(csvs, tmp_path / "t.csv", distribution_csvs=sets).set_index("variant")
    adversarial = table.loc["adversarial"]
    assert (adversarial["fid"], adversarial["kid"], adversarial["fid_n"]) == (21.5, 0.012, 3)
    assert adversarial["d_fid"] == pytest.approx(-8.5) and adversarial["d_kid"] == pytest.approx(-0.008)
    assert table.loc["baseline", "d_fid"] == 0.0 and adversarial["fid_network"] == "random"
    text = ablation_markdown(table.reset_index())
    assert text.splitlines()[0].endswith("| sharpness | FID | KID |")
    assert "| 21.5†<br>Δ -8.5 | 0.012†<br>Δ -0.008 |" in text
    assert ("† FID on n=3 images: biased upward at this size, compare only at equal n; KID is unbiased; features: "
            "random-filter stand-in, not comparable with published FIDs") in text
    # on the reference network and enough images there is nothing to warn about
    sets = {key: distribution(tmp_path / f"{k}_big.csv", key[0], 10.0 + k, 0.01, n=5000, network="inception")
            for k, key in enumerate(csvs)}
    text = ablation_markdown(ablation_table(csvs, tmp_path / "t.csv", distribution_csvs=sets))
    assert "†" not in text and "| 11<br>Δ +1 |" in text


def test_hint_evaluations_and_superres_rows(tmp_path):
    csvs = {("baseline", "pencil"): per_image(tmp_path / "a.csv", "control", [0.5, 0.6, 0.7], hints=[0, 0, 0]),
            ("other", "pencil"): per_image(tmp_path / "b.csv", "other", [0.6, 0.7, 0.8])}
    summary = pd.DataFrame([
        {"model": "control", "dataset": "faces", "method": "pencil", "upscaler": up, "metric": metric,
         "mean": mean, "ci_low": mean - 0.1, "ci_high": mean + 0.1, "n": 3}
        for up, mean in (("bicubic", 0.5), ("superres", 0.6), ("superres-bicubic", 0.1))
        for metric in ("psnr", "ssim", "feature_distance")]
        + [{"model": "photos", "dataset": "faces", "method": "photo", "upscaler": "superres", "metric": "ssim",
            "mean": 0.9, "ci_low": 0.8, "ci_high": 1.0, "n": 3}])
    summary.to_csv(tmp_path / "sr.csv", index=False)
    table = ablation_table(csvs, tmp_path / "t.csv", superres_summary=tmp_path / "sr.csv").set_index("variant")
    assert list(table.index) == ["baseline", "other", "baseline, 2x bicubic", "baseline, 2x super-resolved"]
    sr = table.loc["baseline, 2x super-resolved"]
    assert (sr["ssim"], sr["d_ssim"], sr["d_ssim_lo"]) == (0.6, 0.1, 0.0) and np.isnan(sr["sharpness"])
    assert np.isnan(table.loc["baseline, 2x bicubic", "d_ssim"])
    sets = {key: distribution(tmp_path / f"{label}_d.csv", label, 5.0, 0.01, n=3) for key in csvs for label in key[:1]}
    with_sets = ablation_table(csvs, tmp_path / "t.csv", superres_summary=tmp_path / "sr.csv",
                               distribution_csvs=sets).set_index("variant")
    assert with_sets[["fid", "d_fid"]].iloc[2:].isna().all().all()  # the SR rows have no set-level scores
    rows = [line for line in ablation_markdown(with_sets.reset_index()).splitlines() if "2x bicubic |" in line]
    assert len(rows) == 1 and rows[0].endswith("| — | — |")


def test_a_csv_without_the_sharpness_column_names_the_rule_to_rerun(tmp_path):
    path = per_image(tmp_path / "a.csv", "control", [0.5, 0.6])
    pd.read_csv(path).drop(columns=["sharpness_prediction"]).to_csv(path, index=False)
    with pytest.raises(ValueError, match="lacks sharpness_prediction; rerun the evaluate rule"):
        ablation_table({("baseline", "pencil"): path}, tmp_path / "t.csv")
    assert not (tmp_path / "t.csv").exists()


@pytest.fixture(scope="module")
def demo_config():
    config = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    for spec in config["models"].values():
        spec.setdefault("init_from", None)
    return config


@pytest.mark.parametrize("change, message", [
    (lambda c: c["ablation"]["variants"].update(extra="nope"), "ablation.variants.extra: model 'nope' is not defined"),
    (lambda c: c["ablation"].update(baseline="nope"), "ablation.baseline: model 'nope' is not defined"),
    (lambda c: c["ablation"]["variants"].update(baseline="faces"), "ablation.variants.baseline: the label is the baseline's"),
    (lambda c: c["models"]["faces_adversarial"].update(test_on=["buildings"]),
     "ablation.variants.adversarial: model 'faces_adversarial' is not tested on 'faces'"),
    (lambda c: c["ablation"].update(styles=["charcoal"]), "ablation.styles: 'charcoal' is not one of evaluation.styles"),
    (lambda c: c["superres"].update(models=["faces"]), "ablation.superres: the baseline 'faces_control' is not in superres.models"),
])
def test_an_ablation_the_study_cannot_make_is_refused_naming_the_key(demo_config, change, message):
    check_ablation(demo_config)
    config = copy.deepcopy(demo_config)
    change(config)
    with pytest.raises(ConfigError, match=message):
        check_ablation(config)


def test_the_figure_shows_every_variant_on_the_same_images(tmp_path):
    rng = np.random.default_rng(1)
    photos = rng.integers(0, 256, (5, 16, 16, 3), dtype=np.uint8)
    save_npz(tmp_path / "p.npz", images=photos, names=np.array([f"n{i}" for i in range(5)]))
    save_npz(tmp_path / "s.npz", sketches=rng.integers(0, 256, (5, 16, 16), dtype=np.uint8))
    models = {}
    for label in ("baseline", "adversarial"):
        path = tmp_path / f"{label}.keras"
        build_generator("scribbler", 4, 1).save(path)
        models[label] = path
    pairs = [(str(tmp_path / "p.npz"), str(tmp_path / "s.npz"))]
    names = ablation_figure(models, {"pencil": pairs, "xdog": pairs}, tmp_path / "f.png", title="t", rows=3,
                            width=600, dpi=72)
    assert names == ["n0", "n1", "n2"]
    import cv2

    figure = cv2.imread(str(tmp_path / "f.png"))
    assert figure is not None and figure.shape[1] <= 600 and figure.shape[0] > 3 * 40


# --- the spread across training seeds (models.<name>.replicates) ---------------------------------

def seed_runs(tmp_path, gains, control_shift=0.0):
    """Per-image CSVs of a baseline and a variant trained with each seed of ``gains`` (seed -> the variant's
    gain on every image over the baseline of the same seed, whose images move with the seed too)."""
    images = np.linspace(0.3, 0.8, 12)
    runs = {("baseline", "pencil"): {}, ("better", "pencil"): {}}
    for s, gain in gains.items():
        control = images + control_shift * s
        runs[("baseline", "pencil")][s] = per_image(tmp_path / f"control{s}.csv", f"control{s}", control)
        runs[("better", "pencil")][s] = per_image(tmp_path / f"better{s}.csv", f"better{s}", control + gain)
    return {key: next(iter(seeds.values())) for key, seeds in runs.items()}, runs


def test_one_seed_says_n_seeds_1_and_a_single_seed(tmp_path):
    base, _ = seed_runs(tmp_path, {0: 0.02})
    table = ablation_table(base, tmp_path / "t.csv", seed=0).set_index("variant")
    assert list(table["n_seeds"]) == [1, 1] and list(table["seeds"]) == ["0", "0"]
    assert table.loc["better", "d_ssim_seed_mean"] == pytest.approx(0.02)
    assert np.isnan(table.loc["better", "d_ssim_seed_std"]) and np.isnan(table.loc["better", "d_ssim_seed_p"])
    assert table.loc["better", "d_ssim_across_seeds"].startswith("a single seed (0)")
    assert np.isnan(table.loc["baseline", "d_ssim_seed_mean"])  # the baseline is the reference
    text = ablation_markdown(table.reset_index())
    assert "| better | pencil | 12 | 1 |" in text and " seeds: Δ" not in text
    assert "Every difference rests on a single training seed (0)" in text


def test_two_seeds_give_mean_and_std_of_the_seed_wise_deltas_but_no_test(tmp_path):
    base, runs = seed_runs(tmp_path, {0: 0.02, 1: 0.04}, control_shift=0.05)
    table = ablation_table(base, tmp_path / "t.csv", seed=0, seed_csvs=runs).set_index("variant")
    row = table.loc["better"]
    assert (row["n_seeds"], row["seeds"]) == (2, "0 1")
    assert row["d_ssim"] == pytest.approx(0.02)  # the base runs' paired difference, as before
    assert row["d_ssim_seed_mean"] == pytest.approx(0.03) and row["d_ssim_seed_std"] == pytest.approx(np.sqrt(2) / 100)
    assert row["d_psnr_seed_mean"] == pytest.approx(0.3) and row["d_feature_distance_seed_mean"] == pytest.approx(-0.03)
    assert np.isnan(row["d_ssim_seed_p"]) and row["d_ssim_across_seeds"].startswith("same sign on 2 seeds")
    text = ablation_markdown(table.reset_index())
    assert "2 seeds: Δ +0.030 ± 0.014 |" in text  # no p below 3 seeds
    assert "- better, pencil, SSIM (Δ +0.02): same sign on 2 seeds" in text


def test_three_seeds_get_the_paired_t_test_and_say_whether_the_difference_holds(tmp_path):
    from scipy import stats

    gains = {0: 0.020, 1: 0.022, 2: 0.019}
    base, runs = seed_runs(tmp_path, gains, control_shift=0.05)
    table = ablation_table(base, tmp_path / "t.csv", seed=0, seed_csvs=runs).set_index("variant")
    row = table.loc["better"]
    control_means = [np.linspace(0.3, 0.8, 12).mean() + 0.05 * s for s in gains]
    expected = stats.ttest_rel([c + g for c, g in zip(control_means, gains.values())], control_means).pvalue
    assert row["n_seeds"] == 3 and row["d_ssim_seed_p"] == pytest.approx(expected, rel=1e-6) and expected < 0.05
    assert row["d_ssim_seed_mean"] == pytest.approx(np.mean(list(gains.values())))
    assert row["d_ssim_seed_std"] == pytest.approx(np.std(list(gains.values()), ddof=1))
    assert row["d_ssim_across_seeds"] == (f"holds across 3 seeds: every seed-wise delta has the sign of the mean "
                                          f"and p = {expected:.3g} < 0.05")
    assert pd.read_csv(tmp_path / "t.csv").set_index("variant").loc["better", "d_ssim_seed_p"] == pytest.approx(expected)
    # a seed whose variant is worse than its control: the difference does not hold
    base, runs = seed_runs(tmp_path, {0: 0.02, 1: -0.01, 2: 0.03})
    row = ablation_table(base, tmp_path / "t.csv", seed=0, seed_csvs=runs).set_index("variant").loc["better"]
    assert row["d_ssim_across_seeds"].startswith("does not hold across 3 seeds: seed 1 (-0.01) against the mean's sign")


def test_a_seed_only_the_variant_has_is_not_paired(tmp_path):
    base, runs = seed_runs(tmp_path, {0: 0.02, 1: 0.04})
    del runs[("baseline", "pencil")][1]
    row = ablation_table(base, tmp_path / "t.csv", seed=0, seed_csvs=runs).set_index("variant").loc["better"]
    assert (row["n_seeds"], row["seeds"]) == (1, "0")


def test_seed_csvs_pairs_the_rules_file_list_with_the_runs():
    from sketchback.evaluation.ablation import seed_csvs

    base = {(label, style): f"{label}/{style}.csv" for label in ("baseline", "adv") for style in ("pencil", "xdog")}
    runs = {"baseline": {0: "control", 1: "control_seed1"}, "adv": {0: "adversarial"}}
    found = seed_csvs(base, runs, ["c1/pencil.csv", "c1/xdog.csv"], 0)
    assert found[("baseline", "xdog")] == {0: "baseline/xdog.csv", 1: "c1/xdog.csv"}
    assert found[("adv", "pencil")] == {0: "adv/pencil.csv"}
    with pytest.raises(ValueError, match="more than they need"):
        seed_csvs(base, runs, ["c1/pencil.csv", "c1/xdog.csv", "extra.csv"], 0)
