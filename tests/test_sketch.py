"""Sketch simulators: white stays white, lines become dark, exact formula, golden files, the
vectorised batch path equals the per-image functions, paper texture, shards, validation.

Neural style transfer has its own file, tests/test_style.py (it needs TensorFlow)."""

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from sketchback.io import load_npz, save_npz
from sketchback.sketches.sketch import (METHODS, check_params, image_seed, method_params, paper_texture, pencil_sketch,
                               select_images, sketch_images, sketch_shard, to_grey, xdog)

GOLDEN_DIR = Path(__file__).parent / "golden"
sys.path.insert(0, str(GOLDEN_DIR))
from make_golden import GOLDEN, SEED  # noqa: E402

FAST = ("pencil", "xdog")  # the per-image OpenCV methods


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


@pytest.mark.parametrize("method", FAST)
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
    assert set(METHODS) == {"pencil", "xdog", "style"}
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


def test_sketches_written_into_a_given_array():
    # sketch_shard fills its shard's array slice by slice; the result is the same as a new array
    photos = photos_of(20, 30, 5)
    shard = np.zeros((7, 20, 30), np.uint8)
    for method in FAST:
        written = sketch_images(photos, method, {}, seed=2, out=shard[1:6])
        assert np.shares_memory(written, shard)
        np.testing.assert_array_equal(shard[1:6], sketch_images(photos, method, {}, seed=2))
        assert not shard[[0, 6]].any()
    for bad in (np.zeros((5, 20, 31), np.uint8), np.zeros((5, 20, 30), np.float32), [[0]]):
        with pytest.raises(ValueError, match=r"out must be a uint8 array of shape \(5, 20, 30\)"):
            sketch_images(photos, "xdog", {}, out=bad)


# --------------------------------------------------------------------------- golden files

def golden_photo():
    return cv2.cvtColor(cv2.imread(str(GOLDEN_DIR / "photo.png")), cv2.COLOR_BGR2RGB)


def golden(name):
    return cv2.imread(str(GOLDEN_DIR / f"{name}.png"), cv2.IMREAD_GRAYSCALE)


@pytest.mark.parametrize("name", [n for n, (method, _) in GOLDEN.items() if method in FAST])
def test_matches_golden_file(name):
    # Tolerance: OpenCV's uint8 Gaussian blur is bit-exact by design, but the float division and
    # the float32 blurs of XDoG may round differently on other CPUs (SIMD paths): allow 1 grey
    # level on at most 0.5% of the pixels, nothing more.
    method, params = GOLDEN[name]
    out = sketch_images(golden_photo()[None], method, params, seed=SEED)[0]
    expected = golden(name)
    diff = np.abs(out.astype(int) - expected)
    assert diff.max() <= 1 and (diff > 0).mean() <= 0.005, (diff.max(), (diff > 0).mean())


def test_golden_files_tell_the_styles_apart():
    # the stored sketches are not trivially alike (a golden test against a blank file would pass anything)
    names = [n for n, (method, _) in GOLDEN.items() if method in FAST]
    for a in names:
        for b in names:
            if a < b:
                assert (np.abs(golden(a).astype(int) - golden(b)) > 1).mean() > 0.05, (a, b)


# --------------------------------------------------------------------------- the batch path

def photos_of(h, w, n, seed=0):
    rng = np.random.default_rng(seed)
    base = cv2.resize(golden_photo(), (w, h), interpolation=cv2.INTER_AREA)
    noise = rng.integers(-40, 41, (n, h, w, 3))
    return np.clip(base[None].astype(int) + noise, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("method, params", [
    ("pencil", {}), ("pencil", {"blur_ksize": 5, "blur_sigma": 1.5}), ("pencil", {"paper": 0.2}),
    ("xdog", {}), ("xdog", {"sigma": 2.5, "k": 2.0, "p": 10, "epsilon": 0.05, "phi": 8}),
])
@pytest.mark.parametrize("h, w", [(37, 53), (4, 40), (64, 64), (150, 160), (24, 178), (9, 500)])
def test_batch_is_bit_identical_to_image_by_image(method, params, h, w):
    # 37 images cross the 16-image chunks (13-image XDoG chunks at 150x160, its pixel budget);
    # 4-px-high images are shorter than XDoG's padding; XDoG lays 178- and 500-px-wide images side
    # by side (the others stacked), where each image's SIMD lanes must match its own
    photos = photos_of(h, w, 37)
    rows = np.arange(100, 137)
    batch = sketch_images(photos, method, params, seed=3, rows=rows)
    for i in (0, 12, 13, 15, 16, 36):
        seed = {"seed": image_seed(3, rows[i])} if method == "pencil" else {}
        np.testing.assert_array_equal(batch[i], METHODS[method](photos[i], **params, **seed))


@pytest.mark.parametrize("h, w", [(96, 96), (110, 178)])
def test_xdog_matches_the_plain_formula(h, w):
    # xdog filters the uint8 grey image with the scales 1/255, (1+p) and p folded into the kernels
    # (images 178 px wide among others, laid side by side) and evaluates tanh only where
    # S < epsilon; the plain formula below blurs g = grey/255 alone and evaluates tanh everywhere.
    # The two round differently in float32 (S differs by ~1e-6), which can move a pixel that sits
    # on a rounding boundary by one grey level: allowed on at most 0.1% of the pixels, nothing more.
    photo = photos_of(h, w, 1)[0]
    g = to_grey(photo).astype(np.float32) / 255.0
    g1 = cv2.GaussianBlur(g, (0, 0), 0.8, borderType=cv2.BORDER_REFLECT_101)
    g2 = cv2.GaussianBlur(g, (0, 0), 1.6 * 0.8, borderType=cv2.BORDER_REFLECT_101)
    s = (1.0 + 20.0) * g1 - 20.0 * g2
    t = np.where(s >= 0.0, 1.0, 1.0 + np.tanh(3.0 * (s - 0.0)))
    expected = np.clip(np.rint(t * 255.0), 0, 255).astype(np.uint8)
    assert (expected < 255).mean() > 0.05 and (expected < 64).mean() > 0.01  # the comparison covers the ramp
    diff = np.abs(xdog(photo).astype(int) - expected)
    assert diff.max() <= 1 and (diff > 0).mean() <= 0.001, (diff.max(), (diff > 0).mean())


# --------------------------------------------------------------------------- paper texture

def test_paper_texture_is_seeded_and_bounded():
    a = paper_texture((40, 50), 0.2, seed=1)
    assert a.dtype == np.float32 and a.shape == (40, 50)
    np.testing.assert_array_equal(a, paper_texture((40, 50), 0.2, seed=1))
    assert not np.array_equal(a, paper_texture((40, 50), 0.2, seed=2))
    assert a.min() >= 0.8 - 1e-6 and a.max() <= 1.0 and a.std() > 0.01


def test_paper_texture_greys_white_paper_a_little_and_keeps_lines():
    plain = pencil_sketch(line_image())
    textured = pencil_sketch(line_image(), paper=0.15, seed=4)
    paper = textured[:, :15]
    assert paper.min() >= 255 * 0.85 - 1 and paper.max() == 255 and paper.std() > 2
    assert textured[8:40, 31:33].max() < 100  # the line is still drawn
    assert (textured <= plain).all()  # grain only darkens
    np.testing.assert_array_equal(pencil_sketch(line_image(), paper=0.0, seed=4), plain)


def test_paper_texture_per_image_seed_does_not_depend_on_the_batch():
    photos = photos_of(32, 32, 6)
    whole = sketch_images(photos, "pencil", {"paper": 0.2}, seed=5, rows=np.arange(6))
    part = sketch_images(photos[3:], "pencil", {"paper": 0.2}, seed=5, rows=np.arange(3, 6))
    np.testing.assert_array_equal(whole[3:], part)
    assert not np.array_equal(whole[0], sketch_images(photos[:1], "pencil", {"paper": 0.2}, seed=6)[0])
    # without paper the seed plays no part
    np.testing.assert_array_equal(sketch_images(photos, "pencil", {}, seed=1), sketch_images(photos, "pencil", {}, seed=2))


@pytest.mark.parametrize("paper", [-0.1, 1.5, "rough"])
def test_bad_paper_rejected(paper):
    with pytest.raises(ValueError, match="paper"):
        pencil_sketch(white(), paper=paper)


# --------------------------------------------------------------------------- parameters, shards

def test_method_params_list_configurable_keys_only():
    assert method_params("pencil") == {"blur_ksize": 21, "blur_sigma": 0.0, "paper": 0.0}
    assert method_params("xdog") == {"sigma": 0.8, "k": 1.6, "p": 20.0, "epsilon": 0.0, "phi": 3.0}
    style = method_params("style")
    assert {"steps", "style_weight", "max_images", "every_nth", "vgg_weights"} <= set(style)
    assert "seed" not in style and "vgg_seed" not in style


@pytest.mark.parametrize("method, params, msg", [
    ("pencil", {"blur_ksize": 4}, "blur_ksize"),
    ("xdog", {"sigma": -1}, "sigma"),
    ("xdog", {"phi": "steep"}, "phi"),
    ("style", {"steps": 2.5}, "steps"),
    ("style", {"style_layers": ["block9_conv1"]}, "block9_conv1"),
    ("style", {"max_images": 0}, "max_images"),
])
def test_check_params_names_the_bad_value_without_sketching(method, params, msg):
    with pytest.raises(ValueError, match=msg):
        check_params(method, params)


def test_select_images_keeps_every_image_for_the_fast_methods_and_a_subset_for_style():
    rows = np.arange(40, 60)
    np.testing.assert_array_equal(select_images("xdog", {}, rows), np.arange(20))
    np.testing.assert_array_equal(select_images("style", {"max_images": 3}, rows), [0, 1, 2])
    # every_nth keys on the dataset row, so the choice does not depend on the sharding
    np.testing.assert_array_equal(rows[select_images("style", {"every_nth": 7}, rows)], [42, 49, 56])
    np.testing.assert_array_equal(rows[select_images("style", {"every_nth": 7, "max_images": 2}, rows)], [42, 49])


def test_sketch_shard_writes_sketches_names_and_rows(tmp_path):
    photos = photos_of(24, 20, 5)
    save_npz(tmp_path / "in.npz", images=photos, names=np.array([f"{i}.png" for i in range(5)]), rows=np.arange(10, 15))
    assert sketch_shard(tmp_path / "in.npz", tmp_path / "out.npz", "pencil", {"paper": 0.1}, seed=2) == 5
    out = load_npz(tmp_path / "out.npz")
    assert set(out) == {"sketches", "names", "rows"}
    np.testing.assert_array_equal(out["sketches"], sketch_images(photos, "pencil", {"paper": 0.1}, seed=2, rows=np.arange(10, 15)))
    assert list(out["names"]) == [f"{i}.png" for i in range(5)] and list(out["rows"]) == list(range(10, 15))
    assert not list(tmp_path.glob(".*tmp*"))  # no temporary file left behind


def test_sketch_shard_rejects_bad_params_before_writing(tmp_path):
    save_npz(tmp_path / "in.npz", images=photos_of(8, 8, 1), names=np.array(["a"]), rows=np.arange(1))
    with pytest.raises(ValueError, match="blur_ksize"):
        sketch_shard(tmp_path / "in.npz", tmp_path / "out.npz", "pencil", {"blur_ksize": 2})
    assert not (tmp_path / "out.npz").exists()


def test_config_check_names_a_bad_sketch_value():
    import yaml

    from sketchback.tools.config import check_config
    from sketchback.errors import ConfigError

    config = yaml.safe_load((Path(__file__).resolve().parents[1] / "config" / "demo.yaml").read_text())
    config["sketch"]["pencil"] = {"blur_ksize": 20}
    with pytest.raises(ConfigError, match=r"sketch\.pencil: .*blur_ksize"):
        check_config(config)
    config["sketch"]["pencil"] = {}
    config["sketch"]["style"] = {"max_images": 0}
    with pytest.raises(ConfigError, match=r"sketch\.style: .*max_images"):
        check_config(config)
