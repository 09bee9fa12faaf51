"""PSNR/SSIM against scikit-image (the reference) and the bootstrap CI's basic properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from sketchback.evaluation.metrics import bootstrap_ci, image_metrics, psnr, ssim

SHAPES = [(32, 32, 3), (64, 48, 3), (100, 100, 3), (32, 32), (64, 48), (100, 100), (7, 9, 3)]


def _structured(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Smooth gradients plus a block and stripes: real SSIM structure, not just noise."""
    h, w = shape[:2]
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    base = 0.5 + 0.4 * np.sin(6 * xx) * np.cos(4 * yy)
    base[h // 4 : h // 2, w // 4 : w // 2] = 0.9
    base[:, ::5] *= 0.5
    if len(shape) == 3:
        base = np.stack([base * (0.6 + 0.2 * c) for c in range(shape[2])], axis=-1)
    return np.clip(base + rng.normal(0, 0.01, shape), 0, 1)


def _pairs():
    rng = np.random.default_rng(1234)
    for shape in SHAPES:
        a = rng.random(shape)
        yield f"noise-vs-noise{shape}", rng.random(shape), a
        yield f"noisy-copy{shape}", np.clip(a + rng.normal(0, 0.05, shape), 0, 1), a
        s = _structured(shape, rng)
        yield f"structured-blurred{shape}", np.clip(0.8 * s + 0.1 + rng.normal(0, 0.02, shape), 0, 1), s
        yield f"structured-float32{shape}", np.clip(s + 0.1, 0, 1).astype(np.float32), s.astype(np.float32)


PAIRS = list(_pairs())


@pytest.mark.parametrize("name,pred,truth", PAIRS, ids=[p[0] for p in PAIRS])
def test_psnr_matches_skimage(name, pred, truth):
    expected = peak_signal_noise_ratio(truth, pred, data_range=1.0)
    assert psnr(pred, truth) == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize("name,pred,truth", PAIRS, ids=[p[0] for p in PAIRS])
def test_ssim_matches_skimage(name, pred, truth):
    channel = {"channel_axis": -1} if pred.ndim == 3 else {}
    expected = structural_similarity(truth, pred, data_range=1.0, **channel)
    assert ssim(pred, truth) == pytest.approx(expected, abs=1e-4)


def test_uint8_with_data_range_255_matches_skimage():
    rng = np.random.default_rng(7)
    truth = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    pred = np.clip(truth.astype(int) + rng.integers(-20, 21, truth.shape), 0, 255).astype(np.uint8)
    assert psnr(pred, truth, data_range=255) == pytest.approx(
        peak_signal_noise_ratio(truth, pred, data_range=255), abs=1e-4
    )
    assert ssim(pred, truth, data_range=255) == pytest.approx(
        structural_similarity(truth, pred, data_range=255, channel_axis=-1), abs=1e-4
    )


def test_identical_images():
    img = np.random.default_rng(0).random((32, 32, 3))
    assert psnr(img, img.copy()) == math.inf
    assert ssim(img, img.copy()) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("fn", [psnr, ssim])
def test_shape_mismatch_raises_with_both_shapes(fn):
    with pytest.raises(ValueError, match=r"\(32, 32, 3\).*\(32, 31, 3\)"):
        fn(np.zeros((32, 32, 3)), np.zeros((32, 31, 3)))


def test_ssim_too_small_raises():
    with pytest.raises(ValueError, match="7x7"):
        ssim(np.zeros((6, 32)), np.zeros((6, 32)))


def test_image_metrics_matches_per_image_calls():
    rng = np.random.default_rng(5)
    truths = rng.random((40, 24, 20, 3))  # > one internal chunk
    preds = np.clip(truths + rng.normal(0, 0.1, truths.shape), 0, 1)
    preds[3] = truths[3]
    out = image_metrics(preds, truths)
    assert set(out) == {"psnr", "ssim"}
    assert out["psnr"].shape == out["ssim"].shape == (40,)
    assert out["psnr"][3] == math.inf
    for i in range(40):
        if i != 3:
            assert out["psnr"][i] == pytest.approx(peak_signal_noise_ratio(truths[i], preds[i], data_range=1), abs=1e-4)
        assert out["ssim"][i] == pytest.approx(
            structural_similarity(truths[i], preds[i], data_range=1, channel_axis=-1), abs=1e-4
        )


def test_image_metrics_grey_and_uint8():
    rng = np.random.default_rng(6)
    truths = rng.random((3, 16, 16))
    preds = rng.random((3, 16, 16))
    grey = image_metrics(preds, truths)
    assert grey["ssim"][0] == pytest.approx(structural_similarity(truths[0], preds[0], data_range=1), abs=1e-4)
    as_u8 = image_metrics((preds * 255).round().astype(np.uint8), (truths * 255).round().astype(np.uint8))
    np.testing.assert_allclose(as_u8["ssim"], grey["ssim"], atol=0.02)
    with pytest.raises(ValueError, match="shape"):
        image_metrics(preds, truths[:2])


def test_bootstrap_ci_contains_mean_and_is_deterministic():
    values = np.random.default_rng(0).normal(0.7, 0.1, 200)
    lo, hi = bootstrap_ci(values, seed=3)
    assert lo < values.mean() < hi
    assert bootstrap_ci(values, seed=3) == (lo, hi)
    assert bootstrap_ci(values, seed=4) != (lo, hi)


def test_bootstrap_ci_narrows_with_more_samples():
    rng = np.random.default_rng(1)
    small = rng.normal(0.5, 0.2, 25)
    large = rng.normal(0.5, 0.2, 2500)
    lo_s, hi_s = bootstrap_ci(small, seed=0)
    lo_l, hi_l = bootstrap_ci(large, seed=0)
    # Width scales like 1/sqrt(n): 100x the samples -> about a tenth of the width.
    assert (hi_l - lo_l) < 0.3 * (hi_s - lo_s)
    assert bootstrap_ci(large, seed=0, level=0.5)[1] - bootstrap_ci(large, seed=0, level=0.5)[0] < hi_l - lo_l


def test_bootstrap_ci_edge_cases():
    assert bootstrap_ci(np.array([0.25]), seed=0) == (0.25, 0.25)
    with pytest.raises(ValueError):
        bootstrap_ci(np.array([]), seed=0)
    with pytest.raises(ValueError, match="non-finite"):
        bootstrap_ci(np.array([1.0, math.inf]), seed=0)


# --------------------------------------------------------------------------- feature distance


@pytest.fixture(scope="module")
def extractor():
    from sketchback.vgg import vgg_feature_extractor

    return vgg_feature_extractor("random", seed=0)


def test_feature_distance_matches_its_formula_and_is_a_distance(extractor):
    from sketchback.vgg import vgg_preprocess
    from sketchback.evaluation.metrics import feature_distance

    rng = np.random.default_rng(2)
    truths = np.stack([_structured((20, 28, 3), rng) for _ in range(5)])
    preds = np.clip(truths + rng.normal(0, 0.1, truths.shape), 0, 1)
    out = feature_distance(extractor, preds, truths, batch_size=2)

    def unit(x):
        f = np.asarray(extractor(vgg_preprocess(x.astype(np.float32))), dtype=np.float64)
        return f / (np.linalg.norm(f, axis=-1, keepdims=True) + 1e-10)

    expected = ((unit(preds) - unit(truths)) ** 2).sum(axis=-1).mean(axis=(1, 2))
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-7)
    assert out.shape == (5,) and (out > 0).all() and (out <= 2).all()
    np.testing.assert_allclose(feature_distance(extractor, truths, preds), out, rtol=1e-5)  # symmetric
    assert feature_distance(extractor, truths, truths.copy()).max() == pytest.approx(0.0, abs=1e-12)
    # more noise, farther away
    noisier = np.clip(truths + rng.normal(0, 0.3, truths.shape), 0, 1)
    assert (feature_distance(extractor, noisier, truths) > out).all()
    # uint8 input is read as 0..255
    as_u8 = feature_distance(extractor, (preds * 255).round().astype(np.uint8), (truths * 255).round().astype(np.uint8))
    np.testing.assert_allclose(as_u8, out, atol=0.02)


def test_feature_distance_rejects_bad_batches(extractor):
    from sketchback.evaluation.metrics import feature_distance

    with pytest.raises(ValueError, match="shape mismatch"):
        feature_distance(extractor, np.zeros((2, 16, 16, 3)), np.zeros((2, 16, 12, 3)))
    with pytest.raises(ValueError, match="RGB"):
        feature_distance(extractor, np.zeros((2, 16, 16)), np.zeros((2, 16, 16)))


def test_sharpness_ratio_is_one_for_the_truth_below_one_when_blurred_and_above_with_noise():
    import cv2

    from sketchback.evaluation.metrics import gradient_magnitude, sharpness_ratio

    rng = np.random.default_rng(0)
    photos = np.stack([cv2.resize(rng.random((8, 8, 3)).astype(np.float32), (32, 32), interpolation=cv2.INTER_NEAREST)
                       for _ in range(3)])
    blurred = np.stack([cv2.GaussianBlur(p, (7, 7), 2.0) for p in photos])
    noisy = np.clip(photos + rng.normal(0, 0.1, photos.shape), 0, 1).astype(np.float32)
    np.testing.assert_allclose(sharpness_ratio(photos, photos), 1.0)
    assert (sharpness_ratio(blurred, photos) < 0.7).all() and (sharpness_ratio(noisy, photos) > 1.2).all()
    # uint8 input is read as [0, 1]; a flat truth gives NaN, not a division by zero
    np.testing.assert_allclose(gradient_magnitude(np.round(photos * 255).astype(np.uint8)),
                               gradient_magnitude(photos), rtol=0.02)
    flat = np.full((1, 32, 32, 3), 0.5, np.float32)
    assert np.isnan(sharpness_ratio(photos[:1], flat)).all()
    # the formula: mean central-difference gradient magnitude of Rec. 601 luma over interior pixels
    luma = photos[0] @ np.array([0.299, 0.587, 0.114])
    gy, gx = np.gradient(luma)
    expected = np.hypot(gx, gy)[1:-1, 1:-1].mean()
    assert gradient_magnitude(photos[:1])[0] == pytest.approx(expected, rel=1e-5)
