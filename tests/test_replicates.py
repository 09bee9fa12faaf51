"""Training-seed replicates (models.<name>.replicates): the plan's extra models, their options, what they
change in training, and what adding one reruns (a dry run on a finished, touched demo)."""

import copy

import numpy as np
import pytest
import yaml
from snakemake.utils import validate

import snakemake_run
from sketchback.errors import ConfigError
from sketchback.models.options import (REPLICATE_OF, TrainOptions, replicate_models, training_seeds,
                                       with_replicates)
from sketchback.models.superres import superres_models
from sketchback.tools.config import evaluation_plan, hint_models, trained_models
from sketchback.tools.config import test_sets as poster_sets
from snakemake_run import REPO, planned_evaluations, planned_jobs, planned_outputs

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
DEMO = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())


def demo() -> dict:
    config = copy.deepcopy(DEMO)
    validate(config, str(SCHEMA))  # as the Snakefile does: the schema's defaults (replicates: []) filled in
    return config


def test_each_extra_seed_is_a_model_named_after_its_base_and_seed():
    config = demo()
    config["models"]["faces_control"]["replicates"] = [1, 2]
    given = copy.deepcopy(config["models"])
    models = with_replicates(config["models"], config["seed"])
    assert config["models"] == given  # the config's models are not changed
    assert list(models)[: len(given)] == list(given) and all(models[m] == given[m] for m in given)
    assert replicate_models(models) == ["faces_control_seed1", "faces_control_seed2", "faces_adversarial_seed1"]
    replicate = models["faces_control_seed2"]
    assert (replicate[REPLICATE_OF], replicate["training_seed"], replicate["replicates"]) == ("faces_control", 2, [])
    assert {k: v for k, v in replicate.items() if k not in (REPLICATE_OF, "training_seed", "replicates")} == {
        k: v for k, v in given["faces_control"].items() if k != "replicates"}
    assert training_seeds(models, "faces_control", 0) == {0: "faces_control", 1: "faces_control_seed1",
                                                          2: "faces_control_seed2"}
    assert training_seeds(models, "faces", 0) == {0: "faces"}


def test_a_replicate_is_fine_tuned_from_the_same_seed_where_its_init_has_it():
    config = demo()
    config["models"]["faces"]["replicates"] = [2]
    config["models"]["faces_control"]["replicates"] = [1, 2]
    models = with_replicates(config["models"], config["seed"])
    assert models["faces_control_seed2"]["init_from"] == "faces_seed2"  # the whole chain re-seeded
    assert models["faces_control_seed1"]["init_from"] == "faces"  # faces has no seed 1: the base run
    assert models["faces_seed2"]["init_from"] is None


def test_the_base_runs_options_are_unchanged_and_a_replicate_differs_in_its_training_seed_only():
    config = demo()
    before = {m: TrainOptions.from_config(config, m).as_params() for m in trained_models(config)}
    config["models"] = with_replicates(config["models"], config["seed"])
    after = {m: TrainOptions.from_config(config, m).as_params() for m in trained_models(config)}
    assert after == before and all("training_seed" not in p for p in after.values())  # nothing retrains
    replicate = TrainOptions.from_config(config, "faces_adversarial_seed1")
    base = TrainOptions.from_config(config, "faces_adversarial")
    assert replicate.as_params() == {**base.as_params(), "training_seed": 1}
    assert (replicate.seed, replicate.run_seed, base.run_seed) == (0, 1, 0)  # seed: the data's and the loss's
    assert TrainOptions(**replicate.as_params()) == replicate  # as the train script rebuilds it


def test_the_plan_evaluates_replicates_but_draws_no_figures_or_loss_curves_for_them():
    config = demo()
    config["models"] = with_replicates(config["models"], config["seed"])
    assert "faces_control_seed1" not in trained_models(config)  # loss curves: the base runs
    assert ("faces_control_seed1", "faces", "pencil") in evaluation_plan(config)
    assert not any(model.endswith("_seed1") for model, _ in poster_sets(config))  # poster grids
    assert with_replicates(config["models"], config["seed"]) == config["models"]  # expanding again changes nothing
    config["models"]["faces_hints"]["replicates"] = [1]
    config["models"] = with_replicates(config["models"], config["seed"])
    assert hint_models(config) == ["faces_hints"]
    config["superres"]["models"] = None  # every sketch-only model: not the replicates
    assert not [m for m in superres_models(config) if "_seed" in m]


@pytest.mark.parametrize("replicates, message", [
    ([1, 1], r"models.faces_control.replicates: seed 1 is listed 2 times; list each extra seed once"),
    ([0], r"models.faces_control.replicates: 0 is the study's seed \(seed: 0\), which the base run faces_control "
          r"already trains with; list only the extra seeds"),
    ([1.5], r"models.faces_control.replicates: 1.5 is not an integer seed; list whole numbers"),
    (["1"], r"models.faces_control.replicates: '1' is not an integer seed"),
    ([True], r"models.faces_control.replicates: True is not an integer seed"),
    ([-1], r"models.faces_control.replicates: -1 is negative"),
    (2, r"models.faces_control.replicates: 2 is not a list of seeds; write a list of extra training seeds"),
])
def test_bad_seeds_are_refused_naming_the_key_and_the_fix(replicates, message):
    config = demo()
    config["models"]["faces_control"]["replicates"] = replicates
    with pytest.raises(ConfigError, match=message):
        with_replicates(config["models"], config["seed"])


def test_a_replicate_that_would_take_a_defined_models_name_or_of_a_released_model_is_refused():
    config = demo()
    config["models"]["faces_control_seed1"] = copy.deepcopy(config["models"]["faces"])
    with pytest.raises(ConfigError, match=r"models.faces_control.replicates: seed 1 trains the replicate "
                                          r"faces_control_seed1, but a model of that name is defined"):
        with_replicates(config["models"], config["seed"])
    released = {"released": "faces", "dataset": "faces", "methods": ["pencil"], "test_on": ["faces"],
                "replicates": [1]}
    with pytest.raises(ConfigError, match="models.old.replicates: old is one of the original's released models"):
        with_replicates({"old": released}, 0)


def test_the_schema_refuses_a_non_integer_seed():
    config = copy.deepcopy(DEMO)
    config["models"]["faces_control"]["replicates"] = ["one"]
    with pytest.raises(Exception, match="replicates"):
        validate(config, str(SCHEMA))


def test_a_replicate_trains_other_weights_from_the_same_data(tmp_path):
    from test_train import BASE, write_pairs

    from sketchback.evaluation.evaluate import load_generator
    from sketchback.models.options import RunSettings
    from sketchback.models.train import train

    pairs = write_pairs(tmp_path)
    options = dict(BASE, seed=0, epochs=1, adversarial={"weight": 0.01, "start_epoch": 0, "learning_rate": 2e-4,
                                                        "filters": 4, "layers": 1})
    weights = {}
    for name, training_seed in (("base", None), ("seed1", 1)):
        history = train(pairs, [], tmp_path / name / "g.keras", tmp_path / name / "h.csv",
                        TrainOptions(**options, training_seed=training_seed), RunSettings(), name=name)
        weights[name] = (load_generator(tmp_path / name / "g.keras").get_weights(), history)
    assert not all(np.array_equal(a, b) for a, b in zip(weights["base"][0], weights["seed1"][0]))
    assert weights["base"][1]["discriminator"].iloc[0] != weights["seed1"][1]["discriminator"].iloc[0]


# --- what adding a seed reruns: a dry run on a finished demo (outputs touched in job order) ----------

def test_adding_a_seed_plans_only_its_training_evaluations_and_the_tables_that_read_them(tmp_path):
    config = copy.deepcopy(DEMO)
    config["models"]["faces_adversarial"]["replicates"] = []  # the demo has seed 1: take it out first
    for output in planned_outputs(snakemake_run.snakemake(tmp_path, config, "-n", timeout=300)):
        (tmp_path / output).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / output).touch()  # jobs are listed inputs first, so each output is newer than its inputs
    assert planned_jobs(snakemake_run.snakemake(tmp_path, config, "-n", timeout=300)) == {}
    config["models"]["faces_adversarial"]["replicates"] = [1]
    jobs = planned_jobs(snakemake_run.snakemake(tmp_path, config, "-n", timeout=300))
    # the tables: the metrics summary, what reads it (cross-style, SSIM chart, hint table) and the ablation
    assert set(jobs) == {"train", "evaluate", "summarize", "cross_style", "ssim_chart", "hint_table",
                         "ablation_table", "all"}
    new = "results/models/faces_adversarial_seed1"
    assert jobs["train"] == [f"{new}/generator.keras, {new}/history.csv"]
    assert planned_evaluations(jobs) == [
        f"faces_adversarial_seed1/faces/{style}" for style in sorted(config["evaluation"]["styles"])]
