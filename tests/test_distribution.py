"""Set-level scores (sketchback.evaluation.distribution): FID and KID of predictions against their test
photos on the stand-in or the Inception network, the file each evaluation writes, the warnings shown with
them, and which network the workflow's evaluate jobs plan for."""

from __future__ import annotations

import copy

import keras
import numpy as np
import pandas as pd
import pytest
import yaml
from snakemake_run import REPO, planned_jobs, snakemake
from test_inception import stand_in_graph_def

from sketchback.evaluation.distribution import (COLUMNS, FID_RELIABLE_N, NETWORK_LABELS, STAND_IN, STAND_IN_LAYER,
                                                DistributionOptions, SetFeatures, distribution_scores, feature_network,
                                                fid_caveats, fid_note, small_set_warning)
from sketchback.evaluation.evaluate import evaluate, load_generator, predict
from sketchback.evaluation.inception import GRAPH_FILE, inception_features, inception_network
from sketchback.evaluation.metrics import frechet_distance, kernel_inception_distance
from sketchback.io import save_npz
from sketchback.models.generators import build_generator
from sketchback.vgg import vgg16_notop, vgg_preprocess

STAND_IN_OPTIONS = DistributionOptions(STAND_IN, kid_subsets=10, kid_subset_size=1000, seed=0)
WARNING = "biased upward at this size, compare only at equal n; KID is unbiased"


def photos(n: int, seed: int = 0, size: int = 32) -> np.ndarray:
    """uint8 RGB images with some structure: smooth colour ramps plus noise."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 1, size, dtype=np.float32)
    base = ramp[None, :, None, None] * rng.uniform(0, 255, (n, 1, 1, 3)) + ramp[None, None, :, None] * 40
    return np.clip(base + rng.normal(0, 20, (n, size, size, 3)), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def stand_in():
    return feature_network(STAND_IN_OPTIONS)


# --- the scores of two feature sets ------------------------------------------------------------------

def test_identical_sets_give_zero_fid_and_different_sets_do_not():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, (60, 8)), rng.normal(0.5, 1, (60, 8))
    same = distribution_scores(a, a.copy(), network="random", subsets=20, subset_size=1000, seed=0)
    apart = distribution_scores(a, b, network="random", subsets=20, subset_size=1000, seed=0)
    assert same["fid"] == pytest.approx(0.0, abs=1e-8)
    assert apart["fid"] == pytest.approx(frechet_distance(a, b)) and apart["fid"] > 0.5
    assert (apart["kid_mean"], apart["kid_std"]) == kernel_inception_distance(a, b, 20, 1000, 0)
    # the unbiased MMD of a set with itself leaves out only the within-set diagonals: at most 0, never positive
    assert same["kid_mean"] <= 0 < apart["kid_mean"]


def test_the_kid_subset_size_is_capped_by_the_number_of_images():
    rng = np.random.default_rng(1)
    scores = distribution_scores(rng.normal(size=(12, 4)), rng.normal(size=(12, 4)), network="random",
                                 subsets=7, subset_size=1000, seed=3)
    assert (scores["n_images"], scores["kid_subsets"], scores["kid_subset_size"]) == (12, 7, 12)
    # every subset is then the whole set: the subsets agree and their spread is 0
    assert scores["kid_std"] == pytest.approx(0.0, abs=1e-12)
    capped = distribution_scores(rng.normal(size=(30, 4)), rng.normal(size=(30, 4)), network="random",
                                 subsets=7, subset_size=10, seed=3)
    assert capped["kid_subset_size"] == 10 and capped["kid_std"] > 0
    alone = distribution_scores(rng.normal(size=(1, 4)), rng.normal(size=(5, 4)), network="random", subsets=7,
                                subset_size=10, seed=3)
    assert alone["n_images"] == 1 and np.isnan([alone["fid"], alone["kid_mean"], alone["kid_std"]]).all()


# --- the networks --------------------------------------------------------------------------------------

def test_the_stand_in_is_the_seeded_random_vgg16_average_pooled_at_its_layer(stand_in):
    images = photos(5)
    features = stand_in.features(images, 2)
    assert stand_in.name == STAND_IN and features.shape == (5, 512) and features.dtype == np.float64
    vgg = vgg16_notop("random", seed=0)  # written out: the layer's activations, averaged over positions
    layer = keras.Model(vgg.input, vgg.get_layer(STAND_IN_LAYER).output)
    expected = np.asarray(layer(vgg_preprocess(images.astype(np.float32) / 255.0))).mean(axis=(1, 2))
    np.testing.assert_allclose(features, expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(stand_in.features(images, 5), features, rtol=1e-5, atol=1e-7)  # any batch size
    other = feature_network(DistributionOptions(STAND_IN, 10, 1000, seed=1)).features(images, 5)
    assert np.abs(other - features).max() > 1e-3  # the seed picks the filters


def test_the_inception_option_runs_the_graph_file_it_is_given(tmp_path):
    graph = tmp_path / GRAPH_FILE
    graph.write_bytes(stand_in_graph_def())
    network = feature_network(DistributionOptions("inception", 10, 1000, 0, graph=graph))
    images = photos(7, size=24)
    assert network.name == "inception"
    # batch_size 1 at 24 px holds fewer pixels than one 299 px image: still one image per call
    np.testing.assert_allclose(network.features(images, 1),
                               inception_features(images, inception_network(graph), 50), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="inception needs the graph file"):
        feature_network(DistributionOptions("inception", 10, 1000, 0))


def test_an_unknown_network_is_refused_naming_the_key():
    with pytest.raises(ValueError, match=r"evaluation.fid_network: 'vgg19' is not a feature network \(known: "
                                         r"inception, random\)"):
        feature_network(DistributionOptions("vgg19", 10, 1000, 0))


def test_set_features_compare_predictions_with_their_photos(stand_in):
    truths = photos(24, seed=0)
    close, far = SetFeatures(stand_in), SetFeatures(stand_in)
    for part in (slice(0, 10), slice(10, 24)):  # shard by shard
        close.add(truths[part].astype(np.float32) / 255.0, truths[part], 4)  # predictions equal to the photos
        far.add(np.full(truths[part].shape, 0.5, np.float32) * np.linspace(0.2, 1, 24)[part, None, None, None],
                truths[part], 4)
    same, apart = close.scores(10, 1000, 0), far.scores(10, 1000, 0)
    assert same["n_images"] == apart["n_images"] == 24 and same["kid_subset_size"] == 24
    assert same["fid"] == pytest.approx(0.0, abs=1e-6)
    assert apart["fid"] > 1e-3 and apart["kid_mean"] > 1e-4


# --- what a reader sees next to the numbers -------------------------------------------------------------

def test_fid_on_a_small_set_carries_the_warning_and_the_stand_in_its_label():
    assert small_set_warning(100) == f"FID on n=100 images: {WARNING}"
    assert small_set_warning(FID_RELIABLE_N - 1).startswith(f"FID on n={FID_RELIABLE_N - 1} images")
    assert small_set_warning(FID_RELIABLE_N) is None and small_set_warning(20_000) is None
    assert fid_caveats(5000, "inception") == [] and fid_note(5000, "inception") == ""
    assert fid_caveats(100, "inception") == [f"FID on n=100 images: {WARNING}"]
    assert "random-filter stand-in, not comparable with published FIDs" in NETWORK_LABELS[STAND_IN]
    note = fid_note(48, STAND_IN)
    assert f"FID on n=48 images: {WARNING}" in note and "not comparable with published FIDs" in note
    assert "not comparable" in fid_note(5000, STAND_IN) and "FID on" not in fid_note(5000, STAND_IN)
    assert fid_note(float("nan"), float("nan")) == ""  # a row without set-level scores


# --- through evaluate ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def evaluation(tmp_path_factory):
    root = tmp_path_factory.mktemp("distribution")
    images = photos(9, size=24)
    names = np.array([f"images/{i:03d}.png" for i in range(9)])
    pairs = []
    for k, part in enumerate((slice(0, 6), slice(6, 9))):
        photo, sketch = root / f"photos_{k}.npz", root / f"sketch_{k}.npz"
        save_npz(photo, images=images[part], names=names[part], rows=np.arange(9)[part])
        save_npz(sketch, sketches=images[part].mean(axis=-1).astype(np.uint8), names=names[part],
                 rows=np.arange(9)[part])
        pairs.append((str(photo), str(sketch)))
    np.save(root / "mean.npy", images.astype(np.float32).mean(axis=0) / 255.0)
    build_generator("scribbler", base_filters=4, residual_blocks=1).save(root / "generator.keras")
    return {"root": root, "pairs": pairs, "images": images}


def test_evaluate_writes_the_fid_and_kid_of_its_predictions_against_its_photos(evaluation, stand_in, tmp_path):
    e = evaluation
    evaluate(e["root"] / "generator.keras", e["pairs"], e["root"] / "mean.npy", tmp_path / "metrics.csv",
             tmp_path / "grid.png", model_name="faces", dataset="faces", method="pencil", batch_size=4,
             distribution=STAND_IN_OPTIONS, out_distribution=tmp_path / "distribution.csv")
    written = pd.read_csv(tmp_path / "distribution.csv")
    assert list(written.columns) == COLUMNS and len(written) == 1
    row = written.iloc[0]
    assert (row["model"], row["dataset"], row["method"], row["hints"], row["fid_network"]) == (
        "faces", "faces", "pencil", 0, STAND_IN)
    assert (row["n_images"], row["kid_subsets"], row["kid_subset_size"]) == (9, 10, 9)
    # the same numbers from the predictions and the photos, computed here
    sketches = np.concatenate([np.load(s)["sketches"] for _, s in e["pairs"]]).astype(np.float32)[..., None] / 255.0
    predictions = np.round(predict(load_generator(e["root"] / "generator.keras"), sketches) * 255).astype(np.uint8)
    expected = distribution_scores(stand_in.features(predictions, 9), stand_in.features(e["images"], 9),
                                   network=STAND_IN, subsets=10, subset_size=1000, seed=0)
    assert row["fid"] == pytest.approx(expected["fid"], rel=1e-3) and row["fid"] > 0
    assert row["kid_mean"] == pytest.approx(expected["kid_mean"], rel=1e-3, abs=1e-9)
    with pytest.raises(ValueError, match="together"):
        evaluate(e["root"] / "generator.keras", e["pairs"], e["root"] / "mean.npy", tmp_path / "m.csv",
                 tmp_path / "g.png", model_name="faces", dataset="faces", method="pencil",
                 distribution=STAND_IN_OPTIONS)


# --- the workflow: which network the evaluate jobs read --------------------------------------------------

def test_the_evaluate_jobs_need_the_inception_graph_only_with_fid_network_inception(tmp_path):
    config = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    assert config["evaluation"]["fid_network"] == STAND_IN  # offline: the demo never downloads the graph
    target = "results/evaluation/faces/faces/pencil/metrics.csv"
    for name in ("random", "inception"):
        (tmp_path / name).mkdir()
    offline = planned_jobs(snakemake(tmp_path / "random", _with(config, "random"), "-n", target))
    assert "download_inception" not in offline and len(offline["evaluate"]) == 1
    reference = snakemake(tmp_path / "inception", _with(config, "inception"), "-n", target)
    jobs = planned_jobs(reference)
    assert jobs["download_inception"] == ["resources/inception/classify_image_graph_def.pb"]
    # the demo's one job for the faces test set, every style (evaluation.one_job_per: test_set)
    assert len(jobs["evaluate"]) == 1
    assert {target, "results/evaluation/faces/faces/pencil/distribution.csv"} <= set(jobs["evaluate"][0].split(", "))
    # the evaluate job is planned after the graph it reads
    text = reference.stdout + reference.stderr
    assert text.index("rule download_inception:") < text.index("rule evaluate:")
    study = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    assert study["evaluation"]["fid_network"] == "inception"


def _with(config: dict, network: str) -> dict:
    changed = copy.deepcopy(config)
    changed["evaluation"]["fid_network"] = network
    return changed
