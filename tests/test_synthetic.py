"""Tests for the procedural stand-in datasets (sketchback.data.synthetic)."""

from __future__ import annotations

import numpy as np
import pytest

from sketchback.data.synthetic import KINDS, synthetic_building, synthetic_face, synthetic_image

ALL_KINDS = sorted(KINDS)


def _edge_energy(gray: np.ndarray) -> np.ndarray:
    """|d/dy| + |d/dx| per pixel (one row/column shorter)."""
    return np.abs(np.diff(gray, axis=0))[:, :-1] + np.abs(np.diff(gray, axis=1))[:-1, :]


def test_kinds_registry():
    assert KINDS == {"faces": synthetic_face, "buildings": synthetic_building}


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_same_seed_and_index_give_identical_bytes(kind):
    a = synthetic_image(kind, 3, 7, 64)
    b = synthetic_image(kind, 3, 7, 64)
    assert a.tobytes() == b.tobytes()
    # The documented contract: image `index` comes from default_rng([seed, index]) alone,
    # so a shard can regenerate it without producing the images before it.
    direct = KINDS[kind](np.random.default_rng([3, 7]), 64)
    assert direct.tobytes() == a.tobytes()


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_different_index_or_seed_differs(kind):
    base = synthetic_image(kind, 3, 7, 64).astype(np.int16)
    other_index = synthetic_image(kind, 3, 8, 64).astype(np.int16)
    other_seed = synthetic_image(kind, 4, 7, 64).astype(np.int16)
    # Not just different noise: the pictures themselves differ.
    assert np.abs(base - other_index).mean() > 10
    assert np.abs(base - other_seed).mean() > 10


@pytest.mark.parametrize("kind", ALL_KINDS)
@pytest.mark.parametrize("size", [32, 64, 100, 128])
def test_shape_and_dtype(kind, size):
    img = synthetic_image(kind, 0, size, size)
    assert img.shape == (size, size, 3)
    assert img.dtype == np.uint8
    assert img.flags.c_contiguous


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_variety_across_images(kind):
    imgs = np.stack([synthetic_image(kind, 11, i, 32) for i in range(50)]).astype(np.float64)
    means = imgs.mean(axis=(1, 2))  # (50, 3) mean colour per image
    assert (means.std(axis=0) > 8).all(), means.std(axis=0)
    # Every image has real content, not a near-flat field plus noise.
    per_image_std = imgs.mean(axis=3).std(axis=(1, 2))
    assert per_image_std.min() > 10, per_image_std.min()
    # And no two images are (near-)duplicates.
    flat = imgs.reshape(len(imgs), -1)
    dists = np.abs(flat[:, None, :] - flat[None, :, :]).mean(axis=2)
    assert dists[~np.eye(len(imgs), dtype=bool)].min() > 5


def test_face_has_more_structure_in_centre_than_corners():
    centre, corners = [], []
    for i in range(20):
        gray = synthetic_image("faces", 5, i, 64).astype(np.float64).mean(axis=2)
        e = _edge_energy(gray)
        n = e.shape[0]
        q = n // 6
        centre.append(e[n // 4: 3 * n // 4, n // 4: 3 * n // 4].mean())
        corners.append(np.mean([e[:q, :q].mean(), e[:q, -q:].mean(), e[-q:, :q].mean(), e[-q:, -q:].mean()]))
    centre, corners = np.array(centre), np.array(corners)
    assert centre.mean() > 1.8 * corners.mean()
    assert (centre > corners).mean() >= 0.9


def test_building_has_sky_above_street():
    # The top rows are sky (smooth), the middle is facade (windows: many edges).
    top, middle = [], []
    for i in range(20):
        gray = synthetic_image("buildings", 5, i, 64).astype(np.float64).mean(axis=2)
        e = _edge_energy(gray)
        top.append(e[:4].mean())
        middle.append(e[24:40].mean())
    assert np.mean(middle) > 1.5 * np.mean(top)


def test_generators_do_not_touch_global_random_state():
    state = np.random.get_state()
    synthetic_image("faces", 1, 2, 32)
    synthetic_image("buildings", 1, 2, 32)
    after = np.random.get_state()
    assert state[0] == after[0] and np.array_equal(state[1], after[1]) and state[2:] == after[2:]


def test_unknown_kind_raises_with_name():
    with pytest.raises(ValueError, match="cats") as info:
        synthetic_image("cats", 0, 0, 32)
    for kind in KINDS:
        assert kind in str(info.value)


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_too_small_size_rejected(kind):
    with pytest.raises(ValueError):
        synthetic_image(kind, 0, 0, 4)
