"""Train a sketch-inversion generator (faces from scratch, buildings fine-tuned from the face model).

The loop is built for clusters: the training shards are memory-mapped where they lie (no copy)
and streamed in seeded, prefetched batches; each step is one compiled Keras step in which
VGG16 features of target and prediction are computed in the graph; a checkpoint (weights,
optimizer state, position in the data, partial epoch sums) is written atomically every
``checkpoint_every`` steps, at every epoch end and on SIGTERM, and a rerun with the same options
resumes from it and reaches the same weights as an uninterrupted run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from sketchback.models.adversarial import (ADVERSARIAL_TERMS, AdversarialTrainer, discriminator_health,
                                    patch_discriminator)
from sketchback.data.shards import ShardArray, batches, open_pairs, open_rows
from sketchback.sketches.hints import HINT_CHANNELS, TrainingHints, resolve_params as resolve_hints
from sketchback.io import atomic_path, file_signature, load_npz, save_npz
from sketchback.models.losses import SketchInversionLoss, pixel_loss, total_variation
from sketchback.vgg import vgg_feature_extractor
from sketchback.models.devices import check_training_device
from sketchback.models.generators import build_generator, check_image_size, downsamplings_of, widen_input
from sketchback.models.options import RunSettings, TrainOptions

log = logging.getLogger(__name__)

LR_SCHEDULES = ("constant", "cosine")
CHECKPOINT_FILE = "checkpoint.npz"
TERMS = ("loss", "pixel", "tv")


class TrainingInterrupted(RuntimeError):
    """Training stopped on SIGTERM after saving a checkpoint; rerunning the same command resumes it."""


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed Python, NumPy and the Keras backend; optionally make TensorFlow ops deterministic."""
    keras.utils.set_random_seed(seed)
    if deterministic and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def serial_tensorflow() -> bool:
    """Run TensorFlow's CPU ops one at a time, each on one thread (inter-op and intra-op parallelism 1);
    False when TensorFlow was already initialised in this process otherwise (the settings cannot
    change then).

    Op determinism is not enough for a step with two independent branches, as the adversarial
    step's generator and discriminator updates: with several threads, or several ops at once, the
    weights after a few steps from the same state differ in the last bits from run to run
    (benchmarks/adversarial_determinism.py; README "The adversarial stage").
    """
    import tensorflow as tf

    threading = tf.config.threading
    try:
        threading.set_intra_op_parallelism_threads(1)
        threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # the context exists: only settings made before it count
        return threading.get_intra_op_parallelism_threads() == 1 == threading.get_inter_op_parallelism_threads()
    return True


def pixel(y_true, y_pred):
    return pixel_loss(y_true, y_pred)


def tv(y_true, y_pred):
    return total_variation(y_pred)


def add_feature_columns(history: pd.DataFrame, pixel_weight: float, feature_weight: float, tv_weight: float) -> pd.DataFrame:
    """Recover the feature-loss term from the logged total, pixel and TV terms.

    The loss is linear in its terms, so Lf = (Lt - wp*Lp - wv*Lv) / wf holds for the epoch means
    too; this avoids a second VGG pass per batch just to log it.
    """
    history = history.copy()
    for prefix in ("", "val_"):
        if feature_weight and f"{prefix}loss" in history:
            history[f"{prefix}feature"] = (history[f"{prefix}loss"] - pixel_weight * history[f"{prefix}pixel"]
                                           - tv_weight * history[f"{prefix}tv"]) / feature_weight
    return history


def learning_rate_schedule(learning_rate: float, schedule: str, total_steps: int):
    """``constant``, or ``cosine``: cosine decay from ``learning_rate`` to 1% of it over the run."""
    if schedule == "constant":
        return learning_rate
    if schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=max(total_steps, 1), alpha=0.01)
    raise ValueError(f"unknown learning-rate schedule {schedule!r}; use one of {', '.join(LR_SCHEDULES)}")


def run_fingerprint(options: dict, train_pairs: list, val_pairs: list, init_model: str | Path | None) -> str:
    """Hash of everything that decides the trained weights; a checkpoint is resumed only if it matches."""
    described = {
        "options": options,
        "train": [[file_signature(p), file_signature(s)] for p, s in train_pairs],
        "val": [[file_signature(p), file_signature(s)] for p, s in val_pairs],
        "init_model": file_signature(init_model),
    }
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()


@dataclass
class Adversary:
    """The adversarial stage of a run: the discriminator, its optimizer, the joint step and when it starts."""

    discriminator: keras.Model
    optimizer: keras.optimizers.Optimizer
    trainer: AdversarialTrainer
    start_epoch: int


def _network_arrays(prefix: str, model: keras.Model, optimizer: keras.optimizers.Optimizer) -> dict:
    arrays = {f"{prefix}weight_{i:04d}": np.asarray(w) for i, w in enumerate(model.get_weights())}
    arrays.update({f"{prefix}optimizer_{i:04d}": keras.ops.convert_to_numpy(v) for i, v in enumerate(optimizer.variables)})
    return arrays


def save_checkpoint(path: Path, generator: keras.Model, optimizer: keras.optimizers.Optimizer, state: dict,
                    adversary: Adversary | None = None) -> None:
    """Weights, optimizer variables (the discriminator's too) and the loop state in one ``.npz``, atomically."""
    arrays = _network_arrays("", generator, optimizer)
    if adversary is not None:
        arrays.update(_network_arrays("disc_", adversary.discriminator, adversary.optimizer))
    save_npz(path, state=np.array(json.dumps(state)), **arrays)


def read_checkpoint_state(path: Path) -> dict | None:
    """The loop state stored in a checkpoint, or None when there is none or it cannot be read.

    Reads only the small ``state`` member (an ``.npz`` member is read when accessed), not the weights.
    """
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as arrays:
            return json.loads(str(arrays["state"]))
    except Exception as exc:  # zipfile.BadZipFile, KeyError, ValueError, EOFError ...
        log.warning("ignoring unreadable checkpoint %s (%s); starting afresh", path, exc)
        return None


def _restore_network(path: Path, arrays: dict, prefix: str, model: keras.Model,
                     optimizer: keras.optimizers.Optimizer) -> None:
    weights = [arrays[k] for k in sorted(k for k in arrays if k.startswith(f"{prefix}weight_"))]
    if len(weights) != len(model.weights):
        raise ValueError(f"{path} holds {len(weights)} {model.name} weights, the model has {len(model.weights)}; "
                         f"delete it to start afresh")
    model.set_weights(weights)
    slots = sorted(k for k in arrays if k.startswith(f"{prefix}optimizer_"))
    if len(slots) != len(optimizer.variables):
        raise ValueError(f"{path} holds {len(slots)} optimizer variables, the optimizer has {len(optimizer.variables)}; delete it to start afresh")
    for key, variable in zip(slots, optimizer.variables):
        variable.assign(arrays[key])


def restore_checkpoint(path: Path, generator: keras.Model, optimizer: keras.optimizers.Optimizer,
                       adversary: Adversary | None = None) -> dict:
    """Load weights and optimizer variables saved by :func:`save_checkpoint`; returns the loop state."""
    arrays = load_npz(path)
    _restore_network(path, arrays, "", generator, optimizer)
    if adversary is not None:
        _restore_network(path, arrays, "disc_", adversary.discriminator, adversary.optimizer)
    return json.loads(str(arrays["state"]))


def data_parallel(devices: int, batch_size: int):
    """Keras' DataParallel distribution over the first ``devices`` accelerators, or None for one device.

    Each batch is split across the devices and the gradients are averaged, so the result is that
    of one device with the same batch. Keras implements this distribution for the JAX backend.
    """
    if devices <= 1:
        return None
    if keras.backend.backend() != "jax":
        raise ValueError(f"training.devices is {devices}: several GPUs run through Keras' DataParallel distribution, "
                         f"which needs the JAX backend; set KERAS_BACKEND=jax (and install jax with CUDA) or devices: 1")
    available = keras.distribution.list_devices()
    if len(available) < devices:
        raise ValueError(f"training.devices is {devices} but only {len(available)} devices are visible: {available}")
    if batch_size % devices:
        raise ValueError(f"training.batch_size {batch_size} must be a multiple of training.devices {devices}")
    return keras.distribution.DataParallel(devices=available[:devices])


@contextlib.contextmanager
def use_distribution(distribution):
    """Make ``distribution`` Keras' global distribution while active (None: one device)."""
    previous = keras.distribution.distribution()
    keras.distribution.set_distribution(distribution)
    try:
        yield
    finally:
        keras.distribution.set_distribution(previous)


@contextlib.contextmanager
def sigterm_flag():
    """While active, SIGTERM (SLURM's time limit or preemption) only sets ``flag["stop"]``."""
    flag = {"stop": False}

    def handler(signum, frame):
        flag["stop"] = True
        log.warning("SIGTERM received: saving a checkpoint after this step")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGTERM, previous)


class TensorBoardLog:
    """Scalars for TensorBoard under ``directory`` (needs the TensorFlow and tensorboard packages)."""

    def __init__(self, directory: str | Path | None):
        self.writer = None
        if directory is None:
            return
        try:
            import tensorflow as tf

            self.tf = tf
            self.writer = tf.summary.create_file_writer(str(directory))
        except ImportError:
            log.warning("TensorBoard logs are off: TensorFlow is not installed")

    def scalars(self, values: dict, step: int, prefix: str) -> None:
        if self.writer is None:
            return
        with self.writer.as_default():
            for key, value in values.items():
                self.tf.summary.scalar(f"{prefix}/{key}", value, step=step)
        self.writer.flush()


def _mean_logs(model: keras.Model, sketches, photos, batch_size: int, drop_remainder: bool, add_hints=None) -> dict:
    """Loss terms over a whole set (test steps, weighted by batch size)."""
    sums, n = dict.fromkeys(TERMS, 0.0), 0
    for _, x, y in batches(sketches, photos, batch_size, seed=0, epoch=0, shuffle=False, drop_remainder=drop_remainder,
                           add_hints=add_hints):
        logs = model.test_on_batch(x, y, return_dict=True)
        for key in TERMS:
            sums[key] += float(logs[key]) * len(x)
        n += len(x)
    return {key: value / n for key, value in sums.items()}


def _format_terms(values: dict) -> str:
    """The loss terms of ``values`` (the adversarial ones too, when there), for a log line."""
    return " ".join(f"{key} {values[key]:.4g}" for key in TERMS + ADVERSARIAL_TERMS if key in values)


@dataclass
class _Data:
    """The training (and validation) pairs, memory-mapped from their shards."""

    x_train: ShardArray
    y_train: ShardArray
    x_val: ShardArray | None
    y_val: ShardArray | None
    steps_per_epoch: int
    # colour hints drawn from the photos (models.<name>.hints), else None: new strokes each epoch / fixed ones
    train_hints: TrainingHints | None = None
    val_hints: TrainingHints | None = None


def _open_data(train_pairs: list, val_pairs: list, options: TrainOptions, name: str) -> _Data:
    """Map the shards where they lie (no copy) and check they fit the options."""
    log.info("%s: memory-mapping %d training and %d validation shards", name, len(train_pairs), len(val_pairs))
    x_train, y_train = open_pairs(train_pairs)
    x_val, y_val = open_pairs(val_pairs) if val_pairs else (None, None)
    if x_train.shape[1] != options.image_size:
        raise ValueError(f"training shards hold {x_train.shape[1]}px images but image_size is {options.image_size}; "
                         f"rerun prepare")
    n_train, batch = len(x_train), options.batch_size
    steps = n_train // batch if options.devices > 1 else math.ceil(n_train / batch)
    if steps == 0:
        raise ValueError(f"{n_train} training pairs do not fill one batch of {batch} on {options.devices} devices; "
                         f"lower batch_size")
    log.info("%s: %d training pairs, %d validation pairs, %dpx, %d steps of %d per epoch", name, n_train,
             0 if x_val is None else len(x_val), options.image_size, steps, batch)
    if options.hints is None:
        return _Data(x_train, y_train, x_val, y_val, steps)
    hints = resolve_hints(options.hints)
    log.info("%s: colour hints, 0 to %d strokes per pair drawn from its photo", name, hints["max_strokes"])
    val_hints = TrainingHints(hints, options.run_seed, open_rows(val_pairs), stream=0) if val_pairs else None
    return _Data(x_train, y_train, x_val, y_val, steps, TrainingHints(hints, options.run_seed, open_rows(train_pairs)),
                 val_hints)


def _compile_setting(options: TrainOptions, settings: RunSettings, name: str) -> bool:
    """Make a deterministic adversarial run's TensorFlow serial, seed everything and decide whether the
    step is compiled with XLA on this backend."""
    backend = keras.backend.backend()
    if options.adversarial and settings.deterministic and backend == "tensorflow":
        if serial_tensorflow():
            log.info("%s: deterministic adversarial step: TensorFlow runs one op at a time on one thread "
                     "(bit-reproducible on a CPU)", name)
        else:
            log.warning("%s: TensorFlow was initialised in this process before training, with several threads; the "
                        "adversarial step can then differ in the last bits from run to run (train in a fresh "
                        "process, as the workflow does, for bit-reproducible weights)", name)
    seed_everything(options.run_seed, settings.deterministic)
    if options.training_seed is not None:
        log.info("%s: a replicate: training seed %d (data, sketches and the loss keep seed %d)", name,
                 options.training_seed, options.seed)
    if settings.jit_compile and settings.deterministic and backend == "tensorflow":
        log.warning("%s: jit_compile is ignored because deterministic is on (Keras disables XLA under op "
                    "determinism)", name)
    if backend == "jax" and not settings.jit_compile:
        # Keras runs JAX without jit as an eager debugging mode (1.6x slower per step on a CPU); XLA is how JAX runs
        log.info("%s: JAX backend: the training step is compiled with XLA (jit_compile applies to TensorFlow and "
                 "PyTorch)", name)
        return True
    return settings.jit_compile


def _build(options: TrainOptions, init_model: str | Path | None, total_steps: int, jit_compile: bool,
           name: str) -> keras.Model:
    """The generator (new, or loaded for fine-tuning) compiled with the loss and Adam."""
    previous_policy = keras.mixed_precision.global_policy()
    if options.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        if init_model is not None:
            generator = keras.models.load_model(init_model, compile=False)
            if options.hints is not None:  # a sketch-only model gains the hint channels, their weights at zero
                generator = widen_input(generator, HINT_CHANNELS)
            log.info("%s: initialised from %s (%s, %d parameters)", name, init_model, generator.name,
                     generator.count_params())
        else:
            generator = build_generator(options.architecture, options.base_filters, options.residual_blocks,
                                        HINT_CHANNELS if options.hints is not None else 1, options.downsamplings)
            log.info("%s: new %s generator, %d parameters", name, options.architecture, generator.count_params())
        # the loss's random filters are part of the loss: the study's seed, for a replicate too
        extractor = (vgg_feature_extractor(options.vgg_weights, options.vgg_md5, options.seed)
                     if options.feature_weight else None)
        if extractor is not None and options.vgg_weights == "random" and options.training_seed is not None:
            # making them reseeded Keras with the study's seed: what is built next (the discriminator) takes the
            # replicate's (a base run is left as it always was)
            keras.utils.set_random_seed(options.training_seed)
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)
    if extractor is not None:
        log.info("%s: VGG16 %s features from %s", name, extractor.output.shape[-1],
                 "seeded random filters" if options.vgg_weights == "random" else options.vgg_weights)
    optimizer = keras.optimizers.Adam(learning_rate_schedule(options.learning_rate, options.lr_schedule, total_steps))
    if options.mixed_precision:
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    loss = SketchInversionLoss(extractor, options.pixel_weight, options.feature_weight, options.tv_weight)
    generator.compile(optimizer=optimizer, loss=loss, metrics=[pixel, tv], jit_compile=jit_compile)
    optimizer.build(generator.trainable_variables)
    return generator


def check_adversarial(options: TrainOptions) -> None:
    """Raise ValueError naming the setting when the adversarial stage cannot run as configured."""
    if not options.adversarial:
        return
    if keras.backend.backend() != "tensorflow":
        raise ValueError(f"models.<name>.adversarial: the joint generator/discriminator step runs on the TensorFlow "
                         f"backend, not {keras.backend.backend()!r}; unset KERAS_BACKEND or set it to tensorflow")
    if options.devices > 1:
        raise ValueError("models.<name>.adversarial trains on one device; set training.devices: 1 for this model")
    if options.adversarial["start_epoch"] >= options.epochs:
        raise ValueError(f"models.<name>.adversarial.start_epoch {options.adversarial['start_epoch']} leaves no "
                         f"adversarial epoch of the {options.epochs}; lower it or raise epochs")


def _build_adversary(options: TrainOptions, generator: keras.Model, jit_compile: bool, name: str) -> Adversary | None:
    """The discriminator, its Adam and the joint step, or None for a model without the adversarial stage."""
    settings = options.adversarial
    if not settings:
        return None
    previous_policy = keras.mixed_precision.global_policy()
    if options.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        discriminator = patch_discriminator(settings["filters"], settings["layers"])
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)
    optimizer = keras.optimizers.Adam(settings["learning_rate"], beta_1=0.5)
    if options.mixed_precision:
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    optimizer.build(discriminator.trainable_variables)
    trainer = AdversarialTrainer(generator, discriminator, generator.loss, settings["weight"], generator.optimizer,
                                 optimizer, name=f"{generator.name}_adversarial")
    trainer.compile(optimizer=generator.optimizer, jit_compile=jit_compile)
    log.info("%s: adversarial stage from epoch %d: patch discriminator (%d parameters, %d px patches), weight %g, "
             "discriminator learning rate %g", name, settings["start_epoch"] + 1, discriminator.count_params(),
             2 ** (settings["layers"] + 2), settings["weight"], settings["learning_rate"])
    return Adversary(discriminator, optimizer, trainer, settings["start_epoch"])


def _resume_or_start(checkpoint: Path, fingerprint: str, generator: keras.Model, steps: int, name: str,
                     adversary: Adversary | None = None) -> dict:
    """The loop state: from the checkpoint when it was written by this very run, else a fresh one."""
    state = {"fingerprint": fingerprint, "epoch": 0, "step": 0, "global_step": 0,
             "sums": dict.fromkeys(TERMS, 0.0), "seen": 0, "history": []}
    saved = read_checkpoint_state(checkpoint)
    if saved is not None and saved.get("fingerprint") == fingerprint:
        state = restore_checkpoint(checkpoint, generator, generator.optimizer, adversary)
        log.info("%s: resuming from %s at epoch %d step %d/%d", name, checkpoint, state["epoch"] + 1, state["step"],
                 steps)
    elif saved is not None:
        log.info("%s: %s was written with other options or inputs; starting afresh", name, checkpoint)
    return state


class _Loop:
    """The epochs of one run: steps, progress, checkpoints, SIGTERM, validation at each epoch end."""

    def __init__(self, generator, data: _Data, options: TrainOptions, settings: RunSettings, checkpoint: Path,
                 name: str, adversary: Adversary | None = None):
        self.generator, self.data, self.options, self.settings = generator, data, options, settings
        self.checkpoint, self.name, self.adversary = checkpoint, name, adversary
        self.board = TensorBoardLog(settings.tensorboard_dir)

    def step_function(self, epoch: int):
        """The content-only step, or from the adversarial stage's first epoch on the joint step."""
        if self.adversary is not None and epoch >= self.adversary.start_epoch:
            return self.adversary.trainer.train_on_batch
        return self.generator.train_on_batch

    def save(self, state: dict) -> None:
        save_checkpoint(self.checkpoint, self.generator, self.generator.optimizer, state, self.adversary)

    def check_finite(self, logs: dict, epoch: int, step: int) -> None:
        bad = [key for key, value in logs.items() if not math.isfinite(float(value))]
        if not bad:
            return
        what = ("the discriminator exploded" if set(bad) <= set(ADVERSARIAL_TERMS) - {"adversarial"}
                else "the loss became")
        raise FloatingPointError(
            f"{self.name}: {what} {_format_terms(logs)} (not finite: {', '.join(bad)}) at epoch {epoch + 1} step "
            f"{step + 1}; lower the learning rate{' or adversarial.learning_rate' if self.adversary else ''} or check "
            f"the training data for blank images (the last good checkpoint is {self.checkpoint}, used only if "
            f"nothing changes)")

    def run(self, state: dict) -> dict:
        with sigterm_flag() as flag:
            for epoch in range(state["epoch"], self.options.epochs):
                started = time.perf_counter()
                images = self.train_epoch(state, epoch, flag)
                if self.stopped_early(state, epoch):
                    state["history"] = state["history"] + [self.epoch_row(state, epoch, validate=False)]
                    break
                self.end_epoch(state, epoch, images, time.perf_counter() - started)
        return state

    def train_epoch(self, state: dict, epoch: int, flag: dict) -> int:
        """Steps from the state's position to the epoch's end (or ``max_steps``); returns the images seen."""
        o, s, images, started = self.options, self.settings, 0, time.perf_counter()
        train_on_batch = self.step_function(epoch)
        for step, x, y in batches(self.data.x_train, self.data.y_train, o.batch_size, o.run_seed, epoch, state["step"],
                                  s.prefetch, drop_remainder=o.devices > 1, add_hints=self.data.train_hints):
            logs = train_on_batch(x, y, return_dict=True)
            self.check_finite(logs, epoch, step)
            for key in logs:
                state["sums"][key] = state["sums"].get(key, 0.0) + float(logs[key]) * len(x)
            state["seen"] += len(x)
            state["step"], state["global_step"] = step + 1, state["global_step"] + 1
            images += len(x)
            if s.log_every and state["global_step"] % s.log_every == 0:
                self.progress(state, epoch, logs, images / (time.perf_counter() - started))
            if flag["stop"]:
                self.save(state)
                raise TrainingInterrupted(
                    f"{self.name}: stopped by SIGTERM at epoch {epoch + 1} step {step + 1}; checkpoint saved to "
                    f"{self.checkpoint}; run the same command again to resume")
            if s.checkpoint_every and state["global_step"] % s.checkpoint_every == 0 \
                    and state["step"] < self.data.steps_per_epoch:
                self.save(state)
            if o.max_steps and state["global_step"] >= o.max_steps:
                break
        return images

    def progress(self, state: dict, epoch: int, logs: dict, rate: float) -> None:
        o, steps = self.options, self.data.steps_per_epoch
        eta = (o.epochs * steps - state["global_step"]) * o.batch_size / rate
        log.info("%s epoch %d/%d step %d/%d %s (%.1f img/s, %.0f min left)", self.name, epoch + 1, o.epochs,
                 state["step"], steps, _format_terms(logs), rate, eta / 60)
        self.board.scalars({key: float(value) for key, value in logs.items()}, state["global_step"], "train_step")

    def stopped_early(self, state: dict, epoch: int) -> bool:
        """True when ``max_steps`` ended the run before its last epoch's end."""
        o = self.options
        done = bool(o.max_steps) and state["global_step"] >= o.max_steps
        if done and (state["step"] < self.data.steps_per_epoch or epoch + 1 < o.epochs):
            log.info("%s: stopped after training.max_steps = %d steps (epoch %d, step %d/%d), without validation: "
                     "a smoke test, not the study's model", self.name, o.max_steps, epoch + 1, state["step"],
                     self.data.steps_per_epoch)
            return True
        return False

    def epoch_row(self, state: dict, epoch: int, validate: bool) -> dict:
        row = {"epoch": epoch + 1, **{key: total / state["seen"] for key, total in state["sums"].items()}}
        if validate and self.data.x_val is not None:
            val = _mean_logs(self.generator, self.data.x_val, self.data.y_val, self.options.batch_size,
                             self.options.devices > 1, self.data.val_hints)
            row.update({f"val_{key}": value for key, value in val.items()})
        return row

    def check_discriminator(self, row: dict, epoch: int) -> None:
        """Warn (in the log and the history's ``discriminator_state``) when the discriminator won or lost."""
        problem = discriminator_health(row["discriminator"], row["d_real"], row["d_fake"])
        row["discriminator_state"] = "ok" if problem is None else problem.split(":")[0]
        if problem is not None:
            log.warning("%s epoch %d/%d: %s", self.name, epoch + 1, self.options.epochs, problem)

    def end_epoch(self, state: dict, epoch: int, images: int, seconds: float) -> None:
        """Validation, the epoch's log line and TensorBoard points, a checkpoint and the running history."""
        row = self.epoch_row(state, epoch, validate=True)
        if "discriminator" in row:
            self.check_discriminator(row, epoch)
        log.info("%s epoch %d/%d %s (%.1f img/s)%s", self.name, epoch + 1, self.options.epochs, _format_terms(row),
                 images / seconds, f" val {_format_terms({k: row['val_' + k] for k in TERMS})}"
                 if "val_loss" in row else "")
        self.board.scalars({k: v for k, v in row.items() if k != "epoch" and not isinstance(v, str)}, epoch + 1, "epoch")
        state.update(epoch=epoch + 1, step=0, sums=dict.fromkeys(TERMS, 0.0), seen=0, history=state["history"] + [row])
        self.save(state)
        with atomic_path(self.checkpoint.parent / "history.csv") as tmp:
            pd.DataFrame(state["history"]).to_csv(tmp, index=False)


def train(train_pairs: list, val_pairs: list, out_model: str | Path, out_history: str | Path,
          options: TrainOptions, settings: RunSettings = RunSettings(), *, name: str,
          init_model: str | Path | None = None) -> pd.DataFrame:
    """Train a generator on (photo shard, sketch shard) pairs and save it as ``.keras``.

    ``options`` decide the weights (see ``sketchback.models.options``); ``settings`` only how the run is
    carried out. ``init_model`` starts from a saved generator (fine-tuning); its architecture is
    kept and the architecture options are ignored. ``deterministic`` makes TensorFlow ops
    deterministic (same seed, same weights); Keras then runs without XLA, so ``jit_compile`` only
    takes effect without it. On the JAX backend the step is always compiled with XLA.
    ``mixed_precision`` computes in float16 with float32 weights (GPUs; new generators only, a
    fine-tuned one keeps the precision it was saved with). ``devices`` > 1 splits every batch
    across that many accelerators (:func:`data_parallel`); batches that do not fill all devices are
    then left out. ``max_steps`` ends training after that many steps (a smoke test at full size):
    the last epoch's row then covers the steps taken, without validation.

    The training shards are memory-mapped where they lie. The work folder holds the checkpoint and
    a running ``history.csv``; it is removed after success. A checkpoint is resumed only when every option and input file is
    unchanged, otherwise training starts afresh. Writes the model and the per-epoch history CSV
    (loss, pixel, feature, tv and their ``val_`` counterparts) atomically. Raises
    :class:`TrainingInterrupted` after SIGTERM (checkpoint saved) and ``FloatingPointError`` when
    the loss stops being finite.
    """
    check_image_size(options.image_size, downsamplings_of(options.architecture, options.downsamplings))
    check_adversarial(options)
    check_training_device(name, settings.allow_cpu)
    if options.lr_schedule not in LR_SCHEDULES:
        raise ValueError(f"unknown learning-rate schedule {options.lr_schedule!r}; use one of {', '.join(LR_SCHEDULES)}")
    out_model = Path(out_model)
    work = Path(settings.work_dir) if settings.work_dir is not None else out_model.parent / "work"
    checkpoint = work / CHECKPOINT_FILE
    fingerprint = run_fingerprint(options.as_params(), train_pairs, val_pairs, init_model)
    jit_compile = _compile_setting(options, settings, name)
    data = _open_data(train_pairs, val_pairs, options, name)
    distribution = data_parallel(options.devices, options.batch_size)
    if distribution is not None:
        log.info("%s: each batch of %d split across %d devices", name, options.batch_size, options.devices)
    with use_distribution(distribution):
        generator = _build(options, init_model, options.epochs * data.steps_per_epoch, jit_compile, name)
        adversary = _build_adversary(options, generator, jit_compile, name)
        state = _resume_or_start(checkpoint, fingerprint, generator, data.steps_per_epoch, name, adversary)
        state = _Loop(generator, data, options, settings, checkpoint, name, adversary).run(state)
        history = add_feature_columns(pd.DataFrame(state["history"]), options.pixel_weight, options.feature_weight,
                                      options.tv_weight)
        with atomic_path(out_model) as tmp:
            generator.save(tmp)
        with atomic_path(out_history) as tmp:
            history.to_csv(tmp, index=False)
        if work.exists():  # a run shorter than a checkpoint interval never made it
            shutil.rmtree(work)
        return history
