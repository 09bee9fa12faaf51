"""Training options, split by what they change: ``TrainOptions`` decide the weights (the train rule's
params: changing one retrains), ``RunSettings`` only how a run is carried out (read at run time:
changing one reruns nothing). Both are built from the validated config, whose schema holds every
default. Imports nothing heavy, so building the DAG stays fast.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path

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
                   hints=spec["hints"], **science)

    def as_params(self) -> dict:
        """A plain dict for a rule's params (Snakemake compares params by value)."""
        return asdict(self)


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
                    "adversarial", "hints"}


def architecture_problem(architecture: str, key: str) -> str | None:
    """Why ``architecture`` (the value of config ``key``) names no generator, or None when it does."""
    if architecture in RENAMED_ARCHITECTURES:
        new, what = RENAMED_ARCHITECTURES[architecture]
        return (f"{key}: {architecture!r} is now called {new!r} ({what}); write {new}, or original for the "
                f"network the original study trained")
    if architecture not in ARCHITECTURES:
        return f"{key}: unknown generator architecture {architecture!r}; choose one of {', '.join(ARCHITECTURES)}"
    return None
