"""Checks the config schema cannot express: cross-references between datasets, methods and models."""

from __future__ import annotations

from sketchback.evaluate import check_evaluation
from sketchback.sketch import METHODS, check_params, method_params
from sketchback.sources import check_source


class ConfigError(ValueError):
    """A config value that is well-typed but inconsistent; the message names the key."""


def check_config(config: dict) -> None:
    """Raise ConfigError naming the first inconsistent key of a schema-valid config."""
    if config["image_size"] % 4:
        raise ConfigError(f"image_size: {config['image_size']} is not a multiple of 4 (the generator downsamples twice)")
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
