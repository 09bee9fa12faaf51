"""Training options, split by what they change: ``TrainOptions`` decide the weights (the train rule's
params: changing one retrains), ``RunSettings`` only how a run is carried out (read at run time:
changing one reruns nothing). Both are built from the validated config, whose schema holds every
default. Imports nothing heavy, so building the DAG stays fast.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path

from sketchback.errors import ConfigError

# training.* keys that do not change what a model learns. XLA (jit_compile) and op determinism
# change results in the last bits only, as two GPU runs of the same options do: retraining for
# them would spend GPU hours for nothing (README, "Rerunning part of the study").
RUN_SETTING_KEYS = ("jit_compile", "deterministic", "checkpoint_every", "log_every", "allow_cpu")
# The generators (sketchback.models.generators) by name, and old names -> (new name, what it is): named here, where
# building the DAG can check a config without importing Keras.
ARCHITECTURES = ("scribbler", "original", "csi")
RENAMED_ARCHITECTURES = {"sketchback": ("csi", "Convolutional Sketch Inversion's generator, which the original's "
                                               "notebook defines but never trains")}
# The original's generator has fixed sizes: a model on it records these, whatever training.* says,
# so that changing base_filters, residual_blocks or downsamplings does not retrain it.
ORIGINAL_SIZES = {"base_filters": 32, "residual_blocks": 5, "downsamplings": 3}
# training.* keys for the scheduler alone: the CPU threads a job holds (the rules' threads:)
SCHEDULER_KEYS = ("threads",)


@dataclass(frozen=True)
class TrainOptions:
    """Everything that decides a model's weights (sizes in px, weights of the loss terms, ...)."""

    image_size: int
    architecture: str
    base_filters: int
    residual_blocks: int
    pixel_weight: float
    feature_weight: float
    tv_weight: float
    vgg_weights: str
    vgg_md5: str | None
    batch_size: int
    devices: int
    mixed_precision: bool
    lr_schedule: str
    max_steps: int | None
    epochs: int
    learning_rate: float
    seed: int
    # models.<name>.adversarial: the adversarial stage's settings (sketchback.models.adversarial), or None
    adversarial: dict | None = None
    # models.<name>.hints: the colour strokes drawn for each training pair (sketchback.sketches.hints), or None
    hints: dict | None = None
    # training.downsamplings: the generator's 2x downsampling steps (2 as the original code, 3 as the poster)
    downsamplings: int = 2
    # a replicate's training seed (models.<name>.replicates, see with_replicates), or None: the base run, which
    # trains with seed. The data, sketches, splits, augmentation, the feature loss's random VGG16 filters and the
    # evaluation keep seed either way.
    training_seed: int | None = None

    @property
    def run_seed(self) -> int:
        """The seed of everything random in training: weight initialisation, batch order, the colour hints drawn
        each epoch, the discriminator."""
        return self.seed if self.training_seed is None else self.training_seed

    @classmethod
    def from_config(cls, config: dict, model: str) -> "TrainOptions":
        training, spec = config["training"], config["models"][model]
        science = {k: v for k, v in training.items() if k not in RUN_SETTING_KEYS + SCHEDULER_KEYS and k != "loss"}
        if spec.get("architecture"):  # models.<name>.architecture overrides training.architecture
            science["architecture"] = spec["architecture"]
        if science["architecture"] == "original":
            science.update(ORIGINAL_SIZES)
        return cls(image_size=config["image_size"], seed=config["seed"], epochs=spec["epochs"],
                   learning_rate=spec["learning_rate"], adversarial=spec["adversarial"], **training["loss"],
                   hints=spec["hints"], training_seed=spec.get(TRAINING_SEED), **science)

    def as_params(self) -> dict:
        """A plain dict for a rule's params (Snakemake compares params by value). A base run's has no
        training_seed: its params, and so its weights, are those it had before replicates existed."""
        params = asdict(self)
        if self.training_seed is None:
            del params["training_seed"]
        return params


@dataclass(frozen=True)
class RunSettings:
    """How a training run is carried out; none of it changes what the model learns.

    jit_compile: XLA on TensorFlow (only without determinism; JAX always compiles);
    deterministic: deterministic TensorFlow ops; checkpoint_every / log_every: steps between
    checkpoints / progress lines (0: epoch ends only / never); prefetch: batches prepared ahead;
    work_dir: the checkpoint and running history (default ``work/`` next to the model);
    tensorboard_dir: TensorBoard scalars (None: none); allow_cpu: train on the CPU even when the job
    was given a GPU that the backend cannot see (:mod:`sketchback.models.devices`).
    """

    jit_compile: bool = False
    deterministic: bool = True
    checkpoint_every: int = 500
    log_every: int = 50
    prefetch: int = 4
    work_dir: Path | None = None
    tensorboard_dir: Path | None = None
    allow_cpu: bool = False

    @classmethod
    def from_config(cls, config: dict, **paths) -> "RunSettings":
        return cls(**{k: config["training"][k] for k in RUN_SETTING_KEYS}, **paths)


def training_keys() -> set[str]:
    """The training.* keys the two classes (and the scheduler) cover between them (a new key must join one)."""
    names = {f.name for f in fields(TrainOptions)} | set(RUN_SETTING_KEYS) | set(SCHEDULER_KEYS) | {"loss"}
    return names - {"image_size", "seed", "epochs", "learning_rate", "pixel_weight", "feature_weight", "tv_weight",
                    "adversarial", "hints", "training_seed"}


# --------------------------------------------------------------------------- training-seed replicates

# The keys a replicate's entry in the plan's models gains (a base model's entry never has them).
REPLICATE_OF, TRAINING_SEED = "replicate_of", "training_seed"


def replicate_name(model: str, seed: int) -> str:
    """The model name of ``model`` trained once more with training seed ``seed``."""
    return f"{model}_seed{seed}"


def _replicate_seeds(name: str, spec: dict, seed: int, names: set[str]) -> list[int]:
    """models.<name>.replicates, checked: whole numbers >= 0, each once, none the study's seed."""
    key = f"models.{name}.replicates"
    # the schema's default is []; a config read without validation may lack the key
    seeds = spec.get("replicates") or []
    if not isinstance(seeds, list):
        raise ConfigError(f"{key}: {seeds!r} is not a list of seeds; write a list of extra training seeds, "
                          f"e.g. replicates: [1, 2]")
    if seeds and spec.get("released"):
        raise ConfigError(f"{key}: {name} is one of the original's released models, which is not trained; "
                          f"remove the key")
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, int):
            raise ConfigError(f"{key}: {s!r} is not an integer seed; list whole numbers, e.g. replicates: [1, 2]")
        if s < 0:
            raise ConfigError(f"{key}: {s} is negative; seeds are whole numbers >= 0")
        if s == seed:
            raise ConfigError(f"{key}: {s} is the study's seed (seed: {seed}), which the base run {name} already "
                              f"trains with; list only the extra seeds")
        if seeds.count(s) > 1:
            raise ConfigError(f"{key}: seed {s} is listed {seeds.count(s)} times; list each extra seed once")
        if replicate_name(name, s) in names:
            raise ConfigError(f"{key}: seed {s} trains the replicate {replicate_name(name, s)}, but a model of "
                              f"that name is defined under models:; rename that model")
    return list(seeds)


def with_replicates(models: dict[str, dict], seed: int) -> dict[str, dict]:
    """The study's models plus one entry per training-seed replicate (``models.<name>.replicates``).

    models: the config's models (schema-validated); seed: the study's seed, the base runs' training seed.
    Returns a new dict: every model as given (the same entries, unchanged, in order), then for each model and
    each of its extra seeds s the model ``<name>_seed<s>``: a copy of its entry with ``replicates: []``,
    ``replicate_of: <name>`` and ``training_seed: s`` (what :class:`TrainOptions` reads). A replicate of a
    fine-tuned model starts from the model it is fine-tuned from trained with the same seed where that one
    has the seed too (a whole chain re-seeded), else from the same base model. Raises ConfigError naming
    the key when a seed is not a whole number >= 0, is listed twice, is ``seed``, or names a defined model.
    Expanding the result again returns it unchanged.
    """
    given = {name: spec for name, spec in models.items() if REPLICATE_OF not in spec}  # expanded again: the same
    seeds = {name: _replicate_seeds(name, spec, seed, set(given)) for name, spec in given.items()}
    plan = dict(models)
    for name, spec in given.items():
        for s in seeds[name]:
            init = spec.get("init_from")
            if init is not None and s in seeds.get(init, []):
                init = replicate_name(init, s)
            plan[replicate_name(name, s)] = {**spec, "replicates": [], "init_from": init, REPLICATE_OF: name,
                                             TRAINING_SEED: s}
    return plan


def replicate_models(models: dict[str, dict]) -> list[str]:
    """The replicates among the plan's models (made by :func:`with_replicates`), in order."""
    return [name for name, spec in models.items() if REPLICATE_OF in spec]


def training_seeds(models: dict[str, dict], model: str, seed: int) -> dict[int, str]:
    """Training seed -> model name of one model's runs in the plan: ``seed`` (the base run) first, then its
    replicates in the order of ``models.<model>.replicates``."""
    runs = {seed: model}
    runs.update({spec[TRAINING_SEED]: name for name, spec in models.items() if spec.get(REPLICATE_OF) == model})
    return runs


def architecture_problem(architecture: str, key: str) -> str | None:
    """Why ``architecture`` (the value of config ``key``) names no generator, or None when it does."""
    if architecture in RENAMED_ARCHITECTURES:
        new, what = RENAMED_ARCHITECTURES[architecture]
        return (f"{key}: {architecture!r} is now called {new!r} ({what}); write {new}, or original for the "
                f"network the original study trained")
    if architecture not in ARCHITECTURES:
        return f"{key}: unknown generator architecture {architecture!r}; choose one of {', '.join(ARCHITECTURES)}"
    return None
