"""FID and KID against independent computations: Gaussian closed forms, SciPy written out, KID by loops."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import scipy.linalg

from sketchback.evaluation.metrics import _frechet_from_moments, frechet_distance, kernel_inception_distance


def gaussian_sets(n: int, seed: int = 0):
    """Two diagonal Gaussians (D = 4) sampled n times, and their Frechet distance in closed form."""
    mu = np.array([1.0, 0.5, 0.0, -1.0])
    var1, var2 = np.array([1.0, 2.0, 0.5, 1.0]), np.array([2.0, 1.0, 0.5, 3.0])
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, 4)) * np.sqrt(var1)
    b = mu + rng.normal(size=(n, 4)) * np.sqrt(var2)
    exact = np.sum(mu**2) + np.sum(var1 + var2 - 2.0 * np.sqrt(var1 * var2))
    return a, b, exact


def scipy_fid(a: np.ndarray, b: np.ndarray) -> float:
    """The textbook formula, written out: sample means and covariances, sqrtm, trace."""
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = np.real(scipy.linalg.sqrtm(s1 @ s2))
    diff = a.mean(axis=0) - b.mean(axis=0)
    return float(diff @ diff + np.trace(s1 + s2 - 2.0 * root))


def kid_by_loops(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 with k(u, v) = (u.v / D + 1)^3, one term at a time."""
    m, d = x.shape

    def k(u, v):
        return (float(np.dot(u, v)) / d + 1.0) ** 3

    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j)
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j)
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m))
    return (xx + yy) / (m * (m - 1)) - 2.0 * xy / (m * m)


# --------------------------------------------------------------------------- FID


def test_moments_formula_equals_the_diagonal_closed_form_exactly():
    mu1, mu2 = np.zeros(3), np.array([1.0, -2.0, 0.5])
    var1, var2 = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    exact = 1.0 + 4.0 + 0.25 + (1 + 9 - 2 * 3) + (4 + 1 - 2 * 2) + 0.0  # = 10.25
    assert _frechet_from_moments(mu1, np.diag(var1), mu2, np.diag(var2)) == pytest.approx(exact, rel=1e-12)


def test_moments_formula_with_a_non_diagonal_covariance():
    # s1 = 4 I commutes with anything: Tr sqrt(s1 s2) = 2 * (sqrt 1 + sqrt 9) for s2 with eigenvalues 1, 9.
    rotation = np.array([[np.cos(0.7), -np.sin(0.7)], [np.sin(0.7), np.cos(0.7)]])
    s2 = rotation @ np.diag([1.0, 9.0]) @ rotation.T
    mu2 = np.array([3.0, 4.0])
    exact = 25.0 + (8.0 + 10.0 - 2.0 * 2.0 * (1.0 + 3.0))  # = 27
    assert _frechet_from_moments(np.zeros(2), 4.0 * np.eye(2), mu2, s2) == pytest.approx(exact, rel=1e-10)


def test_fid_of_gaussian_samples_is_near_the_closed_form():
    a, b, exact = gaussian_sets(20_000)
    # Over 30 seeds the estimate's standard deviation is about 0.04 around the exact 3.13.
    assert frechet_distance(a, b) == pytest.approx(exact, abs=0.15)


def test_fid_equals_the_scipy_formula_on_random_features():
    rng = np.random.default_rng(1)
    # Few vectors (N = 50, D = 8): an N in place of N - 1 in the covariances would show at 1e-2.
    a = rng.normal(size=(50, 8)) @ rng.normal(size=(8, 8))
    b = 0.3 + rng.gamma(2.0, size=(60, 8))
    assert frechet_distance(a, b) == pytest.approx(scipy_fid(a, b), rel=1e-6)


def test_fid_is_symmetric_and_accepts_float32():
    a, b, _ = gaussian_sets(500)
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-9)
    assert frechet_distance(a.astype(np.float32), b) == pytest.approx(frechet_distance(a, b), rel=1e-5)


def test_fid_of_identical_sets_is_zero():
    rng = np.random.default_rng(2)
    a = 5.0 * rng.normal(size=(200, 16))
    scale = np.trace(np.cov(a, rowvar=False))
    assert abs(frechet_distance(a, a.copy())) < 1e-6 * scale


def test_fewer_vectors_than_dimensions_warns_and_stays_finite(caplog):
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(10, 64)), rng.normal(size=(10, 64))
    with caplog.at_level(logging.WARNING, logger="sketchback.evaluation.metrics"):
        fid = frechet_distance(a, b)
    assert np.isfinite(fid)
    assert "rank-deficient" in caplog.text
    # Here sqrtm's result is complex with an imaginary part of ~1e-6: dropped, as in the written-out formula.
    assert np.iscomplexobj(scipy.linalg.sqrtm(np.cov(a, rowvar=False) @ np.cov(b, rowvar=False)))
    assert fid == pytest.approx(scipy_fid(a, b), rel=1e-6)


def test_a_small_imaginary_part_of_sqrtm_is_dropped():
    # s1 s2 = diag(1, -1e-8): sqrtm's diagonal is (1, 1e-4 i), within TTUR's 1e-3; the trace term is then 2.
    s1, s2 = np.diag([1.0, 1e-4]), np.diag([1.0, -1e-4])
    assert _frechet_from_moments(np.zeros(2), s1, np.zeros(2), s2) == pytest.approx(0.0, abs=1e-12)


def test_a_large_imaginary_part_of_sqrtm_raises_and_names_it():
    # s1 s2 = diag(1, -1): sqrtm's diagonal is (1, 1 i), far from rounding error.
    with pytest.raises(ValueError, match=r"imaginary component of 1 "):
        _frechet_from_moments(np.zeros(2), np.diag([1.0, -1.0]), np.zeros(2), np.eye(2))


def test_a_product_without_a_finite_sqrtm_is_retried_with_eps(caplog):
    # [[0, 1], [0, 0]] has no square root (sqrtm gives inf). With 1e-6 I added to both it is
    # (1 + eps) [[eps, 1], [0, eps]], whose square root has trace 2 sqrt(eps (1 + eps)).
    eps = 1e-6
    nilpotent = np.array([[0.0, 1.0], [0.0, 0.0]])
    exact = (0.0 + 2.0 + 4.0 * eps) - 2.0 * 2.0 * np.sqrt(eps * (1.0 + eps))
    with caplog.at_level(logging.WARNING, logger="sketchback.evaluation.metrics"):
        got = _frechet_from_moments(np.zeros(2), nilpotent, np.zeros(2), np.eye(2))
    assert got == pytest.approx(exact, rel=1e-9)
    assert "adding 1e-06 * I" in caplog.text


@pytest.mark.parametrize("fn", [frechet_distance, kernel_inception_distance])
@pytest.mark.parametrize(
    ("a", "b", "message"),
    [
        (np.zeros((5, 3)), np.zeros((5, 4)), r"same dimension, a has D=3, b has D=4"),
        (np.zeros(5), np.zeros((5, 4)), r"2-D \(N, D\) feature arrays, a has shape \(5,\)"),
        (np.zeros((5, 4)), np.zeros((1, 4)), r"at least 2 feature vectors per set, b has 1"),
        (np.array([[0.0, np.nan], [1.0, 2.0]]), np.zeros((3, 2)), r"1 non-finite values \(NaN or inf\) in a"),
        (np.zeros((3, 2)), np.array([[0.0, np.inf], [1.0, 2.0]]), r"non-finite values \(NaN or inf\) in b"),
    ],
)
def test_bad_features_are_refused_with_a_clear_message(fn, a, b, message):
    with pytest.raises(ValueError, match=message):
        fn(a, b)


# --------------------------------------------------------------------------- KID


def test_kid_equals_the_estimator_written_out_with_loops():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(6, 3)), 0.5 + rng.normal(size=(6, 3))
    mean, std = kernel_inception_distance(x, y, subsets=1, subset_size=6)
    # One subset of all rows: only their order changes, and the estimator does not depend on it.
    assert mean == pytest.approx(kid_by_loops(x, y), abs=1e-10)
    assert std == 0.0


@pytest.mark.parametrize(("n_a", "n_b"), [(5, 40), (40, 5)])
def test_kid_subsets_are_capped_by_the_smaller_set(n_a, n_b):
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(n_a, 3)), 0.5 + rng.normal(size=(n_b, 3))
    mean, _ = kernel_inception_distance(a, b, subsets=1, subset_size=1000, seed=7)
    draw = np.random.default_rng(7)  # the documented order: a's subset, then b's
    x, y = a[draw.choice(n_a, 5, replace=False)], b[draw.choice(n_b, 5, replace=False)]
    assert mean == pytest.approx(kid_by_loops(x, y), abs=1e-10)


def test_kid_is_near_zero_for_one_distribution_and_positive_for_two():
    rng = np.random.default_rng(6)
    a, b = rng.normal(size=(500, 8)), rng.normal(size=(500, 8))
    same_mean, same_std = kernel_inception_distance(a, b, subsets=20, subset_size=200)
    shifted_mean, shifted_std = kernel_inception_distance(a, b + 0.5, subsets=20, subset_size=200)
    # Around 1.1 +- 0.12 for the shift; within +-0.01 of 0 (either sign) for the same distribution.
    assert abs(same_mean) < 0.03 and same_std > 0
    assert shifted_mean > 0.5 and shifted_mean > 10 * abs(same_mean)


def test_kid_is_reproducible_for_a_seed_and_varies_with_it():
    rng = np.random.default_rng(8)
    a, b = rng.normal(size=(100, 4)), rng.normal(size=(120, 4))
    first = kernel_inception_distance(a, b, subsets=5, subset_size=30, seed=3)
    assert kernel_inception_distance(a, b, subsets=5, subset_size=30, seed=3) == first
    assert kernel_inception_distance(a, b, subsets=5, subset_size=30, seed=4) != first


@pytest.mark.parametrize(("kwargs", "message"), [({"subsets": 0}, r"subsets >= 1, got 0"),
                                                 ({"subset_size": 1}, r"subset_size >= 2, got 1")])
def test_kid_refuses_bad_subsets(kwargs, message):
    with pytest.raises(ValueError, match=message):
        kernel_inception_distance(np.zeros((5, 2)), np.ones((5, 2)), **kwargs)


def test_kid_of_a_test_set_smaller_than_a_subset_has_an_exact_zero_spread():
    # CUHK's 100 sketches and the demo's 48 images are smaller than subset_size (1000): every one of
    # the 100 subsets is the whole set in another order, so the spread is 0, not rounding noise.
    rng = np.random.default_rng(8)
    a, b = rng.normal(size=(48, 16)), 0.3 + rng.normal(size=(48, 16))
    mean, std = kernel_inception_distance(a, b, subsets=100, subset_size=1000, seed=3)
    assert std == 0.0 and mean == pytest.approx(kid_by_loops(a, b), rel=1e-9)
    # a larger set keeps its spread over subsets
    _, spread = kernel_inception_distance(np.concatenate([a, a + 0.01]), b, subsets=10, subset_size=48, seed=3)
    assert spread > 0
