"""The original's released models and its example figures through the real Snakemake, from 127.0.0.1.

Stand-ins: a weights file in the layout the original's ``save_weights`` wrote (seeded random weights,
tests/test_released.py), served twice by the Google Drive imitation as the faces and buildings files,
each behind its resource key; and example figures in the original's Sketch | Prediction | Ground Truth
layout (tests/original_fixture.py) whose "Prediction" panel is what those weights compute on the
sketch, as the original's published predictions are what its weights computed. The DAG downloads and
converts both files, evaluates the converted models beside trained ones (cross-style matrix, poster
figures), and redoes the figures: the converted model must reproduce the published prediction.
"""

import copy
import hashlib

import numpy as np
import pandas as pd
import pytest
import snakemake_run
import yaml
from http_fixture import LocalServer, Route
from original_fixture import write_original_layout_figure
from snakemake_run import REPO, planned
from test_released import KERNELS, random_pairs, training_model_layers, write_keras2

from sketchback.evaluation.evaluate import load_generator, predict
from sketchback.models.generators import trained_size
from sketchback.models.released import import_original

SIZE = 32  # the study's image size here
TRAINED_AT = {"faces": (16, 24), "buildings": (24, 16)}  # rows x columns, as released_weights gives them
DRIVE = {"faces": ("0B-HY3igdAAMNemRpZHc2SkVIV2s", "0-anL_CnHx-DdP_3MyVrbvTw"),
         "buildings": ("0B-HY3igdAAMNajljMGVObDJwOTA", "0-teGLF_8D5JZlgXvuGIWeuQ")}
FIGURES = {"faces": ["faces_1", "faces_2"], "buildings": ["building_7", "building_9"]}  # building_9: two panels


def study_config(base_url: str, weights_urls: dict, figures: dict) -> dict:
    config = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    config["image_size"] = SIZE
    config["datasets"]["faces"].update(source={"name": "synthetic_faces", "n_images": 30, "raw_size": 64},
                                       shards={"train": 1, "val": 1, "test": 1})
    config["datasets"]["buildings"].update(source={"name": "synthetic_buildings", "n_images": 30, "raw_size": 64},
                                           shards={"train": 1, "val": 1, "test": 1}, augment={"copies": 1})
    config["training"].update(base_filters=4, residual_blocks=1, batch_size=8)
    config["models"] = {
        "faces": {**config["models"]["faces"], "epochs": 1},
        "buildings": {**config["models"]["buildings"], "epochs": 1},
        "released_faces": {"released": "faces", "dataset": "faces", "methods": ["pencil"], "test_on": ["faces"]},
        "released_buildings": {"released": "buildings", "dataset": "buildings", "methods": ["pencil"],
                               "test_on": ["buildings"]},
    }
    config["released_weights"] = {name: {"urls": [url], "training_size": list(TRAINED_AT[name]),
                                         "origin": f"stand-in for the original's {name} weights"}
                                  for name, url in weights_urls.items()}
    config["original_examples"] = {"url": base_url + "/BKHMSI/Sketchback/Examples/{name}.png", "sets": {
        "faces": {"models": ["released_faces", "faces"], "figures": figures["faces"]},
        "buildings": {"models": ["released_buildings", "buildings"], "figures": figures["buildings"]}}}
    config.update(ablation=None, superres={"enabled": False})
    # one style: the cross-style matrix of other styles is test_workflow's (its tiny study)
    config["evaluation"].update(styles=["pencil"], grid_rows=2, poster={"rows": 2, "width": 600, "dpi": 100})
    for dataset in ("faces", "buildings"):
        config["datasets"][dataset]["sketch_methods"] = ["pencil"]
    return config


# What the tests read, not the whole report: the data overview, sketch examples, loss curves, SSIM chart and
# the trained models' posters are test_workflow's (its tiny study makes every output), not run twice.
TARGETS = ["results/report/cross_style.csv", "results/report/poster/released_faces/faces.png",
           "results/report/poster/released_buildings/buildings.png"] + [
    f"results/report/original_examples/{name}{suffix}" for name in FIGURES for suffix in (".csv", "_summary.csv", ".png")]


def stand_in_figure(path, model, seed: int, panels: int) -> None:
    """A figure in the original's layout: a sketch, ``model``'s prediction on it, and a truth panel."""
    rng = np.random.default_rng(seed)
    sketch = np.full((64, 48), 255, np.uint8)
    for _ in range(12):  # dark strokes on white paper
        r, c = rng.integers(4, 60), rng.integers(4, 44)
        sketch[r:r + rng.integers(1, 3), max(0, c - 10):c + 10] = rng.integers(0, 80)
    prediction = (predict(model, sketch[None, ..., None].astype(np.float32) / 255)[0] * 255 + 0.5).astype(np.uint8)
    truth = rng.integers(0, 256, (64, 48, 3), dtype=np.uint8) if panels == 3 else None
    write_original_layout_figure(path, sketch, prediction, truth)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The server, the study's workdir and config, and the stand-in weights (kernel, bias) pairs."""
    work, stage = tmp_path_factory.mktemp("released"), tmp_path_factory.mktemp("stand_ins")
    pairs = random_pairs(KERNELS, seed=7)
    write_keras2(stage / "weights.h5", training_model_layers(pairs))
    with LocalServer() as server:
        urls, figures = {}, {}
        for name, (file_id, key) in DRIVE.items():
            urls[name] = server.drive(file_id, Route((stage / "weights.h5").read_bytes()), resource_key=key)
            model = load_generator(import_original(stage / "weights.h5", stage / f"{name}.keras",
                                                   training_size=TRAINED_AT[name]))
            figures[name] = {}
            for i, figure in enumerate(FIGURES[name]):
                stand_in_figure(stage / f"{figure}.png", model, i, 2 if figure == "building_9" else 3)
                data = (stage / f"{figure}.png").read_bytes()
                server.routes[f"/BKHMSI/Sketchback/Examples/{figure}.png"] = Route(data, content_type="image/png")
                figures[name][figure] = hashlib.sha256(data).hexdigest()
        yield server, work, study_config(server.base, urls, figures)


@pytest.fixture(scope="module")
def study(served):
    server, work, config = served
    result = snakemake_run.snakemake(work, config, "--cores", "2", *TARGETS, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return server, work, config


def test_the_released_models_are_downloaded_with_their_keys_and_converted(study):
    server, work, _ = study
    asked = [r for r in server.requests if "id=" in r.path or r.path.startswith("/download")]
    assert asked and all("resourcekey=" in r.path for r in asked if "/uc" in r.path)
    for name in ("faces", "buildings"):
        model = load_generator(work / "results" / "models" / f"released_{name}" / "generator.keras")
        assert model.name == "original" and trained_size(model) == TRAINED_AT[name]
    assert "original generator's 24 convolutions" in (work / "results/logs/import_released/released_faces.log").read_text()
    assert not (work / "results/models/released_faces/history.csv").exists()  # converted, not trained


def test_the_released_models_take_part_in_the_study_like_trained_ones(study):
    _, work, _ = study
    report = work / "results" / "report"
    cross = pd.read_csv(report / "cross_style.csv")
    assert {"released_faces", "released_buildings", "faces", "buildings"} <= set(cross.model)
    rows = cross[cross.model == "released_faces"]
    assert list(zip(rows["style"], rows.seen_style)) == [("pencil", True)]
    for model, dataset in (("released_faces", "faces"), ("released_buildings", "buildings")):
        assert (report / "poster" / model / f"{dataset}.png").stat().st_size > 10_000
        metrics = pd.read_csv(work / "results" / "evaluation" / model / dataset / "pencil" / "metrics.csv")
        assert len(metrics) > 0 and metrics["ssim_prediction"].between(-1, 1).all()


def test_the_examples_table_shows_the_conversion_reproduces_the_published_predictions(study):
    _, work, _ = study
    folder = work / "results" / "report" / "original_examples"
    for name, released, trained in (("faces", "released_faces", "faces"), ("buildings", "released_buildings", "buildings")):
        table = pd.read_csv(folder / f"{name}.csv")
        assert set(table.figure) == set(FIGURES[name])
        versus = table[table.reference == "original prediction"].set_index("model")["ssim"]
        by_model = versus.groupby(level=0).mean()
        assert by_model[released] > 0.95 and by_model[trained] < 0.5  # measured: 0.999 against 0.05-0.11
        truths = table[table.reference == "ground truth"]
        assert set(truths.figure) == {f for f in FIGURES[name] if f != "building_9"}  # two panels: no truth
        summary = pd.read_csv(folder / f"{name}_summary.csv")
        assert set(summary.columns) >= {"model", "reference", "ssim", "psnr", "n"}
        assert (folder / f"{name}.png").stat().st_size > 5_000


def test_after_the_run_nothing_is_planned_and_a_new_figure_url_reruns_nothing(study):
    _, work, config = study
    assert planned(snakemake_run.snakemake(work, config, "-n", *TARGETS)) == {}
    moved = copy.deepcopy(config)
    moved["original_examples"]["url"] = "http://127.0.0.1:9/elsewhere/{name}.png"
    moved["released_weights"]["faces"]["urls"] = ["http://127.0.0.1:9/elsewhere/faces.h5"]
    assert planned(snakemake_run.snakemake(work, moved, "-n", *TARGETS)) == {}


@pytest.mark.parametrize("mutate, message", [
    (lambda c: c["models"]["released_faces"].update(epochs=3), "models.released_faces.epochs: a released model is "
                                                               "not trained"),
    (lambda c: c["models"]["released_faces"].update(released="hands"), "'hands' is not a key of released_weights"),
    (lambda c: c["original_examples"]["sets"]["faces"].update(models=["fces"]), "original_examples.sets.faces.models"),
])
def test_an_inconsistent_released_model_or_examples_set_is_refused_naming_the_key(mutate, message):
    from snakemake.utils import validate

    from sketchback.tools.config import check_config
    from sketchback.errors import ConfigError

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    validate(config, str(REPO / "workflow" / "schemas" / "config.schema.yaml"))
    check_config(config)
    mutate(config)
    with pytest.raises(ConfigError, match=message):
        check_config(config)
