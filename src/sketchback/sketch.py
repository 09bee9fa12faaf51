"""Sketch simulators: pure functions that turn uint8 photos into uint8 grey pencil-like sketches.

``pencil`` is the colour-dodge trick of Sangkloy et al. (Scribbler); ``xdog`` is Winnemöller et al. 2012.
"""

from __future__ import annotations

import inspect
import logging
import time
from typing import Callable

import cv2
import numpy as np

from sketchback.io import load_npz, save_npz

log = logging.getLogger(__name__)


def _check_image(image: np.ndarray, name: str = "image") -> None:
    """Raise a clear error unless ``image`` is a uint8 (H,W) or (H,W,3) array."""
    if not isinstance(image, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"{name} must have dtype uint8 (values 0..255), got {image.dtype}")
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
        raise ValueError(f"{name} must be grey (H,W) or RGB (H,W,3), got shape {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {image.shape})")


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


def to_grey(image: np.ndarray) -> np.ndarray:
    """Luma of an RGB photo (ITU-R BT.601 weights, as cv2 uses).

    image: uint8 (H,W,3) RGB or (H,W) grey, 0..255.  Returns a new uint8 (H,W) array, 0..255.
    """
    _check_image(image)
    if image.ndim == 2:
        return image.copy()
    return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)


def pencil_sketch(image: np.ndarray, blur_ksize: int = 21, blur_sigma: float = 0.0) -> np.ndarray:
    """Colour-dodge pencil sketch: ``grey / GaussianBlur(grey) * 256``, saturated to 0..255.

    image: uint8 (H,W,3) RGB or (H,W) grey.  blur_ksize: odd kernel side in pixels (>= 1);
    blur_sigma: Gaussian sigma in pixels, 0 lets OpenCV derive it from the kernel size.
    Returns uint8 (H,W), 255 = paper.  Flat regions of any brightness become white (grey == blur);
    only local darkening (edges, texture) leaves marks.  Where the blur is 0 the result is 0 (cv2's
    convention for division by zero), which only happens inside (near-)black regions.
    """
    if isinstance(blur_ksize, bool) or not isinstance(blur_ksize, (int, np.integer)):
        raise ValueError(f"blur_ksize must be an odd integer, got {blur_ksize!r}")
    if blur_ksize < 1 or blur_ksize % 2 == 0:
        raise ValueError(
            f"blur_ksize must be an odd integer >= 1 (cv2.GaussianBlur needs odd sizes), got {blur_ksize}"
        )
    blur_sigma = _check_number("blur_sigma", blur_sigma, minimum=0.0)
    grey = to_grey(image)
    blur = cv2.GaussianBlur(grey, (int(blur_ksize), int(blur_ksize)), blur_sigma)
    # uint8 / uint8 with scale: cv2 computes in floating point and saturates, so no overflow and no
    # need for a float copy of the image
    return cv2.divide(grey, blur, scale=256)


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
    sigma = _check_number("sigma", sigma, minimum=0.0, strict=True)
    k = _check_number("k", k, minimum=0.0, strict=True)
    p = _check_number("p", p)
    epsilon = _check_number("epsilon", epsilon)
    phi = _check_number("phi", phi, minimum=0.0)
    grey = to_grey(image).astype(np.float32) / 255.0
    # ksize (0,0): cv2 sizes the kernel from sigma (a few sigma each side), so small sigmas stay cheap
    # and large ones are not truncated; reflect-101 borders avoid dark frames at the image edge
    g1 = cv2.GaussianBlur(grey, (0, 0), sigma, borderType=cv2.BORDER_REFLECT_101)
    g2 = cv2.GaussianBlur(grey, (0, 0), k * sigma, borderType=cv2.BORDER_REFLECT_101)
    s = (1.0 + p) * g1 - p * g2
    t = np.where(s >= epsilon, 1.0, 1.0 + np.tanh(phi * (s - epsilon)))
    return np.clip(np.rint(t * 255.0), 0, 255).astype(np.uint8)


METHODS: dict[str, Callable[..., np.ndarray]] = {"pencil": pencil_sketch, "xdog": xdog}


def method_params(method: str) -> dict[str, object]:
    """The keyword parameters of sketch method ``method`` with their defaults."""
    if method not in METHODS:
        raise ValueError(f"unknown sketch method {method!r}; choose one of {sorted(METHODS)}")
    sig = inspect.signature(METHODS[method])
    return {name: prm.default for name, prm in list(sig.parameters.items())[1:]}


def sketch_images(images: np.ndarray, method: str, params: dict | None = None) -> np.ndarray:
    """Sketch a batch of photos with one method and one parameter set.

    images: uint8 (N,H,W,3) RGB, 0..255.  method: a key of ``METHODS``.  params: keyword
    arguments of that method (missing ones take the method's defaults).
    Returns uint8 (N,H,W), 0..255, white paper with dark lines.
    """
    valid = method_params(method)  # raises for an unknown method
    params = dict(params or {})
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {unknown} for sketch method {method!r}; valid parameters: {sorted(valid)}"
        )
    if not isinstance(images, np.ndarray):
        raise TypeError(f"images must be a numpy array, got {type(images).__name__}")
    if images.dtype != np.uint8:
        raise ValueError(f"images must have dtype uint8 (values 0..255), got {images.dtype}")
    if images.ndim != 4 or images.shape[3] != 3:
        raise ValueError(f"images must be RGB batches of shape (N,H,W,3), got {images.shape}")
    fn = METHODS[method]
    out = np.empty(images.shape[:3], dtype=np.uint8)
    for i, image in enumerate(images):
        out[i] = fn(image, **params)
    return out


def sketch_shard(in_npz, out_npz, method: str, params: dict | None = None) -> int:
    """Sketch every photo of a prepared shard; writes ``sketches`` uint8 (N, H, W) and ``names`` atomically."""
    shard = load_npz(in_npz)
    start = time.perf_counter()
    sketches = sketch_images(shard["images"], method, params)
    seconds = time.perf_counter() - start
    save_npz(out_npz, sketches=sketches, names=shard["names"])
    log.info("%s: %d %s sketches in %.2f s (%.0f/s)", out_npz, len(sketches), method, seconds, len(sketches) / max(seconds, 1e-9))
    return len(sketches)
