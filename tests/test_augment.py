"""Paired augmentation: pairs stay aligned, seeding is exact, photometry stays on its side."""

import numpy as np
import pytest

from sketchback.sketches.augment import DEFAULT_AUGMENT, augment_pairs

SIZE = 64
OFF_PHOTOMETRIC = {"brightness": 0, "contrast": 0, "blur_prob": 0, "noise_std": 0}
OFF_GEOMETRIC = {"flip_prob": 0, "rotate_deg": 0, "scale": (1, 1), "translate": 0, "perspective": 0}


def grid_mask(size=SIZE):
    """Boolean (size,size) mask: an irregular grid of 2-px lines plus a diagonal (no symmetry)."""
    m = np.zeros((size, size), bool)
    for x in (5, 17, 30, 44, 57):
        m[:, x : x + 2] = True
    for y in (8, 21, 39, 52):
        m[y : y + 2, :] = True
    for i in range(size):
        m[i, max(0, i // 2 - 1) : i // 2 + 1] = True  # shallow diagonal, breaks every symmetry
    return m


def grid_pairs(n=3, seed=0):
    """n photo/sketch pairs: coloured grid lines on a grey textured background / dark lines on white."""
    rng = np.random.default_rng(seed)
    mask = grid_mask()
    photos = np.empty((n, SIZE, SIZE, 3), np.uint8)
    for i in range(n):
        # grey texture 60..180 with small per-channel jitter, so background max(R,B)-G stays small
        base = rng.integers(60, 180, (SIZE, SIZE, 1))
        photo = base + rng.integers(-8, 9, (SIZE, SIZE, 3))
        photo[mask] = (220, 30, 30) if i % 2 == 0 else (30, 30, 220)
        photos[i] = np.clip(photo, 0, 255)
    sketches = np.where(mask, 0, 255).astype(np.uint8)[None].repeat(n, 0)
    return photos, sketches


def photo_lines(photos):
    """Line mask of a (…,H,W,3) grid photo: strongly red or blue against grey."""
    p = photos.astype(int)
    return np.maximum(p[..., 0], p[..., 2]) - p[..., 1] > 90


def sketch_lines(sketches):
    return sketches < 128


def iou(a, b):
    """Per-image IoU of boolean (N,H,W) masks."""
    inter = (a & b).sum(axis=(-2, -1))
    union = (a | b).sum(axis=(-2, -1))
    return inter / union


def best_shift(a, b, r=2):
    """The (dy, dx) in [-r, r]^2 by which rolling mask b best overlaps mask a (borders ignored)."""
    shifts = [(dy, dx) for dy in range(-r, r + 1) for dx in range(-r, r + 1)]
    scores = [iou(a[r:-r, r:-r], np.roll(b, s, axis=(0, 1))[r:-r, r:-r]) for s in shifts]
    return shifts[int(np.argmax(scores))]


def test_grid_fixture_masks_agree_before_augmentation():
    photos, sketches = grid_pairs()
    assert (iou(photo_lines(photos), sketch_lines(sketches)) == 1).all()


@pytest.mark.parametrize(
    "params, min_iou",
    # blur/noise on the sketch and contrast on the photo move the thresholded line edges a little,
    # so with the defaults the bar is lower -- but the best overlap must still be at zero shift
    [(OFF_PHOTOMETRIC, 0.9), (None, 0.8)],
    ids=["geometric-only", "defaults"],
)
def test_pairs_stay_pixel_aligned(params, min_iou):
    photos, sketches = grid_pairs()
    out_p, out_s = augment_pairs(photos, sketches, copies=6, seed=3, params=params)
    p_lines, s_lines = photo_lines(out_p), sketch_lines(out_s)
    scores = iou(p_lines, s_lines)
    assert scores.min() > min_iou, scores
    assert all(best_shift(a, b) == (0, 0) for a, b in zip(p_lines, s_lines))
    # the geometry really moved the grid (otherwise alignment would be trivially true)
    moved = iou(s_lines, sketch_lines(sketches.repeat(6, 0)))
    assert np.median(moved) < 0.7, moved


@pytest.mark.parametrize("only", [
    {"flip_prob": 1.0},
    {"rotate_deg": 12.0},
    {"scale": (1.15, 1.25)},  # zoom in: a crop
    {"scale": (0.75, 0.85)},  # zoom out: padding (reflected)
    {"translate": 0.12},  # shift: crop on one side, pad on the other
    {"perspective": 0.06},
], ids=["flip", "rotate", "crop", "pad", "translate", "perspective"])
def test_every_geometric_transform_on_its_own_keeps_pairs_aligned(only):
    photos, sketches = grid_pairs()
    params = {**OFF_GEOMETRIC, **OFF_PHOTOMETRIC, **only}
    out_p, out_s = augment_pairs(photos, sketches, copies=4, seed=7, params=params)
    p_lines, s_lines = photo_lines(out_p), sketch_lines(out_s)
    assert iou(p_lines, s_lines).min() > 0.85
    assert all(best_shift(a, b) == (0, 0) for a, b in zip(p_lines, s_lines))
    # the transform really acted on every copy
    assert (iou(s_lines, sketch_lines(sketches.repeat(4, 0))) < 0.9).all()


def test_randomness_is_keyed_by_dataset_row():
    photos, sketches = grid_pairs(4)
    full = augment_pairs(photos, sketches, copies=2, seed=5)
    # rows 1 and 3 alone (a subset, as a style shard holds) get exactly their augmentations in the full set
    subset = augment_pairs(photos[[1, 3]], sketches[[1, 3]], copies=2, seed=5, rows=np.array([1, 3]))
    np.testing.assert_array_equal(subset[0], full[0][[2, 3, 6, 7]])
    np.testing.assert_array_equal(subset[1], full[1][[2, 3, 6, 7]])
    # first_index is the contiguous special case of rows
    shifted = augment_pairs(photos, sketches, copies=2, seed=5, first_index=10)
    by_rows = augment_pairs(photos, sketches, copies=2, seed=5, rows=np.arange(10, 14))
    np.testing.assert_array_equal(shifted[0], by_rows[0])
    with pytest.raises(ValueError, match="rows"):
        augment_pairs(photos, sketches, copies=1, seed=0, rows=np.array([1, 2]))


def test_alignment_measure_detects_misaligned_pairs():
    photos, sketches = grid_pairs()
    # independently drawn geometry for photo and sketch: what a broken implementation would do
    out_p, _ = augment_pairs(photos, sketches, copies=6, seed=3, params=OFF_PHOTOMETRIC)
    _, out_s = augment_pairs(photos, sketches, copies=6, seed=4, params=OFF_PHOTOMETRIC)
    assert iou(photo_lines(out_p), sketch_lines(out_s)).max() < 0.6
    # and a plain 1-px shift of an otherwise perfect pair
    p_lines, s_lines = photo_lines(photos), sketch_lines(np.roll(sketches, (1, 1), axis=(1, 2)))
    assert iou(p_lines, s_lines).max() < 0.6
    assert all(best_shift(a, b) == (-1, -1) for a, b in zip(p_lines, s_lines))


def test_reflecting_border_leaves_no_black_corners():
    photos, sketches = grid_pairs()
    strong = {**OFF_PHOTOMETRIC, "rotate_deg": 30, "scale": (0.7, 0.75), "translate": 0.2}
    out_p, out_s = augment_pairs(photos, sketches, copies=4, seed=0, params=strong)
    # background >= 52 and lines have a bright channel: a constant (black) border would show up here
    assert (out_p.max(axis=-1) < 40).sum() == 0
    # and the reflected margins are still aligned between photo and sketch
    assert iou(photo_lines(out_p), sketch_lines(out_s)).min() > 0.9


def test_same_seed_identical_different_seed_different():
    photos, sketches = grid_pairs()
    a = augment_pairs(photos, sketches, copies=3, seed=11)
    b = augment_pairs(photos, sketches, copies=3, seed=11)
    c = augment_pairs(photos, sketches, copies=3, seed=12)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0]) and not np.array_equal(a[1], c[1])


def test_pair_randomness_does_not_depend_on_batch_composition():
    photos, sketches = grid_pairs(4)
    full_p, full_s = augment_pairs(photos, sketches, copies=2, seed=5)
    part_p, part_s = augment_pairs(photos[2:], sketches[2:], copies=2, seed=5, first_index=2)
    np.testing.assert_array_equal(part_p, full_p[4:])
    np.testing.assert_array_equal(part_s, full_s[4:])
    # copies of one image differ from each other, and so do the same image at two indices
    assert not np.array_equal(full_p[0], full_p[1])
    twice_p, _ = augment_pairs(photos[[0, 0]], sketches[[0, 0]], copies=1, seed=5)
    assert not np.array_equal(twice_p[0], twice_p[1])


def test_shapes_dtypes_and_image_major_order():
    n, copies = 3, 4
    # solid images: any geometry with a reflecting border maps them onto themselves
    colours = np.array([[200, 10, 10], [10, 200, 10], [10, 10, 200]], np.uint8)
    photos = np.broadcast_to(colours[:, None, None, :], (n, 16, 24, 3)).copy()
    sketches = np.broadcast_to(np.array([0, 100, 255], np.uint8)[:, None, None], (n, 16, 24)).copy()
    out_p, out_s = augment_pairs(photos, sketches, copies=copies, seed=0, params=OFF_PHOTOMETRIC)
    assert out_p.shape == (n * copies, 16, 24, 3) and out_p.dtype == np.uint8
    assert out_s.shape == (n * copies, 16, 24) and out_s.dtype == np.uint8
    for i in range(n):
        for j in range(copies):
            np.testing.assert_array_equal(out_p[i * copies + j], photos[i])
            np.testing.assert_array_equal(out_s[i * copies + j], sketches[i])


def test_brightness_contrast_touch_only_the_photo():
    photos, sketches = grid_pairs()
    only = {**OFF_GEOMETRIC, **OFF_PHOTOMETRIC, "brightness": 0.3, "contrast": 0.3}
    out_p, out_s = augment_pairs(photos, sketches, copies=3, seed=1, params=only)
    np.testing.assert_array_equal(out_s, sketches.repeat(3, 0))
    assert all(not np.array_equal(out_p[k], photos[k // 3]) for k in range(len(out_p)))


def test_blur_and_noise_touch_only_the_sketch():
    photos, sketches = grid_pairs()
    only = {**OFF_GEOMETRIC, **OFF_PHOTOMETRIC, "blur_prob": 1.0, "noise_std": 0.05}
    out_p, out_s = augment_pairs(photos, sketches, copies=3, seed=1, params=only)
    np.testing.assert_array_equal(out_p, photos.repeat(3, 0))
    assert all(not np.array_equal(out_s[k], sketches[k // 3]) for k in range(len(out_s)))
    # blurred but not moved: still aligned
    assert iou(photo_lines(out_p), sketch_lines(out_s)).min() > 0.8


def test_everything_disabled_is_an_exact_copy():
    photos, sketches = grid_pairs()
    out_p, out_s = augment_pairs(photos, sketches, copies=2, seed=0, params={**OFF_GEOMETRIC, **OFF_PHOTOMETRIC})
    np.testing.assert_array_equal(out_p, photos.repeat(2, 0))
    np.testing.assert_array_equal(out_s, sketches.repeat(2, 0))


def test_random_decisions_of_different_transforms_are_independent():
    # Albumentations' Compose(seed=s) seeds every child transform identically, which makes e.g.
    # "flip" and "blur" (both p=0.5) fire together every time; augment_pairs must not inherit that.
    n = 40
    photos = np.zeros((n, 8, 8, 3), np.uint8)
    photos[:, :, :4] = 255  # left half bright: a flip is visible
    sketches = np.full((n, 8, 8), 255, np.uint8)
    sketches[:, :, 1] = 0  # one sharp dark column: a blur is visible as intermediate values
    only = {**OFF_GEOMETRIC, **OFF_PHOTOMETRIC, "flip_prob": 0.5, "blur_prob": 0.5, "blur_sigma": 1.0}
    out_p, out_s = augment_pairs(photos, sketches, copies=1, seed=0, params=only)
    flipped = out_p[:, 0, 0, 0] == 0
    blurred = ((out_s > 0) & (out_s < 255)).any(axis=(1, 2))
    assert 5 < flipped.sum() < 35 and 5 < blurred.sum() < 35
    assert (flipped != blurred).sum() >= 5


def test_unknown_key_names_it_and_lists_valid_keys():
    photos, sketches = grid_pairs(1)
    with pytest.raises(ValueError, match="rotation") as err:
        augment_pairs(photos, sketches, copies=1, seed=0, params={"rotation": 10})
    for key in DEFAULT_AUGMENT:
        assert key in str(err.value)


@pytest.mark.parametrize(
    "params, msg",
    [
        ({"flip_prob": 1.5}, "flip_prob"),
        ({"rotate_deg": -1}, "rotate_deg"),
        ({"scale": (1.2, 0.8)}, "scale"),
        ({"scale": 1.1}, "scale"),
        ({"translate": 0.7}, "translate"),
        ({"noise_std": "a lot"}, "noise_std"),
    ],
)
def test_bad_values_rejected(params, msg):
    photos, sketches = grid_pairs(1)
    with pytest.raises(ValueError, match=msg):
        augment_pairs(photos, sketches, copies=1, seed=0, params=params)


def test_bad_arrays_and_counts_rejected():
    photos, sketches = grid_pairs(2)
    with pytest.raises(ValueError, match="agree"):
        augment_pairs(photos, sketches[:1], copies=1, seed=0)
    with pytest.raises(ValueError, match="uint8"):
        augment_pairs(photos.astype(np.float32), sketches, copies=1, seed=0)
    with pytest.raises(ValueError, match=r"\(N,H,W\)"):
        augment_pairs(photos, sketches[..., None], copies=1, seed=0)
    with pytest.raises(ValueError, match="copies"):
        augment_pairs(photos, sketches, copies=0, seed=0)
    with pytest.raises(ValueError, match="seed"):
        augment_pairs(photos, sketches, copies=1, seed=-1)
