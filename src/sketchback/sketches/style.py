"""Neural style transfer toward a pencil drawing (Gatys, Ecker & Bethge 2016), as a sketch simulator.

A grey image starts at the photo and is moved by Adam, pixel by pixel, so that its VGG16 features
keep the photo's content (``content_layer``) while the Gram matrices of ``style_layers`` match those
of a pencil drawing. Each loss is relative (divided by its target's mean square), so the weights
suit random and ImageNet filters alike. Losses are written with ``keras.ops``; only the gradient
comes from the backend (TensorFlow). Expensive: every step is a VGG16 forward and backward pass, so the workflow
runs it on a configurable subset of each shard (``max_images``, ``every_nth``) and TensorFlow puts
it on the GPU when there is one.

This module imports Keras lazily: ``DEFAULT_PARAMS`` and the style image are usable (e.g. by the
config check) without starting TensorFlow.
"""

from __future__ import annotations

import functools
import logging
import time
from pathlib import Path

import cv2
import numpy as np

from sketchback.images import check_seed, to_grey
from sketchback.vgg import VGG_LAYERS, vgg16_notop, vgg_preprocess

log = logging.getLogger(__name__)

# Per-image parameters of the optimisation (keyword arguments of ``style_sketch``).
DEFAULT_PARAMS: dict[str, object] = {
    "steps": 60,  # Adam steps per image
    "learning_rate": 0.03,  # Adam step size, in grey levels / 255 per step
    "content_weight": 8.0,  # weight of the relative content loss
    "style_weight": 2.0,  # weight of the relative style (Gram) loss, summed over style_layers
    "tv_weight": 0.5,  # weight of the mean squared neighbour difference (smoothness)
    "content_layer": "block2_conv2",
    "style_layers": ["block1_conv1", "block2_conv1", "block3_conv1"],
    "style_image": "builtin",  # "builtin" (pencil_style_image) or a path to a picture of a pencil drawing
    "style_size": 128,  # side, in px, the style image is resized to: sets the stroke scale
    "init_noise": 0.02,  # std of the seeded Gaussian noise added to the starting image (0..1 scale)
}

# Per-shard parameters: which images of a shard get a style sketch, and how the network is built.
SHARD_PARAMS: dict[str, object] = {
    "max_images": None,  # at most this many images per shard (after every_nth); null = all
    "every_nth": 1,  # only images whose dataset row is a multiple of this
    "batch_size": 16,  # images optimised together (independently: per-image losses, elementwise Adam)
    "vgg_weights": "random",  # path to vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5, or "random"
    "vgg_md5": None,  # md5 the weights file must have (null: not checked)
}


def _number(name, value, *, integer=False, minimum=None, strict=False):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"style parameter {name!r} must be a number, got {value!r}")
    if integer and float(value) != int(value):
        raise ValueError(f"style parameter {name!r} must be an integer, got {value!r}")
    value = int(value) if integer else float(value)
    if not np.isfinite(value):
        raise ValueError(f"style parameter {name!r} must be finite, got {value}")
    if minimum is not None and (value <= minimum if strict else value < minimum):
        raise ValueError(f"style parameter {name!r} must be {'>' if strict else '>='} {minimum}, got {value}")
    return value


def resolve_params(params: dict | None) -> dict[str, object]:
    """Defaults (``DEFAULT_PARAMS`` and ``SHARD_PARAMS``) overridden by ``params``, validated.

    Raises ValueError naming the first unknown or bad key. Does not read any file.
    """
    params = dict(params or {})
    valid = {**DEFAULT_PARAMS, **SHARD_PARAMS}
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ValueError(f"unknown style parameter(s) {unknown}; valid parameters: {sorted(valid)}")
    p = {**valid, **params}
    p["steps"] = _number("steps", p["steps"], integer=True, minimum=0)
    p["learning_rate"] = _number("learning_rate", p["learning_rate"], minimum=0, strict=True)
    for key in ("content_weight", "style_weight", "tv_weight", "init_noise"):
        p[key] = _number(key, p[key], minimum=0)
    p["style_size"] = _number("style_size", p["style_size"], integer=True, minimum=16)
    if p["content_layer"] not in VGG_LAYERS:
        raise ValueError(f"style parameter 'content_layer' must be a VGG16 conv layer ({', '.join(VGG_LAYERS)}), got {p['content_layer']!r}")
    layers = p["style_layers"]
    if isinstance(layers, str) or not isinstance(layers, (list, tuple)) or not layers:
        raise ValueError(f"style parameter 'style_layers' must be a non-empty list of VGG16 conv layers, got {layers!r}")
    for layer in layers:
        if layer not in VGG_LAYERS:
            raise ValueError(f"style parameter 'style_layers': {layer!r} is not a VGG16 conv layer ({', '.join(VGG_LAYERS)})")
    p["style_layers"] = list(layers)
    if not isinstance(p["style_image"], str) or not p["style_image"]:
        raise ValueError(f"style parameter 'style_image' must be 'builtin' or a path to an image, got {p['style_image']!r}")
    if p["max_images"] is not None:
        p["max_images"] = _number("max_images", p["max_images"], integer=True, minimum=1)
    p["every_nth"] = _number("every_nth", p["every_nth"], integer=True, minimum=1)
    p["batch_size"] = _number("batch_size", p["batch_size"], integer=True, minimum=1)
    if not isinstance(p["vgg_weights"], str) or not p["vgg_weights"]:
        raise ValueError(f"style parameter 'vgg_weights' must be 'random' or a path to the VGG16 notop .h5 file, got {p['vgg_weights']!r}")
    if p["vgg_md5"] is not None and not isinstance(p["vgg_md5"], str):
        raise ValueError(f"style parameter 'vgg_md5' must be an md5 hex string or null, got {p['vgg_md5']!r}")
    return p


def select_subset(rows: np.ndarray, max_images: int | None = None, every_nth: int = 1) -> np.ndarray:
    """Positions (into ``rows``) of the images that get a style sketch.

    rows: int (N,) dataset rows of a shard's images.  Keeps rows that are multiples of
    ``every_nth`` (so the choice does not depend on how the dataset is sharded), then the first
    ``max_images`` of those.
    """
    rows = np.asarray(rows, dtype=np.int64)
    keep = np.flatnonzero(rows % int(every_nth) == 0)
    return keep if max_images is None else keep[: int(max_images)]


# --------------------------------------------------------------------------- the style image

def pencil_style_image(size: int = 256, seed: int = 0) -> np.ndarray:
    """A deterministic drawing of pencil hatching on grainy paper: the built-in style image.

    Patches of parallel strokes at a few angles (some cross-hatched), strokes that fade in and out
    like pencil pressure, a few long contour strokes, and paper grain. Drawn by this function from
    ``seed`` alone (no third-party image). Returns uint8 (size, size), 255 = paper.
    """
    size = int(size)
    if size < 16:
        raise ValueError(f"style image size must be >= 16 px, got {size}")
    rng = np.random.default_rng([seed, 20160])
    scale = size / 256.0
    ink = np.zeros((size, size), np.float32)  # graphite density, composited multiplicatively
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    for _ in range(int(rng.integers(5, 8))):
        cx, cy = rng.uniform(0.1, 0.9, 2) * size
        rx, ry = rng.uniform(0.08, 0.22, 2) * size
        angle = rng.uniform(0, np.pi)
        spacing = rng.uniform(2.5, 5.0) * scale
        darkness = rng.uniform(0.25, 0.6)
        # soft elliptical patch where this hatching layer is drawn
        patch = np.exp(-(((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2) ** 3)
        for hatch_angle in (angle, angle + rng.uniform(0.6, 1.2)) if rng.random() < 0.4 else (angle,):
            layer = np.zeros((size, size), np.uint8)
            d = np.array([np.cos(hatch_angle), np.sin(hatch_angle)])
            n = np.array([-d[1], d[0]])
            for offset in np.arange(-size, size, spacing):
                base = np.array([size / 2, size / 2]) + n * (offset + rng.normal(0, 0.4 * spacing))
                half = rng.uniform(0.3, 1.0) * size
                p0 = base - d * half + rng.normal(0, 1.5 * scale, 2)
                p1 = base + d * half + rng.normal(0, 1.5 * scale, 2)
                value = int(np.clip(rng.normal(180, 50), 60, 255))  # pressure of this stroke
                cv2.line(layer, tuple(np.rint(p0 * 16).astype(int)), tuple(np.rint(p1 * 16).astype(int)),
                         value, thickness=1, lineType=cv2.LINE_AA, shift=4)
            ink = 1.0 - (1.0 - ink) * (1.0 - darkness * patch * layer.astype(np.float32) / 255.0)
    for _ in range(int(rng.integers(6, 10))):  # long, darker contour strokes: smooth arcs
        centre = rng.uniform(0, size, 2)
        axes = rng.uniform(0.15, 0.5, 2) * size
        start = rng.uniform(0, 360)
        arc = np.deg2rad(start + np.linspace(0, rng.uniform(50, 160), 40))
        rot = rng.uniform(0, np.pi)
        ex, ey = axes[0] * np.cos(arc), axes[1] * np.sin(arc)
        points = centre + np.stack([ex * np.cos(rot) - ey * np.sin(rot), ex * np.sin(rot) + ey * np.cos(rot)], axis=1)
        layer = np.zeros((size, size), np.uint8)
        cv2.polylines(layer, [np.rint(points * 16).astype(np.int32)], False, 255,
                      thickness=max(1, round(1.5 * scale)), lineType=cv2.LINE_AA, shift=4)
        ink = 1.0 - (1.0 - ink) * (1.0 - 0.7 * layer.astype(np.float32) / 255.0)
    grain = cv2.GaussianBlur(rng.standard_normal((size, size)).astype(np.float32), (0, 0), 1.2 * scale + 0.3, 0.5 * scale + 0.3)
    grain /= grain.std() + 1e-6
    # graphite catches on the paper's ridges: strokes get a grainy, broken look
    ink *= np.clip(1.0 + 0.35 * grain, 0.0, 1.5)
    paper = 1.0 - 0.03 * np.clip(0.5 + grain / 4, 0, 1)
    out = paper * (1.0 - np.clip(ink, 0.0, 1.0))
    return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)


def load_style_image(style_image: str = "builtin", size: int = 128) -> np.ndarray:
    """The style image as uint8 grey (size, size): the built-in drawing, or a picture file resized."""
    if style_image == "builtin":
        return pencil_style_image(max(int(size), 16))
    path = Path(style_image)
    if not path.is_file():
        raise FileNotFoundError(f"style image {path} not found; set sketch.style.style_image to 'builtin' or to a picture of a pencil drawing")
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise ValueError(f"style image {path} is not a picture OpenCV can read (PNG, JPEG, ...)")
    h, w = image.shape
    side = min(h, w)
    image = image[(h - side) // 2:(h - side) // 2 + side, (w - side) // 2:(w - side) // 2 + side]
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_CUBIC
    return cv2.resize(image, (int(size), int(size)), interpolation=interpolation)


# --------------------------------------------------------------------------- the network

@functools.lru_cache(maxsize=4)
def vgg_features(weights: str = "random", md5: str | None = None, seed: int = 0,
                 layers: tuple[str, ...] = ("block3_conv2",)):
    """A frozen VGG16 that maps [0, 1] RGB NHWC images to a list of the activations of ``layers``.

    ``weights``: the Keras ImageNet notop file (checked against ``md5`` when given) or "random"
    (fixed filters seeded by ``seed``, as the offline demo's feature loss uses; this also seeds
    Keras' global generators, as ``vgg.vgg_feature_extractor`` does). Cached per process.
    """
    import keras

    vgg = vgg16_notop(weights, md5, seed, config_key="sketch.style.vgg_weights")
    inputs = keras.Input((None, None, 3))
    # truncate at the deepest layer needed: later blocks would cost time and give nothing
    deepest = max(VGG_LAYERS.index(name) for name in layers)
    x = vgg_preprocess(inputs)
    outputs = {}
    for layer in vgg.layers[1:]:
        x = layer(x)
        if layer.name in layers:
            outputs[layer.name] = x
        if layer.name == VGG_LAYERS[deepest]:
            break
    model = keras.Model(inputs, [outputs[name] for name in layers], name="vgg16_style")
    model.trainable = False
    return model


def gram(features):
    """Per-image Gram matrix of (N, h, w, c) features, averaged over positions: (N, c, c)."""
    from keras import ops

    n, h, w, c = features.shape
    flat = ops.reshape(features, (-1, h * w, c))
    return ops.einsum("npc,npd->ncd", flat, flat) / float(h * w)


def _losses(x, content_target, style_grams, model, p):
    """Per-image weighted loss (N,): relative content + relative style + smoothness."""
    from keras import ops

    feats = model(ops.repeat(x, 3, axis=-1))
    content, styles = feats[0], feats[1:]
    total = p["content_weight"] * ops.mean(ops.square(content - content_target[0]), axis=(1, 2, 3)) / content_target[1]
    for f, (target, norm) in zip(styles, style_grams):
        total = total + p["style_weight"] * ops.mean(ops.square(gram(f) - target), axis=(1, 2)) / norm
    dy = x[:, 1:] - x[:, :-1]
    dx = x[:, :, 1:] - x[:, :, :-1]
    return total + p["tv_weight"] * (ops.mean(ops.square(dy), axis=(1, 2, 3)) + ops.mean(ops.square(dx), axis=(1, 2, 3)))


def _init_images(grey: np.ndarray, seeds, noise: float) -> np.ndarray:
    """Starting images (N, H, W, 1) float32: the grey photo plus seeded noise, clipped to [0, 1]."""
    x = grey.astype(np.float32)[..., None] / 255.0
    if noise > 0:
        for i, s in enumerate(seeds):
            x[i] += noise * np.random.default_rng(int(s)).standard_normal(x.shape[1:], dtype=np.float32)
    return np.clip(x, 0.0, 1.0)


def _check_depth(shape: tuple[int, ...], layers: tuple[str, ...]) -> None:
    """ValueError unless (N, H, W) images are large enough for the deepest VGG16 block of ``layers``."""
    deepest = max(int(layer.removeprefix("block")[0]) for layer in layers)  # "block3_conv1" -> 3
    smallest = 2 ** (deepest - 1)  # each VGG16 block before it halves the image
    if min(shape[1:]) < smallest:
        raise ValueError(f"style transfer reads VGG16 block{deepest}, which needs images of at least {smallest}x{smallest} "
                         f"px; got {shape[2]}x{shape[1]}")


def _style_grams(model, p: dict) -> list:
    """(Gram matrix, its mean square) of each style layer of the style image."""
    from keras import ops

    style = load_style_image(p["style_image"], p["style_size"])
    style_feats = model(ops.convert_to_tensor(np.repeat(style[None, ..., None], 3, -1).astype("float32") / 255.0))[1:]
    style_grams = []
    for f in style_feats:
        g = gram(f)
        style_grams.append((g, ops.mean(ops.square(g)) + 1e-12))
    return style_grams


def _adam_step(model, style_grams: list, p: dict):
    """One compiled Adam step on the images x: (x, m, v, t, content_target) -> (x, m, v, summed loss)."""
    import tensorflow as tf
    from keras import ops

    lr, b1, b2, eps = p["learning_rate"], 0.9, 0.999, 1e-8

    @tf.function(reduce_retracing=True)
    def step(x, m, v, t, content_target):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = ops.sum(_losses(x, content_target, style_grams, model, p))
        g = tape.gradient(loss, x)
        # Adam, elementwise, so every image follows its own trajectory; projected back onto [0, 1]
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * ops.square(g)
        m_hat = m / (1 - b1 ** t)
        v_hat = v / (1 - b2 ** t)
        x = ops.clip(x - lr * m_hat / (ops.sqrt(v_hat) + eps), 0.0, 1.0)
        return x, m, v, loss

    return step


def _optimise(step, model, grey: np.ndarray, seeds: list[int], p: dict) -> tuple[np.ndarray, float]:
    """``p["steps"]`` Adam steps on one batch of uint8 (n, H, W) grey photos: (uint8 result, last loss)."""
    import tensorflow as tf
    from keras import ops

    photo = grey.astype(np.float32)[..., None] / 255.0
    content = model(ops.convert_to_tensor(np.repeat(photo, 3, -1)))[0]
    content_target = (content, ops.mean(ops.square(content), axis=(1, 2, 3)) + 1e-12)
    x = ops.convert_to_tensor(_init_images(grey, seeds, p["init_noise"]))
    m = ops.zeros_like(x)
    v = ops.zeros_like(x)
    loss = float("nan")
    for t in range(1, p["steps"] + 1):
        x, m, v, loss = step(x, m, v, tf.constant(float(t)), content_target)
    return np.rint(np.asarray(x)[..., 0] * 255.0).astype(np.uint8), float(loss)


def style_transfer(grey: np.ndarray, seeds, params: dict | None = None, *, vgg_seed: int = 0,
                   progress: bool = False) -> np.ndarray:
    """Style-transfer grey photos toward the pencil style image.

    grey: uint8 (N, H, W) grey photos, 0..255.  seeds: N ints, one per image (its starting noise).
    params: see ``DEFAULT_PARAMS`` and ``SHARD_PARAMS`` (``batch_size``, ``vgg_weights``,
    ``vgg_md5``; the subset keys are ignored here).  vgg_seed: seed of the "random" VGG filters.
    Returns uint8 (N, H, W), 255 = paper. Images are optimised in batches of ``batch_size``, each
    with its own loss, so an image's result does not depend on the others (up to float rounding).
    """
    import keras

    p = resolve_params(params)
    if keras.backend.backend() != "tensorflow":
        raise ValueError(f"style transfer takes its gradients from TensorFlow; set KERAS_BACKEND=tensorflow (got {keras.backend.backend()!r})")
    grey = np.asarray(grey)
    if grey.dtype != np.uint8 or grey.ndim != 3:
        raise ValueError(f"grey must be uint8 (N,H,W), got {grey.dtype} {grey.shape}")
    seeds = [int(s) for s in seeds]
    if len(seeds) != len(grey):
        raise ValueError(f"need one seed per image: {len(grey)} images, {len(seeds)} seeds")
    out = np.empty(grey.shape, np.uint8)
    if len(grey) == 0:
        return out
    layers = (p["content_layer"], *p["style_layers"])
    _check_depth(grey.shape, layers)
    model = vgg_features(p["vgg_weights"], p["vgg_md5"], int(vgg_seed), layers)
    step = _adam_step(model, _style_grams(model, p), p)
    start = time.perf_counter()
    batch = p["batch_size"]
    for lo in range(0, len(grey), batch):
        hi = min(lo + batch, len(grey))
        out[lo:hi], loss = _optimise(step, model, grey[lo:hi], seeds[lo:hi], p)
        if progress:
            seconds = time.perf_counter() - start
            log.info("style: %d/%d images, %d steps, last batch loss %.4f, %.1f s (%.2f s/image)",
                     hi, len(grey), p["steps"], loss / (hi - lo), seconds, seconds / hi)
    return out


def style_sketch(image: np.ndarray, seed: int = 0, vgg_seed: int = 0, **params) -> np.ndarray:
    """Style sketch of one photo: uint8 (H,W,3) RGB or (H,W) grey -> uint8 (H,W), 255 = paper.

    ``params``: keys of ``DEFAULT_PARAMS`` and ``batch_size``/``vgg_weights``/``vgg_md5``.
    ``seed`` seeds the starting noise; ``vgg_seed`` the filters of the "random" VGG16 (the
    workflow uses the study's seed for it).
    """
    return style_transfer(to_grey(image)[None], [check_seed(seed)], params, vgg_seed=check_seed(vgg_seed))[0]


def limit_threads(threads: int) -> None:
    """Let TensorFlow use at most ``threads`` CPU threads (before its first op; later calls are no-ops)."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(int(threads))
        tf.config.threading.set_inter_op_parallelism_threads(min(int(threads), 2))
    except RuntimeError:  # TensorFlow already started; it keeps its thread pools
        log.debug("TensorFlow already initialised; thread limit %d not applied", threads)
