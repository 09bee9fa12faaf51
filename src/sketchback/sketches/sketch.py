"""Sketch simulators: pure functions that turn uint8 photos into uint8 grey pencil-like sketches.

``pencil`` is the colour-dodge trick of Sangkloy et al. (Scribbler), optionally on grainy paper;
``xdog`` is Winnemöller et al. 2012; ``style`` is neural style transfer toward a pencil drawing
(``sketchback.sketches.style``). Each is a function of (image, parameters, seed). ``METHODS`` maps each
name to a ``SketchMethod``: its parameters with their defaults and checks, and its batch function,
which runs a whole batch through the same numerics vectorised (one OpenCV call per chunk of up to
16 images instead of per image, float32, no temporary float64 copies). ``sketch_method`` looks a
name up (and fails loudly for an unknown one); ``sketch_images`` sketches a batch and
``sketch_shard`` is the workflow's entry point.
"""

from __future__ import annotations

import inspect
import logging
import time
from dataclasses import dataclass
from typing import Callable, Mapping

import cv2
import numpy as np

from sketchback.sketches import style as _style
from sketchback.images import check_seed, grey_chunk, to_grey
from sketchback.io import load_npz, save_npz

log = logging.getLogger(__name__)

# Images are sketched in chunks of 16 (pencil's uint8 chunks stay small: the fastest of 4..32 at
# 128x128 and 178x218 here). XDoG's chunks are also held to about 320,000 pixels (16 images at
# 128x128, 8 at CelebA's 178x218), so its float32 intermediates (about 1.3 MB each) stay in the
# CPU's cache and out of the allocator's fresh-page path: 16 full-size CelebA images per call ran
# 2.5-3x slower per image than 8 here.
_CHUNK = 16
_XDOG_CHUNK_PIXELS = 320_000
_PROGRESS_EVERY = 2048  # images between progress log lines of the fast methods


def _check_number(name: str, value, *, minimum: float | None = None, strict: bool = False) -> float:
    # bool is an int subclass; True as a sigma is almost certainly a config mistake
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if minimum is not None and (value <= minimum if strict else value < minimum):
        raise ValueError(f"{name} must be {'>' if strict else '>='} {minimum}, got {value}")
    return value


def image_seed(seed: int, row: int) -> int:
    """The seed of dataset row ``row`` under study seed ``seed`` (independent of sharding)."""
    return int(np.random.SeedSequence([int(seed), int(row)]).generate_state(1, np.uint32)[0])


def paper_texture(shape: tuple[int, int], strength: float, seed: int) -> np.ndarray:
    """Multiplicative paper grain: float32 (H,W) in [1 - strength, 1], fibres running sideways.

    Seeded Gaussian noise, blurred more along x than y (paper fibres), mapped to [0, 1] by a fixed
    clip of +-2 std, so ``strength`` is the darkest the paper gets (0.1 = 10% darker at most).
    """
    noise = np.random.default_rng(int(seed)).standard_normal(shape, dtype=np.float32)
    grain = cv2.GaussianBlur(noise, (0, 0), 1.2, sigmaY=0.5, borderType=cv2.BORDER_REFLECT_101)
    grain *= 1.0 / (float(grain.std()) + 1e-6)
    return 1.0 - strength * np.clip(0.5 + grain * 0.25, 0.0, 1.0)


def _check_pencil(blur_ksize, blur_sigma, paper):
    if isinstance(blur_ksize, bool) or not isinstance(blur_ksize, (int, np.integer)):
        raise ValueError(f"blur_ksize must be an odd integer, got {blur_ksize!r}")
    if blur_ksize < 1 or blur_ksize % 2 == 0:
        raise ValueError(
            f"blur_ksize must be an odd integer >= 1 (cv2.GaussianBlur needs odd sizes), got {blur_ksize}"
        )
    blur_sigma = _check_number("blur_sigma", blur_sigma, minimum=0.0)
    paper = _check_number("paper", paper, minimum=0.0)
    if paper > 1:
        raise ValueError(f"paper is the strength of the paper grain, 0..1, got {paper}")
    return int(blur_ksize), blur_sigma, paper


def _pencil_chunk(grey: np.ndarray, blur_ksize: int, blur_sigma: float) -> np.ndarray:
    """Colour dodge of uint8 (m,H,W) grey images, m <= _CHUNK, stacked as the channels of one image:
    cv2 blurs all channels in one pass over memory (bit-identical to blurring them one by one)."""
    stacked = np.ascontiguousarray(grey.transpose(1, 2, 0))
    blur = cv2.GaussianBlur(stacked, (blur_ksize, blur_ksize), blur_sigma).reshape(stacked.shape)
    # uint8 / uint8 with scale: cv2 computes in floating point and saturates, so no overflow and no
    # float copy of the images; per pixel, so the stacked layout is fine
    return cv2.divide(stacked, blur, scale=256).reshape(stacked.shape).transpose(2, 0, 1)


def _add_paper(sketch: np.ndarray, paper: float, seed: int) -> np.ndarray:
    return np.rint(sketch * paper_texture(sketch.shape, paper, seed)).astype(np.uint8)


def pencil_sketch(image: np.ndarray, blur_ksize: int = 21, blur_sigma: float = 0.0, paper: float = 0.0,
                  seed: int = 0) -> np.ndarray:
    """Colour-dodge pencil sketch: ``grey / GaussianBlur(grey) * 256``, saturated to 0..255.

    image: uint8 (H,W,3) RGB or (H,W) grey.  blur_ksize: odd kernel side in pixels (>= 1);
    blur_sigma: Gaussian sigma in pixels, 0 lets OpenCV derive it from the kernel size.
    paper: strength of a seeded paper grain multiplied into the sketch (0 = none, the default, 0.1 =
    paper up to 10% darker); seed: its seed.
    Returns uint8 (H,W), 255 = paper.  Flat regions of any brightness become white (grey == blur);
    only local darkening (edges, texture) leaves marks.  Where the blur is 0 the result is 0 (cv2's
    convention for division by zero), which only happens inside (near-)black regions.
    """
    blur_ksize, blur_sigma, paper = _check_pencil(blur_ksize, blur_sigma, paper)
    seed = check_seed(seed)
    sketch = _pencil_chunk(to_grey(image)[None], blur_ksize, blur_sigma)[0]
    return _add_paper(sketch, paper, seed) if paper > 0 else sketch


def _check_xdog(sigma, k, p, epsilon, phi):
    return (
        _check_number("sigma", sigma, minimum=0.0, strict=True),
        _check_number("k", k, minimum=0.0, strict=True),
        _check_number("p", p),
        _check_number("epsilon", epsilon),
        _check_number("phi", phi, minimum=0.0),
    )


def _float_ksize(sigma: float) -> int:
    """The kernel side cv2.GaussianBlur picks for a float32 image and ksize (0, 0)."""
    return int(round(sigma * 4 * 2 + 1)) | 1


def _xdog_kernels(sigma: float, k: float, p: float) -> tuple[np.ndarray, ...]:
    """Row and column kernels of the two blurs of XDoG, with the scales of S folded in: filtering
    uint8 grey with (kx1, ky1) gives (1+p)/255 * G_sigma and with (kx2, ky2) p/255 * G_{k*sigma}.
    The kernels are the ones cv2.GaussianBlur uses for a float image (sized by ``_float_ksize``)."""
    k1 = cv2.getGaussianKernel(_float_ksize(sigma), sigma, cv2.CV_32F)
    k2 = cv2.getGaussianKernel(_float_ksize(k * sigma), k * sigma, cv2.CV_32F)
    return k1 * np.float32((1.0 + p) / 255.0), k1, k2 * np.float32(p / 255.0), k2


def _dog(grey: np.ndarray, kx1, ky1, kx2, ky2) -> np.ndarray:
    """S = (1+p) G_sigma(g) - p G_{k*sigma}(g) of a uint8 (H,W) image, g = grey/255, float32.
    The row pass reads the uint8 pixels directly: no float copy of the image, no scaling passes."""
    s = cv2.sepFilter2D(grey, cv2.CV_32F, kx1, ky1, borderType=cv2.BORDER_REFLECT_101)
    g2 = cv2.sepFilter2D(grey, cv2.CV_32F, kx2, ky2, borderType=cv2.BORDER_REFLECT_101)
    return np.subtract(s, g2, out=s)


# OpenCV's SIMD row filters step 32 pixels at a time (AVX2; 16 with SSE or NEON) and finish each row
# with scalar code that rounds differently. Images laid side by side therefore start at multiples of
# this many pixels, so each meets the same lanes as when blurred alone (bit-identical results).
_LANES = 64


def _wide_width(w: int, r: int) -> int:
    """Width of one image's slot in the side-by-side layout: the image, ``r`` mirrored columns on each
    side, rounded up to ``_LANES``."""
    return -(-(w + 2 * r) // _LANES) * _LANES


def _xdog_chunk(grey: np.ndarray, kernels: tuple[np.ndarray, ...], epsilon: float, phi: float) -> np.ndarray:
    """XDoG of uint8 (m,H,W) grey images (a chunk of ``_xdog_chunk_size`` images); ``kernels`` from
    ``_xdog_kernels``, made once per batch.

    The images are blurred together, a cv2 call per chunk instead of per image, each surrounded by
    its own reflect-101 pixels (more than either kernel's radius), so every kept pixel sees exactly
    the pixels it would see blurred alone: bit-identical results whatever the chunk. Two layouts:
    side by side (one wide image, mirrored columns between the images) where the slot rounding
    wastes at most 1/8 of the width, since OpenCV filters long rows faster (17% less time per
    CelebA-size image here), and stacked (one tall image, mirrored rows between the images)
    otherwise (128 px images: no scalar tail, and side by side would blur 50% more columns).
    """
    m, h, w = grey.shape
    r = max(len(kernels[1]), len(kernels[3])) // 2 + 1
    slot = _wide_width(w, r)
    if w > r and slot - w <= w // 8:
        wide = np.zeros((h, m, slot), np.uint8)
        wide[:, :, r:r + w] = grey.transpose(1, 0, 2)
        wide[:, :, :r] = wide[:, :, 2 * r:r:-1]
        wide[:, :, r + w:2 * r + w] = wide[:, :, r + w - 2:w - 2:-1]
        s = _dog(wide.reshape(h, m * slot), *kernels)
        return _ramp(s, epsilon, phi).reshape(h, m, slot)[:, :, r:r + w].transpose(1, 0, 2)
    if h > r:
        s = _dog(np.pad(grey, ((0, 0), (r, r), (0, 0)), mode="reflect").reshape(-1, w), *kernels)
        return _ramp(s, epsilon, phi).reshape(m, -1, w)[:, r:r + h]
    # images too small to pad: blur them one by one
    return np.stack([_ramp(_dog(np.ascontiguousarray(x), *kernels), epsilon, phi) for x in grey])


def _ramp(s: np.ndarray, epsilon: float, phi: float) -> np.ndarray:
    """T as uint8 of float32 S (any shape, contiguous): 255 at or above epsilon; only the (usually few)
    pixels below it need the tanh ramp. There phi >= 0 and S < epsilon, so T = 1 + tanh(...) lies in
    [0, 1] and round(255 T) needs no clipping."""
    flat = s.reshape(-1)
    out = np.full(flat.shape, 255, np.uint8)
    dark = np.flatnonzero(flat < epsilon)
    t = 1.0 + np.tanh(phi * (flat[dark] - epsilon))
    out[dark] = np.rint(t * 255.0).astype(np.uint8)
    return out.reshape(s.shape)


def xdog(
    image: np.ndarray,
    sigma: float = 0.8,
    k: float = 1.6,
    p: float = 20.0,
    epsilon: float = 0.0,
    phi: float = 3.0,
) -> np.ndarray:
    """eXtended Difference-of-Gaussians line drawing (Winnemöller, Kyprianidis & Olsen 2012, p-form).

    With grey g in [0,1]:  S = (1+p) * G_sigma(g) - p * G_{k*sigma}(g);
    T = 1 where S >= epsilon, else 1 + tanh(phi * (S - epsilon)); returned as uint8 round(255*T).
    (The paper's tau-form D = G_sigma - tau * G_{k*sigma} is the same with tau = p / (1 + p),
    scaled by 1 + p.)  Deterministic: XDoG draws nothing at random, so it takes no seed.

    image: uint8 (H,W,3) RGB or (H,W) grey.  Returns uint8 (H,W) in 0..255, white paper, dark lines.

    Defaults, tuned by eye on 128 px photos (astronaut, cat, coffee) within the paper's ranges:
    k = 1.6 is the Marr-Hildreth ratio the paper keeps fixed; p = 20 is the paper's typical
    sharpening.  sigma = 0.8 px: 0.5 turns fur and texture into speckle at this resolution, >= 1.2
    merges neighbouring features.  In flat regions S equals the grey level, so epsilon acts as a
    darkness threshold; epsilon = 0 keeps flat regions of every brightness white and draws only the
    negative undershoot of the sharpened image at edges, i.e. an outline drawing without ink fills
    (epsilon > 0 fills dark areas, the paper's "threshold/woodcut" look).  phi = 3 (on this [0,1]
    scale) is a soft ramp: strong edges still saturate to black but weak ones come out grey, like
    pencil pressure, instead of the binary speckle of a hard threshold.
    """
    params = _check_xdog(sigma, k, p, epsilon, phi)
    return _xdog_chunk(to_grey(image)[None], _xdog_kernels(*params[:3]), *params[3:])[0]


def _check_batch(images) -> None:
    if not isinstance(images, np.ndarray):
        raise TypeError(f"images must be a numpy array, got {type(images).__name__}")
    if images.dtype != np.uint8:
        raise ValueError(f"images must have dtype uint8 (values 0..255), got {images.dtype}")
    if images.ndim != 4 or images.shape[3] != 3:
        raise ValueError(f"images must be RGB batches of shape (N,H,W,3), got {images.shape}")




def _check_out(out, images: np.ndarray) -> None:
    if not isinstance(out, np.ndarray) or out.dtype != np.uint8 or out.shape != images.shape[:3]:
        raise ValueError(f"out must be a uint8 array of shape {images.shape[:3]}; "
                         f"got {getattr(out, 'dtype', type(out).__name__)} {getattr(out, 'shape', '')}")


# --------------------------------------------------------------------------- batch functions
# Each sketches uint8 (N,H,W,3) RGB photos into ``out`` (uint8 (N,H,W)) with parameters ``p``
# resolved by its method; image i is seeded with ``image_seed(seed, rows[i])``.

def _pencil_batch(images: np.ndarray, p: dict, seed: int, rows: np.ndarray, out: np.ndarray) -> np.ndarray:
    # chunk by chunk, so the grey images, blurs and sketches of a chunk stay in the CPU's cache
    for lo in range(0, len(images), _CHUNK):
        out[lo:lo + _CHUNK] = _pencil_chunk(grey_chunk(images[lo:lo + _CHUNK]), p["blur_ksize"], p["blur_sigma"])
    if p["paper"] > 0:
        for i, row in enumerate(rows):
            out[i] = _add_paper(out[i], p["paper"], image_seed(seed, row))
    return out


def _xdog_chunk_size(h: int, w: int) -> int:
    """Images per OpenCV call for XDoG: ``_CHUNK``, and at most about ``_XDOG_CHUNK_PIXELS`` pixels."""
    return max(1, min(_CHUNK, _XDOG_CHUNK_PIXELS // (h * w)))


def _xdog_batch(images: np.ndarray, p: dict, seed: int, rows: np.ndarray, out: np.ndarray) -> np.ndarray:
    kernels = _xdog_kernels(p["sigma"], p["k"], p["p"])
    chunk = _xdog_chunk_size(*images.shape[1:3])
    for lo in range(0, len(images), chunk):
        out[lo:lo + chunk] = _xdog_chunk(grey_chunk(images[lo:lo + chunk]), kernels, p["epsilon"], p["phi"])
    return out


def _style_batch(images: np.ndarray, p: dict, seed: int, rows: np.ndarray, out: np.ndarray) -> np.ndarray:
    grey = np.concatenate([grey_chunk(images[lo:lo + _CHUNK]) for lo in range(0, len(images), _CHUNK)])
    out[...] = _style.style_transfer(grey, [image_seed(seed, r) for r in rows], p, vgg_seed=seed, progress=True)
    return out


# --------------------------------------------------------------------------- the methods

def _pencil_params(p: dict) -> dict:
    blur_ksize, blur_sigma, paper = _check_pencil(p["blur_ksize"], p["blur_sigma"], p["paper"])
    return {"blur_ksize": blur_ksize, "blur_sigma": blur_sigma, "paper": paper}


def _xdog_params(p: dict) -> dict:
    keys = ("sigma", "k", "p", "epsilon", "phi")
    return dict(zip(keys, _check_xdog(*(p[key] for key in keys))))


def _style_subset(rows: np.ndarray, p: dict) -> np.ndarray:
    return _style.select_subset(rows, p["max_images"], p["every_nth"])


def _keyword_defaults(fn: Callable) -> dict[str, object]:
    """The keyword parameters of a per-image sketch function with their defaults, seeds excluded
    (they come from the study's ``seed``)."""
    params = list(inspect.signature(fn).parameters.items())[1:]
    return {name: prm.default for name, prm in params if name != "seed"}


@dataclass(frozen=True)
class SketchMethod:
    """A sketch method: its configurable parameters, their check, and how it sketches a batch.

    defaults: the configurable parameters with their defaults (seeds excluded).
    check: all parameters (defaults overridden) -> the same, checked and normalised; raises
        ValueError naming the bad key.
    sketch_batch: (images, resolved params, seed, rows, out) -> out, see the batch functions above.
    sketch_image: the per-image function, (image, **params, **{key: seed for key in seeds});
        calling the method calls it.
    seeds: the seed keywords of ``sketch_image``.
    subset: None, or (rows, resolved params) -> positions of the images of a shard it sketches;
        such a method's shards also carry the photos (``images``) and dataset ``rows`` of that
        subset, so a shard pairs with itself downstream.
    limit_threads: None, or a function that holds the method's own thread pools (beyond OpenCV's)
        to a number of threads.
    """

    name: str
    defaults: Mapping[str, object]
    check: Callable[[dict], dict]
    sketch_batch: Callable[..., np.ndarray]
    sketch_image: Callable[..., np.ndarray]
    seeds: tuple[str, ...] = ()
    subset: Callable[[np.ndarray, dict], np.ndarray] | None = None
    limit_threads: Callable[[int], None] | None = None

    def resolve(self, params: dict | None) -> dict[str, object]:
        """All parameters (defaults overridden by ``params``), checked, without sketching anything.
        Raises ValueError naming the method and the bad or unknown parameter."""
        params = dict(params or {})
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            raise ValueError(f"unknown parameter(s) {unknown} for sketch method {self.name!r}; "
                             f"valid parameters: {sorted(self.defaults)}")
        return self.check({**self.defaults, **params})

    def __call__(self, image: np.ndarray, **kwargs) -> np.ndarray:
        return self.sketch_image(image, **kwargs)


METHODS: dict[str, SketchMethod] = {
    "pencil": SketchMethod("pencil", _keyword_defaults(pencil_sketch), _pencil_params, _pencil_batch, pencil_sketch,
                           seeds=("seed",)),
    "xdog": SketchMethod("xdog", _keyword_defaults(xdog), _xdog_params, _xdog_batch, xdog),
    "style": SketchMethod("style", {**_style.DEFAULT_PARAMS, **_style.SHARD_PARAMS}, _style.resolve_params,
                          _style_batch, _style.style_sketch, seeds=("seed", "vgg_seed"), subset=_style_subset,
                          limit_threads=_style.limit_threads),
}
# Methods that sketch only a subset of a shard (see ``SketchMethod.subset``).
SUBSET_METHODS = tuple(name for name, method in METHODS.items() if method.subset is not None)


def sketch_method(name: str) -> SketchMethod:
    """The sketch method called ``name``; ValueError naming it and the known ones otherwise."""
    try:
        return METHODS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown sketch method {name!r} (known: {', '.join(METHODS)})") from None


def method_params(method: str) -> dict[str, object]:
    """The configurable parameters of sketch method ``method`` with their defaults (seeds excluded:
    they come from the study's ``seed``)."""
    return dict(sketch_method(method).defaults)


def check_params(method: str, params: dict | None) -> dict[str, object]:
    """All parameters of ``method`` (defaults overridden by ``params``), validated without sketching
    anything. Raises ValueError naming the method and the bad or unknown parameter."""
    return sketch_method(method).resolve(params)


def _select(method: SketchMethod, p: dict, rows: np.ndarray) -> np.ndarray:
    return np.arange(len(rows)) if method.subset is None else method.subset(rows, p)


def select_images(method: str, params: dict | None, rows: np.ndarray) -> np.ndarray:
    """Positions (into a shard) of the images ``method`` sketches: all, or the style subset."""
    m = sketch_method(method)
    return _select(m, m.resolve(params), rows)


def _sketch(method: SketchMethod, p: dict, images: np.ndarray, seed, rows, out) -> np.ndarray:
    """``sketch_images`` with the method looked up and its parameters resolved."""
    _check_batch(images)
    seed = check_seed(seed)
    rows = np.arange(len(images)) if rows is None else np.asarray(rows)
    if rows.shape != (len(images),):
        raise ValueError(f"rows must give one dataset row per image: {len(images)} images, rows of shape {rows.shape}")
    if out is None:
        out = np.empty(images.shape[:3], np.uint8)
    else:
        _check_out(out, images)
    if len(images) == 0:
        return out
    return method.sketch_batch(images, p, seed, rows, out)


def sketch_images(images: np.ndarray, method: str, params: dict | None = None, *, seed: int = 0,
                  rows: np.ndarray | None = None, out: np.ndarray | None = None) -> np.ndarray:
    """Sketch a batch of photos with one method and one parameter set.

    images: uint8 (N,H,W,3) RGB, 0..255.  method: a key of ``METHODS``.  params: keyword
    arguments of that method (missing ones take the method's defaults).  seed: the study's seed;
    image i gets ``image_seed(seed, rows[i])`` (rows default to 0..N-1), so its sketch does not
    depend on the rest of the batch.  Every image given is sketched: the style subset keys
    (``max_images``, ``every_nth``) are applied by ``sketch_shard``.
    out: a uint8 (N,H,W) array to write the sketches into, e.g. a slice of a shard's sketches,
    instead of a new one.
    Returns uint8 (N,H,W), 0..255, white paper with dark lines: what the method gives for each
    image alone with ``seed=image_seed(seed, rows[i])`` (and, for style, ``vgg_seed=seed``; equal
    up to float rounding there, since a batch goes through VGG16 together).
    """
    m = sketch_method(method)
    return _sketch(m, m.resolve(params), images, seed, rows, out)


def sketch_shard(in_npz, out_npz, method: str, params: dict | None = None, *, seed: int = 0, threads: int = 1) -> int:
    """Sketch the photos of a prepared shard; writes ``sketches`` uint8 (N, H, W), ``names`` and ``rows``
    atomically. For methods that sketch a subset (``SUBSET_METHODS``) only the chosen images are
    sketched, and the shard also holds those photos as ``images``, so it stands on its own as a
    (photo, sketch) shard.

    seed: the study's seed.  threads: CPU threads OpenCV (and TensorFlow, for ``style``) may use;
    1 when the workflow runs one shard per core.
    """
    m = sketch_method(method)
    p = m.resolve(params)  # bad parameters fail before any work
    threads = int(threads)
    cv2.setNumThreads(threads)
    shard = load_npz(in_npz, mmap=True)  # read once, in order: no copy of the photos
    images, names = shard["images"], shard["names"]
    rows = shard["rows"] if "rows" in shard else np.arange(len(images))
    if m.subset is not None:
        keep = _select(m, p, rows)
        if len(keep) == 0:
            raise ValueError(f"{in_npz}: sketch.{method} selects none of its {len(images)} images "
                             f"(rows {rows.min()}..{rows.max()}); lower sketch.{method}.every_nth")
        log.info("%s: %s sketches of %d of the shard's %d images", out_npz, method, len(keep), len(images))
        images, names, rows = images[keep], names[keep], rows[keep]
    if m.limit_threads is not None:
        m.limit_threads(threads)
    start = time.perf_counter()
    sketches = _sketch_in_steps(m, p, images, seed, rows, out_npz)
    seconds = time.perf_counter() - start
    out = {"sketches": sketches, "names": names, "rows": rows}
    save_npz(out_npz, **out, **({"images": images} if m.subset is not None else {}))
    log.info("%s: %d %s sketches in %.2f s (%.1f/s)", out_npz, len(sketches), method, seconds,
             len(sketches) / max(seconds, 1e-9))
    return len(sketches)


def _sketch_in_steps(method: SketchMethod, p: dict, images: np.ndarray, seed: int, rows: np.ndarray,
                     out_npz) -> np.ndarray:
    """Sketch a shard's images, with a log line every ``_PROGRESS_EVERY`` images (subset methods,
    i.e. style, log their own progress, per batch)."""
    sketches = np.empty(images.shape[:3], np.uint8)
    step = max(1, len(images)) if method.subset is not None else _PROGRESS_EVERY
    for lo in range(0, len(images), step):
        hi = min(lo + step, len(images))
        _sketch(method, p, images[lo:hi], seed, rows[lo:hi], sketches[lo:hi])
        if len(images) > step:
            log.info("%s: %d/%d sketched", out_npz, hi, len(images))
    return sketches
