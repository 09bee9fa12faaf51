"""The sketch normaliser (anti-roughing): paper, contrast and stroke width toward a reference style,
the `sketchback normalise` command and `predict --normalise`, its config checks and its rule."""

import copy

import cv2
import numpy as np
import pandas as pd
import pytest
import snakemake_run
import yaml
from snakemake_run import REPO, planned_jobs, planned_outputs

from sketchback.tools import cli
from sketchback.tools.config import check_config, evaluation_plan, evaluation_styles
from sketchback.errors import ConfigError
from sketchback.models.options import with_replicates
from sketchback.evaluation.metrics import ssim
from sketchback.evaluation.normalise_effect import normalise_effect
from sketchback.sketches.normalise import (
    NORMALISE_DEFAULTS,
    SketchStyle,
    change_width,
    load_reference,
    measure_style,
    normalise_shard,
    normalise_sketch,
    resolve_params,
    save_reference,
    sketch_stats,
    stroke_width,
)
from sketchback.sketches.sketch import pencil_sketch, xdog
from sketchback.data.synthetic import synthetic_image

PENCIL = SketchStyle(paper=255.0, ink=0.5, width=2.0)
EVERY_STEP = {"paper": True, "contrast": True, "width": True}


def rings(size: int, width: float, ink: float = 1.0) -> np.ndarray:
    """Darkness map (float32, 0..1) of concentric rings of exact ``width`` px: strokes in every direction."""
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2.0
    radius = np.hypot(yy, xx)
    marked = np.zeros((size, size), bool)
    for r in np.arange(0.12, 0.48, 0.09) * size:
        marked |= np.abs(radius - r) < width / 2.0
    return (marked * np.float32(ink)).astype(np.float32)


def on_paper(darkness: np.ndarray, paper: np.ndarray) -> np.ndarray:
    """A sketch: ``darkness`` drawn on a (H, W) paper of grey levels ``paper``."""
    return np.clip(np.rint(paper * (1.0 - darkness)), 0, 255).astype(np.uint8)


def shaded_paper(size: int) -> np.ndarray:
    """Tinted paper (the luma of a cream page, 225) under uneven light: dark in one corner (~0.6x)."""
    yy, xx = np.mgrid[:size, :size] / (size - 1.0)
    return 225.0 * (1.0 - 0.4 * (xx + yy) / 2.0) * (1.0 - 0.15 * np.sin(3.0 * yy))


def pencil_faces(n: int, size: int = 64, seed: int = 1) -> np.ndarray:
    return np.stack([pencil_sketch(synthetic_image("faces", seed, i, size)) for i in range(n)])


# --------------------------------------------------------------------------- measuring a style


@pytest.mark.parametrize("width", [1, 2, 3, 5])
def test_stroke_width_measures_rings_of_known_width(width):
    assert stroke_width(rings(128, width), ink=1.0) == pytest.approx(width, rel=0.15)


def test_stroke_width_does_not_depend_on_darkness():
    assert stroke_width(rings(128, 3, ink=0.3), 0.3) == pytest.approx(stroke_width(rings(128, 3), 1.0), rel=0.01)


def test_sketch_stats_of_a_drawn_page_and_a_blank_one():
    stats = sketch_stats(on_paper(rings(128, 3, ink=0.6), np.full((128, 128), 240.0)))
    assert stats.paper == 240 and stats.ink == pytest.approx(0.6, abs=0.01) and stats.width == pytest.approx(3, rel=0.15)
    assert sketch_stats(np.full((32, 32), 250, np.uint8)) is None
    with pytest.raises(ValueError, match="every reference sketch is blank"):
        measure_style(np.full((3, 32, 32), 255, np.uint8))


def test_measure_style_is_the_median_and_takes_any_sizes():
    pages = [on_paper(rings(size, w, ink), np.full((size, size), 255.0))
             for size, w, ink in ((96, 1, 0.3), (128, 3, 0.5), (64, 5, 0.9))]
    style = measure_style(pages)
    assert style.ink == pytest.approx(0.5, abs=0.01) and style.width == pytest.approx(3, rel=0.15)


# --------------------------------------------------------------------------- normalising


def test_paper_tone_and_uneven_lighting_are_removed_and_the_strokes_kept():
    size = 128
    strokes = rings(size, 3, ink=0.6)
    sketch = on_paper(strokes, shaded_paper(size))
    paper = cv2.erode((strokes == 0).astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)  # away from strokes
    assert sketch[paper].std() > 15 and sketch[paper].mean() < 200  # the input: shaded, tinted
    out = normalise_sketch(sketch, PENCIL, {"contrast": True})
    assert out[paper].min() >= 250 and out[paper].std() < 1.5  # flat white paper
    core = cv2.erode((strokes > 0).astype(np.uint8), np.ones((2, 2), np.uint8)).astype(bool)
    darkness = 1.0 - out[core] / 255.0
    # every stroke is kept at the target darkness, in the dark corner as in the light one
    assert np.median(darkness) == pytest.approx(PENCIL.ink, abs=0.06) and darkness.min() > 0.3
    assert np.corrcoef(1.0 - out.ravel() / 255.0, strokes.ravel())[0, 1] > 0.9
    # without the paper step the shading stays (the test can tell the step is there)
    kept = normalise_sketch(sketch, PENCIL, {"paper": False})
    assert kept[paper].std() > 10


@pytest.mark.parametrize("ink", [0.12, 0.3, 1.0])
def test_contrast_is_stretched_to_the_target_ink(ink):
    sketch = on_paper(rings(128, 3, ink=ink), np.full((128, 128), 255.0))
    out = normalise_sketch(sketch, PENCIL, {"contrast": True})
    assert sketch_stats(out).ink == pytest.approx(PENCIL.ink, abs=0.03)
    unchanged = normalise_sketch(sketch, PENCIL, {"contrast": False})
    assert sketch_stats(unchanged).ink == pytest.approx(ink, abs=0.03)


def test_contrast_gain_is_limited_by_max_gain():
    sketch = on_paper(rings(128, 3, ink=0.12), np.full((128, 128), 255.0))
    out = normalise_sketch(sketch, PENCIL, {"contrast": True, "max_gain": 2.0})
    assert sketch_stats(out).ink == pytest.approx(0.24, abs=0.02)


@pytest.mark.parametrize("before, target", [(5, 2.0), (1, 3.0), (2, 4.0), (4, 2.5)])
def test_stroke_width_moves_to_the_target(before, target):
    sketch = on_paper(rings(128, before), np.full((128, 128), 255.0))
    out = normalise_sketch(sketch, SketchStyle(255.0, 1.0, target), {"width": True})
    measured_before, measured_after = sketch_stats(sketch).width, sketch_stats(out).width
    assert abs(measured_after - target) < 0.5 * abs(measured_before - target)
    assert abs(measured_after - target) < 0.6


def test_width_change_is_limited_and_never_erases_strokes():
    thin = on_paper(rings(128, 1), np.full((128, 128), 255.0))
    out = normalise_sketch(thin, SketchStyle(255.0, 1.0, 0.2), {"width": True})
    assert sketch_stats(out).width > 0.95 and sketch_stats(out).ink > 0.95  # 1 px strokes stay (1 px, dark)
    two = on_paper(rings(128, 2), np.full((128, 128), 255.0))
    assert sketch_stats(normalise_sketch(two, SketchStyle(255.0, 1.0, 0.2), {"width": True})).width > 0.95
    thick = on_paper(rings(128, 2), np.full((128, 128), 255.0))
    out = normalise_sketch(thick, SketchStyle(255.0, 1.0, 9.0), {"width": True, "max_width_change": 1})
    assert sketch_stats(out).width == pytest.approx(3, abs=0.5)


def test_change_width_is_continuous_and_zero_is_the_identity():
    d = rings(64, 3)
    assert change_width(d, 0) is d
    widths = [stroke_width(change_width(d, s), 1.0) for s in (-1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0)]
    assert widths == sorted(widths) and widths[-1] - widths[0] > 2.0


def test_a_training_style_sketch_changes_little():
    """Pencil sketches normalised toward other pencil sketches' style stay close to themselves, much
    closer than an XDoG sketch comes to the pencil sketch of the same photo."""
    sketches = pencil_faces(40)
    target = measure_style(sketches[:20])
    test = sketches[20:]
    out = np.stack([normalise_sketch(g, target, EVERY_STEP) for g in test])
    similarity = np.mean([ssim(a / 255.0, b / 255.0) for a, b in zip(out, test)])
    assert similarity > 0.9 and np.abs(out.astype(int) - test).mean() < 8
    xdogs = np.stack([xdog(synthetic_image("faces", 1, i, 64)) for i in range(20, 40)])
    assert np.mean([ssim(a / 255.0, b / 255.0) for a, b in zip(xdogs, test)]) < similarity - 0.2


def test_normalising_brings_xdog_toward_pencil():
    target = measure_style(pencil_faces(20))
    xdogs = np.stack([xdog(synthetic_image("faces", 1, i, 64)) for i in range(20, 40)])
    before, after = measure_style(xdogs), measure_style([normalise_sketch(g, target, EVERY_STEP) for g in xdogs])
    for field in ("ink", "width"):
        assert abs(getattr(after, field) - getattr(target, field)) < 0.5 * abs(getattr(before, field) - getattr(target, field))


def test_deterministic_and_a_blank_page_is_paper():
    sketch = on_paper(rings(96, 4, ink=0.8), shaded_paper(96))
    assert np.array_equal(normalise_sketch(sketch, PENCIL, EVERY_STEP), normalise_sketch(sketch.copy(), PENCIL, EVERY_STEP))
    style = SketchStyle(paper=250.0, ink=0.5, width=2.0)
    assert np.array_equal(normalise_sketch(np.full((40, 30), 200, np.uint8), style), np.full((40, 30), 250, np.uint8))


def test_scale_multiplies_the_target_width():
    sketch = on_paper(rings(128, 4), np.full((128, 128), 255.0))
    out = normalise_sketch(sketch, SketchStyle(255.0, 1.0, 2.0), {"width": True}, scale=2.0)
    assert sketch_stats(out).width == pytest.approx(4, abs=0.5)  # already 2 x 2 px: hardly changed


@pytest.mark.parametrize("params, message", [
    ({"widht": False}, "normalise.widht: unknown parameter"),
    ({"paper": "yes"}, "normalise.paper must be true or false"),
    ({"max_gain": 0.5}, "normalise.max_gain"),
    ({"background": 0}, "normalise.background"),
    ({"max_width_change": -1}, "normalise.max_width_change"),
])
def test_bad_parameters_are_named(params, message):
    with pytest.raises(ValueError, match=message):
        resolve_params(params)
    with pytest.raises(ValueError, match="uint8 grey"):
        normalise_sketch(np.zeros((8, 8, 3), np.uint8), PENCIL)


def test_schema_documents_every_parameter():
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    keys = set(schema["properties"]["normalise"]["properties"])
    assert keys == set(NORMALISE_DEFAULTS) | {"reference", "reference_images"}


# --------------------------------------------------------------------------- shards and references


def test_normalise_shard_keeps_names_rows_and_photos(tmp_path):
    from sketchback.io import load_npz, save_npz

    reference = pencil_faces(12)
    xdogs = np.stack([xdog(synthetic_image("faces", 1, i, 64)) for i in range(5)])
    photos = np.zeros((5, 64, 64, 3), np.uint8)
    names, rows = np.array([f"img{i}.png" for i in range(5)]), np.arange(10, 15)
    save_npz(tmp_path / "ref.npz", sketches=reference, names=np.array(["r"] * 12))
    save_npz(tmp_path / "in.npz", sketches=xdogs, names=names, rows=rows, images=photos)
    target = normalise_shard(tmp_path / "in.npz", tmp_path / "ref.npz", tmp_path / "out.npz", {}, reference_images=8)
    assert target == measure_style(reference[:8])
    out = load_npz(tmp_path / "out.npz")
    assert set(out) == {"sketches", "names", "rows", "images"}
    assert np.array_equal(out["names"], names) and np.array_equal(out["rows"], rows)
    assert np.array_equal(out["sketches"], np.stack([normalise_sketch(g, target) for g in xdogs]))


def test_reference_from_json_and_shard(tmp_path):
    style = SketchStyle(250.0, 0.4, 2.5)
    save_reference(style, tmp_path / "style.json")
    assert load_reference(tmp_path / "style.json") == style
    (tmp_path / "bad.json").write_text('{"paper": 1}')
    with pytest.raises(ValueError, match="bad.json: not a sketch style"):
        load_reference(tmp_path / "bad.json")


# --------------------------------------------------------------------------- the commands


def write_png(path, grey):
    assert cv2.imwrite(str(path), grey)


def test_cli_normalises_a_folder_names_a_corrupt_file_and_does_the_rest(tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    write_png(folder / "a.png", on_paper(rings(80, 3, 0.7), shaded_paper(80)))
    write_png(folder / "b.png", on_paper(rings(70, 2, 1.0), np.full((70, 70), 200.0)))
    (folder / "c.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    status = cli.main(["normalise", str(folder), str(tmp_path / "out"), "--set", "width=false"])
    assert status == 1
    err = capsys.readouterr().err
    assert "1 of 3 sketches failed" in err and "c.png" in err
    a = cv2.imread(str(tmp_path / "out" / "a.png"), cv2.IMREAD_GRAYSCALE)
    b = cv2.imread(str(tmp_path / "out" / "b.png"), cv2.IMREAD_GRAYSCALE)
    assert a.shape == (80, 80) and b.shape == (70, 70)
    assert np.percentile(a, 50) == 255 and np.percentile(b, 50) == 255  # flat white paper
    assert not (tmp_path / "out" / "c.png").exists()


def test_cli_normalises_one_file_toward_a_reference(tmp_path):
    reference = tmp_path / "ref.json"
    save_reference(SketchStyle(255.0, 0.3, 2.0), reference)
    write_png(tmp_path / "s.png", on_paper(rings(64, 2, 1.0), np.full((64, 64), 255.0)))
    assert cli.main(["normalise", str(tmp_path / "s.png"), str(tmp_path / "n.png"), "--reference", str(reference),
                     "--set", "contrast=true"]) == 0
    out = cv2.imread(str(tmp_path / "n.png"), cv2.IMREAD_GRAYSCALE)
    assert sketch_stats(out).ink == pytest.approx(0.3, abs=0.03)


def test_cli_bad_setting_fails_before_any_file(tmp_path, capsys):
    write_png(tmp_path / "s.png", np.full((16, 16), 255, np.uint8))
    assert cli.main(["normalise", str(tmp_path / "s.png"), str(tmp_path / "n.png"), "--set", "gain=2"]) == 1
    assert "normalise.gain: unknown parameter" in capsys.readouterr().err
    assert not (tmp_path / "n.png").exists()


def test_predict_normalise_feeds_the_model_the_normalised_sketch(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr("sketchback.evaluation.evaluate.load_generator", lambda path: "generator")
    monkeypatch.setattr(cli, "predict_photo",
                        lambda gen, grey, **kw: seen.append(grey) or np.zeros(grey.shape + (3,), np.uint8))
    sketch = on_paper(rings(64, 3, 0.9), shaded_paper(64))
    write_png(tmp_path / "s.png", sketch)
    assert cli.main(["predict", "m.keras", str(tmp_path / "s.png"), str(tmp_path / "p.png"), "--normalise"]) == 0
    assert cli.main(["predict", "m.keras", str(tmp_path / "s.png"), str(tmp_path / "q.png")]) == 0
    normalised, raw = seen
    assert np.array_equal(raw, sketch) and not np.array_equal(normalised, sketch)
    assert np.percentile(normalised, 50) == 255 > np.percentile(raw, 50)
    assert cli.main(["predict", "m.keras", str(tmp_path / "s.png"), str(tmp_path / "r.png"), "--set", "width=1"]) == 1


# --------------------------------------------------------------------------- the effect table


def metrics_frame(style, ssim_values, psnr_values, fd_values):
    n = len(ssim_values)
    return pd.DataFrame({"model": "faces", "dataset": "faces", "method": style,
                         "image": [f"images/{i:03d}.png" for i in range(n)], "ssim_prediction": ssim_values,
                         "psnr_prediction": psnr_values, "feature_distance_prediction": fd_values})


def test_normalise_effect_is_the_paired_change_with_an_interval(tmp_path):
    rng = np.random.default_rng(0)
    ssim_raw = rng.uniform(0.3, 0.8, 40)
    psnr_raw = rng.uniform(12, 20, 40)
    fd_raw = rng.uniform(0.2, 0.4, 40)
    raw = metrics_frame("xdog", ssim_raw, psnr_raw, fd_raw)
    # normalised: SSIM better by 0.05 +- a little on every image, PSNR unchanged on average, FD worse
    norm = metrics_frame("xdog_normalised", ssim_raw + 0.05 + rng.normal(0, 0.01, 40),
                         psnr_raw + rng.normal(0, 0.5, 40), fd_raw + 0.02)
    norm.loc[3, "psnr_prediction"] = np.inf  # a perfect prediction: left out of the PSNR change only
    norm = norm.iloc[::-1]  # rows in another order: paired by image name
    raw.to_csv(tmp_path / "raw.csv", index=False)
    norm.to_csv(tmp_path / "norm.csv", index=False)
    table = normalise_effect([tmp_path / "raw.csv"], [tmp_path / "norm.csv"], tmp_path / "effect.csv", seed=0)
    row = pd.read_csv(tmp_path / "effect.csv").iloc[0]
    assert len(table) == 1 and (row["model"], row["test_set"], row["style"], row["n_images"]) == ("faces", "faces", "xdog", 40)
    assert row["ssim_change"] == pytest.approx(0.05, abs=0.005) and row["ssim_verdict"] == "better"
    assert row["ssim_change_lo"] < row["ssim_change"] < row["ssim_change_hi"] < 0.06
    assert row["feature_distance_change"] == pytest.approx(0.02) and row["feature_distance_verdict"] == "worse"
    assert row["psnr_verdict"] == "no clear change" and row["psnr_change_lo"] < 0 < row["psnr_change_hi"]
    assert np.isfinite(row["psnr_normalised"])


def test_normalise_effect_needs_shared_images(tmp_path):
    metrics_frame("xdog", [0.5], [15.0], [0.3]).to_csv(tmp_path / "raw.csv", index=False)
    other = metrics_frame("xdog_normalised", [0.5], [15.0], [0.3]).assign(image="images/other.png")
    other.to_csv(tmp_path / "norm.csv", index=False)
    with pytest.raises(ValueError, match="raw.csv vs .*norm.csv: .* share no test image"):
        normalise_effect([tmp_path / "raw.csv"], [tmp_path / "norm.csv"], tmp_path / "effect.csv", seed=0)


# --------------------------------------------------------------------------- config and workflow

DEMO = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
# a model with colour hints is also evaluated (and tabled) with hints in every style, new ones included
HINT_RULES = {"evaluate_hints", "hint_table", "hint_figure"}


def demo_with(styles, **normalise):
    config = copy.deepcopy(DEMO)
    config["evaluation"]["styles"] = styles
    config["normalise"] = {"reference": "pencil", "reference_images": 256, **normalise}
    return config


def test_config_accepts_normalised_styles_and_plans_them():
    config = demo_with(["pencil", "xdog", "xdog_normalised", "style_normalised"])
    check_config(config)
    assert ("faces", "faces", "xdog_normalised") in evaluation_plan(config)


def test_handdrawn_normalised_only_for_test_sets_with_handdrawn_sketches():
    study = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    assert "handdrawn_normalised" in study["evaluation"]["styles"]
    check_config(study)
    assert "handdrawn_normalised" in evaluation_styles(study, "cuhk")
    assert "handdrawn_normalised" not in evaluation_styles(study, "celeba")
    assert "xdog_normalised" in evaluation_styles(study, "celeba")


@pytest.mark.parametrize("styles, normalise, message", [
    (["pencil", "charcoal_normalised"], {}, "'charcoal_normalised' normalises the style 'charcoal'"),
    (["pencil", "handdrawn_normalised"], {}, "'handdrawn' needs a test set whose source has hand-drawn"),
    (["xdog_normalised"], {"reference": "crayon"}, "normalise.reference: 'crayon'"),
    (["xdog_normalised"], {"max_gain": 0}, "normalise.max_gain"),
])
def test_config_check_names_a_bad_normalised_style(styles, normalise, message):
    with pytest.raises(ConfigError, match=message):
        check_config(demo_with(styles, **normalise))


def test_adding_a_normalised_style_plans_only_its_rules_evaluation_and_report(tmp_path):
    """A finished demo (every output present, made in DAG order) plus two normalised styles: only
    the normalise jobs, their evaluation and the report rules; the sketch rule does not claim the
    normalised shards (an ambiguous DAG would fail the dry run)."""
    config = copy.deepcopy(DEMO)
    # one job per style, as the full study: a new style's evaluations are jobs of their own (the demo's one
    # job per test set scores every style again: tests/test_workflow.py)
    config["evaluation"]["one_job_per"] = "style"
    assert "style_normalised" in config["evaluation"]["styles"]  # the demo has one; take it out first
    config["evaluation"]["styles"] = ["pencil", "xdog", "style"]
    for output in planned_outputs(snakemake_run.snakemake(tmp_path, config, "-n", timeout=300)):
        (tmp_path / output).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / output).touch()  # jobs are listed inputs first, so each output is newer than its inputs
    assert planned_jobs(snakemake_run.snakemake(tmp_path, config, "-n", timeout=300)) == {}
    config["evaluation"]["styles"] = ["pencil", "xdog", "xdog_normalised", "style", "style_normalised"]
    jobs = planned_jobs(snakemake_run.snakemake(tmp_path, config, "-n", timeout=300))
    assert set(jobs) - HINT_RULES == {"normalise", "evaluate", "summarize", "ssim_chart", "cross_style",
                                      "poster_grid", "sketch_examples", "normalise_effect", "all"}
    assert sorted(jobs["normalise"]) == [f"results/sketches/{d}/{s}_normalised/test/000.npz"
                                         for d in ("buildings", "faces") for s in ("style", "xdog")]
    # asked for directly, a normalised shard is rule normalise's alone: without its wildcard constraint
    # the sketch rule also matches it and fails on the unknown sketch method (InputFunctionException)
    target = "results/sketches/faces/xdog_normalised/test/000.npz"
    direct = snakemake_run.snakemake(tmp_path, config, "-n", target, timeout=300)
    assert planned_jobs(direct) == {"normalise": [target]}
    assert "Exception" not in direct.stdout + direct.stderr
    models = {model: spec["test_on"] for model, spec in with_replicates(config["models"], config["seed"]).items()}
    assert sorted(jobs["evaluate"]) == sorted(
        f"results/evaluation/{m}/{d}/{s}_normalised/metrics.csv, "
        f"results/evaluation/{m}/{d}/{s}_normalised/distribution.csv, results/evaluation/{m}/{d}/{s}_normalised/grid.png"
        for m, test_sets in models.items() for d in test_sets for s in ("xdog", "style"))
