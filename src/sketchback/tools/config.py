"""The study's plan as the config states it, and the checks the schema cannot express (cross-references
between datasets, methods and models). Imports nothing that trains or evaluates, so building the DAG
stays cheap.

The evaluation plan: each model's ``test_on`` sets, each in every style of ``evaluation.styles``
(``handdrawn`` only for test sets whose source ships hand-drawn sketches). A style named
``<style>_normalised`` is ``<style>``'s test sketches brought toward the training style by
``sketchback.sketches.normalise`` (rule ``normalise``), with ``<style>``'s photos.
"""

from __future__ import annotations

from sketchback.sketches.normalise import resolve_params
from sketchback.models.options import REPLICATE_OF, architecture_problem
from sketchback.sketches.sketch import METHODS, check_params, method_params
from sketchback.data.sources import HANDDRAWN, check_source, has_handdrawn_sketches
from sketchback.errors import ConfigError

NORMALISED = "_normalised"  # suffix of a style normalised toward the training style (sketchback.sketches.normalise)


def base_style(style: str) -> str:
    """The style a ``<style>_normalised`` style is made from; any other style itself."""
    return style[: -len(NORMALISED)] if style.endswith(NORMALISED) else style


def evaluation_styles(config: dict, dataset: str) -> list[str]:
    """The styles of ``evaluation.styles`` that test set ``dataset`` comes in, in config order."""
    return styles_of_test_sets(config, has_handdrawn_sketches(config["datasets"][dataset]["source"]["name"]))


def styles_of_test_sets(config: dict, handdrawn: bool) -> list[str]:
    """The styles of ``evaluation.styles`` a test set comes in, in config order: every one for a set with
    hand-drawn sketches (``handdrawn``: CUHK), the simulated ones for the others."""
    return [s for s in config["evaluation"]["styles"] if base_style(s) != HANDDRAWN or handdrawn]


def evaluation_plan(config: dict) -> list[tuple[str, str, str]]:
    """(model, test set, style) for every model, each of its test sets and each style of that set (training-seed
    replicates included: the summary, the cross-style matrix and the ablation read their evaluations)."""
    return [
        (model, dataset, style)
        for model, spec in config["models"].items()
        for dataset in spec["test_on"]
        for style in evaluation_styles(config, dataset)
    ]


def released_models(config: dict) -> list[str]:
    """The models that are the original's released weights (``models.<name>.released``), in config order."""
    return [model for model, spec in config["models"].items() if spec.get("released")]


def trained_models(config: dict) -> list[str]:
    """The models the study trains (every model but the released ones), in config order; not the training-seed
    replicates (``sketchback.models.options.with_replicates``), which train too but have no loss curves."""
    return [model for model, spec in config["models"].items()
            if model not in released_models(config) and REPLICATE_OF not in spec]


def hint_models(config: dict) -> list[str]:
    """The models that take colour hints (``models.<name>.hints`` set), in config order; a training-seed replicate
    of one is evaluated without hints only (no hint table or figure)."""
    return [model for model, spec in config["models"].items()
            if spec.get("hints") is not None and REPLICATE_OF not in spec]


def hint_evaluation_plan(config: dict) -> list[tuple[str, str, str]]:
    """(model, test set, style) a hint model is also evaluated in with each of ``evaluation.hint_strokes``
    (the evaluation without hints is in :func:`evaluation_plan`)."""
    models = set(hint_models(config))
    return [entry for entry in evaluation_plan(config) if entry[0] in models]


def test_sets(config: dict) -> list[tuple[str, str]]:
    """(model, test set) pairs, in config order: one poster figure each (none for a training-seed replicate)."""
    return [(model, dataset) for model, spec in config["models"].items() if REPLICATE_OF not in spec
            for dataset in spec["test_on"]]


def normaliser_params(config: dict) -> dict:
    """The normaliser's parameters (``sketchback.sketches.normalise.NORMALISE_DEFAULTS`` keys) of config
    ``normalise:``, without the workflow's keys (reference, reference_images)."""
    return {k: v for k, v in config["normalise"].items() if k not in ("reference", "reference_images")}


def _check_normalised(config: dict, style: str) -> None:
    """Raise ValueError when ``<base>_normalised`` has no base style or the normaliser's config is bad."""
    base = base_style(style)
    if base != HANDDRAWN and base not in config["sketch"]:
        raise ValueError(f"evaluation.styles: {style!r} normalises the style {base!r}, which is neither a sketch "
                         f"method under sketch: (known: {', '.join(config['sketch'])}) nor {HANDDRAWN!r}; name "
                         f"a known style before {NORMALISED!r}, e.g. xdog{NORMALISED}")
    reference = config["normalise"]["reference"]
    if reference not in config["sketch"]:
        raise ValueError(f"normalise.reference: {reference!r} (the training style the {style!r} sketches are brought "
                         f"toward) has no entry under sketch: (known: {', '.join(config['sketch'])})")
    resolve_params(normaliser_params(config))  # its errors name the key, normalise.<key>


def check_evaluation(config: dict) -> None:
    """Raise ValueError naming the key when ``evaluation.styles`` lists a style the study cannot make."""
    styles = config["evaluation"]["styles"]
    for style in styles:
        if style.endswith(NORMALISED):
            _check_normalised(config, style)
            style = base_style(style)
        if style == HANDDRAWN:
            tested = {d for spec in config["models"].values() for d in spec["test_on"]}
            if not any(has_handdrawn_sketches(config["datasets"][d]["source"]["name"]) for d in tested if d in config["datasets"]):
                raise ValueError(f"evaluation.styles: {HANDDRAWN!r} needs a test set whose source has hand-drawn "
                                 f"sketches (a dataset with source cuhk in some model's test_on); remove it or add one")
        elif style not in config["sketch"]:
            raise ValueError(f"evaluation.styles: {style!r} is neither a sketch method under sketch: "
                             f"(known: {', '.join(config['sketch'])}) nor {HANDDRAWN!r}")


# What a released model cannot have: it is not trained (null/absent is fine).
NOT_FOR_RELEASED = ("epochs", "learning_rate", "init_from", "architecture", "adversarial", "hints")


def check_released(config: dict) -> None:
    """Raise ConfigError naming the key when a released model or ``original_examples`` is inconsistent."""
    files = config.get("released_weights") or {}
    for name in released_models(config):
        spec = config["models"][name]
        if spec["released"] not in files:
            raise ConfigError(f"models.{name}.released: {spec['released']!r} is not a key of released_weights: "
                              f"(known: {', '.join(files) or 'none'})")
        given = [key for key in NOT_FOR_RELEASED if spec.get(key) is not None]
        if given:
            raise ConfigError(f"models.{name}.{given[0]}: a released model is not trained; remove the key "
                              f"(it takes only released, dataset, methods and test_on)")
    for name, entry in files.items():
        if not entry["urls"]:
            raise ConfigError(f"released_weights.{name}.urls: list at least one URL, or place the file at "
                              f"resources/released/{name}.h5 by hand and keep the URL")
    examples = config.get("original_examples") or {"sets": {}}
    for set_name, spec in examples["sets"].items():
        for model in spec["models"]:
            if model not in config["models"]:
                raise ConfigError(f"original_examples.sets.{set_name}.models: model {model!r} is not defined "
                                  f"under models:")


def check_architectures(config: dict) -> None:
    """Raise ConfigError when training.architecture or a model's architecture names no generator."""
    named = [("training.architecture", config["training"]["architecture"])]
    named += [(f"models.{m}.architecture", s["architecture"]) for m, s in config["models"].items() if s.get("architecture")]
    for key, architecture in named:
        problem = architecture_problem(architecture, key)
        if problem:
            raise ConfigError(problem)


def check_config(config: dict) -> None:
    """Raise ConfigError naming the first inconsistent key of a schema-valid config."""
    datasets, methods, models = config["datasets"], config["sketch"], config["models"]
    for method, params in methods.items():
        if method not in METHODS:
            raise ConfigError(f"sketch.{method}: unknown sketch method (known: {', '.join(METHODS)})")
        unknown = sorted(set(params) - set(method_params(method)))
        if unknown:
            raise ConfigError(f"sketch.{method}.{unknown[0]}: unknown parameter (valid: {', '.join(method_params(method))})")
        try:
            check_params(method, params)
        except ValueError as error:
            raise ConfigError(f"sketch.{method}: {error}") from None
    for name, dataset in datasets.items():
        try:
            check_source(name, dataset["source"])
        except ValueError as error:
            raise ConfigError(str(error)) from None
        for method in dataset["sketch_methods"]:
            if method not in methods:
                raise ConfigError(f"datasets.{name}.sketch_methods: method {method!r} has no entry under sketch: (known: {', '.join(methods)})")
    for name, model in models.items():
        if model["dataset"] not in datasets:
            raise ConfigError(f"models.{name}.dataset: dataset {model['dataset']!r} is not defined under datasets: (known: {', '.join(datasets)})")
        for method in model["methods"]:
            if method not in datasets[model["dataset"]]["sketch_methods"]:
                raise ConfigError(f"models.{name}.methods: {method!r} is not one of datasets.{model['dataset']}.sketch_methods")
        for test_set in model["test_on"]:
            if test_set not in datasets:
                raise ConfigError(f"models.{name}.test_on: dataset {test_set!r} is not defined under datasets:")
        init = model.get("init_from")
        if init is not None and init not in models:
            raise ConfigError(f"models.{name}.init_from: model {init!r} is not defined under models:")
    check_architectures(config)
    check_released(config)
    try:
        check_evaluation(config)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    for name in models:
        seen, current = [name], models[name].get("init_from")
        while current is not None:
            if current in seen:
                raise ConfigError(f"models.{name}.init_from: initialisation cycle {' -> '.join(seen + [current])}")
            seen.append(current)
            current = models[current].get("init_from")
