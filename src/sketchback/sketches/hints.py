"""Scribbler's colour hints: a few coloured strokes that tell a hint model which colour goes where.

The contract every user of a hint model codes against: the generator of a hint model has one input,
float32 (N, H, W, 5) — channel 0 the sketch in [0, 1] (white paper = 1), channels 1-3 the hints'
RGB colour in [0, 1] (0 where there is no hint), channel 4 the mask (1 where a hint is, else 0).
A sketch-only model has one input channel. With an all-zero mask a hint model is a sketch-only
model (it was trained with 0 strokes on some rows).

Training and evaluation draw the strokes from the ground-truth photo (:func:`sample_hints`): the
number of strokes, their places, lengths and widths come from (seed, dataset row, stream) alone,
never from the shard or the position in a batch; each stroke's colour is the median colour of the
photo under it. A person's hints are a sparse RGBA image (:func:`read_hint_file`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

HINT_CHANNELS = 5  # sketch, hint R, G, B, mask
SKETCH_CHANNELS = 1
ALPHA_THRESHOLD = 128  # a person's hint pixel counts where its alpha is at least half opaque

# The schema's defaults for models.<name>.hints (kept here too, so functions called outside the
# workflow can take a partial dict). Lengths and widths are fractions of the image side, so the
# same config draws alike strokes at 64 px (the demo) and 256 px (the full study).
DEFAULT_PARAMS = {"max_strokes": 8, "min_length": 0.05, "max_length": 0.25, "min_width": 0.01, "max_width": 0.04}

_COUNT_STREAM, _STROKE_STREAM = 0, 1  # two independent draws per row: how many strokes, and the strokes


def takes_hints(model) -> bool:
    """True when ``model`` (a Keras generator) takes the 5-channel hint input, False for 1 channel.

    A callable that is not a Keras model (a stand-in in tests) is a sketch-only model.
    """
    if not hasattr(model, "inputs"):
        return False
    channels = model.inputs[0].shape[-1]
    if channels not in (HINT_CHANNELS, SKETCH_CHANNELS):
        raise ValueError(f"generator {getattr(model, 'name', model)!r} takes {channels} input channels; "
                         f"expected {SKETCH_CHANNELS} (sketch) or {HINT_CHANNELS} (sketch + colour hints)")
    return channels == HINT_CHANNELS


def hint_input(sketch: np.ndarray, hint_rgb: np.ndarray | None = None, mask: np.ndarray | None = None) -> np.ndarray:
    """A hint model's input: float32 (N, H, W, 5) from the sketch, the hints' colour and their mask.

    sketch: float (N, H, W, 1) or (N, H, W) in [0, 1]; hint_rgb: float (N, H, W, 3) in [0, 1] or
    None; mask: float/bool (N, H, W, 1) or (N, H, W), 1 where a hint is, or None. Without hints
    (both None) the mask is empty. The colour is zeroed outside the mask, as in training.
    """
    sketch = np.asarray(sketch, np.float32)
    if sketch.ndim == 3:
        sketch = sketch[..., None]
    if sketch.ndim != 4 or sketch.shape[-1] != 1:
        raise ValueError(f"sketch must be (N, H, W) or (N, H, W, 1), got shape {sketch.shape}")
    if (hint_rgb is None) != (mask is None):
        raise ValueError("give both hint_rgb and mask, or neither (no hints)")
    out = np.zeros((*sketch.shape[:3], HINT_CHANNELS), np.float32)
    out[..., :1] = sketch
    if mask is None:
        return out
    mask = np.asarray(mask, np.float32)
    mask = mask[..., None] if mask.ndim == 3 else mask
    hint_rgb = np.asarray(hint_rgb, np.float32)
    if mask.shape != (*sketch.shape[:3], 1) or hint_rgb.shape != (*sketch.shape[:3], 3):
        raise ValueError(f"hints of shape {hint_rgb.shape} and mask of shape {mask.shape} do not match "
                         f"the sketch's {sketch.shape[:3]} (want (N, H, W, 3) and (N, H, W[, 1]))")
    out[..., 4:] = (mask > 0.5)
    out[..., 1:4] = hint_rgb * out[..., 4:]
    return out


def resolve_params(params: dict | None) -> dict:
    """``params`` over :data:`DEFAULT_PARAMS`, checked; ValueError names the bad key."""
    p = {**DEFAULT_PARAMS, **(params or {})}
    unknown = sorted(set(p) - set(DEFAULT_PARAMS))
    if unknown:
        raise ValueError(f"hints.{unknown[0]}: unknown key (valid: {', '.join(DEFAULT_PARAMS)})")
    if not isinstance(p["max_strokes"], (int, np.integer)) or p["max_strokes"] < 0:
        raise ValueError(f"hints.max_strokes must be an integer >= 0, got {p['max_strokes']!r}")
    for low, high in (("min_length", "max_length"), ("min_width", "max_width")):
        if not 0 < p[low] <= p[high] <= 1:
            raise ValueError(f"hints.{low} / hints.{high} must satisfy 0 < {low} <= {high} <= 1 "
                             f"(fractions of the image side), got {p[low]} and {p[high]}")
    return p


def _row_rngs(seed: int, row: int, stream: int) -> tuple[np.random.Generator, np.random.Generator]:
    """(count generator, stroke generator) of one dataset row: a pure function of (seed, row, stream)."""
    count_seq, stroke_seq = np.random.SeedSequence([int(seed), int(row), int(stream), 0x5C21B]).spawn(2)
    return np.random.default_rng(count_seq), np.random.default_rng(stroke_seq)


def _draw_strokes(photo: np.ndarray, n: int, rng: np.random.Generator, p: dict, rgb: np.ndarray, mask: np.ndarray) -> None:
    """Paint ``n`` strokes of ``photo``'s colour into ``rgb`` (H, W, 3) and ``mask`` (H, W), in place.

    All of a row's random numbers are drawn at once, stroke by stroke in a fixed order, so the first
    k strokes of an n-stroke draw are the k-stroke draw: more hints add strokes, never move them.
    """
    h, w = mask.shape
    side = min(h, w)
    draws = rng.random((n, 5))  # x, y, angle, length, width per stroke
    stroke = np.zeros((h, w), np.uint8)
    for x, y, angle, length, width in draws:
        x0, y0 = x * (w - 1), y * (h - 1)
        length = (p["min_length"] + length * (p["max_length"] - p["min_length"])) * side
        thickness = max(1, round((p["min_width"] + width * (p["max_width"] - p["min_width"])) * side))
        theta = 2 * np.pi * angle
        end = (round(x0 + length * np.cos(theta)), round(y0 + length * np.sin(theta)))
        stroke[:] = 0
        cv2.line(stroke, (round(x0), round(y0)), end, 1, thickness=thickness, lineType=cv2.LINE_8)
        inside = stroke.astype(bool)
        rgb[inside] = np.median(photo[inside], axis=0) / 255.0
        mask[inside] = 1.0


def sample_hints(photos: np.ndarray, rows, seed: int, params: dict | None = None,
                 strokes: int | None = None, stream: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Seeded colour strokes drawn from ground-truth photos: (hint RGB (N,H,W,3), mask (N,H,W,1)), float32.

    photos: uint8 (N, H, W, 3) RGB. rows: the dataset row of each photo (the shards' ``rows``).
    strokes: None draws a random count in 0..max_strokes per row (training); an int draws exactly
    that many (evaluation's 0 / few / many). stream: a further seed part (the training epoch, so a
    row gets new strokes each epoch; 0 for evaluation). Row i's strokes depend on (seed, rows[i],
    stream) and its photo alone.
    """
    photos = np.asarray(photos)
    rows = np.asarray(rows)
    if photos.dtype != np.uint8 or photos.ndim != 4 or photos.shape[-1] != 3:
        raise ValueError(f"photos must be uint8 (N, H, W, 3), got {photos.dtype} {photos.shape}")
    if rows.shape != (len(photos),) or not np.issubdtype(rows.dtype, np.integer):
        raise ValueError(f"rows must give one integer dataset row per photo: {len(photos)} photos, rows {rows.shape} {rows.dtype}")
    p = resolve_params(params)
    if strokes is not None and (not isinstance(strokes, (int, np.integer)) or strokes < 0):
        raise ValueError(f"strokes must be None (random count) or an integer >= 0, got {strokes!r}")
    n, h, w, _ = photos.shape
    rgb, mask = np.zeros((n, h, w, 3), np.float32), np.zeros((n, h, w, 1), np.float32)
    for i, row in enumerate(rows):
        count_rng, stroke_rng = _row_rngs(seed, row, stream)
        count = int(count_rng.integers(0, p["max_strokes"] + 1)) if strokes is None else int(strokes)
        _draw_strokes(photos[i], count, stroke_rng, p, rgb[i], mask[i, ..., 0])
    return rgb, mask


@dataclass(frozen=True)
class TrainingHints:
    """Adds seeded colour hints to training or validation batches (``sketchback.data.shards.batches``'s ``add_hints``).

    rows: the dataset row of each pair, by position in the training arrays (``data.open_rows``).
    stream: None draws new strokes each epoch (stream epoch + 1: training); an int fixes them
    (0: validation and evaluation, the same strokes every time).
    """

    params: dict
    seed: int
    rows: np.ndarray
    stream: int | None = None

    def __call__(self, sketches: np.ndarray, photos: np.ndarray, positions: np.ndarray, epoch: int) -> np.ndarray:
        stream = epoch + 1 if self.stream is None else self.stream
        rgb, mask = sample_hints(photos, self.rows[positions], self.seed, self.params, stream=stream)
        return hint_input(sketches, rgb, mask)


# --- A person's hints: a sparse RGBA image, transparent where there is no hint ---

def resize_hints(rgb: np.ndarray, mask: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Hints (RGB (H,W,3), mask (H,W,1)) scaled to ``size`` = (width, height), as a sketch is scaled.

    Scaled down, each new pixel that a stroke covers at all keeps it, in the strokes' mean colour
    there (a thin stroke does not vanish); scaled up, nearest neighbour (colours stay exact).
    """
    import cv2

    mask = np.asarray(mask, np.float32).reshape(mask.shape[:2])
    rgb = np.asarray(rgb, np.float32)
    if (mask.shape[1], mask.shape[0]) == tuple(size):
        return rgb, mask[..., None]
    if size[0] * size[1] >= mask.size:
        return (cv2.resize(rgb, size, interpolation=cv2.INTER_NEAREST),
                cv2.resize(mask, size, interpolation=cv2.INTER_NEAREST)[..., None])
    cover = cv2.resize(mask, size, interpolation=cv2.INTER_AREA)
    colour = cv2.resize(rgb * mask[..., None], size, interpolation=cv2.INTER_AREA)
    hinted = cover > 1e-6
    colour = np.where(hinted[..., None], colour / np.maximum(cover, 1e-6)[..., None], 0.0)
    return np.clip(colour, 0.0, 1.0).astype(np.float32), hinted[..., None].astype(np.float32)


def read_hint_file(path: str | Path, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Read a hint image for a sketch of ``size`` = (height, width): (RGB (H,W,3), mask (H,W,1)), float32.

    The file must be an image with an alpha channel (RGBA, or grey + alpha) of exactly the
    sketch's size; pixels at least half opaque are hints, in their colour. Raises ValueError
    naming the file and the fix when it is unreadable, has no alpha channel or another size.
    """
    from PIL import Image, UnidentifiedImageError  # Pillow comes with matplotlib; only the command line needs it

    from sketchback.images import declared_size

    path = Path(path)
    declared = declared_size(path)  # checked before any pixel is decoded (a huge file costs nothing)
    if declared is None:
        raise ValueError(f"hint file {path}: not a readable image; save the hints as a PNG with transparency")
    if declared != (size[1], size[0]):
        raise ValueError(f"hint file {path}: is {declared[0]}x{declared[1]} px but its sketch is {size[1]}x{size[0]} "
                         f"px; draw the hints on a layer of the sketch's size")
    try:
        with Image.open(path) as image:
            image.load()
            mode, actual = image.mode, (image.height, image.width)
            has_alpha = mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info)
            rgba = np.asarray(image.convert("RGBA")) if has_alpha else None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ValueError(f"hint file {path}: not a readable image ({exc}); save the hints as a PNG with transparency") from None
    if rgba is None:
        raise ValueError(f"hint file {path}: has no alpha channel (mode {mode}); save it as an RGBA PNG, "
                         f"transparent where there is no hint")
    if actual != tuple(size):
        raise ValueError(f"hint file {path}: is {actual[1]}x{actual[0]} px but its sketch is {size[1]}x{size[0]} px; "
                         f"draw the hints on a layer of the sketch's size")
    mask = (rgba[..., 3:] >= ALPHA_THRESHOLD).astype(np.float32)
    return rgba[..., :3].astype(np.float32) / 255.0 * mask, mask
