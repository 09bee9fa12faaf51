"""How far a result holds across training seeds (``models.<name>.replicates``).

The bootstrap intervals of the tables cover the choice of test images only; a model trained once more with
another seed moves its scores by more than that interval can show. ``paired_spread`` takes one number per
training seed for a variant and for its reference (the mean paired difference on the same test images is
their difference, seed by seed: the base runs with each other, each replicate seed with the same seed) and
says whether the difference holds: the seed-wise deltas' mean, standard deviation, a paired t-test over
seeds from :data:`MIN_SEEDS_FOR_TEST` seeds on, and a sentence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MIN_SEEDS_FOR_TEST = 3  # a paired t-test over two seeds has one degree of freedom: not run
ALPHA = 0.05


@dataclass(frozen=True)
class SeedSpread:
    """The seed-wise differences of a variant to its reference.

    seeds: the training seeds both were trained with, in order; deltas: variant minus reference, per seed;
    mean, std: of the deltas (std with one degree of freedom less, NaN for one seed); p: the two-sided paired
    t-test over seeds (NaN below :data:`MIN_SEEDS_FOR_TEST` seeds); verdict: one sentence saying whether the
    difference holds across the seeds.
    """

    seeds: tuple[int, ...]
    deltas: tuple[float, ...]
    mean: float
    std: float
    p: float
    verdict: str


def paired_spread(variant: dict[int, float], reference: dict[int, float]) -> SeedSpread:
    """The spread across seeds of ``variant`` minus ``reference``, each training seed -> that run's mean (over
    the images both scored). Seeds only one of them was trained with are left out; NaN values too."""
    seeds = tuple(s for s in variant if s in reference and math.isfinite(variant[s]) and math.isfinite(reference[s]))
    ours = np.array([variant[s] for s in seeds], dtype=float)
    theirs = np.array([reference[s] for s in seeds], dtype=float)
    deltas = ours - theirs
    mean = float(deltas.mean()) if seeds else math.nan
    std = float(deltas.std(ddof=1)) if len(seeds) > 1 else math.nan
    p = math.nan
    if len(seeds) >= MIN_SEEDS_FOR_TEST and np.ptp(deltas) > 0:
        from scipy import stats

        p = float(stats.ttest_rel(ours, theirs).pvalue)
    return SeedSpread(seeds, tuple(float(d) for d in deltas), mean, std, p, verdict(seeds, deltas, mean, p))


def verdict(seeds: tuple[int, ...], deltas: np.ndarray, mean: float, p: float) -> str:
    """The sentence for seed-wise ``deltas`` (their ``mean``, the t-test's ``p``): does the difference hold?"""
    n = len(seeds)
    if n == 0:
        return "no seed has a finite difference"
    if n == 1:
        return (f"a single seed ({seeds[0]}): the interval covers the test images, not the training seed; list "
                f"models.<name>.replicates to train more")
    if mean == 0:
        return f"does not hold across {n} seeds: the seed-wise deltas average to 0"
    against = [f"seed {s} ({d:+.3g})" for s, d in zip(seeds, deltas) if np.sign(d) != np.sign(mean)]
    if against:
        return (f"does not hold across {n} seeds: {', '.join(against)} against the mean's sign ({mean:+.3g})"
                + (f"; p = {p:.3g}" if math.isfinite(p) else ""))
    if n < MIN_SEEDS_FOR_TEST:
        return (f"same sign on {n} seeds: every seed-wise delta has the sign of the mean; too few seeds for a "
                f"t-test ({MIN_SEEDS_FOR_TEST} needed), so not shown to hold")
    if not math.isfinite(p):
        return f"holds across {n} seeds: every seed-wise delta is {mean:+.3g} (no spread to test)"
    if p < ALPHA:
        return f"holds across {n} seeds: every seed-wise delta has the sign of the mean and p = {p:.3g} < {ALPHA}"
    return (f"does not hold across {n} seeds: every seed-wise delta has the sign of the mean but p = {p:.3g} "
            f"≥ {ALPHA}")


def spread_over_seeds(values: list[float]) -> tuple[float, float, int]:
    """Mean, standard deviation (NaN for one value) and count of one score over training seeds (NaN values
    left out)."""
    finite = np.array([v for v in values if math.isfinite(v)], dtype=float)
    if finite.size == 0:
        return math.nan, math.nan, 0
    return float(finite.mean()), float(finite.std(ddof=1)) if finite.size > 1 else math.nan, int(finite.size)
