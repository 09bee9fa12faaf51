"""The whole DAG through the real Snakemake on a tiny config: outputs, partial reruns, bad config."""

import copy
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import snakemake_run
from snakemake_run import REPO, SNAKEFILE, planned_evaluations, planned_jobs

from tiny_study import MODELS, STYLES, TINY

from sketchback.evaluation.distribution import STAND_IN


def snakemake(workdir: Path, *args: str, config: dict | None = None) -> subprocess.CompletedProcess:
    """snakemake_run.snakemake with the config last, as a keyword (None: the ``workdir/config.yaml``
    there, which the shared tiny study's folder does not have: pass TINY)."""
    return snakemake_run.snakemake(workdir, config, *args, timeout=900)


@pytest.fixture(scope="module")
def study(tiny_study):
    return tiny_study


def test_demo_dag_makes_every_result(study):
    results = study / "results"
    summary = pd.read_csv(results / "report" / "metrics_summary.csv")
    assert set(zip(summary.model, summary.dataset, summary.method, summary.hints)) == {
        (model, "buildings" if model == "buildings" else "faces", style, hints)
        for model in MODELS for style in STYLES for hints in ([0, 4] if model == "faces_hints" else [0])}
    for column in ("ssim_prediction", "ssim_sketch", "ssim_mean_image", "psnr_prediction"):
        assert summary[column].between(-1, 100).all()
        assert (summary[f"{column}_lo"] <= summary[column]).all() and (summary[column] <= summary[f"{column}_hi"]).all()
    # every set's FID and KID, on the demo's stand-in network (labelled so), over all its images
    assert np.isfinite(summary[["fid", "kid", "kid_std"]].to_numpy(dtype=float)).all() and (summary["fid"] > 0).all()
    assert (summary["fid_network"] == STAND_IN).all() and (summary["fid_n"] == summary["n_images"]).all()
    assert summary["fid_note"].str.contains("FID on n=4 images: biased upward").any()
    assert summary["fid_note"].str.contains("random-filter stand-in, not comparable with published FIDs").all()
    per_image = pd.read_csv(results / "evaluation" / "faces" / "faces" / "pencil" / "metrics.csv")
    assert len(per_image) == 4 and per_image["image"].str.startswith("images/").all()
    for png in ["report/loss_curves.png", "report/ssim.png", "evaluation/buildings/buildings/style/grid.png",
                "report/cross_style.png", "report/data.png", "report/sketches/faces.png"]:
        image = cv2.imread(str(results / png))
        assert image is not None and image.shape[0] > 100, png
    cross = pd.read_csv(results / "report" / "cross_style.csv")
    for model in ("faces", "buildings"):  # styles in evaluation.styles order; trained on pencil only
        rows = cross[(cross.model == model) & (cross.hints == 0)]
        assert list(zip(rows["style"], rows.seen_style)) == [("pencil", True), ("style", False),
                                                             ("style_normalised", False)]
    assert (cross["feature_distance"] > 0).all() and (cross["feature_distance_lo"] <= cross["feature_distance"]).all()
    for model in ("faces", "buildings"):  # poster grids: sketch | prediction per style, then the truth
        poster = cv2.imread(str(results / "report" / "poster" / model / f"{model}.png"))
        assert poster is not None and poster.shape[1] >= 1500
    history = pd.read_csv(results / "models" / "faces" / "history.csv")
    assert list(history["epoch"]) == [1, 2]
    assert {"loss", "pixel", "feature", "tv", "val_loss"} <= set(history.columns)
    assert (results / "models" / "buildings" / "generator.keras").stat().st_size > 10_000
    assert "initialised from results/models/faces/generator.keras" in (results / "logs" / "train" / "buildings.log").read_text()
    for log in ("train/faces.log", "evaluate/faces/faces.log", "sketch/faces/style/test/000.log"):
        assert "reproducible mode (deterministic run): oneDNN capped at AVX2" in (results / "logs" / log).read_text(), log
    # the adversarial variant trained against its discriminator; the ablation and SR stage reported
    adversarial = pd.read_csv(results / "models" / "faces_adversarial" / "history.csv")
    assert {"adversarial", "discriminator", "d_real", "d_fake"} <= set(adversarial.columns)
    assert adversarial["discriminator"].notna().all() and adversarial["discriminator_state"].notna().all()
    ablation = pd.read_csv(results / "report" / "ablation.csv")
    assert ablation["variant"].tolist() == ["baseline", "adversarial", "baseline, 2x bicubic",
                                            "baseline, 2x super-resolved"]
    assert ablation[["ssim", "sharpness"]].iloc[:2].notna().all().all()
    assert ablation[["fid", "kid", "d_fid", "d_kid"]].iloc[:2].notna().all().all() and cross["fid"].notna().all()
    assert "not comparable with published FIDs" in (results / "report" / "ablation.md").read_text()
    assert "| adversarial | pencil |" in (results / "report" / "ablation.md").read_text()
    # the replicate: its own training (seed 1) and evaluations, folded into its base model's cross-style rows;
    # the ablation pairs seeds the control has too (only 0 here), and says so
    assert "a replicate: training seed 1" in (results / "logs" / "train" / "faces_adversarial_seed1.log").read_text()
    replicate = summary[summary.model == "faces_adversarial_seed1"]
    assert len(replicate) == len(STYLES) and not replicate["ssim_prediction"].equals(
        summary[summary.model == "faces_adversarial"]["ssim_prediction"].reset_index(drop=True))
    assert "faces_adversarial_seed1" not in set(cross.model)
    assert set(cross.loc[cross.model == "faces_adversarial", "n_seeds"]) == {2}
    assert set(cross.loc[cross.model == "faces", "n_seeds"]) == {1}
    adversarial_row = ablation.set_index("variant").loc["adversarial"]
    assert adversarial_row["n_seeds"] == 1 and adversarial_row["d_ssim_across_seeds"].startswith("a single seed (0)")
    assert not (results / "report" / "poster" / "faces_adversarial_seed1").exists()
    for png in ["report/ablation.png", "report/superres.png", "report/hints/faces_hints/faces.png"]:
        image = cv2.imread(str(results / png))
        assert image is not None and image.shape[0] > 100, png
    leftovers = [p for p in results.rglob(".*.tmp*")]
    assert leftovers == []


def test_finished_study_is_up_to_date(study):
    assert planned_jobs(snakemake(study, "-n", config=TINY)) == {}


def test_changing_one_sketch_method_reruns_only_its_branch(study):
    changed = copy.deepcopy(TINY)
    changed["sketch"]["style"]["max_images"] = 2  # an evaluated style: its sketches, normalised ones, evaluations
    jobs = planned_jobs(snakemake(study, "-n", config=changed))
    # the ablation's table too: it reads the pencil evaluations, which the evaluation jobs write again
    assert set(jobs) == {"sketch", "normalise", "evaluate", "summarize", "ssim_chart", "cross_style", "poster_grid",
                         "sketch_examples", "evaluate_hints", "hint_table", "normalise_effect", "ablation_table",
                         "all"}
    assert jobs["sketch"] and all("/style/" in out for out in jobs["sketch"])
    # one evaluation job per model and test set (evaluation.one_job_per: test_set) scores every style again
    assert len(jobs["evaluate"]) == len(MODELS)
    assert planned_evaluations(jobs) == sorted(f"{m}/{'buildings' if m == 'buildings' else 'faces'}/{style}"
                                               for m in MODELS for style in STYLES)
    changed = copy.deepcopy(TINY)
    changed["sketch"]["xdog"] = {"sigma": 1.1}  # a method no model trains on and no evaluation reads: nothing
    assert planned_jobs(snakemake(study, "-n", config=changed)) == {}


def test_changing_epochs_reruns_training_onward_but_not_sketching(study):
    changed = copy.deepcopy(TINY)
    changed["models"]["faces"]["epochs"] = 3
    jobs = planned_jobs(snakemake(study, "-n", config=changed))
    assert sorted(jobs["train"]) == [f"results/models/{m}/generator.keras, results/models/{m}/history.csv"
                                     for m in FROM_FACES]  # faces and the models fine-tuned from it
    assert {"evaluate", "loss_curves", "summarize"} <= set(jobs)
    assert not {"download", "split", "prepare", "sketch", "augment", "mean_image"} & set(jobs)


def test_report_is_browsable_html(study):
    result = snakemake(study, "--report", str(study / "report.html"), config=TINY)
    assert result.returncode == 0, result.stderr[-3000:]
    html = (study / "report.html").read_text(errors="replace")
    assert len(html) > 50_000 and "loss_curves.png" in html and "grid.png" in html
    assert "cross_style.png" in html and "5 Cross-style" in html and "1 Data" in html


@pytest.mark.parametrize("mutate, expected", [
    (lambda c: c.update(learning_rat=0.1), "learning_rat"),
    (lambda c: c["training"].update(batch_size="big"), "big"),
    (lambda c: c["models"]["faces"].update(dataset="celebb"), "models.faces.dataset"),
    (lambda c: c["datasets"]["faces"].update(sketch_methods=["charcoal"]), "charcoal"),
    (lambda c: c.update(image_size=30), "image_size"),
    (lambda c: c["sketch"]["xdog"].update(sigmaa=1.0), "sketch.xdog.sigmaa"),
    (lambda c: c["datasets"]["faces"]["source"].update(n_image=10), "n_image"),
    (lambda c: c["training"].update(architecture="sketchback"), "'sketchback' is now called 'csi'"),
    (lambda c: c["models"]["faces"].update(architecture="unet"), "models.faces.architecture"),
    (lambda c: c["models"]["faces"].update(released="faces"), "models.faces.released: 'faces' is not a key"),
    (lambda c: c["models"]["faces_adversarial"].update(replicates=[0]), "models.faces_adversarial.replicates: 0 is the "
                                                                          "study's"),
])
def test_bad_config_fails_at_start_naming_the_key(tmp_path, mutate, expected):
    bad = copy.deepcopy(TINY)
    mutate(bad)
    result = snakemake(tmp_path, "-n", config=bad)
    assert result.returncode != 0
    assert expected in result.stdout + result.stderr
    assert not (tmp_path / "results").exists()


def test_full_study_dag_is_sharded_and_starts_with_downloads(tmp_path):
    cmd = [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "-d", str(tmp_path),
           "--configfile", str(REPO / "config" / "config.yaml"), "-n"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    jobs = planned_jobs(result)
    total = sum(len(v) for v in jobs.values())
    assert 100 <= total <= 1000
    assert sorted(jobs["download"]) == ["resources/celeba/manifest.csv", "resources/cuhk/manifest.csv",
                                        "resources/zubud/manifest.csv"]
    assert jobs["download_weights"] == ["resources/vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"]
    downloads = {"download", "download_weights", "download_released", "download_original_example", "download_inception"}
    assert set(list(jobs)[:5]) == downloads  # listed before everything they feed
    assert sorted(jobs["download_released"]) == ["resources/released/buildings.h5", "resources/released/faces.h5"]
    assert sorted(jobs["import_released"]) == ["results/models/released_buildings/generator.keras",
                                               "results/models/released_faces/generator.keras"]
    assert len(jobs["download_original_example"]) == 9 and len(jobs["original_examples"]) == 2
    assert len(jobs["prepare"]) == 64 + 4 + 4 + 4 + 1 + 1 + 2  # CUHK: train (mean image) and test
    assert jobs["handdrawn_sketches"] == ["results/sketches/cuhk/handdrawn/test/000.npz"]
    assert ("results/evaluation/faces/cuhk/handdrawn/metrics.csv, results/evaluation/faces/cuhk/handdrawn/distribution.csv, "
            "results/evaluation/faces/cuhk/handdrawn/grid.png") in jobs["evaluate"]
    # FID/KID on the reference network: its graph is downloaded once, for every evaluation
    assert jobs["download_inception"] == ["resources/inception/classify_image_graph_def.pb"]


# --- Which options rerun what: the table of README "Rerunning part of the study" ---------------------
def _set(path, value):
    """A config mutation: set the dotted key ``path`` of a copy of TINY to ``value``."""
    def mutate(config):
        *parents, key = path.split(".")
        for parent in parents:
            config = config.setdefault(parent, {})
        config[key] = value
    return mutate


# Operational options: how a job runs, not what it makes. Changing one plans no job.
OPERATIONAL = {
    "training.log_every": 7,
    "training.checkpoint_every": 3,
    "training.jit_compile": True,  # XLA: results differ in the last bits only (README)
    "training.deterministic": False,
    "training.allow_cpu": True,
    "evaluation.batch_size": 5,
    "training.threads": 3,
    "evaluation.threads": 2,
    "download.retries": 9,
    "download.timeout": 5.0,
    "download.deadline": 600.0,
    "download.min_speed": 1.0,
}


def test_operational_options_rerun_nothing(study):
    # all of them changed at once (one dry run of this DAG takes ~10 s): any one that reran a job would
    # show here, and Snakemake's reasons (params changed) name it
    changed = copy.deepcopy(TINY)
    for path, value in OPERATIONAL.items():
        _set(path, value)(changed)
    assert planned_jobs(snakemake(study, "-n", config=changed)) == {}


def test_thread_counts_rerun_nothing(study):
    assert planned_jobs(snakemake(study, "-n", "--set-threads", "train=1", "evaluate=1", "sketch=2", config=TINY)) == {}


REPORT = {"summarize", "ssim_chart", "cross_style", "poster_grid", "all"}
RETRAIN = {"train", "evaluate", "loss_curves", "normalise_effect"} | REPORT
UPSTREAM = {"download", "split", "prepare", "mean_image", "sketch", "augment"}
# What reads the models' predictions besides the evaluations: the ablation (table and figure), the
# super-resolution stage's evaluation, the hint table (from the metrics summary); a hint model's own rules.
FEATURES = {"ablation_figure", "ablation_table", "hint_table", "superres_evaluate", "superres_summary"}
HINT_RULES = {"evaluate_hints", "hint_figure"}
BUILDINGS_ONLY = FEATURES - {"ablation_figure"}  # the ablation's table shows the SR summary, which holds buildings
# init_from faces (the replicate too); faces_hints is not
FROM_FACES = ["buildings", "faces", "faces_adversarial", "faces_adversarial_seed1"]
EVERY_MODEL = sorted(FROM_FACES + ["faces_hints", "faces_original"])
# faces_original: architecture original, whose sizes are fixed (training.architecture and sizes do not apply)
OWN_ARCHITECTURE = sorted(FROM_FACES + ["faces_hints"])

# What reruns when every evaluation does (and not the predictions' other readers: figures, super-resolution).
EVALUATIONS = {"evaluate", "evaluate_hints", "summarize", "ssim_chart", "cross_style", "hint_table",
               "normalise_effect", "ablation_table", "all"}

# Science options: each plans exactly its branch (rules, and which models retrain), nothing upstream.
SCIENCE = [
    ("models.faces.learning_rate", 0.004, RETRAIN | FEATURES, FROM_FACES),
    ("models.buildings.learning_rate", 0.004, RETRAIN | BUILDINGS_ONLY, ["buildings"]),
    ("models.faces.epochs", 3, RETRAIN | FEATURES, FROM_FACES),
    ("training.loss.pixel_weight", 0.5, RETRAIN | FEATURES | HINT_RULES, EVERY_MODEL),
    ("training.loss.feature_weight", 0.01, RETRAIN | FEATURES | HINT_RULES, EVERY_MODEL),
    ("training.loss.tv_weight", 0.001, RETRAIN | FEATURES | HINT_RULES, EVERY_MODEL),
    ("training.architecture", "csi", RETRAIN | FEATURES | HINT_RULES, OWN_ARCHITECTURE),
    ("training.base_filters", 8, RETRAIN | FEATURES | HINT_RULES, OWN_ARCHITECTURE),
    ("training.batch_size", 4, RETRAIN | FEATURES | HINT_RULES, EVERY_MODEL),
    ("training.mixed_precision", True, RETRAIN | FEATURES | HINT_RULES, EVERY_MODEL),
    ("image_size", 28, UPSTREAM - {"download", "split"} | RETRAIN | FEATURES | HINT_RULES
     | {"data_overview", "sketch_examples", "normalise", "superres_prepare", "superres_train"}, EVERY_MODEL),
    # pencil is also the normaliser's reference style
    ("sketch.pencil.blur_ksize", 11, {"sketch", "augment", "sketch_examples", "normalise"} | RETRAIN | FEATURES
     | HINT_RULES, EVERY_MODEL),
    ("sketch.xdog.sigma", 1.1, set(), []),  # no model of TINY trains on xdog and no evaluation reads it
    ("datasets.buildings.augment.copies", 1, {"augment"} | RETRAIN | BUILDINGS_ONLY, ["buildings"]),
    # the tiny study's evaluations are one job per model and test set (evaluation.one_job_per: test_set): a
    # normalised style's change, or one style fewer, re-evaluates every style, so the ablation's table reruns too
    ("normalise.background", 0.2, {"normalise", "evaluate", "normalise_effect", "sketch_examples", "evaluate_hints",
                                   "hint_table", "ablation_table"} | REPORT, []),
    ("evaluation.styles", ["pencil", "style"], {"evaluate", "cross_style", "summarize", "ssim_chart", "poster_grid",
                                               "sketch_examples", "hint_table", "ablation_table", "all"}, []),
    ("evaluation.one_job_per", "style", EVALUATIONS - {"evaluate_hints"}, []),  # the hint jobs are cut by style always
    ("models.faces_adversarial.adversarial.weight", 0.02, RETRAIN | {"ablation_figure", "ablation_table", "hint_table"},
     ["faces_adversarial", "faces_adversarial_seed1"]),
    # a new training seed: its training, its evaluations and the tables that read them (the summary's readers)
    ("models.faces_adversarial.replicates", [1, 2], {"train", "evaluate", "summarize", "ssim_chart", "cross_style",
                                                     "hint_table", "ablation_table", "all"}, ["faces_adversarial_seed2"]),
    ("models.faces_hints.hints.max_strokes", 4, RETRAIN | HINT_RULES | {"hint_table"}, ["faces_hints"]),
    ("ablation.rows", 2, {"ablation_figure", "all"}, []),
    # FID/KID's settings: every evaluation and what reads them; the reference network is downloaded first
    ("evaluation.kid_subsets", 50, EVALUATIONS, []),
    ("evaluation.fid_network", "inception", EVALUATIONS | {"download_inception"}, []),
]


@pytest.mark.parametrize("path, value, rules, retrained", SCIENCE, ids=[row[0] for row in SCIENCE])
def test_science_options_rerun_exactly_their_branch(study, path, value, rules, retrained):
    changed = copy.deepcopy(TINY)
    _set(path, value)(changed)
    jobs = planned_jobs(snakemake(study, "-n", config=changed))
    assert set(jobs) == rules
    assert sorted(out.split("/")[2] for out in jobs.get("train", [])) == retrained
    if path.startswith("sketch."):
        method = path.split(".")[1]
        assert all(f"/{method}/" in out for out in jobs.get("sketch", []) + jobs.get("augment", []))
