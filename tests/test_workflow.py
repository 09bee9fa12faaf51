"""The whole DAG through the real Snakemake on a tiny config: outputs, partial reruns, bad config."""

import copy
import subprocess
import sys
from pathlib import Path

import cv2
import pandas as pd
import pytest
import snakemake_run
import yaml
from snakemake_run import REPO, SNAKEFILE, planned_jobs

TINY = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
TINY["image_size"] = 32
TINY["datasets"]["faces"].update(source={"name": "synthetic_faces", "n_images": 40, "raw_size": 64},
                                 shards={"train": 2, "val": 1, "test": 1})
TINY["datasets"]["buildings"].update(source={"name": "synthetic_buildings", "n_images": 30, "raw_size": 64},
                                     shards={"train": 2, "val": 1, "test": 1}, augment={"copies": 2})
TINY["training"].update(base_filters=4, residual_blocks=1, batch_size=8, jit_compile=False)
TINY["models"]["faces"]["epochs"] = 2
TINY["models"]["buildings"]["epochs"] = 1
TINY["evaluation"]["grid_rows"] = 3


def snakemake(workdir: Path, *args: str, config: dict | None = None) -> subprocess.CompletedProcess:
    """snakemake_run.snakemake with the config last, as a keyword (None: the one in ``workdir``)."""
    return snakemake_run.snakemake(workdir, config, *args, timeout=900)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("study")
    result = snakemake(workdir, "--cores", "2", config=TINY)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return workdir


def test_demo_dag_makes_every_result(study):
    results = study / "results"
    summary = pd.read_csv(results / "report" / "metrics_summary.csv")
    assert set(zip(summary.model, summary.dataset, summary.method)) == {
        ("faces", "faces", "pencil"), ("faces", "faces", "xdog"), ("faces", "faces", "style"),
        ("faces", "faces", "style_normalised"), ("buildings", "buildings", "pencil"),
        ("buildings", "buildings", "xdog"), ("buildings", "buildings", "style"),
        ("buildings", "buildings", "style_normalised")}
    for column in ("ssim_prediction", "ssim_sketch", "ssim_mean_image", "psnr_prediction"):
        assert summary[column].between(-1, 100).all()
        assert (summary[f"{column}_lo"] <= summary[column]).all() and (summary[column] <= summary[f"{column}_hi"]).all()
    per_image = pd.read_csv(results / "evaluation" / "faces" / "faces" / "pencil" / "metrics.csv")
    assert len(per_image) == 4 and per_image["image"].str.startswith("images/").all()
    for png in ["report/loss_curves.png", "report/ssim.png", "evaluation/buildings/buildings/xdog/grid.png",
                "report/cross_style.png", "report/data.png", "report/sketches/faces.png"]:
        image = cv2.imread(str(results / png))
        assert image is not None and image.shape[0] > 100, png
    cross = pd.read_csv(results / "report" / "cross_style.csv")
    for model in ("faces", "buildings"):  # styles in evaluation.styles order; trained on pencil only
        rows = cross[cross.model == model]
        assert list(zip(rows["style"], rows.seen_style)) == [("pencil", True), ("xdog", False), ("style", False),
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
    leftovers = [p for p in results.rglob(".*.tmp*")]
    assert leftovers == []


def test_finished_study_is_up_to_date(study):
    assert planned_jobs(snakemake(study, "-n")) == {}


def test_changing_one_sketch_method_reruns_only_its_branch(study):
    changed = copy.deepcopy(TINY)
    changed["sketch"]["xdog"] = {"sigma": 1.1}
    jobs = planned_jobs(snakemake(study, "-n", config=changed))
    assert set(jobs) == {"sketch", "evaluate", "summarize", "ssim_chart", "cross_style", "poster_grid",
                         "sketch_examples", "all"}
    assert jobs["sketch"] and all("/xdog/" in out for out in jobs["sketch"])
    assert all("/xdog/" in out for out in jobs["evaluate"]) and len(jobs["evaluate"]) == 2


def test_changing_epochs_reruns_training_onward_but_not_sketching(study):
    changed = copy.deepcopy(TINY)
    changed["models"]["faces"]["epochs"] = 3
    jobs = planned_jobs(snakemake(study, "-n", config=changed))
    assert sorted(jobs["train"]) == sorted(["results/models/faces/generator.keras, results/models/faces/history.csv",
                                             "results/models/buildings/generator.keras, results/models/buildings/history.csv"])
    assert {"evaluate", "loss_curves", "summarize"} <= set(jobs)
    assert not {"download", "split", "prepare", "sketch", "augment", "mean_image"} & set(jobs)


def test_report_is_browsable_html(study):
    result = snakemake(study, "--report", str(study / "report.html"))
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
    assert set(list(jobs)[:2]) == {"download", "download_weights"}  # listed before everything they feed
    assert len(jobs["prepare"]) == 64 + 4 + 4 + 4 + 1 + 1 + 2  # CUHK: train (mean image) and test
    assert jobs["handdrawn_sketches"] == ["results/sketches/cuhk/handdrawn/test/000.npz"]
    assert "results/evaluation/faces/cuhk/handdrawn/metrics.csv, results/evaluation/faces/cuhk/handdrawn/grid.png" in jobs["evaluate"]


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
    "evaluation.batch_size": 5,
    "download.retries": 9,
    "download.timeout": 5.0,
    "download.deadline": 600.0,
    "download.min_speed": 1.0,
}


@pytest.mark.parametrize("path", OPERATIONAL)
def test_operational_options_rerun_nothing(study, path):
    changed = copy.deepcopy(TINY)
    _set(path, OPERATIONAL[path])(changed)
    assert planned_jobs(snakemake(study, "-n", config=changed)) == {}


def test_thread_counts_rerun_nothing(study):
    assert planned_jobs(snakemake(study, "-n", "--set-threads", "train=1", "evaluate=1", "sketch=2")) == {}


REPORT = {"summarize", "ssim_chart", "cross_style", "poster_grid", "all"}
RETRAIN = {"train", "evaluate", "loss_curves", "normalise_effect"} | REPORT
BOTH_MODELS = ["buildings", "faces"]
UPSTREAM = {"download", "split", "prepare", "mean_image", "sketch", "augment"}

# Science options: each plans exactly its branch (rules, and which models retrain), nothing upstream.
SCIENCE = [
    ("models.faces.learning_rate", 0.004, RETRAIN, BOTH_MODELS),  # buildings starts from faces
    ("models.buildings.learning_rate", 0.004, RETRAIN, ["buildings"]),
    ("models.faces.epochs", 3, RETRAIN, BOTH_MODELS),
    ("training.loss.pixel_weight", 0.5, RETRAIN, BOTH_MODELS),
    ("training.loss.feature_weight", 0.01, RETRAIN, BOTH_MODELS),
    ("training.loss.tv_weight", 0.001, RETRAIN, BOTH_MODELS),
    ("training.architecture", "sketchback", RETRAIN, BOTH_MODELS),
    ("training.base_filters", 8, RETRAIN, BOTH_MODELS),
    ("training.batch_size", 4, RETRAIN, BOTH_MODELS),
    ("training.mixed_precision", True, RETRAIN, BOTH_MODELS),
    ("image_size", 36, UPSTREAM - {"download", "split"} | RETRAIN | {"data_overview", "sketch_examples", "normalise"},
     BOTH_MODELS),
    # pencil is also the normaliser's reference style
    ("sketch.pencil.blur_ksize", 11, {"sketch", "augment", "sketch_examples", "normalise"} | RETRAIN, BOTH_MODELS),
    ("sketch.xdog.sigma", 1.1, {"sketch", "evaluate", "sketch_examples"} | REPORT, []),
    ("datasets.buildings.augment.copies", 1, {"augment"} | RETRAIN, ["buildings"]),
    ("normalise.background", 0.2, {"normalise", "evaluate", "normalise_effect", "sketch_examples"} | REPORT, []),
    ("evaluation.styles", ["pencil", "xdog"], {"cross_style", "summarize", "ssim_chart", "poster_grid",
                                               "sketch_examples", "all"}, []),
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
        assert all(f"/{method}/" in out for out in jobs["sketch"] + jobs.get("augment", []))
