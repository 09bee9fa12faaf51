"""Image quality metrics (PSNR, SSIM, a VGG feature distance) and a bootstrap confidence interval.

PSNR and SSIM are plain NumPy; SSIM reproduces ``skimage.metrics.structural_similarity`` with its
defaults, so numbers here can be compared with the literature without pulling scikit-image into
the pipeline. The feature distance runs a given VGG feature extractor (Keras) on the images.
"""

from __future__ import annotations

import logging

import numpy as np

# skimage defaults for structural_similarity: 7x7 uniform window, sample covariance.
_WIN = 7
_K1 = 0.01
_K2 = 0.03
# Images per chunk in image_metrics: bounds memory at ~5 float64 maps per chunk.
_CHUNK = 32
# Keeps an all-zero feature vector (every ReLU off) at zero instead of dividing by zero, as LPIPS.
_FEATURE_EPS = 1e-10


def _check_pair(pred: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred = np.asarray(pred)
    truth = np.asarray(truth)
    if pred.shape != truth.shape:
        raise ValueError(f"shape mismatch: pred has shape {pred.shape}, truth has shape {truth.shape}")
    # Everything is computed in float64: sums of squares over many pixels lose
    # digits in float32, and the subtraction uxx - ux**2 cancels badly.
    return pred.astype(np.float64, copy=False), truth.astype(np.float64, copy=False)


def psnr(pred: np.ndarray, truth: np.ndarray, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB between two images of the same shape (any shape).

    ``data_range`` is max - min of the value scale (1.0 for floats in [0, 1], 255 for
    uint8 values). Identical images give ``float('inf')``, as scikit-image does.
    """
    pred, truth = _check_pair(pred, truth)
    if pred.size == 0:
        raise ValueError("psnr of empty images is undefined")
    mse = float(np.mean((truth - pred) ** 2))
    if mse == 0.0:
        return float("inf")
    return float(10.0 * np.log10(float(data_range) ** 2 / mse))


def _box_mean_valid(a: np.ndarray) -> np.ndarray:
    """7x7 mean over the spatial axes (-3, -2) of (..., H, W, C), 'valid' part only.

    Output is (..., H-6, W-6, C): exactly the interior that skimage keeps after cropping
    3 px, so border handling never matters. Summing 7 shifted slices per axis (instead
    of a cumulative-sum trick) avoids cancellation error on large images.
    """
    h, w = a.shape[-3], a.shape[-2]
    rows = a[..., 0 : h - _WIN + 1, :, :].copy()
    for k in range(1, _WIN):
        rows += a[..., k : h - _WIN + 1 + k, :, :]
    out = rows[..., :, 0 : w - _WIN + 1, :].copy()
    for k in range(1, _WIN):
        out += rows[..., :, k : w - _WIN + 1 + k, :]
    return out / (_WIN * _WIN)


def _ssim_batch(pred: np.ndarray, truth: np.ndarray, data_range: float) -> np.ndarray:
    """Mean SSIM for float64 arrays (N, H, W, C) -> (N,), channels averaged."""
    h, w = pred.shape[1], pred.shape[2]
    if h < _WIN or w < _WIN:
        raise ValueError(f"ssim needs images of at least {_WIN}x{_WIN} pixels, got {h}x{w}")
    ux = _box_mean_valid(pred)
    uy = _box_mean_valid(truth)
    uxx = _box_mean_valid(pred * pred)
    uyy = _box_mean_valid(truth * truth)
    uxy = _box_mean_valid(pred * truth)
    cov_norm = _WIN * _WIN / (_WIN * _WIN - 1)  # sample (not population) covariance, as skimage
    vx = cov_norm * (uxx - ux * ux)
    vy = cov_norm * (uyy - uy * uy)
    vxy = cov_norm * (uxy - ux * uy)
    c1 = (_K1 * data_range) ** 2
    c2 = (_K2 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    # Every channel has the same number of interior pixels, so the mean over
    # (H', W', C) equals skimage's mean of per-channel means.
    return s.reshape(s.shape[0], -1).mean(axis=1)


def ssim(pred: np.ndarray, truth: np.ndarray, data_range: float = 1.0) -> float:
    """Mean structural similarity of two images, (H, W, C) colour or (H, W) grey.

    Equals ``skimage.metrics.structural_similarity(truth, pred, data_range=data_range,
    channel_axis=-1)`` (grey: without channel_axis): 7x7 uniform window, sample
    covariance, K1=0.01, K2=0.03, mean over the interior cropped by 3 px, channels
    averaged. Images must be at least 7x7. Result is in [-1, 1]; 1 for identical images.
    """
    pred, truth = _check_pair(pred, truth)
    if pred.ndim == 2:
        pred, truth = pred[..., None], truth[..., None]
    elif pred.ndim != 3:
        raise ValueError(f"ssim expects (H, W) or (H, W, C) images, got shape {pred.shape}")
    return float(_ssim_batch(pred[None], truth[None], float(data_range))[0])


def image_metrics(preds: np.ndarray, truths: np.ndarray) -> dict[str, np.ndarray]:
    """Per-image PSNR and SSIM for a batch.

    preds, truths: (N, H, W, C) or (N, H, W), floats in [0, 1] (data_range 1.0). uint8
    batches are accepted and divided by 255 first. Values are not clipped: clip model
    outputs that can leave [0, 1] before calling, if that is what you want to measure.
    Returns {"psnr": (N,) float64 dB, inf where identical, "ssim": (N,) float64}.
    """
    preds = np.asarray(preds)
    truths = np.asarray(truths)
    if preds.shape != truths.shape:
        raise ValueError(f"shape mismatch: preds has shape {preds.shape}, truths has shape {truths.shape}")
    if preds.ndim == 3:
        preds, truths = preds[..., None], truths[..., None]
    elif preds.ndim != 4:
        raise ValueError(f"image_metrics expects (N, H, W, C) or (N, H, W) batches, got shape {preds.shape}")

    def as_unit(x: np.ndarray) -> np.ndarray:
        # uint8 would otherwise be scored against data_range 1.0 and give nonsense.
        if x.dtype == np.uint8:
            return x.astype(np.float64) / 255.0
        return x.astype(np.float64, copy=False)

    n = preds.shape[0]
    out_psnr = np.empty(n, dtype=np.float64)
    out_ssim = np.empty(n, dtype=np.float64)
    for start in range(0, n, _CHUNK):
        p = as_unit(preds[start : start + _CHUNK])
        t = as_unit(truths[start : start + _CHUNK])
        mse = ((t - p) ** 2).reshape(p.shape[0], -1).mean(axis=1)
        with np.errstate(divide="ignore"):  # mse == 0 -> inf, like psnr()
            out_psnr[start : start + _CHUNK] = 10.0 * np.log10(1.0 / mse)
        out_ssim[start : start + _CHUNK] = _ssim_batch(p, t, 1.0)
    return {"psnr": out_psnr, "ssim": out_ssim}


def gradient_magnitude(images: np.ndarray) -> np.ndarray:
    """Per-image mean gradient magnitude of the luminance, (N,) float64, for images in [0, 1] (N, H, W, 3).

    Central differences of Rec. 601 luma, |grad| = sqrt(gx^2 + gy^2) averaged over the interior
    pixels: how much fine structure (edges, texture) an image holds. A blurry image has less.
    """
    images = np.asarray(images)
    luma = np.empty(images.shape[:3], np.float32)
    for start in range(0, len(images), _CHUNK):  # float32 chunks: no float64 copy of a whole test set
        chunk = images[start:start + _CHUNK].astype(np.float32)
        if images.dtype == np.uint8:
            chunk /= 255.0
        luma[start:start + _CHUNK] = chunk @ np.array([0.299, 0.587, 0.114], np.float32)
    gx = 0.5 * (luma[:, 1:-1, 2:] - luma[:, 1:-1, :-2])
    gy = 0.5 * (luma[:, 2:, 1:-1] - luma[:, :-2, 1:-1])
    return np.sqrt(gx * gx + gy * gy).mean(axis=(1, 2), dtype=np.float64)


def sharpness_ratio(preds: np.ndarray, truths: np.ndarray) -> np.ndarray:
    """Per-image sharpness of a prediction relative to its truth, (N,): gradient magnitude ratio.

    1 means as much fine structure as the photo, below 1 blurrier (pixel and feature losses
    average plausible photos into blur), above 1 more edges than the photo has (noise, artefacts).
    NaN where the truth is flat (no gradient to compare with). PSNR and SSIM reward blur, so
    this is reported next to them when a loss (adversarial) trades one for the other.
    """
    pred, truth = gradient_magnitude(preds), gradient_magnitude(truths)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(truth > 1e-6, pred / truth, np.nan)


def feature_distance(extractor, preds: np.ndarray, truths: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """Per-image perceptual distance between two batches of RGB images, (N,) float64 in [0, 2].

    Both batches go through ``extractor`` (a Keras model taking VGG16-preprocessed images, e.g.
    ``sketchback.vgg.vgg_feature_extractor``, whose output is ``block2_conv2``/relu2_2); at
    each spatial position the feature vector is scaled to unit length (as LPIPS does, without
    its learned channel weights), and the distance is the squared difference of the two unit
    vectors summed over channels, averaged over positions. 0 for identical images; the ReLU
    features are non-negative, so it never exceeds 2. Unlike the training loss's raw feature
    MSE, it does not depend on the scale of the features, so random and ImageNet filters give
    numbers of the same range.

    preds, truths: (N, H, W, 3) floats in [0, 1] (uint8 batches are divided by 255 first).
    """
    from sketchback.vgg import vgg_preprocess  # Keras is only needed for this metric

    preds = np.asarray(preds)
    truths = np.asarray(truths)
    if preds.shape != truths.shape:
        raise ValueError(f"shape mismatch: preds has shape {preds.shape}, truths has shape {truths.shape}")
    if preds.ndim != 4 or preds.shape[-1] != 3:
        raise ValueError(f"feature_distance expects RGB batches (N, H, W, 3), got shape {preds.shape}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")

    def unit_features(x: np.ndarray) -> np.ndarray:
        x = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32, copy=False)
        f = np.asarray(extractor(vgg_preprocess(x), training=False), dtype=np.float64)
        return f / (np.sqrt(np.sum(f * f, axis=-1, keepdims=True)) + _FEATURE_EPS)

    out = np.empty(len(preds), dtype=np.float64)
    for start in range(0, len(preds), batch_size):
        stop = start + batch_size
        diff = unit_features(preds[start:stop]) - unit_features(truths[start:stop])
        out[start:stop] = np.sum(diff * diff, axis=-1).mean(axis=(1, 2))
    return out


def bootstrap_ci(
    values: np.ndarray, seed: int, n_resamples: int = 1000, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval (lo, hi) for the mean of 1-D ``values``.

    Deterministic for a given seed. Values must be finite: PSNR of identical images is
    inf and must be capped or dropped by the caller first. A single value gives (v, v).
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size == 0:
        raise ValueError("bootstrap_ci needs at least one value")
    if not np.all(np.isfinite(values)):
        bad = int(np.sum(~np.isfinite(values)))
        raise ValueError(f"bootstrap_ci got {bad} non-finite values (inf PSNR? NaN?); cap or drop them first")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    rng = np.random.default_rng(seed)
    n = values.size
    means = np.empty(n_resamples, dtype=np.float64)
    # Resample in blocks so n_resamples x n indices never sit in memory at once.
    block = max(1, min(n_resamples, 2_000_000 // n))
    for start in range(0, n_resamples, block):
        stop = min(start + block, n_resamples)
        idx = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = values[idx].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


__all__ = ["psnr", "ssim", "image_metrics", "feature_distance", "bootstrap_ci"]


# --------------------------------------------------------------------------- colour error (CIEDE2000)
# How far the colours are, as a person sees it: the mean CIEDE2000 difference (Sharma, Wu & Dalal 2005)
# between prediction and truth in CIELAB, plain NumPy. The sRGB -> XYZ -> Lab conversion uses
# scikit-image's matrix and D65 white point (observer 2), so values match skimage.color.deltaE_ciede2000.

_XYZ_FROM_RGB = np.array([[0.412453, 0.357580, 0.180423],
                          [0.212671, 0.715160, 0.072169],
                          [0.019334, 0.119193, 0.950227]])
_D65_WHITE = np.array([0.95047, 1.0, 1.08883])


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB in [0, 1], float (..., 3) -> CIELAB (..., 3), float64 (L in [0, 100])."""
    rgb = np.clip(np.asarray(rgb, np.float64), 0.0, 1.0)
    linear = np.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    xyz = linear @ _XYZ_FROM_RGB.T / _D65_WHITE
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16.0 / 116.0)
    return np.stack([116.0 * f[..., 1] - 16.0, 500.0 * (f[..., 0] - f[..., 1]), 200.0 * (f[..., 1] - f[..., 2])], -1)


def _mean_hue(h1: np.ndarray, h2: np.ndarray, chroma_product: np.ndarray) -> np.ndarray:
    """The mean of two hue angles (radians) the short way round; their sum where a chroma is zero."""
    total, apart = h1 + h2, np.abs(h1 - h2) > np.pi
    mean = np.where(apart, np.where(total < 2 * np.pi, total + 2 * np.pi, total - 2 * np.pi), total) / 2
    return np.where(chroma_product == 0, total, mean)


def ciede2000(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """CIEDE2000 colour difference of two CIELAB arrays (..., 3) with kL = kC = kH = 1: (...) float64."""
    (l1, a1, b1), (l2, a2, b2) = np.moveaxis(np.asarray(lab1, np.float64), -1, 0), np.moveaxis(np.asarray(lab2, np.float64), -1, 0)
    c_mean7 = ((np.hypot(a1, b1) + np.hypot(a2, b2)) / 2) ** 7
    g = 0.5 * (1 - np.sqrt(c_mean7 / (c_mean7 + 25.0 ** 7)))
    a1, a2 = a1 * (1 + g), a2 * (1 + g)
    c1, c2 = np.hypot(a1, b1), np.hypot(a2, b2)
    h1, h2 = np.arctan2(b1, a1) % (2 * np.pi), np.arctan2(b2, a2) % (2 * np.pi)
    product = c1 * c2
    dh = h2 - h1
    dh = np.where(dh > np.pi, dh - 2 * np.pi, np.where(dh < -np.pi, dh + 2 * np.pi, dh))
    dh = np.where(product == 0, 0.0, dh)
    d_big_h = 2 * np.sqrt(product) * np.sin(dh / 2)
    l_mean, c_mean, h_mean = (l1 + l2) / 2, (c1 + c2) / 2, _mean_hue(h1, h2, product)
    t = (1 - 0.17 * np.cos(h_mean - np.radians(30)) + 0.24 * np.cos(2 * h_mean)
         + 0.32 * np.cos(3 * h_mean + np.radians(6)) - 0.20 * np.cos(4 * h_mean - np.radians(63)))
    rotation = np.radians(30) * np.exp(-(((np.degrees(h_mean) - 275) / 25) ** 2))
    r_t = -np.sin(2 * rotation) * 2 * np.sqrt(c_mean ** 7 / (c_mean ** 7 + 25.0 ** 7))
    s_l = 1 + 0.015 * (l_mean - 50) ** 2 / np.sqrt(20 + (l_mean - 50) ** 2)
    s_c, s_h = 1 + 0.045 * c_mean, 1 + 0.015 * c_mean * t
    dl, dc, dh_term = (l2 - l1) / s_l, (c2 - c1) / s_c, d_big_h / s_h
    return np.sqrt(np.maximum(dl ** 2 + dc ** 2 + dh_term ** 2 + r_t * dc * dh_term, 0.0))


def colour_error(preds: np.ndarray, truths: np.ndarray) -> np.ndarray:
    """Mean CIEDE2000 difference per image: float (N, H, W, 3) sRGB in [0, 1] -> float64 (N,).

    0 for identical colours; about 1 is a just-noticeable difference, 2-10 perceptible at a
    glance. Computed in chunks of images (bounded memory).
    """
    preds, truths = _check_pair(preds, truths)
    if preds.ndim != 4 or preds.shape[-1] != 3:
        raise ValueError(f"colour_error needs RGB images (N, H, W, 3), got shape {preds.shape}")
    out = np.empty(len(preds))
    for start in range(0, len(preds), _CHUNK):
        part = slice(start, start + _CHUNK)
        out[part] = ciede2000(rgb_to_lab(preds[part]), rgb_to_lab(truths[part])).mean(axis=(1, 2))
    return out


__all__ += ["rgb_to_lab", "ciede2000", "colour_error"]


# --------------------------------------------------------------------------- distribution distances (FID, KID)
# How far the set of outputs is from the set of photos, rather than each output from its own photo:
# the Frechet distance of Heusel et al. 2017 (TTUR) and the kernel distance of Binkowski et al. 2018,
# on feature vectors the caller computes (Inception pool3 for the published numbers). SciPy is
# imported where it is used, as Keras is for feature_distance.

log = logging.getLogger(__name__)

# TTUR's values: the ridge added to both covariances when sqrtm fails, and the largest imaginary
# part on sqrtm's diagonal that is still taken for rounding error (the trace reads only the diagonal).
_FID_EPS = 1e-6
_FID_IMAG_TOL = 1e-3


def _check_features(a, b, who: str) -> tuple[np.ndarray, np.ndarray]:
    """Two (N, D) feature sets as float64, or a ValueError that names what is wrong."""
    out = []
    for name, x in (("a", a), ("b", b)):
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2:
            raise ValueError(f"{who} expects 2-D (N, D) feature arrays, {name} has shape {x.shape}")
        if x.shape[0] < 2:
            raise ValueError(f"{who} needs at least 2 feature vectors per set, {name} has {x.shape[0]}")
        if not np.all(np.isfinite(x)):
            raise ValueError(f"{who} got {int(np.sum(~np.isfinite(x)))} non-finite values (NaN or inf) in {name}")
        out.append(x)
    if out[0].shape[1] != out[1].shape[1]:
        raise ValueError(f"{who} needs features of the same dimension, a has D={out[0].shape[1]}, b has D={out[1].shape[1]}")
    return out[0], out[1]


def _sqrtm(m: np.ndarray) -> np.ndarray:
    """scipy.linalg.sqrtm in float64, its 'singular' warning sent to the log instead of warnings."""
    import warnings

    from scipy import linalg

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", linalg.LinAlgWarning)
        root = linalg.sqrtm(m)
    for w in caught:
        log.warning("frechet distance: sqrtm of the covariance product: %s", w.message)
    return root


def _frechet_from_moments(mu1, s1, mu2, s2) -> float:
    """|mu1 - mu2|^2 + Tr(s1 + s2 - 2 sqrt(s1 s2)) for given means (D,) and covariances (D, D).

    If sqrtm gives non-finite values, eps * I is added to both covariances and it is tried once more
    (TTUR). An imaginary part of at most 1e-3 on sqrtm's diagonal is rounding error and dropped; a
    larger one (the covariances are not positive semi-definite) raises ValueError.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.atleast_2d(np.asarray(s1, np.float64)), np.atleast_2d(np.asarray(s2, np.float64))
    root = _sqrtm(s1 @ s2)
    if not np.all(np.isfinite(root)):
        log.warning("frechet distance: sqrtm of the covariance product is not finite (singular); "
                    "adding %g * I to both covariances", _FID_EPS)
        ridge = _FID_EPS * np.eye(s1.shape[0])
        s1, s2 = s1 + ridge, s2 + ridge
        root = _sqrtm(s1 @ s2)
        if not np.all(np.isfinite(root)):
            raise ValueError(f"frechet distance: sqrtm is not finite even with {_FID_EPS} * I added to the covariances")
    if np.iscomplexobj(root):
        imag = float(np.max(np.abs(np.diagonal(root).imag)))
        if imag > _FID_IMAG_TOL:
            raise ValueError(f"frechet distance: sqrtm has an imaginary component of {imag:.3g} on its diagonal "
                             f"(tolerance {_FID_IMAG_TOL}); are the covariances positive semi-definite?")
        root = root.real
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(root))


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (a, b: (N, D), same D, N >= 2).

    |mu_a - mu_b|^2 + Tr(S_a + S_b - 2 sqrt(S_a S_b)), with sample covariances (N - 1) and the matrix
    square root by scipy.linalg.sqrtm in float64, as TTUR's calculate_frechet_distance. On Inception
    pool3 features (D = 2048) this is FID; 0 for identical sets, larger is further apart.

    With N - 1 < D the covariance is rank-deficient (logged as a warning) and the estimate is biased
    upward, more so the smaller N: FID of a small test set is large and not comparable with published
    FIDs, which use 50k images. Compare FIDs only at the same N.
    """
    a, b = _check_features(a, b, "frechet_distance")
    n, d = min(len(a), len(b)), a.shape[1]
    if n - 1 < d:
        log.warning("frechet_distance: %d feature vectors for %d dimensions: the covariance is rank-deficient "
                    "and the distance biased upward (not comparable with FIDs at another N)", n, d)
    return _frechet_from_moments(a.mean(axis=0), np.cov(a, rowvar=False), b.mean(axis=0), np.cov(b, rowvar=False))


def _unbiased_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 of two equal-sized sets (m, D) under the kernel k(x, y) = (x.y / D + 1)^3."""
    m, d = x.shape
    kxx, kyy, kxy = ((x @ x.T / d + 1.0) ** 3, (y @ y.T / d + 1.0) ** 3, (x @ y.T / d + 1.0) ** 3)
    within = kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)  # i != j only: that makes it unbiased
    return float(within / (m * (m - 1)) - 2.0 * kxy.sum() / (m * m))


def kernel_inception_distance(
    a: np.ndarray, b: np.ndarray, subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """Kernel distance of Binkowski et al. 2018 between two feature sets (a, b: (N, D), same D): (mean, std).

    The unbiased MMD^2 under the cubic polynomial kernel k(x, y) = (x.y / D + 1)^3 on ``subsets``
    pairs of random subsets of m = min(subset_size, len(a), len(b)) vectors, each drawn without
    replacement (from a, then from b, per subset) with np.random.default_rng(seed); returns the mean
    and the standard deviation (ddof 0, as torch-fidelity) over the subsets. On Inception pool3
    features this is KID. Unlike FID it is unbiased at any N, so it may come out slightly negative
    when the two sets come from one distribution.

    When m is the size of both sets (a test set smaller than ``subset_size``), every subset is the
    whole set in another order, on which the estimator does not depend: it is computed once and the
    standard deviation is 0 (exactly, instead of rounding noise of ~1e-16).
    """
    a, b = _check_features(a, b, "kernel_inception_distance")
    if subsets < 1:
        raise ValueError(f"kernel_inception_distance needs subsets >= 1, got {subsets}")
    if subset_size < 2:
        raise ValueError(f"kernel_inception_distance needs subset_size >= 2, got {subset_size}")
    m = min(subset_size, len(a), len(b))
    if m == len(a) == len(b):
        return _unbiased_mmd2(a, b), 0.0
    rng = np.random.default_rng(seed)
    mmd = np.empty(subsets)
    for t in range(subsets):
        x = a[rng.choice(len(a), m, replace=False)]
        y = b[rng.choice(len(b), m, replace=False)]
        mmd[t] = _unbiased_mmd2(x, y)
    return float(mmd.mean()), float(mmd.std())


__all__ += ["frechet_distance", "kernel_inception_distance"]
