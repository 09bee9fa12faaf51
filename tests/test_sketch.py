"""Sketch simulators: white stays white, lines become dark, exact formula, validation."""

import cv2
import numpy as np
import pytest

from sketchback.sketch import METHODS, pencil_sketch, sketch_images, to_grey, xdog


def white(h=48, w=64, rgb=True):
    return np.full((h, w, 3) if rgb else (h, w), 255, np.uint8)


def line_image(rgb=True):
    """White 48x64 image with a 2-px dark vertical line at columns 31-32."""
    img = white(rgb=rgb)
    img[:, 31:33] = 20
    return img


def random_photo(seed=0, h=40, w=56):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("fn", [pencil_sketch, xdog])
@pytest.mark.parametrize("rgb", [True, False])
def test_white_paper_stays_white(fn, rgb):
    out = fn(white(rgb=rgb))
    assert out.dtype == np.uint8 and out.shape == (48, 64)
    assert (out == 255).all()


@pytest.mark.parametrize("fn", [pencil_sketch, xdog])
@pytest.mark.parametrize("rgb", [True, False])
def test_dark_line_is_drawn_and_paper_away_from_it_is_white(fn, rgb):
    out = fn(line_image(rgb=rgb))
    assert out.dtype == np.uint8 and out.shape == (48, 64)
    # well inside the image (away from top/bottom borders) the line must be clearly dark
    assert out[8:40, 31:33].max() < 100
    # more than the largest kernel radius away from the line, the paper is untouched
    assert (out[:, :15] == 255).all() and (out[:, 49:] == 255).all()


@pytest.mark.parametrize("fn", [pencil_sketch, xdog])
def test_grey_and_rgb_input_agree_and_range_is_full_uint8(fn):
    photo = random_photo(1)
    a = fn(photo)
    b = fn(to_grey(photo))
    assert a.dtype == np.uint8 and a.shape == photo.shape[:2]
    np.testing.assert_array_equal(a, b)
    assert a.min() < 128 < a.max()  # a random image produces both marks and paper


@pytest.mark.parametrize("method", sorted(METHODS))
def test_deterministic_and_pure(method):
    photos = np.stack([random_photo(s) for s in range(3)])
    before = photos.copy()
    a = sketch_images(photos, method, {})
    b = sketch_images(photos, method, {})
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(photos, before)  # input not modified
    assert a.shape == (3, 40, 56) and a.dtype == np.uint8
    # each image is sketched on its own: batch result == per-image result
    np.testing.assert_array_equal(a[1], METHODS[method](photos[1]))


def test_pencil_matches_direct_formula_exactly():
    photo = random_photo(7)
    grey = photo.astype(np.float64) @ [0.299, 0.587, 0.114]
    grey_u8 = to_grey(photo)
    # to_grey is the BT.601 luma (cv2 rounds in fixed point, so allow 1 level)
    assert np.abs(grey_u8 - grey).max() <= 1.0
    for ksize, sigma in [(21, 0.0), (5, 1.5), (1, 0.0)]:
        blur = cv2.GaussianBlur(grey_u8, (ksize, ksize), sigma).astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            ref = np.where(blur == 0, 0.0, grey_u8 * 256.0 / blur)
        ref = np.clip(np.rint(ref), 0, 255).astype(np.uint8)
        np.testing.assert_array_equal(pencil_sketch(photo, blur_ksize=ksize, blur_sigma=sigma), ref)


def test_xdog_matches_direct_formula():
    photo = random_photo(3)
    g = to_grey(photo).astype(np.float64) / 255.0
    sigma, k, p, eps, phi = 1.1, 2.0, 15.0, 0.1, 5.0  # all off their defaults
    g1 = cv2.GaussianBlur(g, (0, 0), sigma)
    g2 = cv2.GaussianBlur(g, (0, 0), k * sigma)
    s = (1 + p) * g1 - p * g2
    t = np.where(s >= eps, 1.0, 1.0 + np.tanh(phi * (s - eps)))
    out = xdog(photo, sigma=sigma, k=k, p=p, epsilon=eps, phi=phi).astype(int)
    # float32 inside xdog vs float64 here: allow a rounding step
    assert np.abs(out - np.rint(255 * t)).max() <= 1


def test_xdog_epsilon_fills_dark_regions():
    # flat grey 0.3: S = 0.3 everywhere; with epsilon above it the region is inked, below it paper
    flat = np.full((32, 32), 77, np.uint8)
    assert (xdog(flat, epsilon=0.0) == 255).all()
    assert (xdog(flat, epsilon=0.5, phi=20) < 10).all()


def test_unknown_method_names_it_and_lists_methods():
    with pytest.raises(ValueError, match="charcoal") as err:
        sketch_images(np.zeros((1, 8, 8, 3), np.uint8), "charcoal", {})
    for name in METHODS:
        assert name in str(err.value)


def test_unknown_param_names_it_and_lists_valid_ones():
    with pytest.raises(ValueError, match="blur_size") as err:
        sketch_images(np.zeros((1, 8, 8, 3), np.uint8), "pencil", {"blur_size": 5})
    assert "blur_ksize" in str(err.value) and "blur_sigma" in str(err.value)
    with pytest.raises(ValueError, match="tau") as err:
        sketch_images(np.zeros((1, 8, 8, 3), np.uint8), "xdog", {"tau": 0.9})
    for name in ("sigma", "k", "p", "epsilon", "phi"):
        assert name in str(err.value)


def test_params_are_passed_through():
    photos = np.stack([random_photo(s) for s in range(2)])
    a = sketch_images(photos, "pencil", {"blur_ksize": 5})
    np.testing.assert_array_equal(a[0], pencil_sketch(photos[0], blur_ksize=5))
    assert not np.array_equal(a, sketch_images(photos, "pencil", {}))


@pytest.mark.parametrize("ksize", [0, 4, 20, -3])
def test_bad_kernel_size_rejected(ksize):
    with pytest.raises(ValueError, match="blur_ksize"):
        pencil_sketch(white(), blur_ksize=ksize)
    with pytest.raises(ValueError, match="odd"):
        sketch_images(white()[None], "pencil", {"blur_ksize": ksize})


@pytest.mark.parametrize(
    "bad, msg",
    [
        (np.zeros((8, 8, 3), np.float32), "uint8"),
        (np.zeros((8, 8, 4), np.uint8), "shape"),
        (np.zeros((2, 8, 8, 3), np.uint8), "shape"),
    ],
)
def test_bad_single_images_rejected(bad, msg):
    for fn in (to_grey, pencil_sketch, xdog):
        with pytest.raises(ValueError, match=msg):
            fn(bad)


def test_bad_batches_rejected():
    with pytest.raises(ValueError, match="uint8"):
        sketch_images(np.zeros((1, 8, 8, 3), np.float64), "xdog", {})
    with pytest.raises(ValueError, match=r"\(N,H,W,3\)"):
        sketch_images(np.zeros((8, 8, 3), np.uint8), "xdog", {})
    with pytest.raises(ValueError, match="sigma"):
        xdog(white(), sigma=0)
