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
* ``evaluate_superres``: on one test set, the test photos (from their S shard) and each model's
  predictions (from its training sketch style) upscaled by bicubic and by the upsampler, each
  scored against the factor x S truth (PSNR, SSIM, VGG feature distance); an example figure.
* ``summarize_superres``: means with 95% bootstrap intervals per upscaler, the paired difference
  super-resolution minus bicubic, a chart of that difference, and a verdict per row.

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

from sketchback.config import ConfigError
from sketchback.io import atomic_path, load_npz, save_npz

log = logging.getLogger(__name__)

FACTORS = (2, 4)
PHOTOS = "photos"  # the model column of the rows that upscale the test photos themselves
PHOTO_METHOD = "photo"  # and their method column (there is no sketch)
UPSCALERS = ("bicubic", "superres")
DIFFERENCE = "superres-bicubic"  # the upscaler column of the paired differences
METRICS = ("psnr", "ssim", "feature_distance")
METRIC_LABELS = {"psnr": "PSNR (dB)", "ssim": "SSIM", "feature_distance": "feature distance"}
HIGHER_IS_BETTER = {"psnr": True, "ssim": True, "feature_distance": False}
SUMMARY_COLUMNS = ["model", "dataset", "method", "upscaler", "metric", "mean", "ci_low", "ci_high", "n"]


# --------------------------------------------------------------------------- the plan and its checks


def takes_hints(spec: dict) -> bool:
    """Whether a model takes colour hints besides the sketch (models.<name>.hints; sketchback.hints)."""
    return spec.get("hints") is not None  # a key of the hints feature: configs before it lack it


def superres_models(config: dict) -> list[str]:
    """The models whose predictions are upscaled: ``superres.models``, or every sketch-only model (config
    order); models with colour hints need hints to predict and are left out. No model while the stage is
    off (its models: may then name models the study no longer has)."""
    if not config["superres"]["enabled"]:
        return []
    chosen = config["superres"]["models"]
    if chosen is None:
        return [name for name, spec in config["models"].items() if not takes_hints(spec)]
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
    ``sketchback.prepare``. An image whose crop region is smaller than ``size`` raises ValueError:
    upscaling it would give an interpolated "truth". Returns N.
    """
    from sketchback.prepare import crop_resize, load_image

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
    from sketchback.data import ShardArray

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
    from sketchback.losses import feature_loss, pixel_loss

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
                    options: SuperresOptions, *, deterministic: bool = True, log_every: int = 50) -> pd.DataFrame:
    """Train the upsampler on random patches of the photos of ``train_sets`` (dataset -> its training
    shards at factor x S, from ``prepare_photos``); write
    the model (.keras) and a history CSV (epoch, loss, rms and rms_bicubic on a fixed set of
    training patches, seconds). Same options and shards -> same weights (with ``deterministic``)."""
    import keras

    from sketchback.train import seed_everything

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


# --------------------------------------------------------------------------- evaluation


@dataclass
class _Scorer:
    """Scores low-resolution images upscaled both ways against the truth, and keeps figure rows."""

    upsampler: object
    extractor: object
    factor: int
    batch_size: int
    shown: dict  # image name -> row of the figure (the first test images)
    cells: dict  # (column label, image name) -> uint8 image

    def score(self, frame: pd.DataFrame, low: np.ndarray, truth_u8: np.ndarray, label: str) -> pd.DataFrame:
        from sketchback.evaluate import images_per_call
        from sketchback.metrics import feature_distance, image_metrics

        truth = truth_u8.astype(np.float32) / 255.0
        # as the evaluate rule: fewer images per call at big sizes, so memory stays as at 128 px
        per_call = images_per_call(self.batch_size, *truth.shape[1:3])
        upscaled = {"bicubic": bicubic(low, self.factor), "superres": upscale(self.upsampler, low, per_call)}
        if upscaled["superres"].shape != truth.shape:
            raise ValueError(f"{label}: upscaled images are {upscaled['superres'].shape[1:]}, the truth "
                             f"{truth.shape[1:]}; rerun superres_prepare and superres_train")
        for upscaler, images in upscaled.items():
            for metric, values in image_metrics(images, truth).items():
                frame[f"{metric}_{upscaler}"] = values
            frame[f"feature_distance_{upscaler}"] = feature_distance(self.extractor, images, truth, per_call)
            for j, name in enumerate(frame["image"]):
                if name in self.shown:
                    self.cells[(f"{label}: {upscaler}", name)] = (images[j] * 255.0 + 0.5).astype(np.uint8)
        for j, name in enumerate(frame["image"]):
            if name in self.shown:
                self.cells[("truth", name)] = truth_u8[j]
        return frame


def _model_shard(generator, photo_path, sketch_path) -> tuple[np.ndarray, np.ndarray]:
    """Predictions (float32 (N, S, S, 3)) of one test shard's sketches and their image names."""
    from sketchback.data import sketch_to_input
    from sketchback.evaluate import predict

    drawn = load_npz(sketch_path)
    names = drawn["names"] if "names" in drawn else load_npz(photo_path)["names"]
    return predict(generator, sketch_to_input(drawn["sketches"])), names.astype(str)


def evaluate_superres(upsampler_path: str | Path, photo_shards: list, truth_shards: list, models: dict,
                      out_csv: str | Path, out_png: str | Path, *, dataset: str, factor: int, rows: int = 4,
                      vgg_weights: str = "random", vgg_md5: str | None = None, seed: int = 0,
                      batch_size: int = 16) -> pd.DataFrame:
    """Upscale one test set's photos and each model's predictions by bicubic and by the upsampler; score both
    against the truth at factor x S; write per-image metrics and a figure of the first ``rows`` images.

    photo_shards: the test set's prepared (S) shards; truth_shards: the same shards at factor x S
    (``prepare_photos``). models: model -> {"generator": its .keras, "method": its sketch style,
    "pairs": (photo shard, sketch shard) per test shard, in the order of ``truth_shards``}. The CSV
    has one row per image and input: model (``photos`` for the photos themselves), dataset, method
    (``photo`` for the photos), image, and ``{metric}_{upscaler}`` for psnr (dB), ssim and
    feature_distance (VGG16 relu2_2 with ``vgg_weights``, as the evaluate rule), upscaler bicubic
    or superres.
    """
    from sketchback.evaluate import load_generator
    from sketchback.vgg import vgg_feature_extractor

    if len(photo_shards) != len(truth_shards) or any(len(m["pairs"]) != len(truth_shards) for m in models.values()):
        raise ValueError(f"{dataset}: {len(truth_shards)} truth shards, {len(photo_shards)} photo shards and "
                         f"{[len(m['pairs']) for m in models.values()]} sketch shards per model do not match")
    first = load_npz(truth_shards[0])["names"].astype(str)[:rows] if truth_shards else []
    scorer = _Scorer(load_upsampler(upsampler_path), vgg_feature_extractor(vgg_weights, vgg_md5, seed), factor,
                     batch_size, {name: k for k, name in enumerate(first)}, {})
    generators = {model: load_generator(spec["generator"]) for model, spec in models.items()}
    frames = []
    for k, (photo_path, truth_path) in enumerate(zip(photo_shards, truth_shards)):
        frames += _evaluate_shard(scorer, k, photo_path, truth_path, models, generators, dataset)
    if not frames or not sum(len(f) for f in frames):
        raise ValueError(f"{dataset}: the test shards hold no images ({', '.join(map(str, truth_shards))})")
    per_image = pd.concat(frames, ignore_index=True)
    with atomic_path(out_csv) as tmp:
        per_image.to_csv(tmp, index=False)
    _example_figure(scorer, out_png, [PHOTOS] + list(models), dataset, factor)
    for (model, method), group in per_image.groupby(["model", "method"], sort=False):
        log.info("%s on %s (%s): PSNR bicubic %.2f dB, super-resolution %.2f dB; SSIM %.4f / %.4f; feature distance "
                 "%.4f / %.4f (%d images)", model, dataset, method, group["psnr_bicubic"].mean(),
                 group["psnr_superres"].mean(), group["ssim_bicubic"].mean(), group["ssim_superres"].mean(),
                 group["feature_distance_bicubic"].mean(), group["feature_distance_superres"].mean(), len(group))
    return per_image


def _evaluate_shard(scorer: _Scorer, k: int, photo_path, truth_path, models: dict, generators: dict,
                    dataset: str) -> list[pd.DataFrame]:
    """The per-image frames of one test shard: its photos, then each model's predictions."""
    truth = load_npz(truth_path)
    truth_names = truth["names"].astype(str)
    photos = load_npz(photo_path)
    if not np.array_equal(photos["names"].astype(str), truth_names):
        raise ValueError(f"{truth_path} does not hold the images of {photo_path} in its order; rerun superres_prepare")
    where = {name: j for j, name in enumerate(truth_names)}
    frame = pd.DataFrame({"model": PHOTOS, "dataset": dataset, "method": PHOTO_METHOD, "image": truth_names})
    frames = [scorer.score(frame, photos["images"].astype(np.float32) / 255.0, truth["images"], PHOTOS)]
    for model, spec in models.items():
        predictions, names = _model_shard(generators[model], *spec["pairs"][k])
        missing = [n for n in names if n not in where]
        if missing:
            raise ValueError(f"{spec['pairs'][k][1]} sketches images that {truth_path} lacks ({missing[:3]}); "
                             f"rerun the rules that make them")
        frame = pd.DataFrame({"model": model, "dataset": dataset, "method": spec["method"], "image": names})
        frames.append(scorer.score(frame, predictions, truth["images"][[where[n] for n in names]], model))
        log.info("%s/%s: shard %d, %d images of %s", dataset, model, k + 1, len(names), truth_path)
    return frames


def _example_figure(scorer: _Scorer, out_png: str | Path, sources: list[str], dataset: str, factor: int) -> None:
    """Per source (the photos, each model): bicubic | super-resolved, then the truth; the first test images."""
    from sketchback.figures import evaluation_grid, save_png

    names = [n for n in scorer.shown if all((f"{s}: {u}", n) in scorer.cells for s in sources for u in UPSCALERS)]
    if not names:
        raise ValueError(f"{dataset}: no test image was upscaled for every model; nothing to show")
    labels = [f"{s}: {u}" for s in sources[1:] + sources[:1] for u in UPSCALERS] + ["truth"]
    columns = [np.stack([scorer.cells[(label, n)] for n in names]) for label in labels]
    shown = [label.replace(": superres", ": super-res.").replace(f"{PHOTOS}: ", "photo: ") for label in labels]
    size = columns[-1].shape[1]
    grid = evaluation_grid(columns, shown, max_rows=len(names), cell=size,
                           title=f"{dataset}: {size // factor} px predictions and photos upscaled x{factor}")
    save_png(out_png, grid)


# --------------------------------------------------------------------------- summary


def _summary_row(key: tuple, upscaler: str, metric: str, values: np.ndarray, seed: int) -> dict:
    from sketchback.metrics import bootstrap_ci

    values = values[np.isfinite(values)]  # an identical image has infinite PSNR: left out, as summarize does
    model, dataset, method = key
    row = {"model": model, "dataset": dataset, "method": method, "upscaler": upscaler, "metric": metric,
           "mean": math.nan, "ci_low": math.nan, "ci_high": math.nan, "n": len(values)}
    if len(values):
        row["mean"] = float(values.mean())
        row["ci_low"], row["ci_high"] = bootstrap_ci(values, seed=seed)
    return row


def superres_summary(per_image: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Long table (SUMMARY_COLUMNS): per (model, dataset, method) and metric, the mean of each
    upscaler and of the paired per-image difference super-resolution minus bicubic (upscaler
    ``superres-bicubic``), with 95% percentile-bootstrap intervals (1000 resamples, ``seed``)."""
    missing = [f"{m}_{u}" for m in METRICS for u in UPSCALERS if f"{m}_{u}" not in per_image.columns]
    if missing:
        raise ValueError(f"the super-resolution metrics lack columns {missing}; rerun superres_evaluate")
    rows = []
    for key, group in per_image.groupby(["model", "dataset", "method"], sort=False):
        for metric in METRICS:
            values = {u: group[f"{metric}_{u}"].to_numpy(dtype=float) for u in UPSCALERS}
            for upscaler in UPSCALERS:
                rows.append(_summary_row(key, upscaler, metric, values[upscaler], seed))
            rows.append(_summary_row(key, DIFFERENCE, metric, values["superres"] - values["bicubic"], seed))
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def verdicts(summary: pd.DataFrame) -> dict[tuple[str, str], str]:
    """(model, dataset) -> one sentence: does super-resolution beat bicubic there? It beats it on a
    metric when the 95% interval of the paired difference lies on the better side of zero."""
    out = {}
    differences = summary[summary["upscaler"] == DIFFERENCE]
    for (model, dataset), group in differences.groupby(["model", "dataset"], sort=False):
        better, worse, parts = [], [], []
        for _, r in group.iterrows():
            sign = 1 if HIGHER_IS_BETTER[r["metric"]] else -1
            low, high = sorted((sign * r["ci_low"], sign * r["ci_high"]))
            (better if low > 0 else worse if high < 0 else []).append(METRIC_LABELS[r["metric"]])
            parts.append(f"{METRIC_LABELS[r['metric']]} {r['mean']:+.4g} [{r['ci_low']:+.4g}, {r['ci_high']:+.4g}]")
        subject = "the test photos" if model == PHOTOS else f"the {model} model's predictions"
        if better and not worse:
            verdict = "helps" if len(better) == len(group) else f"helps on {', '.join(better)}"
        elif worse and not better:
            verdict = "hurts" if len(worse) == len(group) else f"hurts on {', '.join(worse)}"
        elif better:
            verdict = f"helps on {', '.join(better)} and hurts on {', '.join(worse)}"
        else:
            verdict = "makes no clear difference"
        out[(model, dataset)] = f"{dataset}, {subject}: super-resolution {verdict} ({'; '.join(parts)})"
    return out


def summarize_superres(metric_csvs: list[str | Path], out_csv: str | Path, out_png: str | Path, *,
                       seed: int = 0, dpi: int = 150) -> pd.DataFrame:
    """The summary table of every test set's super-resolution metrics (``superres_summary``) and a chart
    of the paired differences with their intervals; each verdict is logged and shown on the chart."""
    per_image = pd.concat([pd.read_csv(path) for path in metric_csvs], ignore_index=True)
    summary = superres_summary(per_image, seed)
    with atomic_path(out_csv) as tmp:
        summary.to_csv(tmp, index=False)
    said = verdicts(summary)
    for line in said.values():
        log.info("%s", line)
    plot_differences(summary, said, out_png, dpi=dpi)
    return summary


def plot_differences(summary: pd.DataFrame, said: dict, path: str | Path, dpi: int = 150) -> None:
    """One panel per metric: the paired difference super-resolution minus bicubic with its 95% interval,
    one bar per (test set, photos or model); the verdicts underneath."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    differences = summary[summary["upscaler"] == DIFFERENCE]
    keys = list(dict.fromkeys(zip(differences["dataset"], differences["model"])))
    fig, axes = plt.subplots(1, len(METRICS), figsize=(4.2 * len(METRICS), 1.2 + 0.45 * len(keys)), squeeze=False)
    try:
        for ax, metric in zip(axes[0], METRICS):
            rows = differences[differences["metric"] == metric].set_index(["dataset", "model"]).loc[keys]
            y = np.arange(len(keys))[::-1]
            good = (rows["mean"] > 0) == HIGHER_IS_BETTER[metric]
            ax.barh(y, rows["mean"], color=np.where(good, "#4c9a5b", "#c0504d"),
                    xerr=[rows["mean"] - rows["ci_low"], rows["ci_high"] - rows["mean"]], capsize=3)
            ax.axvline(0, color="black", linewidth=0.8)
            ax.set_yticks(y, [f"{d}: {'photos' if m == PHOTOS else m + ' predictions'}" for d, m in keys])
            better = "higher" if HIGHER_IS_BETTER[metric] else "lower"
            ax.set_title(f"{METRIC_LABELS[metric]}: super-res. - bicubic\n({better} is better for super-res.)",
                         fontsize=9)
            if ax is not axes[0][0]:
                ax.set_yticklabels([])
        fig.text(0.01, -0.02, "\n".join(said[(m, d)] for d, m in keys), fontsize=7, va="top", wrap=True)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi, format="png", bbox_inches="tight")
    finally:
        plt.close(fig)
