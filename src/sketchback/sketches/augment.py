"""Paired photo/sketch augmentation (Albumentations): shared geometry, separate photometry per side.

Geometry (flip, affine, perspective; reflecting borders) is one draw applied to both so pairs stay
pixel-aligned; brightness/contrast touch only the photo (lighting varies, a sketch does not show it)
and blur/noise only the sketch (robustness of the network's input).
"""

from __future__ import annotations

import logging
import os
import random

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # offline machines: no version check on import

import albumentations as A  # noqa: E402
import cv2  # noqa: E402
import numpy as np  # noqa: E402

from sketchback.io import load_npz, save_npz  # noqa: E402

log = logging.getLogger(__name__)

# Magnitudes for a small building set (64-128 px).  A magnitude of 0 disables that transform
# (it is then not even constructed, so a fully disabled pipeline is an exact copy).
DEFAULT_AUGMENT: dict[str, object] = {
    # geometric, identical on photo and sketch
    "flip_prob": 0.5,  # horizontal flip probability; no vertical flips (buildings stand upright)
    "rotate_deg": 8.0,  # rotation drawn from [-rotate_deg, +rotate_deg] degrees
    "scale": (0.9, 1.1),  # isotropic zoom factor range (lo, hi); with translate this is crop-and-pad
    "translate": 0.06,  # shift drawn from [-t, +t] of width (x) and height (y), independently
    "perspective": 0.03,  # corner jitter std as a fraction of image size (A.Perspective scale (0, x))
    # photometric, photo only
    "brightness": 0.15,  # additive shift drawn from [-b, +b] of 255
    "contrast": 0.15,  # gain drawn from 1 + [-c, +c]: out = in * gain + shift (scaled about 0)
    # photometric, sketch only
    "blur_prob": 0.3,  # probability of a Gaussian blur of the sketch
    "blur_sigma": 1.0,  # blur sigma drawn from [min(0.3, s), s] pixels
    "noise_std": 0.03,  # Gaussian noise std drawn from [0, n] of 255
}

_PROBS = ("flip_prob", "blur_prob")
_FRACTIONS = ("translate", "perspective", "brightness", "contrast", "noise_std")


def _resolve_params(params: dict | None) -> dict[str, object]:
    """Defaults overridden by ``params``, validated; raises ValueError naming any bad key."""
    params = dict(params or {})
    unknown = sorted(set(params) - set(DEFAULT_AUGMENT))
    if unknown:
        raise ValueError(f"unknown augmentation parameter(s) {unknown}; valid keys: {sorted(DEFAULT_AUGMENT)}")
    out = {**DEFAULT_AUGMENT, **params}
    for key, value in out.items():
        if key == "scale":
            continue
        is_number = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
        if not is_number or not np.isfinite(value):
            raise ValueError(f"augmentation parameter {key!r} must be a finite number, got {value!r}")
        if value < 0:
            raise ValueError(f"augmentation parameter {key!r} must be >= 0, got {value}")
        out[key] = float(value)
    for key in _PROBS:
        if out[key] > 1:
            raise ValueError(f"augmentation parameter {key!r} is a probability and must be <= 1, got {out[key]}")
    for key in _FRACTIONS:
        if out[key] >= 0.5:
            raise ValueError(f"augmentation parameter {key!r} is a fraction and must be < 0.5, got {out[key]}")
    scale = out["scale"]
    # YAML/JSON configs give lists, so accept any length-2 sequence
    if not isinstance(scale, (tuple, list)) or len(scale) != 2:
        raise ValueError(f"augmentation parameter 'scale' must be a (lo, hi) pair, got {scale!r}")
    lo, hi = (float(v) for v in scale)
    if not (0 < lo <= hi):
        raise ValueError(f"augmentation parameter 'scale' needs 0 < lo <= hi, got {scale!r}")
    out["scale"] = (lo, hi)
    return out


def _build(p: dict[str, object]) -> tuple[A.Compose, A.Compose, A.Compose]:
    """(geometry on photo+sketch, photometry on photo, photometry on sketch) pipelines."""
    # BORDER_REFLECT_101 on both: no black corners in the photo and no dark (= "line") corners in
    # the sketch, and since both reflect the same way the reflected content stays aligned too.
    # Bicubic, not bilinear: two linear resamplings (affine, then perspective) soften a 128 px photo
    # by ~15% mean gradient, and blurry targets would teach the generator to be blurry.
    border = cv2.BORDER_REFLECT_101
    geo: list = []
    if p["flip_prob"] > 0:
        geo.append(A.HorizontalFlip(p=p["flip_prob"]))
    if p["rotate_deg"] > 0 or p["translate"] > 0 or p["scale"] != (1.0, 1.0):
        t = p["translate"]
        geo.append(
            A.Affine(
                rotate=(-p["rotate_deg"], p["rotate_deg"]),
                scale=p["scale"],
                translate_percent={"x": (-t, t), "y": (-t, t)},
                interpolation=cv2.INTER_CUBIC,
                border_mode=border,
                p=1.0,
            )
        )
    if p["perspective"] > 0:
        geo.append(
            A.Perspective(
                scale=(0.0, p["perspective"]),
                keep_size=True,
                interpolation=cv2.INTER_CUBIC,
                border_mode=border,
                p=1.0,
            )
        )
    # The sketch is declared an *image* target, not a mask, so it gets the same interpolation as
    # the photo (a mask would be nearest-neighbour and jag the strokes).
    geometric = A.Compose(geo, p=1.0, additional_targets={"sketch": "image"})

    photo: list = []
    if p["brightness"] > 0 or p["contrast"] > 0:
        photo.append(
            A.RandomBrightnessContrast(
                brightness_limit=(-p["brightness"], p["brightness"]),
                contrast_limit=(-p["contrast"], p["contrast"]),
                brightness_by_max=True,
                p=1.0,
            )
        )
    sketch: list = []
    if p["blur_prob"] > 0 and p["blur_sigma"] > 0:
        s = p["blur_sigma"]
        sketch.append(A.GaussianBlur(blur_limit=0, sigma_limit=(min(0.3, s), s), p=p["blur_prob"]))
    if p["noise_std"] > 0:
        sketch.append(A.GaussNoise(std_range=(0.0, p["noise_std"]), per_channel=False, p=1.0))
    return geometric, A.Compose(photo, p=1.0), A.Compose(sketch, p=1.0)


def _image_rngs(seed: int, index: int) -> tuple[np.random.Generator, random.Random]:
    """Independent numpy and stdlib generators determined by (seed, index) alone."""
    np_seq, py_seq = np.random.SeedSequence([seed, index]).spawn(2)
    return np.random.default_rng(np_seq), random.Random(int(py_seq.generate_state(1, np.uint64)[0]))


def augment_pairs(
    photos: np.ndarray,
    sketches: np.ndarray,
    copies: int,
    seed: int,
    params: dict | None = None,
    *,
    first_index: int = 0,
    rows: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Make ``copies`` randomly augmented, still pixel-aligned versions of every photo/sketch pair.

    photos: uint8 (N,H,W,3) RGB, 0..255; sketches: uint8 (N,H,W), 0..255 (white paper, dark lines).
    copies: >= 1.  seed: int >= 0.  params: overrides of ``DEFAULT_AUGMENT`` keys.
    rows: the dataset index of each pair (default ``first_index + i``); pair i's randomness is drawn
    from (seed, rows[i]) only, so augmenting a shard, or a subset of one, gives the same result as
    the same rows of the whole set.
    Returns (uint8 (N*copies,H,W,3), uint8 (N*copies,H,W)), image-major: copy j of pair i is row
    i*copies + j.  The same arguments always give bit-identical output.
    """
    p = _resolve_params(params)
    if not isinstance(photos, np.ndarray) or not isinstance(sketches, np.ndarray):
        raise TypeError("photos and sketches must be numpy arrays")
    if photos.dtype != np.uint8 or sketches.dtype != np.uint8:
        raise ValueError(f"photos and sketches must be uint8 (0..255), got {photos.dtype} and {sketches.dtype}")
    if photos.ndim != 4 or photos.shape[3] != 3:
        raise ValueError(f"photos must have shape (N,H,W,3), got {photos.shape}")
    if sketches.ndim != 3:
        raise ValueError(f"sketches must have shape (N,H,W), got {sketches.shape}")
    if sketches.shape != photos.shape[:3]:
        raise ValueError(f"photos {photos.shape} and sketches {sketches.shape} must agree in N, H and W")
    for name, value, minimum in (("copies", copies, 1), ("seed", seed, 0), ("first_index", first_index, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
            raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    n = photos.shape[0]
    rows = np.arange(first_index, first_index + n) if rows is None else np.asarray(rows)
    if rows.shape != (n,) or not np.issubdtype(rows.dtype, np.integer) or (rows < 0).any():
        raise ValueError(f"rows must be {n} dataset indices >= 0 (one per pair), got {rows!r}")

    geometric, photometric_photo, photometric_sketch = _build(p)
    out_photos = np.empty((n * copies, *photos.shape[1:]), dtype=np.uint8)
    out_sketches = np.empty((n * copies, *sketches.shape[1:]), dtype=np.uint8)
    for i in range(n):
        # Compose(seed=s) gives every child transform its *own* generator seeded with the same s,
        # so their draws coincide (two p=0.5 transforms in one Compose always fire together).
        # Handing all three pipelines one shared pair of generators instead makes the draws
        # sequential and independent, and seeding that pair from (seed, index) makes pair i's
        # augmentations independent of which other pairs are in the batch.
        np_rng, py_rng = _image_rngs(int(seed), int(rows[i]))
        for pipeline in (geometric, photometric_photo, photometric_sketch):
            pipeline.set_random_state(np_rng, py_rng)
        photo = np.ascontiguousarray(photos[i])
        sketch = np.ascontiguousarray(sketches[i])
        for j in range(copies):
            g = geometric(image=photo, sketch=sketch)
            row = i * copies + j
            out_photos[row] = photometric_photo(image=g["image"])["image"]
            # albumentations may hand a grey image back as (H,W,1)
            out_sketches[row] = photometric_sketch(image=g["sketch"])["image"].reshape(sketches.shape[1:])
    return out_photos, out_sketches


def augment_shard(photo_npz, sketch_npz, out_npz, copies: int, seed: int, params: dict | None = None) -> int:
    """Augment one (photo shard, sketch shard) pair; writes ``images``, ``sketches``, ``names`` and ``rows``.

    Randomness is keyed by each image's row in the dataset index (stored in the shards as
    ``rows``), so a shard's output does not depend on how the dataset was sharded. A sketch shard
    that covers a subset of its photo shard (neural style sketches) carries that subset's photos
    and rows itself; they are used instead of the photo shard's.
    """
    photos, drawn = load_npz(photo_npz), load_npz(sketch_npz)
    source = drawn if "images" in drawn else photos
    images = source["images"]
    if images.shape[:3] != drawn["sketches"].shape[:3]:
        raise ValueError(f"{photo_npz} and {sketch_npz} hold different images; rerun the sketch rule for this shard")
    rows = source["rows"] if "rows" in source else np.arange(len(images))
    out_images, sketches = augment_pairs(images, drawn["sketches"], copies, seed, params, rows=rows)
    save_npz(out_npz, images=out_images, sketches=sketches, names=np.repeat(source["names"], copies),
             rows=np.repeat(rows, copies))
    log.info("%s: %d pairs x %d copies", out_npz, len(images), copies)
    return len(out_images)
