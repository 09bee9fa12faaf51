"""Super-resolution: a small upsampler trained on the study's own photos, applied to the predictions.

The models predict photos at ``image_size`` (S). This stage shows them at ``factor`` x S and asks
whether a learned upsampler does better there than bicubic interpolation:

* ``prepare_photos``: the photos of a prepared shard again, at factor x S, from the raw images
  (the same rows in the same order), so the truth at factor x S is real, never interpolated.
* ``build_upsampler``: an ESPCN/EDSR-like residual CNN at the low resolution; its pixel-shuffled
  output is added to the bicubic upscaling of its input (it learns what bicubic misses, and starts
  as bicubic exactly: the last convolution is zero-initialised).
* ``train_upsampler``: seeded random patches of the training photos, area-downscaled by the factor
  (low resolution) -> the patch itself (high resolution); pixel loss (RMS), optionally plus the
  study's VGG feature loss.

Its scores (bicubic against the upsampler on the test sets) are in
:mod:`sketchback.evaluation.superres`.

The plan (which models, test sets and training photos) and its checks are here too; they import
nothing heavy, so building the DAG stays cheap. Keras is imported only where a network runs.
Images are float32 NHWC RGB in [0, 1] unless said otherwise.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sketchback.errors import ConfigError
from sketchback.io import atomic_path, load_npz, save_npz
from sketchback.models.options import REPLICATE_OF

log = logging.getLogger(__name__)

FACTORS = (2, 4)
PHOTOS = "photos"  # the model column of the rows that upscale the test photos themselves


# --------------------------------------------------------------------------- the plan and its checks


def takes_hints(spec: dict) -> bool:
    """Whether a model takes colour hints besides the sketch (models.<name>.hints; sketchback.sketches.hints)."""
    return spec.get("hints") is not None  # a key of the hints feature: configs before it lack it


def superres_models(config: dict) -> list[str]:
    """The models whose predictions are upscaled: ``superres.models``, or every sketch-only model (config
    order) but the training-seed replicates; models with colour hints need hints to predict and are left out. No model while the stage is
    off (its models: may then name models the study no longer has)."""
    if not config["superres"]["enabled"]:
        return []
    chosen = config["superres"]["models"]
    if chosen is None:
        return [name for name, spec in config["models"].items() if not takes_hints(spec) and REPLICATE_OF not in spec]
    return list(chosen)


def superres_style(config: dict, model: str) -> str:
    """The sketch style a model is evaluated in here: the first it was trained on."""
    return config["models"][model]["methods"][0]


def superres_test_sets(config: dict) -> list[str]:
    """The test sets of the upscaled models, in the order of ``datasets:``."""
    tested = {d for m in superres_models(config) for d in config["models"][m]["test_on"]}
    return [name for name in config["datasets"] if name in tested]


def superres_test_models(config: dict, dataset: str) -> list[str]:
    """The upscaled models tested on ``dataset``."""
    return [m for m in superres_models(config) if dataset in config["models"][m]["test_on"]]


def superres_datasets(config: dict) -> list[str]:
    """The datasets whose training photos the upsampler learns from: ``superres.datasets``, or the test sets."""
    chosen = config["superres"]["datasets"]
    return superres_test_sets(config) if chosen is None else list(chosen)


def known_side(dataset: dict) -> int | None:
    """The shortest side, in px, of the image region a dataset's photos are made from, where the
    config says it: a crop box, or a synthetic source's raw_size; None when only the files know."""
    if dataset["crop"] is not None:
        return min(dataset["crop"][2], dataset["crop"][3])
    return dataset["source"].get("raw_size")


def check_superres(config: dict) -> None:
    """Raise ConfigError naming the key when ``superres`` asks for something the study cannot make."""
    sr = config["superres"]
    if not sr["enabled"]:
        return
    if sr["factor"] not in FACTORS:
        raise ConfigError(f"superres.factor: {sr['factor']} is not supported; use one of {FACTORS}")
    size = config["image_size"] * sr["factor"]
    for key, names, known in (("models", sr["models"], config["models"]), ("datasets", sr["datasets"], config["datasets"])):
        for name in names or []:
            if name not in known:
                raise ConfigError(f"superres.{key}: {name!r} is not defined under {key}: (known: {', '.join(known)})")
    for name in superres_models(config):
        if takes_hints(config["models"][name]):
            raise ConfigError(f"superres.models: {name!r} takes colour hints (models.{name}.hints); the "
                              f"super-resolution stage upscales the predictions of sketch-only models: leave it out")
    if PHOTOS in config["models"]:
        raise ConfigError(f"models.{PHOTOS}: the super-resolution summary uses {PHOTOS!r} for the photos "
                          f"themselves; rename the model")
    if sr["patch_size"] % sr["factor"] or sr["patch_size"] > size:
        raise ConfigError(f"superres.patch_size: {sr['patch_size']} must be a multiple of superres.factor "
                          f"({sr['factor']}) and at most image_size x factor ({size})")
    for name in dict.fromkeys(superres_datasets(config) + superres_test_sets(config)):
        side = known_side(config["datasets"][name])
        if side is not None and side < size:
            what = "crop box" if config["datasets"][name]["crop"] is not None else "source.raw_size"
            raise ConfigError(
                f"superres: datasets.{name}.{what} gives {side} px images, below image_size x superres.factor "
                f"= {size} px, so there is no real truth to compare the upscaled images with. Raise "
                f"datasets.{name}.{what} to at least {size}, lower superres.factor or image_size, or leave "
                f"{name} out of superres.datasets and its models out of superres.models")


@dataclass(frozen=True)
class SuperresOptions:
    """Everything that decides the upsampler's weights (the superres_train rule's params)."""

    factor: int
    epochs: int
    learning_rate: float
    filters: int
    blocks: int
    batch_size: int
    patch_size: int
    feature_weight: float
    vgg_weights: str
    vgg_md5: str | None
    seed: int

    @classmethod
    def from_config(cls, config: dict) -> "SuperresOptions":
        sr = config["superres"]
        keys = ("factor", "epochs", "learning_rate", "filters", "blocks", "batch_size", "patch_size", "feature_weight")
        # the VGG16 weights decide the weights only through the feature loss: without it, changing them retrains nothing
        feature = sr["feature_weight"] > 0
        return cls(**{k: sr[k] for k in keys}, vgg_weights=config["training"]["vgg_weights"] if feature else "random",
                   vgg_md5=config["training"]["vgg_md5"] if feature else None, seed=config["seed"])

    def as_params(self) -> dict:
        return asdict(self)


# --------------------------------------------------------------------------- the truth at factor x S


def _region_side(image: np.ndarray, crop: list[int] | None) -> int:
    return min(crop[2], crop[3]) if crop is not None else min(image.shape[:2])


def prepare_photos(index_csv: str | Path, dataset_dir: str | Path, photo_npz: str | Path, out_npz: str | Path,
                   size: int, crop: list[int] | None = None) -> int:
    """The photos of prepared shard ``photo_npz`` again at ``size`` px, from the raw images.

    Writes ``images`` uint8 (N, size, size, 3), ``names`` and ``rows`` equal to ``photo_npz``'s
    (row i is the same image in both), with the same crop and INTER_AREA resizing as
    ``sketchback.data.prepare``. An image whose crop region is smaller than ``size`` raises ValueError:
    upscaling it would give an interpolated "truth". Returns N.
    """
    from sketchback.data.prepare import crop_resize, load_image

    dataset_dir = Path(dataset_dir)
    shard = load_npz(photo_npz)
    names, rows = shard["names"], shard["rows"]
    index = pd.read_csv(index_csv, keep_default_na=False)
    paths = index["path"].to_numpy(dtype=str)[rows] if len(rows) else np.empty(0, str)
    if not np.array_equal(paths, names.astype(str)):
        raise ValueError(f"{photo_npz} names images that {index_csv} lists under other rows; rerun prepare for it")
    images = np.empty((len(names), size, size, 3), np.uint8)
    for i, name in enumerate(names):
        image = load_image(dataset_dir / str(name))
        if (side := _region_side(image, crop)) < size:
            raise ValueError(f"{dataset_dir / str(name)}: its {'crop box' if crop else 'central square'} is {side} px, "
                             f"below the {size} px of the super-resolution truth; lower superres.factor or leave "
                             f"this dataset out of superres.datasets and its models out of superres.models")
        images[i] = crop_resize(image, size, crop)
        if (i + 1) % 1000 == 0:
            log.info("%s: %d of %d photos at %d px", out_npz, i + 1, len(names), size)
    save_npz(out_npz, images=images, names=names, rows=rows)
    log.info("%s: %d photos at %d px (the rows of %s)", out_npz, len(names), size, photo_npz)
    return len(names)


def downscale(images: np.ndarray, factor: int) -> np.ndarray:
    """Area downscaling by an integer factor: (N, H, W, C) -> float32 (N, H/f, W/f, C), each pixel the
    mean of its f x f block (what cv2.INTER_AREA does for integer factors). uint8 input is /255."""
    images = np.asarray(images)
    n, h, w, c = images.shape
    if h % factor or w % factor:
        raise ValueError(f"images of {h}x{w} px cannot be downscaled by {factor}")
    x = images.astype(np.float32) / 255.0 if images.dtype == np.uint8 else images.astype(np.float32)
    return x.reshape(n, h // factor, factor, w // factor, factor, c).mean(axis=(2, 4))


# --------------------------------------------------------------------------- the network


@functools.cache
def _pixel_shuffle_layer():
    """The PixelShuffle layer class, defined (and registered with Keras) on first use: importing this
    module must not start Keras."""
    import keras

    @keras.saving.register_keras_serializable(package="sketchback")
    class PixelShuffle(keras.layers.Layer):
        """(N, H, W, C*f*f) -> (N, H*f, W*f, C) (depth to space)."""

        def __init__(self, factor: int, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, x):
            return keras.ops.depth_to_space(x, self.factor)

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    return PixelShuffle


def upsampler_custom_objects() -> dict:
    """What ``keras.models.load_model`` needs to read a saved upsampler."""
    return {"sketchback>PixelShuffle": _pixel_shuffle_layer()}


def build_upsampler(factor: int, filters: int, blocks: int):
    """Low-resolution RGB (N, h, w, 3) -> (N, h*factor, w*factor, 3): bicubic + a learned residual.

    Convolutions run at the low resolution (cheap), then a pixel shuffle, as in ESPCN; EDSR-style
    residual blocks (conv-ReLU-conv, no normalisation). The last convolution starts at zero, so an
    untrained upsampler is bicubic interpolation.
    """
    import keras
    from keras import layers

    low = keras.Input((None, None, 3), name="low_resolution")
    base = layers.UpSampling2D(factor, interpolation="bicubic", name="bicubic")(low)
    x = skip = layers.Conv2D(filters, 3, padding="same", name="head")(low)
    for i in range(blocks):
        y = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"block{i}_conv1")(x)
        y = layers.Conv2D(filters, 3, padding="same", name=f"block{i}_conv2")(y)
        x = layers.Add(name=f"block{i}_add")([x, y])
    x = layers.Add(name="global_skip")([skip, x])
    x = layers.Conv2D(3 * factor * factor, 3, padding="same", kernel_initializer="zeros", name="tail")(x)
    x = _pixel_shuffle_layer()(factor, name="pixel_shuffle")(x)
    out = layers.Add(name="residual_over_bicubic")([base, x])
    return keras.Model(low, out, name=f"upsampler_x{factor}")


def load_upsampler(path: str | Path):
    import keras

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"upsampler {path} does not exist; train it first (snakemake {path})")
    try:
        return keras.models.load_model(path, compile=False, custom_objects=upsampler_custom_objects())
    except Exception as exc:
        raise ValueError(f"{path} is not a loadable upsampler ({exc}); rerun superres_train") from exc


def upscale(model, images: np.ndarray, batch_size: int = 16) -> np.ndarray:
    """Run an upsampler on float32 (N, h, w, 3) images in [0, 1]: float32 (N, h*f, w*f, 3), clipped."""
    out = [np.asarray(model(images[i:i + batch_size], training=False)) for i in range(0, len(images), batch_size)]
    return np.clip(np.concatenate(out), 0.0, 1.0) if out else np.empty((0,) + images.shape[1:], np.float32)


def bicubic(images: np.ndarray, factor: int, batch_size: int = 64) -> np.ndarray:
    """Bicubic upscaling (the upsampler's own: Keras' bicubic resize, Keys a = -0.5), clipped to [0, 1]."""
    from keras import ops

    out = []
    for i in range(0, len(images), batch_size):
        x = np.asarray(images[i:i + batch_size], np.float32)
        size = (x.shape[1] * factor, x.shape[2] * factor)
        out.append(np.asarray(ops.image.resize(x, size, interpolation="bicubic", antialias=False)))
    return np.clip(np.concatenate(out), 0.0, 1.0) if out else np.empty((0,) + images.shape[1:], np.float32)


# --------------------------------------------------------------------------- training


def training_patches(photos, keys: np.ndarray, patch: int, factor: int, seed: int, stream: int):
    """(low, high): one random ``patch`` px square of each uint8 photo (N, H, W, 3) and its area
    downscaling by ``factor``, float32 in [0, 1]. Each position depends on (seed, stream, the photo's
    key: (dataset, row) integers, never its shard) only (stream: 1 + epoch in training, 0 for the
    fixed check patches), on the factor grid so that downscaling the patch equals cropping the
    downscaled photo."""
    photos = np.asarray(photos)
    high = np.empty((len(photos), patch, patch, 3), np.uint8)
    cells = (photos.shape[1] - patch) // factor + 1, (photos.shape[2] - patch) // factor + 1
    for i, (photo, key) in enumerate(zip(photos, keys)):
        y, x = np.random.default_rng([seed, stream, *map(int, np.atleast_1d(key))]).integers(0, cells) * factor
        high[i] = photo[y:y + patch, x:x + patch]
    return downscale(high, factor), high.astype(np.float32) / 255.0


def _open_photos(train_sets: dict[str, list]):
    """The photos of every training shard (memory-mapped, read as one array) and each photo's key:
    (the position of its dataset in ``train_sets``, its dataset row)."""
    from sketchback.data.shards import ShardArray

    loaded = [(k, load_npz(path, mmap=True)) for k, shards in enumerate(train_sets.values()) for path in shards]
    if not loaded:
        raise ValueError("no training shards for the upsampler (superres.datasets)")
    sizes = {part["images"].shape[1:] for _, part in loaded}
    if len(sizes) != 1:
        raise ValueError(f"the upsampler's training shards hold images of different sizes {sorted(sizes)}; "
                         f"rerun superres_prepare for {', '.join(train_sets)}")
    keys = np.concatenate([np.stack([np.full(len(part["rows"]), k), part["rows"]], axis=1) for k, part in loaded])
    return ShardArray([part["images"] for _, part in loaded]), keys


def _loss(options: SuperresOptions):
    """The training loss: per-sample RMS error, plus feature_weight x the VGG feature loss."""
    from sketchback.models.losses import feature_loss, pixel_loss

    if options.feature_weight == 0:
        return pixel_loss
    from sketchback.vgg import vgg_feature_extractor

    extractor = vgg_feature_extractor(options.vgg_weights, options.vgg_md5, options.seed)

    def loss(y_true, y_pred):
        return pixel_loss(y_true, y_pred) + options.feature_weight * feature_loss(extractor, y_true, y_pred)

    return loss


def _check_set(photos, keys, options: SuperresOptions, n: int = 64):
    """A fixed set of training patches (stream 0) the progress lines score model and bicubic on."""
    take = np.linspace(0, len(photos) - 1, min(n, len(photos))).astype(int)
    return training_patches(photos[take], keys[take], options.patch_size, options.factor, options.seed, 0)


def _rms(images: np.ndarray, truth: np.ndarray) -> float:
    return float(np.sqrt(np.mean((images - truth) ** 2)))


def train_upsampler(train_sets: dict[str, list], out_model: str | Path, out_history: str | Path,
                    options: SuperresOptions, *, deterministic: bool = True, log_every: int = 50,
                    allow_cpu: bool = False) -> pd.DataFrame:
    """Train the upsampler on random patches of the photos of ``train_sets`` (dataset -> its training
    shards at factor x S, from ``prepare_photos``); write
    the model (.keras) and a history CSV (epoch, loss, rms and rms_bicubic on a fixed set of
    training patches, seconds). Same options and shards -> same weights (with ``deterministic``).
    ``allow_cpu`` trains on the CPU even when the job was given a GPU the backend cannot see."""
    import keras

    from sketchback.models.devices import check_training_device
    from sketchback.models.train import seed_everything

    check_training_device(f"upsampler x{options.factor}", allow_cpu)
    seed_everything(options.seed, deterministic)
    photos, keys = _open_photos(train_sets)
    model = build_upsampler(options.factor, options.filters, options.blocks)
    model.compile(optimizer=keras.optimizers.Adam(options.learning_rate), loss=_loss(options))
    steps = max(1, len(photos) // options.batch_size)  # whole batches only: one traced step shape
    check_low, check_high = _check_set(photos, keys, options)
    rms_bicubic = _rms(bicubic(check_low, options.factor), check_high)
    log.info("upsampler x%d: %d parameters; %d training photos of %d px in %d shards; %d steps of %d patches "
             "(%d px) per epoch; bicubic RMS on the check patches %.4f", options.factor, model.count_params(),
             len(photos), photos.shape[1], sum(map(len, train_sets.values())), steps, options.batch_size, options.patch_size,
             rms_bicubic)
    history = []
    for epoch in range(options.epochs):
        history.append(_train_epoch(model, photos, keys, options, epoch, log_every, steps))
        history[-1]["rms"] = _rms(upscale(model, check_low), check_high)
        history[-1]["rms_bicubic"] = rms_bicubic
        log.info("upsampler epoch %d/%d: loss %.4f; check patches RMS %.4f (bicubic %.4f, %+.2f dB) in %.1f s",
                 epoch + 1, options.epochs, history[-1]["loss"], history[-1]["rms"], rms_bicubic,
                 20 * math.log10(rms_bicubic / max(history[-1]["rms"], 1e-12)), history[-1]["seconds"])
    _save(model, options, out_model)
    frame = pd.DataFrame(history)
    with atomic_path(out_history) as tmp:
        frame.to_csv(tmp, index=False)
    return frame


def _train_epoch(model, photos, keys, options: SuperresOptions, epoch: int, log_every: int, steps: int) -> dict:
    started, losses = time.monotonic(), []
    order = np.random.default_rng([options.seed, epoch]).permutation(len(photos))
    for step in range(steps):
        take = order[step * options.batch_size:(step + 1) * options.batch_size]
        sorted_take = np.sort(take)  # memory-mapped shards read faster in order; the batch is a set
        low, high = training_patches(photos[sorted_take], keys[sorted_take], options.patch_size, options.factor,
                                     options.seed, 1 + epoch)
        loss = model.train_on_batch(low, high)
        losses.append(float(loss[0] if isinstance(loss, list) else loss))
        if not np.isfinite(losses[-1]):
            raise FloatingPointError(f"upsampler epoch {epoch + 1} step {step + 1}: loss is {losses[-1]}; lower "
                                     f"superres.learning_rate ({options.learning_rate})")
        if log_every and (step + 1) % log_every == 0:
            rate = (step + 1) * options.batch_size / (time.monotonic() - started)
            log.info("upsampler epoch %d/%d step %d/%d loss %.4f (%.0f patches/s)", epoch + 1, options.epochs,
                     step + 1, steps, float(np.mean(losses[-log_every:])), rate)
    return {"epoch": epoch + 1, "loss": float(np.mean(losses)), "seconds": round(time.monotonic() - started, 2)}


def _save(model, options: SuperresOptions, out_model: str | Path) -> None:
    """Save a fresh copy with the trained weights: the file carries the architecture, not the loss."""
    fresh = build_upsampler(options.factor, options.filters, options.blocks)
    fresh.set_weights(model.get_weights())
    with atomic_path(out_model) as tmp:
        fresh.save(tmp)
    log.info("upsampler saved to %s", out_model)
