"""The evaluation pipeline: per-image metrics against scikit-image, per-set summaries, the
cross-style matrix, the evaluation plan from the config, and the poster figures."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image
from skimage import data as skdata
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from sketchback.tools.config import check_config, evaluation_plan
from sketchback.errors import ConfigError
from sketchback.evaluation.distribution import DistributionOptions
from sketchback.evaluation.evaluate import (
    common_samples,
    Evaluator,
    cross_style_table,
    data_overview,
    evaluate,
    load_generator,
    poster_figure,
    predict,
    sketch_examples,
    split_by_style,
    summarize,
    write_cross_style,
)
from sketchback.io import save_npz
from sketchback.vgg import vgg_feature_extractor, vgg_preprocess
from sketchback.models.generators import build_generator
from sketchback.sketches.sketch import pencil_sketch, xdog

REPO = Path(__file__).resolve().parents[1]
SIZE = 24


def _test_photos(n: int) -> np.ndarray:
    """Crops of scikit-image's sample photos, resized: real photographic structure, uint8 RGB."""
    sources = [skdata.astronaut(), skdata.coffee(), skdata.chelsea(), skdata.rocket()]
    photos = []
    for i in range(n):
        image = sources[i % len(sources)]
        h, w = image.shape[:2]
        top, left = (i * 37) % (h - 160), (i * 53) % (w - 160)
        photos.append(cv2.resize(image[top:top + 160, left:left + 160], (SIZE, SIZE), interpolation=cv2.INTER_AREA))
    return np.stack(photos)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """Two test shards (5 + 3 photos) with pencil sketches, a mean image and a tiny generator."""
    root = tmp_path_factory.mktemp("eval")
    photos = _test_photos(8)
    names = np.array([f"images/{i:03d}.png" for i in range(8)])
    pairs = []
    for k, (lo, hi) in enumerate([(0, 5), (5, 8)]):
        photo, sketch = root / f"photos_{k}.npz", root / f"pencil_{k}.npz"
        save_npz(photo, images=photos[lo:hi], names=names[lo:hi], rows=np.arange(lo, hi))
        save_npz(sketch, sketches=np.stack([pencil_sketch(p, blur_ksize=7) for p in photos[lo:hi]]),
                 names=names[lo:hi], rows=np.arange(lo, hi))
        pairs.append((str(photo), str(sketch)))
    mean = root / "mean.npy"
    np.save(mean, _test_photos(12).astype(np.float32).mean(axis=0) / 255.0)
    model = root / "generator.keras"
    build_generator("scribbler", base_filters=4, residual_blocks=1).save(model)
    return {"root": root, "pairs": pairs, "mean": mean, "model": model, "photos": photos, "names": names}


def _reference_feature_distance(extractor, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The documented formula, written out separately: unit-normalise each position's features."""
    fa = np.asarray(extractor(vgg_preprocess(a.astype(np.float32))), dtype=np.float64)
    fb = np.asarray(extractor(vgg_preprocess(b.astype(np.float32))), dtype=np.float64)
    fa /= np.linalg.norm(fa, axis=-1, keepdims=True) + 1e-10
    fb /= np.linalg.norm(fb, axis=-1, keepdims=True) + 1e-10
    return ((fa - fb) ** 2).sum(axis=-1).mean(axis=(1, 2))


def test_evaluate_metrics_agree_with_scikit_image(study, tmp_path):
    out_csv, out_grid = tmp_path / "metrics.csv", tmp_path / "grid.png"
    frame = evaluate(study["model"], study["pairs"], study["mean"], out_csv, out_grid, model_name="faces",
                     dataset="faces", method="pencil", grid_rows=6, batch_size=3, seed=0)
    on_disk = pd.read_csv(out_csv)
    assert list(on_disk["image"]) == list(study["names"])
    assert set(on_disk["method"]) == {"pencil"} and len(on_disk) == 8
    # Recompute every estimate independently and score it with scikit-image.
    generator = load_generator(study["model"])
    sketches = np.concatenate([np.load(s)["sketches"] for _, s in study["pairs"]]).astype(np.float32) / 255.0
    truths = study["photos"].astype(np.float64) / 255.0
    estimates = {
        "prediction": np.clip(np.asarray(generator(sketches[..., None], training=False)), 0, 1).astype(np.float64),
        "sketch": np.repeat(sketches[..., None], 3, axis=-1).astype(np.float64),
        "mean_image": np.broadcast_to(np.load(study["mean"]).astype(np.float64), truths.shape),
    }
    for estimator, images in estimates.items():
        for i in range(8):
            assert on_disk[f"psnr_{estimator}"][i] == pytest.approx(
                peak_signal_noise_ratio(truths[i], images[i], data_range=1.0), abs=1e-4)
            assert on_disk[f"ssim_{estimator}"][i] == pytest.approx(
                structural_similarity(truths[i], images[i], data_range=1.0, channel_axis=-1), abs=1e-4)
        expected = _reference_feature_distance(vgg_feature_extractor("random", seed=0), images, truths)
        np.testing.assert_allclose(on_disk[f"feature_distance_{estimator}"], expected, rtol=1e-3, atol=1e-5)
    # Numbers mean something: the sketch and mean image are far from the photo, but not absurdly.
    assert on_disk["ssim_sketch"].between(-1, 1).all() and (on_disk["feature_distance_prediction"] > 0).all()
    pd.testing.assert_frame_equal(frame.reset_index(drop=True), on_disk, check_dtype=False)
    grid = cv2.imread(str(out_grid))
    assert grid is not None and grid.shape[0] > 6 * 128  # title, labels and 6 rows of 128 px cells
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.png", "metrics.csv"]


def test_evaluate_refuses_sketches_of_other_photos(study, tmp_path):
    photo, sketch = study["pairs"][0]
    shuffled = tmp_path / "shuffled.npz"
    shard = dict(np.load(sketch))
    save_npz(shuffled, sketches=shard["sketches"], names=shard["names"][::-1], rows=shard["rows"])
    with pytest.raises(ValueError, match="shuffled.npz.*names differ"):
        evaluate(study["model"], [(photo, str(shuffled))], study["mean"], tmp_path / "m.csv", tmp_path / "g.png",
                 model_name="faces", dataset="faces", method="pencil")
    assert not (tmp_path / "m.csv").exists()


def test_predict_matches_a_direct_call_for_any_batch_size(study):
    generator = load_generator(study["model"])
    sketches = np.random.default_rng(0).random((5, SIZE, SIZE, 1)).astype(np.float32)
    direct = np.clip(np.asarray(generator(sketches, training=False)), 0, 1)
    for batch in (1, 2, 16):
        np.testing.assert_allclose(predict(generator, sketches, batch), direct, atol=1e-5)


def _per_image_csv(path: Path, model: str, method: str, ssim: list[float], psnr: list[float]) -> Path:
    n = len(ssim)
    frame = pd.DataFrame({"model": model, "dataset": "faces", "method": method, "image": [f"i{i}" for i in range(n)]})
    for estimator, shift in (("prediction", 0.0), ("sketch", -0.2), ("mean_image", -0.3)):
        frame[f"psnr_{estimator}"] = np.array(psnr) + 10 * shift
        frame[f"ssim_{estimator}"] = np.array(ssim) + shift
        frame[f"feature_distance_{estimator}"] = 1.0 - np.array(ssim) - shift
        frame[f"sharpness_{estimator}"] = 0.5 + np.array(ssim) + shift
    frame.to_csv(path, index=False)
    return path


def test_summarize_gives_means_with_bootstrap_intervals(tmp_path):
    rng = np.random.default_rng(3)
    ssim = list(rng.uniform(0.4, 0.8, 30))
    psnr = list(rng.uniform(12, 20, 30))
    psnr[4] = math.inf  # a perfect prediction
    csvs = [_per_image_csv(tmp_path / "a.csv", "faces", "pencil", ssim, psnr),
            _per_image_csv(tmp_path / "b.csv", "faces", "xdog", ssim[:10], psnr[:10])]
    summary = summarize(csvs, tmp_path / "summary.csv", seed=0)
    assert list(summary["method"]) == ["pencil", "xdog"] and list(summary["n_images"]) == [30, 10]
    first = summary.iloc[0]
    finite_psnr = [p for p in psnr if np.isfinite(p)]
    assert first["psnr_prediction"] == pytest.approx(np.mean(finite_psnr))
    assert first["psnr_inf_prediction"] == 1 and first["psnr_inf_sketch"] == 1
    assert first["ssim_prediction"] == pytest.approx(np.mean(ssim))
    for metric in ("psnr", "ssim", "feature_distance"):
        for estimator in ("prediction", "sketch", "mean_image"):
            column = f"{metric}_{estimator}"
            assert (summary[f"{column}_lo"] < summary[column]).all() and (summary[column] < summary[f"{column}_hi"]).all()
    # fewer images, wider interval; same seed, same numbers
    width = summary["ssim_prediction_hi"] - summary["ssim_prediction_lo"]
    assert width[1] > width[0]
    pd.testing.assert_frame_equal(summarize(csvs, tmp_path / "again.csv", seed=0), summary)


def test_summarize_names_missing_metric_columns(tmp_path):
    path = _per_image_csv(tmp_path / "a.csv", "faces", "pencil", [0.5, 0.6], [15.0, 16.0])
    pd.read_csv(path).drop(columns=["feature_distance_sketch"]).to_csv(path, index=False)
    with pytest.raises(ValueError, match="feature_distance_sketch"):
        summarize([path], tmp_path / "summary.csv")


def _distribution_csv(path: Path, model: str, dataset: str, method: str, n: int, fid: float, hints: int = 0) -> Path:
    pd.DataFrame([{"model": model, "dataset": dataset, "method": method, "hints": hints, "fid_network": "random",
                   "n_images": n, "fid": fid, "kid_mean": fid / 100, "kid_std": fid / 1000, "kid_subsets": 100,
                   "kid_subset_size": n}]).to_csv(path, index=False)
    return path


def test_summarize_adds_each_sets_fid_and_kid_with_its_warnings(tmp_path):
    csvs = [_per_image_csv(tmp_path / "a.csv", "faces", "pencil", [0.5, 0.6, 0.7], [15.0, 16.0, 17.0]),
            _per_image_csv(tmp_path / "b.csv", "faces", "xdog", [0.4, 0.5, 0.6], [14.0, 15.0, 16.0])]
    sets = [_distribution_csv(tmp_path / "b_distribution.csv", "faces", "faces", "xdog", 3, 2.5),
            _distribution_csv(tmp_path / "a_distribution.csv", "faces", "faces", "pencil", 3, 1.5)]  # any order
    summary = summarize(csvs, tmp_path / "summary.csv", seed=0, distribution_csvs=sets).set_index("method")
    assert list(summary.loc["pencil", ["fid", "kid", "kid_std", "fid_n", "fid_network"]]) == [1.5, 0.015, 0.0015, 3,
                                                                                             "random"]
    assert summary.loc["xdog", "fid"] == 2.5
    for note in summary["fid_note"]:
        assert "FID on n=3 images: biased upward at this size, compare only at equal n; KID is unbiased" in note
        assert "random-filter stand-in, not comparable with published FIDs" in note
    on_disk = pd.read_csv(tmp_path / "summary.csv")
    assert {"fid", "kid", "kid_std", "fid_n", "fid_network", "fid_note"} <= set(on_disk.columns)
    with pytest.raises(ValueError, match=r"no distribution.csv for \[\{'model': 'faces', 'dataset': 'faces', "
                                         r"'method': 'xdog', 'hints': 0\}\]"):
        summarize(csvs, tmp_path / "again.csv", distribution_csvs=sets[1:])
    cross = cross_style_table(pd.read_csv(tmp_path / "summary.csv"), TRAINING, ["pencil", "xdog"])
    assert list(cross["fid"]) == [1.5, 2.5] and list(cross["kid"]) == [0.015, 0.025]
    assert list(cross["fid_n"]) == [3, 3] and set(cross["fid_network"]) == {"random"}
    assert cross["fid_note"].str.contains("FID on n=3 images").all()


def _summary(tmp_path) -> Path:
    csvs = []
    for model, test_set, styles in (("faces", "faces", ("xdog", "pencil")), ("faces", "cuhk", ("handdrawn", "pencil")),
                                    ("buildings", "buildings", ("pencil", "xdog"))):
        for style in styles:
            path = tmp_path / f"{model}_{test_set}_{style}.csv"
            base = 0.7 if style == "pencil" else 0.5
            _per_image_csv(path, model, style, list(base + 0.01 * np.arange(6)), list(15 + np.arange(6.0)))
            frame = pd.read_csv(path)
            frame["dataset"] = test_set
            frame.to_csv(path, index=False)
            csvs.append(path)
    summarize(csvs, tmp_path / "summary.csv", seed=0)
    return tmp_path / "summary.csv"


TRAINING = {"faces": {"dataset": "faces", "methods": ["pencil"]},
            "buildings": {"dataset": "buildings", "methods": ["pencil"]}}


def test_cross_style_table_orders_by_config_and_marks_the_trained_style(tmp_path):
    table = cross_style_table(pd.read_csv(_summary(tmp_path)), TRAINING, ["pencil", "xdog", "handdrawn"])
    assert list(zip(table["model"], table["test_set"], table["style"])) == [
        ("faces", "faces", "pencil"), ("faces", "faces", "xdog"), ("faces", "cuhk", "pencil"),
        ("faces", "cuhk", "handdrawn"), ("buildings", "buildings", "pencil"), ("buildings", "buildings", "xdog")]
    assert list(table["seen_style"]) == [True, False, True, False, True, False]
    assert set(table["training_styles"]) == {"pencil"} and (table["n_images"] == 6).all()
    for metric in ("psnr", "ssim", "feature_distance"):
        assert (table[f"{metric}_lo"] <= table[metric]).all() and (table[metric] <= table[f"{metric}_hi"]).all()
    with pytest.raises(ValueError, match=r"models \['buildings', 'faces'\] that are not in the config"):
        cross_style_table(pd.read_csv(tmp_path / "summary.csv"), {"sketchy": TRAINING["faces"]}, ["pencil"])


def test_write_cross_style_writes_table_and_poster_resolution_heat_map(tmp_path):
    table = write_cross_style(_summary(tmp_path), tmp_path / "cross_style.csv", tmp_path / "cross_style.png",
                              training=TRAINING, styles=["pencil", "xdog", "style", "handdrawn"], dpi=300)
    assert pd.read_csv(tmp_path / "cross_style.csv").shape[0] == len(table) == 6
    with Image.open(tmp_path / "cross_style.png") as image:
        assert image.size[0] >= 1500 and round(image.info["dpi"][0]) == 300
    assert not list(tmp_path.glob(".*tmp*"))


def _config() -> dict:
    config = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    full = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["datasets"]["cuhk"] = full["datasets"]["cuhk"]
    return config


def test_evaluation_plan_crosses_every_model_with_every_style_of_its_test_sets():
    config = _config()
    config["models"] = {name: config["models"][name] for name in ("faces", "buildings")}  # the demo's others alike
    config["evaluation"]["styles"] = ["pencil", "handdrawn", "xdog"]
    config["models"]["faces"]["test_on"] = ["faces", "cuhk"]
    check_config(config)
    assert evaluation_plan(config) == [
        ("faces", "faces", "pencil"), ("faces", "faces", "xdog"),
        ("faces", "cuhk", "pencil"), ("faces", "cuhk", "handdrawn"), ("faces", "cuhk", "xdog"),
        ("buildings", "buildings", "pencil"), ("buildings", "buildings", "xdog")]


@pytest.mark.parametrize("styles, message", [
    (["pencil", "charcoal"], "evaluation.styles: 'charcoal' is neither a sketch method under sketch:"),
    (["pencil", "handdrawn"], "evaluation.styles: 'handdrawn' needs a test set whose source has hand-drawn"),
])
def test_bad_evaluation_styles_name_the_key(styles, message):
    config = copy.deepcopy(_config())
    config["evaluation"]["styles"] = styles  # no model is tested on cuhk here
    with pytest.raises(ConfigError, match=message):
        check_config(config)


@pytest.fixture(scope="module")
def styled(study):
    """The study's test set in two more styles: xdog (every image) and a subset style whose shards
    carry their own photos, like neural style sketches (images 1 and 3 of shard 0, 6 of shard 1)."""
    root, pairs = study["root"], {"pencil": study["pairs"]}
    pairs["xdog"], pairs["style"] = [], []
    for k, (photo, _) in enumerate(study["pairs"]):
        shard = dict(np.load(photo))
        xdog_path, subset_path = root / f"xdog_{k}.npz", root / f"subset_{k}.npz"
        save_npz(xdog_path, sketches=np.stack([xdog(p) for p in shard["images"]]), names=shard["names"], rows=shard["rows"])
        keep = [1, 3] if k == 0 else [1]
        save_npz(subset_path, sketches=np.full((len(keep), SIZE, SIZE), 200, np.uint8), names=shard["names"][keep],
                 rows=shard["rows"][keep], images=shard["images"][keep])
        pairs["xdog"].append((photo, str(xdog_path)))
        pairs["style"].append((str(subset_path), str(subset_path)))
    return pairs


def test_one_evaluator_over_several_styles_writes_what_one_evaluation_per_style_does(study, styled, tmp_path):
    """An evaluation job of evaluation.one_job_per: test_set (the model and networks loaded once, every style in
    turn) writes the bytes of the jobs of one_job_per: style, FID/KID included."""
    fid = DistributionOptions("random", 5, 2, 0)
    kwargs = {"model_name": "faces", "dataset": "faces", "grid_rows": 3, "batch_size": 3, "seed": 0, "distribution": fid}
    evaluator = Evaluator(study["model"], study["mean"], **kwargs)
    for style in ("xdog", "style", "pencil"):  # styles with other image counts, not in the order below
        one, alone = tmp_path / "one" / style, tmp_path / "alone" / style
        one.mkdir(parents=True), alone.mkdir(parents=True)
        evaluator(styled[style], one / "metrics.csv", one / "grid.png", method=style,
                  out_distribution=one / "distribution.csv")
    for style in ("pencil", "xdog", "style"):
        alone = tmp_path / "alone" / style
        evaluate(study["model"], styled[style], study["mean"], alone / "metrics.csv", alone / "grid.png", method=style,
                 out_distribution=alone / "distribution.csv", **kwargs)
        for name in ("metrics.csv", "grid.png", "distribution.csv"):
            assert (tmp_path / "one" / style / name).read_bytes() == (alone / name).read_bytes(), f"{style}/{name}"
    assert len(pd.read_csv(tmp_path / "one" / "style" / "metrics.csv")) == 3


def test_split_by_style_pairs_each_style_with_its_shards_and_names_an_uneven_list():
    assert split_by_style(["p0", "p1", "x0", "x1"], ["pencil", "xdog"]) == {"pencil": ["p0", "p1"], "xdog": ["x0", "x1"]}
    with pytest.raises(ValueError, match="3 test shards cannot be split evenly over the styles pencil, xdog"):
        split_by_style(["p0", "p1", "x0"], ["pencil", "xdog"])


def test_common_samples_are_the_first_images_every_style_has(study, styled):
    names, sketches, photos = common_samples(styled, rows=10)
    assert names == ["images/001.png", "images/003.png", "images/006.png"]
    np.testing.assert_array_equal(photos, study["photos"][[1, 3, 6]])
    assert (sketches["style"] == 200).all()
    np.testing.assert_array_equal(sketches["pencil"][2], np.load(study["pairs"][1][1])["sketches"][1])
    assert common_samples(styled, rows=2)[0] == names[:2]


def test_poster_figure_is_a_labelled_grid_at_poster_resolution(study, styled, tmp_path):
    out = tmp_path / "poster.png"
    names = poster_figure(study["model"], styled, out, title="faces model on faces", rows=3, width=1800, dpi=300)
    assert len(names) == 3
    with Image.open(out) as image:
        assert image.size[0] >= 1500 and round(image.info["dpi"][0]) == 300
        grid = np.asarray(image.convert("RGB"))
    # 7 columns (3 styles x sketch|prediction, then the truth), each cell a square of equal side
    cell = (grid.shape[1] - 2) // 7 - 2
    assert grid.shape[1] == 7 * (cell + 2) + 2
    truth_cell = grid[-(cell + 2):-2, -(cell + 2):-2]  # last row, last column: the photo of images/006.png
    expected = cv2.resize(study["photos"][6], (cell, cell), interpolation=cv2.INTER_NEAREST)
    assert np.abs(truth_cell.astype(int) - expected.astype(int)).mean() < 1.0


def test_sketch_examples_and_data_overview(study, styled, tmp_path):
    sketch_examples(styled, tmp_path / "sketches.png", title="faces test set", rows=2, width=1600, dpi=300)
    with Image.open(tmp_path / "sketches.png") as image:
        assert image.size[0] >= 1500
    index = tmp_path / "index.csv"
    pd.DataFrame({"path": [f"p{i}" for i in range(10)], "split": ["train"] * 6 + ["val"] * 2 + ["test"] * 2,
                  "shard": [0, 0, 0, 1, 1, 1, 0, 0, 0, 0]}).to_csv(index, index=False)
    table = data_overview({"faces": {"source": "synthetic_faces", "index": str(index), "shard": study["pairs"][0][0]}},
                          tmp_path / "data.csv", tmp_path / "data.png", image_size=SIZE, rows=4)
    assert table.set_index("split")[["images", "shards"]].to_dict("index") == {
        "train": {"images": 6, "shards": 2}, "val": {"images": 2, "shards": 1}, "test": {"images": 2, "shards": 1}}
    assert cv2.imread(str(tmp_path / "data.png")) is not None
