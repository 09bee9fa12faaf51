"""The poster's settings: config/poster.yaml through the real workflow, and the generator's
``downsamplings`` option (3 for the poster's 32-64-128-256 figure; 2, the default, unchanged)."""

import copy

import keras
import numpy as np
import pytest
import yaml
from keras import layers
from snakemake.utils import validate

from sketchback.tools.cli import predict_photo
from sketchback.models.generators import build_generator, check_image_size, size_multiple
from sketchback.models.options import ARCHITECTURES
from sketchback.models.options import TrainOptions
from snakemake_run import REPO, planned_jobs, snakemake

POSTER = REPO / "config" / "poster.yaml"
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def strided_convolutions(generator):
    """The downsampling layers: convolutions (not transposed) with stride 2, in order."""
    return [layer for layer in generator.layers if isinstance(layer, layers.Conv2D)
            and not isinstance(layer, layers.Conv2DTranspose) and tuple(layer.strides) == (2, 2)]


# --- config/poster.yaml --------------------------------------------------------------------------

def test_poster_config_dry_runs_and_trains_faces_then_fine_tunes_buildings(tmp_path):
    result = snakemake(tmp_path, POSTER, "-n", timeout=600)
    jobs = planned_jobs(result)
    assert sorted(jobs["train"]) == [
        "results/models/poster_buildings/generator.keras, results/models/poster_buildings/history.csv",
        "results/models/poster_faces/generator.keras, results/models/poster_faces/history.csv"]
    evaluations = " ".join(jobs["evaluate"])
    assert "results/evaluation/poster_faces/cuhk/handdrawn/metrics.csv" in evaluations
    assert "results/evaluation/poster_buildings/zubud/pencil/metrics.csv" in evaluations
    assert "results/models/faces/" not in result.stdout  # the study's models are not touched


def test_the_posters_values_reach_the_train_rules_params():
    config = yaml.safe_load(POSTER.read_text())
    validate(config, str(SCHEMA))  # as workflow/Snakefile does, filling the schema's defaults
    faces = TrainOptions.from_config(config, "poster_faces").as_params()
    buildings = TrainOptions.from_config(config, "poster_buildings").as_params()
    for options in (faces, buildings):
        assert options["learning_rate"] == 1e-4
        assert (options["pixel_weight"], options["feature_weight"], options["tv_weight"]) == (1.0, 0.001, 1e-5)
        assert (options["downsamplings"], options["base_filters"]) == (3, 32)
        assert options["lr_schedule"] == "constant"
        check_image_size(options["image_size"], options["downsamplings"])
    assert (faces["epochs"], buildings["epochs"]) == (17, 25)
    assert config["models"]["poster_buildings"]["init_from"] == "poster_faces"
    assert config["models"]["poster_faces"]["dataset"] == "celeba"
    assert config["models"]["poster_buildings"]["dataset"] == "zubud"


def test_the_poster_shares_the_studys_data_and_evaluation():
    study, poster = (yaml.safe_load((REPO / "config" / name).read_text()) for name in ("config.yaml", "poster.yaml"))
    for key in ("seed", "image_size", "datasets", "download", "vgg_weights_urls", "sketch", "evaluation"):
        assert poster[key] == study[key], f"copy config/config.yaml's {key}: into config/poster.yaml"


def test_the_default_config_still_trains_two_downsamplings():
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    validate(config, str(SCHEMA))
    assert TrainOptions.from_config(config, "faces").downsamplings == 2


@pytest.mark.parametrize("value", [1, 5])
def test_the_schema_refuses_downsamplings_outside_2_to_4(value):
    config = copy.deepcopy(yaml.safe_load(POSTER.read_text()))
    config["training"]["downsamplings"] = value
    with pytest.raises(Exception, match="downsamplings"):
        validate(config, str(SCHEMA))


# --- the generator's downsamplings ---------------------------------------------------------------

@pytest.mark.parametrize("architecture", [a for a in ARCHITECTURES if a != "original"])  # original: fixed sizes
def test_three_downsamplings_give_the_posters_channels_and_halve_the_size_three_times(architecture):
    generator = build_generator(architecture, base_filters=32, residual_blocks=0, downsamplings=3)
    strided = strided_convolutions(generator)
    assert [layer.filters for layer in strided] == [64, 128, 256]
    first = next(layer for layer in generator.layers if isinstance(layer, layers.Conv2D))
    assert first.filters == 32  # full size: 32 channels, then 64, 128, 256 at w/2, w/4, w/8
    probe = build_generator(architecture, base_filters=4, residual_blocks=1, downsamplings=3)
    sizes = [probe.get_layer(layer.name).output for layer in strided_convolutions(probe)]
    shapes = keras.Model(probe.input, sizes)(np.zeros((1, 48, 40, 1), np.float32))
    assert [tuple(s.shape[1:3]) for s in shapes] == [(24, 20), (12, 10), (6, 5)]
    assert probe(np.zeros((1, 48, 40, 1), np.float32)).shape == (1, 48, 40, 3)
    assert size_multiple(probe) == 8


def test_an_image_size_that_three_downsamplings_cannot_halve_is_refused_clearly():
    with pytest.raises(ValueError, match=r"image_size 132 is not a multiple of 8.*training\.downsamplings: 3.*128 or 136"):
        check_image_size(132, 3)
    check_image_size(132, 2)
    check_image_size(136, 3)
    with pytest.raises(ValueError, match=r"training\.downsamplings 5"):
        build_generator("scribbler", base_filters=4, residual_blocks=1, downsamplings=5)


# Measured from the code before the option existed (two downsamplings hard-coded), residual_blocks 1:
# the default must keep building exactly these models, so saved models and the demo's numbers hold.
BEFORE = {("scribbler", 4, 1): 11539, ("scribbler", 8, 1): 45251, ("scribbler", 4, 5): 11939,
          ("csi", 4, 1): 8931, ("csi", 8, 1): 32835, ("csi", 4, 5): 10227}


@pytest.mark.parametrize("architecture,base_filters,channels", sorted(BEFORE))
def test_two_downsamplings_build_exactly_the_model_of_before(architecture, base_filters, channels):
    default = build_generator(architecture, base_filters=base_filters, residual_blocks=1, input_channels=channels)
    explicit = build_generator(architecture, base_filters=base_filters, residual_blocks=1, input_channels=channels,
                               downsamplings=2)
    assert default.count_params() == explicit.count_params() == BEFORE[architecture, base_filters, channels]
    assert [layer.filters for layer in strided_convolutions(default)] == [2 * base_filters, 4 * base_filters]
    assert ([type(layer).__name__ for layer in default.layers] == [type(layer).__name__ for layer in explicit.layers])
    assert size_multiple(default) == 4


def test_predicting_with_a_three_downsampling_model_pads_to_a_multiple_of_8():
    generator = build_generator("scribbler", base_filters=4, residual_blocks=1, downsamplings=3)
    sketch = np.full((50, 70), 255, np.uint8)  # a multiple of 2 but not of 4 or 8
    photo = predict_photo(generator, sketch, max_side=None)
    assert photo.shape == (50, 70, 3) and photo.dtype == np.uint8


def test_training_builds_the_configured_depth_and_refuses_a_size_it_cannot_halve(tmp_path):
    from sketchback.models.options import RunSettings
    from sketchback.models.train import train
    from test_train import TINY, write_pairs

    pairs = write_pairs(tmp_path, counts=(8, 4), size=16)
    options = TrainOptions(**{**TINY, "epochs": 1, "downsamplings": 3})
    train(pairs[:1], pairs[1:], tmp_path / "m" / "generator.keras", tmp_path / "m" / "history.csv", options,
          RunSettings(), name="poster")
    saved = keras.models.load_model(tmp_path / "m" / "generator.keras", compile=False)
    assert size_multiple(saved) == 8
    with pytest.raises(ValueError, match=r"image_size 20 .*training\.downsamplings: 3"):
        train(pairs[:1], pairs[1:], tmp_path / "n" / "generator.keras", tmp_path / "n" / "history.csv",
              TrainOptions(**{**TINY, "image_size": 20, "downsamplings": 3}), RunSettings(), name="poster")
    assert not (tmp_path / "n").exists()


def test_a_configfile_replaces_the_demo_config_instead_of_being_merged_over_it(tmp_path):
    # From a checkout (config/demo.yaml present): Snakemake merges a --configfile over the Snakefile's
    # configfile key by key, which would add the demo's own models to the full study's.
    import shutil
    import subprocess
    import sys

    from snakemake_run import SNAKEFILE

    (tmp_path / "config").mkdir()
    shutil.copy(REPO / "config" / "demo.yaml", tmp_path / "config" / "demo.yaml")
    demo_only = set(yaml.safe_load((REPO / "config" / "demo.yaml").read_text())["models"]) - set(
        yaml.safe_load((REPO / "config" / "config.yaml").read_text())["models"])
    assert "faces_original" in demo_only

    def trained(*args):
        result = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "-d", str(tmp_path), "-n",
                                 *args], cwd=REPO, capture_output=True, text=True, timeout=300)
        return {out.split("/")[2] for out in planned_jobs(result).get("train", [])}

    assert demo_only <= trained()  # no --configfile: the demo
    full = trained("--configfile", str(REPO / "config" / "config.yaml"))
    assert {"faces", "buildings"} <= full and not full & demo_only, full
