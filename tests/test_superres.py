"""The super-resolution stage: the upsampler, the truth at factor x S, its training, evaluation and
summary, its config checks, and its rules through the real Snakemake on a tiny study."""

import copy

import numpy as np
import pandas as pd
import pytest
import snakemake_run
import yaml
from snakemake_run import REPO, planned_jobs
from tiny_study import TINY

from sketchback.errors import ConfigError
from sketchback.io import load_npz, save_npz
from sketchback.evaluation.metrics import image_metrics
from sketchback.data.prepare import prepare_shard, write_index
from sketchback.data.sources import download
from sketchback.models.superres import (
    PHOTOS,
    SuperresOptions,
    bicubic,
    build_upsampler,
    check_superres,
    downscale,
    load_upsampler,
    prepare_photos,
    train_upsampler,
    upscale,
)
from sketchback.evaluation.superres import (
    DIFFERENCE,
    SUMMARY_COLUMNS,
    evaluate_superres,
    superres_summary,
    verdicts,
)
from sketchback.data.synthetic import synthetic_image


def options(**changes) -> SuperresOptions:
    base = dict(factor=2, epochs=2, learning_rate=2e-3, filters=8, blocks=1, batch_size=8, patch_size=16,
                feature_weight=0.0, vgg_weights="random", vgg_md5=None, seed=0)
    return SuperresOptions(**{**base, **changes})


@pytest.fixture(scope="module")
def faces():
    """96 synthetic faces rendered at 32 px: 64 to train on, 32 held out."""
    return np.stack([synthetic_image("faces", 0, i, 32) for i in range(96)])


def write_shard(path, images, first_row=0):
    rows = np.arange(first_row, first_row + len(images))
    save_npz(path, images=images, names=np.array([f"images/{r:05d}.png" for r in rows]), rows=rows)
    return path


# --------------------------------------------------------------------------- the network


@pytest.mark.parametrize("factor", [2, 4])
def test_upsampler_scales_by_its_factor_and_starts_as_bicubic(factor):
    low = np.random.default_rng(0).random((2, 8, 12, 3), dtype=np.float32)
    model = build_upsampler(factor, filters=4, blocks=1)
    out = np.asarray(model(low))
    assert out.shape == (2, 8 * factor, 12 * factor, 3)
    # the residual's last convolution starts at zero: untrained, it is the bicubic baseline itself
    np.testing.assert_allclose(np.clip(out, 0, 1), bicubic(low, factor), atol=1e-6)
    assert not np.allclose(bicubic(low, factor), np.repeat(np.repeat(low, factor, 1), factor, 2), atol=1e-3)


def test_downscale_is_the_block_mean():
    images = np.arange(2 * 4 * 6 * 3, dtype=np.uint8).reshape(2, 4, 6, 3)
    low = downscale(images, 2)
    assert low.shape == (2, 2, 3, 3) and low.dtype == np.float32
    assert low[1, 1, 2, 0] == pytest.approx(images[1, 2:4, 4:6, 0].mean() / 255)
    with pytest.raises(ValueError, match="cannot be downscaled by 4"):
        downscale(images, 4)


def test_upsampler_beats_bicubic_on_held_out_photos(tmp_path, faces):
    shard = write_shard(tmp_path / "train.npz", faces[:64])
    history = train_upsampler({"faces": [shard]}, tmp_path / "up.keras", tmp_path / "history.csv",
                              options(epochs=6, filters=16, batch_size=8, learning_rate=3e-3))
    assert list(history["epoch"]) == list(range(1, 7))
    assert history["rms"].iloc[-1] < history["rms"].iloc[0] and history["rms"].iloc[-1] < history["rms_bicubic"].iloc[-1]
    held_out = faces[64:]
    low, truth = downscale(held_out, 2), held_out.astype(np.float32) / 255
    model = load_upsampler(tmp_path / "up.keras")  # the saved file carries its architecture
    learned, baseline = image_metrics(upscale(model, low), truth), image_metrics(bicubic(low, 2), truth)
    gain = learned["psnr"] - baseline["psnr"]
    assert gain.mean() > 0.3, f"PSNR gain over bicubic {gain.mean():.3f} dB"
    assert (gain > 0).mean() > 0.8
    assert learned["ssim"].mean() > baseline["ssim"].mean()
    assert not list(tmp_path.glob(".*tmp*"))


def test_training_is_deterministic_for_a_seed(tmp_path, faces):
    shard = write_shard(tmp_path / "train.npz", faces[:32])
    weights = {}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        train_upsampler({"faces": [shard]}, tmp_path / f"{name}.keras", tmp_path / f"{name}.csv", options(seed=seed))
        weights[name] = load_upsampler(tmp_path / f"{name}.keras").get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(weights["a"], weights["b"]))
    assert not all(np.array_equal(a, c) for a, c in zip(weights["a"], weights["c"]))


def test_training_patches_depend_on_rows_not_shards(tmp_path, faces):
    """Two shards or one: the same patches, so the same weights."""
    one = write_shard(tmp_path / "one.npz", faces[:32])
    halves = [write_shard(tmp_path / "a.npz", faces[:16]), write_shard(tmp_path / "b.npz", faces[16:32], 16)]
    train_upsampler({"faces": [one]}, tmp_path / "one.keras", tmp_path / "one.csv", options(epochs=1))
    train_upsampler({"faces": halves}, tmp_path / "two.keras", tmp_path / "two.csv", options(epochs=1))
    a, b = (load_upsampler(tmp_path / f"{n}.keras").get_weights() for n in ("one", "two"))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


# --------------------------------------------------------------------------- the truth at factor x S


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """A synthetic dataset with 48 px raw images, prepared at 16 px (two test shards)."""
    root = tmp_path_factory.mktemp("prepared")
    download(root / "raw", {"name": "synthetic_buildings", "n_images": 12, "raw_size": 48}, seed=0)
    index = root / "index.csv"
    write_index(root / "raw", index, {"train": 0.5, "val": 0.17, "test": 0.33}, {"train": 1, "val": 1, "test": 2},
                seed=0)
    for shard in (0, 1):
        prepare_shard(index, root / "raw", "test", shard, root / f"test{shard}.npz", size=16, max_rejected=0)
    return root


@pytest.mark.parametrize("shard", [0, 1])
def test_photos_at_twice_the_size_align_row_by_row(prepared, shard):
    out = prepared / f"test{shard}_x2.npz"
    n = prepare_photos(prepared / "index.csv", prepared / "raw", prepared / f"test{shard}.npz", out, size=32)
    small, big = load_npz(prepared / f"test{shard}.npz"), load_npz(out)
    assert n == len(small["names"]) > 0 and big["images"].shape == (n, 32, 32, 3)
    assert np.array_equal(small["names"], big["names"]) and np.array_equal(small["rows"], big["rows"])
    # the same photo: the big one, area-downscaled, is the small one (both INTER_AREA from the raw image)
    diff = np.abs(downscale(big["images"], 2) * 255 - small["images"].astype(np.float32))
    assert diff.mean() < 2.0
    other = load_npz(prepared / f"test{1 - shard}.npz")["images"][:n]
    assert np.abs(downscale(big["images"][:len(other)], 2) * 255 - other.astype(np.float32)).mean() > 5


def test_photos_below_the_truth_size_are_refused_naming_the_file(prepared, tmp_path):
    with pytest.raises(ValueError, match=r"images/.*is 48 px, below the 64 px of the super-resolution truth"):
        prepare_photos(prepared / "index.csv", prepared / "raw", prepared / "test0.npz", tmp_path / "x.npz", size=64)
    assert not (tmp_path / "x.npz").exists()


def test_evaluation_scores_photos_and_predictions_against_the_truth(tmp_path, faces):
    from sketchback.models.generators import build_generator

    big = faces[:12]  # the truth at 32 px; the "prepared" photos at 16 px; two test shards
    small = np.rint(downscale(big, 2) * 255).astype(np.uint8)
    truths = [write_shard(tmp_path / f"t{k}.npz", big[k * 6:(k + 1) * 6], k * 6) for k in (0, 1)]
    photos = [write_shard(tmp_path / f"p{k}.npz", small[k * 6:(k + 1) * 6], k * 6) for k in (0, 1)]
    for k, photo in enumerate(photos):  # sketches of the first 4 images of each shard only (a subset style)
        save_npz(tmp_path / f"s{k}.npz", sketches=small[k * 6:k * 6 + 4, ..., 0],
                 names=load_npz(photo)["names"][:4])
    build_generator("scribbler", 4, 1).save(tmp_path / "generator.keras")
    build_upsampler(2, 4, 1).save(tmp_path / "up.keras")
    models = {"faces": {"generator": tmp_path / "generator.keras", "method": "pencil",
                        "pairs": [(photos[k], tmp_path / f"s{k}.npz") for k in (0, 1)]}}
    frame = evaluate_superres(tmp_path / "up.keras", photos, truths, models, tmp_path / "m.csv", tmp_path / "e.png",
                              dataset="faces", factor=2, rows=3, batch_size=4)
    assert list(frame.columns[:4]) == ["model", "dataset", "method", "image"]
    assert {f"{m}_{u}" for m in ("psnr", "ssim", "feature_distance") for u in ("bicubic", "superres")} <= set(frame)
    assert len(frame[frame.model == PHOTOS]) == 12 and len(frame[frame.model == "faces"]) == 8
    rows = frame[frame.model == PHOTOS]
    expected = image_metrics(bicubic(small.astype(np.float32) / 255, 2), big)["psnr"]
    np.testing.assert_allclose(rows["psnr_bicubic"], expected, rtol=1e-6)
    # an untrained upsampler is bicubic: the same scores
    np.testing.assert_allclose(rows["psnr_superres"], rows["psnr_bicubic"], rtol=1e-4)
    assert list(frame[frame.model == "faces"]["image"]) == [f"images/{r:05d}.png" for r in (0, 1, 2, 3, 6, 7, 8, 9)]
    assert pd.read_csv(tmp_path / "m.csv").shape == frame.shape
    import cv2

    figure = cv2.imread(str(tmp_path / "e.png"))
    assert figure is not None and figure.shape[1] >= 5 * 32  # faces bicubic | super-res. | photo x2 | truth
    with pytest.raises(ValueError, match="truth shards"):
        evaluate_superres(tmp_path / "up.keras", photos[:1], truths, models, tmp_path / "x.csv", tmp_path / "x.png",
                          dataset="faces", factor=2)


# --------------------------------------------------------------------------- the summary


def per_image_frame(gain: float, n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frames = []
    for model, method, shift in ((PHOTOS, "photo", gain), ("faces", "pencil", -gain)):
        bic, noise = rng.normal(25, 1, n), np.tile([0.1, -0.1], n // 2)  # the differences average to shift
        frames.append(pd.DataFrame({
            "model": model, "dataset": "faces", "method": method, "image": [f"i{k}" for k in range(n)],
            "psnr_bicubic": bic, "psnr_superres": bic + shift + noise,
            "ssim_bicubic": np.full(n, 0.8), "ssim_superres": 0.8 + (shift + noise) / 100,
            "feature_distance_bicubic": np.full(n, 0.3), "feature_distance_superres": 0.3 - shift / 100}))
    return pd.concat(frames, ignore_index=True)


def test_summary_has_each_upscaler_and_the_paired_difference():
    per_image = per_image_frame(1.0)
    summary = superres_summary(per_image, seed=0)
    assert list(summary.columns) == SUMMARY_COLUMNS
    assert len(summary) == 2 * 3 * 3 and set(summary["upscaler"]) == {"bicubic", "superres", DIFFERENCE}
    photos = summary[(summary.model == PHOTOS) & (summary.metric == "psnr")].set_index("upscaler")
    rows = per_image[per_image.model == PHOTOS]
    assert photos.loc["bicubic", "mean"] == pytest.approx(rows["psnr_bicubic"].mean())
    assert photos.loc[DIFFERENCE, "mean"] == pytest.approx((rows["psnr_superres"] - rows["psnr_bicubic"]).mean())
    assert (summary["ci_low"] <= summary["mean"]).all() and (summary["mean"] <= summary["ci_high"]).all()
    assert (summary["n"] == 40).all()
    said = verdicts(summary)
    assert said[(PHOTOS, "faces")].startswith("faces, the test photos: super-resolution helps (")
    assert said[("faces", "faces")].startswith("faces, the faces model's predictions: super-resolution hurts (")


def test_summary_leaves_infinite_psnr_out_and_says_no_clear_difference():
    per_image = per_image_frame(0.0)
    per_image.loc[0, "psnr_superres"] = np.inf
    summary = superres_summary(per_image, seed=0)
    row = summary[(summary.model == PHOTOS) & (summary.metric == "psnr") & (summary.upscaler == "superres")]
    assert int(row["n"].iloc[0]) == 39 and np.isfinite(row["mean"].iloc[0])
    assert "no clear difference" in verdicts(summary)[(PHOTOS, "faces")]
    with pytest.raises(ValueError, match="lack columns.*ssim_superres"):
        superres_summary(per_image.drop(columns=["ssim_superres"]))


# --------------------------------------------------------------------------- config checks


def demo_config() -> dict:
    config = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    for dataset in ("faces", "buildings"):
        config["datasets"][dataset]["source"]["raw_size"] = 128
    config["superres"] = {"enabled": True, "factor": 2, "models": None, "datasets": None, "epochs": 1,
                          "learning_rate": 1e-3, "filters": 8, "blocks": 1, "batch_size": 8, "patch_size": 16,
                          "feature_weight": 0.0, "figure_rows": 2}
    return config


@pytest.mark.parametrize("mutate, message", [
    (lambda c: c["superres"].update(factor=3), "superres.factor: 3 is not supported"),
    (lambda c: c["datasets"]["faces"]["source"].update(raw_size=100),
     "datasets.faces.source.raw_size gives 100 px images, below image_size x superres.factor = 128 px"),
    (lambda c: c.update(image_size=80), "below image_size x superres.factor = 160 px"),
    (lambda c: c["datasets"]["buildings"].update(crop=[0, 0, 120, 128]), "datasets.buildings.crop box gives 120 px"),
    (lambda c: c["superres"].update(models=["facez"]), "superres.models: 'facez' is not defined under models:"),
    (lambda c: c["superres"].update(datasets=["nope"]), "superres.datasets: 'nope' is not defined under datasets:"),
    (lambda c: c["superres"].update(patch_size=15), "superres.patch_size: 15 must be a multiple of"),
    (lambda c: c["models"].update(photos=c["models"]["faces"]), "models.photos:"),
    (lambda c: c["models"]["faces"].update(hints={"max_strokes": 4}) or c["superres"].update(models=["faces"]),
     "superres.models: 'faces' takes colour hints"),
])
def test_bad_superres_config_names_the_key(mutate, message):
    config = demo_config()
    check_superres(config)
    mutate(config)
    with pytest.raises(ConfigError) as error:
        check_superres(config)
    assert message in str(error.value)


def test_the_full_study_upscales_only_what_has_a_truth_at_256_px():
    """config/config.yaml: ZuBuD (640x480 photos) yes; CelebA's 140 px crop box cannot hold 256 px."""
    from sketchback.models.superres import superres_models, superres_test_sets

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    check_superres(config)
    assert superres_test_sets(config) == ["zubud"] and superres_models(config) == ["buildings"]
    config["superres"]["models"].append("faces")
    with pytest.raises(ConfigError, match="datasets.celeba.crop box gives 140 px"):
        check_superres(config)


def test_a_disabled_stage_checks_nothing_and_models_with_hints_are_left_out_by_default():
    config = demo_config()
    config["datasets"]["faces"]["source"]["raw_size"] = 40
    config["superres"]["enabled"] = False
    check_superres(config)
    from sketchback.models.superres import superres_models

    assert superres_models(config) == []  # off: it upscales nothing, whatever superres.models names
    config["superres"].update(enabled=True, models=None)
    config["models"]["faces_hints"] = dict(config["models"]["faces"], hints={"max_strokes": 4})
    assert "faces_hints" not in superres_models(config) and "faces" in superres_models(config)


# --------------------------------------------------------------------------- the rules, through Snakemake


def tiny_study() -> dict:
    """The demo cut down to one dataset and model at 16 px, with synthetic photos rendered at 32 px (for the
    config checks of dry runs; the stage's run is the tiny study's)."""
    config = demo_config()
    config["image_size"] = 16
    config["datasets"] = {"faces": dict(config["datasets"]["faces"], source={
        "name": "synthetic_faces", "n_images": 30, "raw_size": 32}, shards={"train": 2, "val": 1, "test": 1},
        sketch_methods=["pencil"])}
    config["sketch"] = {"pencil": config["sketch"]["pencil"]}
    config["models"] = {"faces": dict(config["models"]["faces"], epochs=1)}
    config["training"].update(base_filters=4, residual_blocks=1, batch_size=8)
    config["evaluation"].update(styles=["pencil"], grid_rows=2)
    config["superres"].update(filters=4, batch_size=4)
    config["ablation"] = None  # its variants are models this study leaves out
    return config


TARGETS = ["results/report/superres_summary.csv", "results/report/superres.png",
           "results/superres/evaluation/faces/examples.png"]


def snakemake(workdir, config, *args):
    return snakemake_run.snakemake(workdir, config, *args, *TARGETS, timeout=900)


# The stage in a finished study: the tiny study's (tests/tiny_study.py: faces and buildings at 32 px,
# their photos rendered at 64 px; super-resolution of the buildings model on buildings and the faces
# model on faces), built once for this file and the others that read it.


def test_the_stage_scores_photos_and_predictions_at_twice_the_size(tiny_study):
    results = tiny_study / "results"
    summary = pd.read_csv(results / "report" / "superres_summary.csv")
    assert list(summary.columns) == SUMMARY_COLUMNS
    assert set(zip(summary.model, summary.dataset, summary.method)) == {
        (PHOTOS, "faces", "photo"), (PHOTOS, "buildings", "photo"), ("faces", "faces", "pencil"),
        ("buildings", "buildings", "pencil")}
    assert set(summary.upscaler) == {"bicubic", "superres", DIFFERENCE} and set(summary.metric) == {
        "psnr", "ssim", "feature_distance"}
    per_image = pd.read_csv(results / "superres" / "evaluation" / "faces" / "metrics.csv")
    assert len(per_image) == 2 * (summary.loc[summary.dataset == "faces", "n"].max())
    truth = load_npz(results / "superres" / "prepared" / "faces" / "test" / "000.npz")
    assert truth["images"].shape[1:] == (64, 64, 3)
    assert list(per_image.loc[per_image.model == PHOTOS, "image"]) == list(truth["names"])
    import cv2

    for png in ("report/superres.png", "superres/evaluation/faces/examples.png"):
        image = cv2.imread(str(results / png))
        assert image is not None and image.shape[0] > 60, png
    log = (results / "logs" / "superres" / "summary.log").read_text()
    assert "faces, the test photos: super-resolution" in log
    assert not list(results.rglob(".*.tmp*"))


def test_changing_superres_epochs_retrains_only_the_upsampler(tiny_study):
    changed = copy.deepcopy(TINY)
    changed["superres"]["epochs"] = 2
    jobs = planned_jobs(snakemake(tiny_study, changed, "-n"))
    assert set(jobs) == {"superres_train", "superres_evaluate", "superres_summary"}


def test_changing_a_model_rescores_without_retraining_the_upsampler(tiny_study):
    changed = copy.deepcopy(TINY)
    changed["models"]["buildings"]["epochs"] = 2
    jobs = planned_jobs(snakemake(tiny_study, changed, "-n"))
    assert set(jobs) == {"train", "superres_evaluate", "superres_summary"}
    assert [out.split("/")[2] for out in jobs["train"]] == ["buildings"]
    changed = copy.deepcopy(TINY)
    changed["training"]["log_every"] = 7  # how runs are carried out: read at run time
    assert planned_jobs(snakemake(tiny_study, changed, "-n")) == {}


def test_changing_the_factor_prepares_the_truth_again(tiny_study):
    changed = copy.deepcopy(TINY)
    changed["superres"]["factor"] = 4
    for dataset in ("faces", "buildings"):  # a new raw size: the whole study again
        changed["datasets"][dataset]["source"]["raw_size"] = 128
    jobs = planned_jobs(snakemake(tiny_study, changed, "-n"))
    assert {"superres_prepare", "superres_train", "superres_evaluate"} <= set(jobs)


@pytest.mark.parametrize("mutate, expected", [
    (lambda c: c["superres"].update(factor=3), "factor"),
    (lambda c: c["datasets"]["faces"]["source"].update(raw_size=24), "superres: datasets.faces.source.raw_size"),
    (lambda c: c["superres"].update(epochz=3), "epochz"),
])
def test_bad_superres_config_fails_at_start(tmp_path, mutate, expected):
    bad = tiny_study()
    mutate(bad)
    result = snakemake(tmp_path, bad, "-n")
    assert result.returncode != 0
    assert expected in result.stdout + result.stderr
    assert not (tmp_path / "results").exists()


def test_the_stage_is_off_unless_enabled(tmp_path):
    config = copy.deepcopy(tiny_study())
    del config["superres"]
    result = snakemake_run.snakemake(tmp_path, config, "-n", timeout=300)
    jobs = planned_jobs(result)
    assert jobs and not any(rule.startswith("superres") for rule in jobs)
    # switched off, its models: may name a model the study no longer has (as when a study is cut down)
    config["superres"] = {"enabled": False, "models": ["no_such_model"]}
    result = snakemake_run.snakemake(tmp_path, config, "-n", timeout=300)
    jobs = planned_jobs(result)
    assert jobs and not any(rule.startswith("superres") for rule in jobs)
