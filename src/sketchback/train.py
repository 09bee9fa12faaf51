"""Train a sketch-inversion generator (faces from scratch, buildings fine-tuned from the face model)."""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from sketchback.data import load_pairs
from sketchback.io import atomic_path
from sketchback.losses import SketchInversionLoss, pixel_loss, total_variation, vgg_feature_extractor
from sketchback.model import build_generator, check_image_size

log = logging.getLogger(__name__)


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed Python, NumPy and the Keras backend; optionally make TensorFlow ops deterministic."""
    keras.utils.set_random_seed(seed)
    if deterministic and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def pixel(y_true, y_pred):
    return pixel_loss(y_true, y_pred)


def tv(y_true, y_pred):
    return total_variation(y_pred)


class ProgressLog(keras.callbacks.Callback):
    """One log line per epoch (and every ``every`` batches): loss terms and images/s."""

    def __init__(self, name: str, epochs: int, n_images: int, every: int = 50):
        super().__init__()
        self.name, self.epochs, self.n_images, self.every = name, epochs, n_images, every

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch, self.start = epoch, time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if self.every and (batch + 1) % self.every == 0:
            log.info("%s epoch %d batch %d loss %.4f", self.name, self.epoch + 1, batch + 1, logs.get("loss", float("nan")))

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        seconds = time.perf_counter() - self.start
        if not math.isfinite(logs.get("loss", 0.0)):
            raise FloatingPointError(
                f"{self.name}: loss became {logs.get('loss')} in epoch {epoch + 1}; lower the learning rate "
                f"or check the training data for blank images"
            )
        terms = " ".join(f"{k} {v:.4g}" for k, v in logs.items() if k != "learning_rate")
        log.info("%s epoch %d/%d %s (%.0f img/s)", self.name, epoch + 1, self.epochs, terms, self.n_images / seconds)


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


def train(train_pairs: list, val_pairs: list, out_model: str | Path, out_history: str | Path, *,
          name: str, image_size: int, architecture: str = "scribbler", base_filters: int = 32,
          residual_blocks: int = 5, pixel_weight: float = 1.0, feature_weight: float = 1e-3,
          tv_weight: float = 1e-5, vgg_weights: str = "random", vgg_md5: str | None = None,
          epochs: int = 10, batch_size: int = 8, learning_rate: float = 1e-3, seed: int = 0,
          jit_compile: bool = False, deterministic: bool = True, init_model: str | Path | None = None) -> pd.DataFrame:
    """Train a generator on (photo shard, sketch shard) pairs and save it as ``.keras``.

    ``init_model`` starts from a saved generator (fine-tuning); its architecture is kept and the
    architecture arguments are ignored. ``deterministic`` makes TensorFlow ops deterministic
    (same seed, same weights); Keras then runs without XLA, so ``jit_compile`` only takes effect
    with ``deterministic=False``. Writes the model and the per-epoch history CSV
    (loss, pixel, feature, tv, and their ``val_`` counterparts) atomically.
    """
    check_image_size(image_size)
    seed_everything(seed, deterministic)
    if jit_compile and deterministic:
        log.warning("%s: jit_compile is ignored because deterministic is on (Keras disables XLA under op determinism)", name)
    x_train, y_train = load_pairs(train_pairs)
    x_val, y_val = load_pairs(val_pairs) if val_pairs else (None, None)
    if x_train.shape[1] != image_size:
        raise ValueError(f"training shards hold {x_train.shape[1]}px images but image_size is {image_size}; rerun prepare")
    log.info("%s: %d training pairs, %d validation pairs, %dpx", name, len(x_train), 0 if x_val is None else len(x_val), image_size)

    if init_model is not None:
        generator = keras.models.load_model(init_model, compile=False)
        log.info("%s: initialised from %s (%s, %d parameters)", name, init_model, generator.name, generator.count_params())
    else:
        generator = build_generator(architecture, base_filters, residual_blocks)
        log.info("%s: new %s generator, %d parameters", name, architecture, generator.count_params())
    extractor = vgg_feature_extractor(vgg_weights, vgg_md5, seed)
    log.info("%s: VGG16 %s features from %s", name, extractor.output.shape[-1], "seeded random filters" if vgg_weights == "random" else vgg_weights)

    generator.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=SketchInversionLoss(extractor, pixel_weight, feature_weight, tv_weight),
        metrics=[pixel, tv],
        jit_compile=jit_compile,
    )
    result = generator.fit(
        x_train, y_train, batch_size=batch_size, epochs=epochs, shuffle=True, verbose=0,
        validation_data=None if x_val is None else (x_val, y_val),
        callbacks=[ProgressLog(name, epochs, len(x_train))],
    )
    history = pd.DataFrame(result.history)
    history.insert(0, "epoch", np.arange(1, len(history) + 1))
    history = add_feature_columns(history, pixel_weight, feature_weight, tv_weight)

    with atomic_path(out_model) as tmp:
        generator.save(tmp)
    with atomic_path(out_history) as tmp:
        history.to_csv(tmp, index=False)
    return history
