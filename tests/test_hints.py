"""Scribbler's colour hints: the seeded stroke sampler, hint models (training, the empty-mask
contract), evaluation with 0 / few / many hints, the colour error, and `predict --hints`."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from skimage.color import deltaE_ciede2000, rgb2lab

from sketchback.tools.cli import main, predict_photo
from sketchback.data.shards import batches, open_pairs, open_rows, sketch_to_input
from sketchback.evaluation.evaluate import (cross_style_table, evaluate, hint_columns, load_generator, predict,
                                 summarize)
from sketchback.evaluation.hint_report import hint_figure, hint_table
from sketchback.sketches.hints import (HINT_CHANNELS, TrainingHints, hint_input, read_hint_file, resize_hints,
                              sample_hints, takes_hints)
from sketchback.io import save_npz
from sketchback.evaluation.metrics import ciede2000, colour_error, rgb_to_lab
from sketchback.models.generators import build_generator, widen_input
from sketchback.models.options import RunSettings, TrainOptions
from sketchback.models.train import train

SIZE = 16


def photos(n: int, size: int = SIZE, seed: int = 0) -> np.ndarray:
    """Smooth random colour photos (blocks of colour, so a stroke's median colour is a real colour)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (n, 4, 4, 3), dtype=np.uint8)
    return np.repeat(np.repeat(small, size // 4, axis=1), size // 4, axis=2)


# --------------------------------------------------------------------------- the sampler


def test_hints_depend_only_on_seed_row_and_stream_never_on_the_position():
    images, rows = photos(12), np.arange(100, 112)
    rgb, mask = sample_hints(images, rows, seed=7, strokes=None)
    assert rgb.shape == (12, SIZE, SIZE, 3) and mask.shape == (12, SIZE, SIZE, 1)
    assert rgb.dtype == mask.dtype == np.float32 and set(np.unique(mask)) <= {0.0, 1.0}
    # the same rows in another order, or a subset of them (another shard, another batch): the same strokes
    order = np.random.default_rng(1).permutation(12)
    rgb2, mask2 = sample_hints(images[order], rows[order], seed=7)
    np.testing.assert_array_equal(rgb2, rgb[order])
    np.testing.assert_array_equal(mask2, mask[order])
    rgb3, mask3 = sample_hints(images[3:5], rows[3:5], seed=7)
    np.testing.assert_array_equal(mask3, mask[3:5])
    # the row, the seed and the stream (epoch) each change them
    assert not np.array_equal(sample_hints(images, rows + 1, seed=7)[1], mask)
    assert not np.array_equal(sample_hints(images, rows, seed=8)[1], mask)
    assert not np.array_equal(sample_hints(images, rows, seed=7, stream=1)[1], mask)
    # the same photo at two rows gets two different sets of strokes
    twins = sample_hints(images[[0, 0]], np.array([5, 6]), seed=7, strokes=6)[1]
    assert not np.array_equal(twins[0], twins[1])


def test_stroke_counts_lengths_and_colours_follow_the_params():
    images = photos(200, size=32)
    counts = []
    for i in range(200):  # the count of a row is uniform in 0..max_strokes: 0 (sketch only) and the max both occur
        rgb, mask = sample_hints(images[i:i + 1], np.array([i]), seed=0, params={"max_strokes": 3})
        counts.append(mask.sum())
    assert min(counts) == 0 and np.mean(np.array(counts) == 0) == pytest.approx(0.25, abs=0.1)
    # a uniform photo: every stroke has its colour exactly
    flat = np.full((1, 32, 32, 3), (200, 40, 90), np.uint8)
    rgb, mask = sample_hints(flat, np.array([3]), seed=0, strokes=5)
    assert mask.sum() > 0
    painted = rgb[mask[..., 0] > 0]
    np.testing.assert_allclose(painted, np.broadcast_to(np.array([200, 40, 90]) / 255, painted.shape), atol=1e-6)
    assert (rgb[mask[..., 0] == 0] == 0).all()
    # longer, wider strokes cover more
    thin = sample_hints(flat, np.array([3]), 0, {"max_length": 0.1, "max_width": 0.02}, strokes=5)[1].sum()
    thick = sample_hints(flat, np.array([3]), 0, {"min_length": 0.3, "max_length": 0.5, "min_width": 0.1,
                                                  "max_width": 0.15}, strokes=5)[1].sum()
    assert thick > 3 * thin
    with pytest.raises(ValueError, match="hints.min_width / hints.max_width"):
        sample_hints(flat, np.array([3]), 0, {"min_width": 0.5, "max_width": 0.1})
    with pytest.raises(ValueError, match="hints.colour: unknown key"):
        sample_hints(flat, np.array([3]), 0, {"colour": 1})


def test_more_hints_add_strokes_to_the_fewer():
    images, rows = photos(6), np.arange(6)
    few, many = sample_hints(images, rows, 0, strokes=3)[1], sample_hints(images, rows, 0, strokes=12)[1]
    assert ((few > 0) <= (many > 0)).all() and many.sum() > few.sum()
    assert sample_hints(images, rows, 0, strokes=0)[1].sum() == 0


def test_hint_input_follows_the_contract():
    sketch = np.random.default_rng(0).random((2, 8, 8)).astype(np.float32)
    empty = hint_input(sketch)
    assert empty.shape == (2, 8, 8, HINT_CHANNELS) and empty.dtype == np.float32
    np.testing.assert_array_equal(empty[..., 0], sketch)
    assert (empty[..., 1:] == 0).all()
    rgb, mask = np.full((2, 8, 8, 3), 0.5, np.float32), np.zeros((2, 8, 8), np.float32)
    mask[:, 2, 3] = 1
    x = hint_input(sketch[..., None], rgb, mask)
    assert (x[:, 2, 3, 1:] == [0.5, 0.5, 0.5, 1]).all()
    assert x[..., 1:4].sum() == pytest.approx(2 * 3 * 0.5), "no colour outside the mask"
    with pytest.raises(ValueError, match="both hint_rgb and mask"):
        hint_input(sketch, rgb)
    with pytest.raises(ValueError, match="do not match"):
        hint_input(sketch, rgb[:, :4], mask)


# --------------------------------------------------------------------------- hint models


@pytest.mark.parametrize("architecture", ["scribbler", "csi", "original"])
def test_a_widened_model_with_an_empty_mask_is_the_sketch_only_model(architecture, tmp_path):
    source = build_generator(architecture, base_filters=4, residual_blocks=1)
    wide = widen_input(source, HINT_CHANNELS)
    assert not takes_hints(source) and takes_hints(wide)
    assert wide.count_params() == source.count_params() + (HINT_CHANNELS - 1) * source.layers[1].kernel.shape[-1] * \
        source.layers[1].kernel.shape[0] ** 2
    sketches = np.random.default_rng(0).random((3, SIZE, SIZE, 1)).astype(np.float32)
    expected = np.asarray(source(sketches, training=False))
    np.testing.assert_allclose(np.asarray(wide(hint_input(sketches), training=False)), expected, atol=1e-5)
    # the new channels' weights start at zero: before fine-tuning, hints change nothing either
    rgb, mask = np.full((3, SIZE, SIZE, 3), 0.7, np.float32), np.ones((3, SIZE, SIZE, 1), np.float32)
    np.testing.assert_allclose(np.asarray(wide(hint_input(sketches, rgb, mask), training=False)), expected, atol=1e-5)
    # saved and loaded, it is still a hint model, and the evaluation's path (predict, no hints) is the same
    wide.save(tmp_path / "wide.keras")
    loaded = load_generator(tmp_path / "wide.keras")
    assert takes_hints(loaded)
    np.testing.assert_allclose(predict(loaded, sketches), np.clip(expected, 0, 1), atol=1e-5)


@pytest.mark.parametrize("architecture", ["scribbler", "csi", "original"])
def test_a_new_hint_model_given_no_hints_is_its_own_sketch_only_path(architecture):
    model = build_generator(architecture, base_filters=4, residual_blocks=1, input_channels=HINT_CHANNELS)
    assert takes_hints(model) and model.inputs[0].shape[-1] == HINT_CHANNELS
    sketches = np.random.default_rng(1).random((2, SIZE, SIZE, 1)).astype(np.float32)
    direct = np.clip(np.asarray(model(hint_input(sketches), training=False)), 0, 1)
    np.testing.assert_allclose(predict(model, sketches), direct, atol=1e-6)
    grey = (sketches[0, ..., 0] * 255).round().astype(np.uint8)
    photo = predict_photo(model, grey, max_side=None)
    reference = np.asarray(model(hint_input(sketch_to_input(grey[None])), training=False))[0]
    np.testing.assert_array_equal(photo, (np.clip(reference, 0, 1) * 255 + 0.5).astype(np.uint8))
    # hints change what a fresh (random) hint model paints
    rgb, mask = np.ones((SIZE, SIZE, 3), np.float32), np.ones((SIZE, SIZE, 1), np.float32)
    assert not np.array_equal(predict_photo(model, grey, max_side=None, hints=(rgb, mask)), photo)


def write_shards(folder, counts=(10, 7), size=SIZE, first_row=0):
    """Photo shards with dataset ``rows`` (as prepare writes them) and sketch shards."""
    pairs, row = [], first_row
    for i, n in enumerate(counts):
        images = photos(n, size, seed=i)
        sketches = np.random.default_rng(10 + i).integers(0, 256, (n, size, size), dtype=np.uint8)
        save_npz(folder / f"photo{i}.npz", images=images, names=np.array([f"img{row + j}" for j in range(n)]),
                 rows=np.arange(row, row + n))
        save_npz(folder / f"sketch{i}.npz", sketches=sketches, names=np.array([f"img{row + j}" for j in range(n)]),
                 rows=np.arange(row, row + n))
        pairs.append((str(folder / f"photo{i}.npz"), str(folder / f"sketch{i}.npz")))
        row += n
    return pairs


def test_training_batches_get_hints_by_dataset_row_whatever_the_sharding(tmp_path):
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    two = write_shards(tmp_path / "a", counts=(10, 7))
    sketches, images = open_pairs(two)
    rows = open_rows(two)
    np.testing.assert_array_equal(rows, np.arange(17))
    # the same 17 rows as one shard
    save_npz(tmp_path / "b" / "photo.npz", images=images[np.arange(17)], rows=np.arange(17))
    save_npz(tmp_path / "b" / "sketch.npz", sketches=sketches[np.arange(17)])
    one = [(str(tmp_path / "b" / "photo.npz"), str(tmp_path / "b" / "sketch.npz"))]
    params = {"max_strokes": 6}
    hinted = {}
    for name, pairs in (("two", two), ("one", one)):
        x, y = open_pairs(pairs)
        add = TrainingHints(params, 3, open_rows(pairs))
        hinted[name] = list(batches(x, y, 4, seed=5, epoch=2, add_hints=add, prefetch=0))
    for (_, xa, ya), (_, xb, yb) in zip(hinted["two"], hinted["one"]):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    # and they are sample_hints of the rows in the epoch's order, with stream epoch + 1
    from sketchback.data.shards import epoch_order

    order = epoch_order(17, 5, 2)
    rgb, mask = sample_hints(images[order], order, 3, params, stream=3)
    got = np.concatenate([x for _, x, _ in hinted["two"]])
    np.testing.assert_array_equal(got, hint_input(sketch_to_input(sketches[order]), rgb, mask))
    assert got[..., 4].sum() > 0 and got.shape[-1] == HINT_CHANNELS
    # another epoch, other strokes on the same sketches; the validation hints (fixed stream) stay
    def by_row(epoch):
        x = np.concatenate([b for _, b, _ in batches(*open_pairs(two), 4, 5, epoch, add_hints=TrainingHints(
            params, 3, rows), prefetch=0)])
        out = np.empty_like(x)
        out[epoch_order(17, 5, epoch)] = x
        return out

    np.testing.assert_array_equal(by_row(2)[..., 0], by_row(3)[..., 0])
    assert not np.array_equal(by_row(2)[..., 4], by_row(3)[..., 4])
    fixed = TrainingHints(params, 3, rows, stream=0)
    np.testing.assert_array_equal(fixed(sketch_to_input(sketches[np.arange(4)]), images[np.arange(4)], np.arange(4), 0),
                                  fixed(sketch_to_input(sketches[np.arange(4)]), images[np.arange(4)], np.arange(4), 9))


def test_shards_without_rows_are_refused_naming_them(tmp_path):
    save_npz(tmp_path / "photo.npz", images=photos(2))
    with pytest.raises(ValueError, match=r"photo\.npz has no 'rows'"):
        open_rows([(tmp_path / "photo.npz", tmp_path / "photo.npz")])


BASE = dict(image_size=SIZE, architecture="scribbler", base_filters=4, residual_blocks=1, pixel_weight=1.0,
            feature_weight=0.0, tv_weight=1e-5, vgg_weights="random", vgg_md5=None, batch_size=8, devices=1,
            mixed_precision=False, lr_schedule="constant", max_steps=None, epochs=1, learning_rate=1e-3, seed=1)


@pytest.fixture(scope="module")
def hint_study(tmp_path_factory):
    """A sketch-only model, a hint model fine-tuned from it, and test shards (8 + 6 images)."""
    folder = tmp_path_factory.mktemp("hint_study")
    pairs = write_shards(folder, counts=(10, 7))
    (folder / "test").mkdir()
    test_pairs = write_shards(folder / "test", counts=(5, 3), first_row=50)
    settings = RunSettings(log_every=0)
    train(pairs, pairs[1:], folder / "plain.keras", folder / "plain.csv", TrainOptions(**BASE), settings, name="plain")
    history = train(pairs, pairs[1:], folder / "hints.keras", folder / "hints.csv",
                    TrainOptions(**{**BASE, "hints": {"max_strokes": 4}}), settings, name="hints",
                    init_model=folder / "plain.keras")
    mean = folder / "mean.npy"
    np.save(mean, photos(10).mean(axis=0).astype(np.float32) / 255)
    return {"folder": folder, "pairs": pairs, "test": test_pairs, "plain": folder / "plain.keras",
            "hints": folder / "hints.keras", "mean": mean, "history": history}


def test_a_hint_model_trains_from_a_sketch_only_one_and_from_scratch(hint_study, tmp_path):
    assert {"loss", "val_loss"} <= set(hint_study["history"])
    model = load_generator(hint_study["hints"])
    assert takes_hints(model) and not takes_hints(load_generator(hint_study["plain"]))
    history = train(hint_study["pairs"], [], tmp_path / "g.keras", tmp_path / "h.csv",
                    TrainOptions(**{**BASE, "architecture": "csi", "hints": {"max_strokes": 2}}),
                    RunSettings(log_every=0), name="scratch")
    assert len(history) == 1 and takes_hints(load_generator(tmp_path / "g.keras"))


# --------------------------------------------------------------------------- evaluation


def test_evaluate_with_hints_scores_colour_and_names_the_count(hint_study, tmp_path):
    study = hint_study
    frames = {}
    for n in (0, 4):
        frames[n] = evaluate(study["hints"], study["test"], study["mean"], tmp_path / f"h{n}.csv", tmp_path / f"h{n}.png",
                             model_name="hints", dataset="faces", method="pencil", seed=2, hint_strokes=n,
                             hint_params={"max_strokes": 4})
        assert (frames[n]["hints"] == n).all() and len(frames[n]) == 8
        assert {"colour_error_prediction", "colour_error_mean_image"} <= set(frames[n])
    # the colour error is the prediction's mean CIEDE2000 against the truth (skimage as reference)
    model = load_generator(study["hints"])
    images = np.concatenate([np.load(p)["images"] for p, _ in study["test"]])
    sketches = np.concatenate([np.load(s)["sketches"] for _, s in study["test"]])
    rgb, mask = sample_hints(images, np.arange(50, 58), 2, {"max_strokes": 4}, strokes=4)
    prediction = np.clip(np.asarray(model(hint_input(sketch_to_input(sketches), rgb, mask), training=False)), 0, 1)
    reference = [deltaE_ciede2000(rgb2lab(prediction[i]), rgb2lab(images[i] / 255.0)).mean() for i in range(8)]
    np.testing.assert_allclose(frames[4]["colour_error_prediction"], reference, rtol=1e-4)
    assert not np.allclose(frames[4]["colour_error_prediction"], frames[0]["colour_error_prediction"])
    # a sketch-only model: no colour columns, and it cannot take hints
    plain = evaluate(study["plain"], study["test"], study["mean"], tmp_path / "p.csv", tmp_path / "p.png",
                     model_name="plain", dataset="faces", method="pencil")
    assert "colour_error_prediction" not in plain and (plain["hints"] == 0).all()
    with pytest.raises(ValueError, match="sketch-only model.*cannot take 4 colour hints"):
        evaluate(study["plain"], study["test"], study["mean"], tmp_path / "x.csv", tmp_path / "x.png",
                 model_name="plain", dataset="faces", method="pencil", hint_strokes=4)
    # summary: a row per hint count, colour error with its interval, NaN for the sketch-only model
    summary = summarize([tmp_path / "p.csv", tmp_path / "h0.csv", tmp_path / "h4.csv"], tmp_path / "s.csv")
    assert list(zip(summary["model"], summary["hints"])) == [("plain", 0), ("hints", 0), ("hints", 4)]
    assert np.isnan(summary["colour_error_prediction"][0])
    hinted = summary.iloc[2]
    assert hinted["colour_error_prediction_lo"] <= hinted["colour_error_prediction"] <= hinted["colour_error_prediction_hi"]
    # the cross-style table and heat map gain the hint count as columns of the hint model only
    training = {"plain": {"dataset": "faces", "methods": ["pencil"]}, "hints": {"dataset": "faces", "methods": ["pencil"]}}
    table = cross_style_table(summary, training, ["pencil"])
    assert list(zip(table["model"], table["hints"])) == [("plain", 0), ("hints", 0), ("hints", 4)]
    shown, columns, labels = hint_columns(table, ["pencil"], {"pencil": "pencil"})
    assert columns == ["pencil", "pencil+4hints"] and labels["pencil+4hints"] == "pencil\n+4 hints"
    assert list(shown["style"]) == ["pencil", "pencil", "pencil+4hints"]
    # the hint table: 0 then 4 hints of the hint model, with intervals
    hints_csv = hint_table(tmp_path / "s.csv", tmp_path / "hints.csv", ["hints"])
    assert list(hints_csv["hints"]) == [0, 4] and (hints_csv["n_images"] == 8).all()
    assert pd.read_csv(tmp_path / "hints.csv").shape == hints_csv.shape
    with pytest.raises(ValueError, match=r"no rows for the hint models \['other'\]"):
        hint_table(tmp_path / "s.csv", tmp_path / "no.csv", ["other"])


def test_hint_figure_shows_one_sketch_with_increasing_hints(hint_study, tmp_path):
    out = tmp_path / "figure.png"
    hint_figure(hint_study["hints"], hint_study["test"], out, counts=[0, 2, 8], hint_params=None, seed=0,
                style="pencil", rows=6, width=900, dpi=100, title="t")
    with Image.open(out) as image:
        width, height = image.size
    # sketch, prediction (0), hints + prediction (2), hints + prediction (8), truth: 7 columns, 6 rows
    assert width >= 7 * 100 and height > 6 * width / 7 * 0.9
    with pytest.raises(ValueError, match="sketch-only model"):
        hint_figure(hint_study["plain"], hint_study["test"], tmp_path / "x.png", counts=[0], hint_params=None,
                    seed=0, style="pencil")


# --------------------------------------------------------------------------- the colour error


def test_ciede2000_matches_sharma_s_published_pairs_and_scikit_image():
    # Sharma, Wu & Dalal (2005), test data pairs 1, 7, 17, 25 with their published differences
    lab1 = np.array([[50.0, 2.6772, -79.7751], [50.0, 0.0, 0.0], [50.0, 2.5, 0.0], [60.2574, -34.0099, 36.2677]])
    lab2 = np.array([[50.0, 0.0, -82.7485], [50.0, -1.0, 2.0], [73.0, 25.0, -18.0], [60.4626, -34.1751, 39.4387]])
    np.testing.assert_allclose(ciede2000(lab1, lab2), [2.0425, 2.3669, 27.1492, 1.2644], atol=1e-4)
    rng = np.random.default_rng(0)
    a, b = rng.random((3, 9, 9, 3)), rng.random((3, 9, 9, 3))
    b[0] = a[0, ..., :1]  # greys: zero chroma
    np.testing.assert_allclose(rgb_to_lab(a), rgb2lab(a), atol=1e-9)
    expected = [deltaE_ciede2000(rgb2lab(a[i]), rgb2lab(b[i])).mean() for i in range(3)]
    np.testing.assert_allclose(colour_error(a, b), expected, rtol=1e-9)
    assert colour_error(a, a).max() == 0


# --------------------------------------------------------------------------- hints from a person


@pytest.fixture(scope="module")
def hint_model_path(tmp_path_factory):
    """A fresh 5-channel generator: its hint weights are random, so hints change its output."""
    path = tmp_path_factory.mktemp("hint_model") / "generator.keras"
    build_generator("scribbler", base_filters=4, residual_blocks=1, input_channels=HINT_CHANNELS).save(path)
    return path


def write_rgba(path, h, w, colour=(255, 0, 0), mode="RGBA"):
    rgba = np.zeros((h, w, 4), np.uint8)
    rgba[h // 3:h // 2, 2:w - 2] = (*colour, 255)
    if mode == "LA":
        Image.fromarray(rgba[..., [0, 3]], "LA").save(path)
    else:
        Image.fromarray(rgba, "RGBA").save(path)
    return rgba


def test_a_hint_file_is_read_as_colour_and_mask(tmp_path):
    rgba = write_rgba(tmp_path / "h.png", 23, 37, colour=(10, 200, 30))
    rgb, mask = read_hint_file(tmp_path / "h.png", (23, 37))
    np.testing.assert_array_equal(mask[..., 0], rgba[..., 3] >= 128)
    painted = rgb[mask[..., 0] > 0]
    np.testing.assert_allclose(painted, np.broadcast_to(np.array([10, 200, 30]) / 255, painted.shape))
    write_rgba(tmp_path / "la.png", 23, 37, colour=(90, 0, 0), mode="LA")  # grey + alpha: grey hints
    rgb, mask = read_hint_file(tmp_path / "la.png", (23, 37))
    np.testing.assert_allclose(rgb[mask[..., 0] > 0], 90 / 255)
    Image.fromarray(np.zeros((23, 37), np.uint8)).save(tmp_path / "grey.png")
    with pytest.raises(ValueError, match=r"grey\.png: has no alpha channel.*RGBA PNG"):
        read_hint_file(tmp_path / "grey.png", (23, 37))
    with pytest.raises(ValueError, match=r"h\.png: is 37x23 px but its sketch is 40x23 px"):
        read_hint_file(tmp_path / "h.png", (23, 40))
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"junk" * 20)
    with pytest.raises(ValueError, match=r"bad\.png: not a readable image"):
        read_hint_file(tmp_path / "bad.png", (23, 37))


def test_hints_scaled_down_keep_thin_strokes_in_their_colour():
    rgb, mask = np.zeros((40, 40, 3), np.float32), np.zeros((40, 40, 1), np.float32)
    rgb[10, :], mask[10, :] = (0.2, 0.4, 0.6), 1  # a 1 px line
    small_rgb, small_mask = resize_hints(rgb, mask, (10, 10))
    assert small_mask[2, :, 0].all() and small_mask.sum() == 10
    np.testing.assert_allclose(small_rgb[2], np.tile([0.2, 0.4, 0.6], (10, 1)), atol=1e-6)
    big_rgb, big_mask = resize_hints(rgb, mask, (80, 80))
    assert big_mask.sum() == 2 * 80 and set(np.unique(big_rgb)) <= {0.0, np.float32(0.2), np.float32(0.4),
                                                                      np.float32(0.6)}


def test_predict_with_hints_on_odd_sizes_grey_rgba_and_corrupt_files(hint_model_path, tmp_path, capsys):
    sketches, hints, out = tmp_path / "sketches", tmp_path / "hints", tmp_path / "out"
    sketches.mkdir(), hints.mkdir()
    rng = np.random.default_rng(0)
    for name, (h, w) in {"odd": (23, 37), "la": (30, 21), "none": (16, 16), "grey": (20, 20), "size": (20, 24),
                         "corrupt": (12, 12)}.items():
        Image.fromarray(rng.integers(100, 256, (h, w), dtype=np.uint8)).save(sketches / f"{name}.png")
    write_rgba(hints / "odd.png", 23, 37)
    write_rgba(hints / "la.png", 30, 21, mode="LA")
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(hints / "grey.png")  # no alpha
    write_rgba(hints / "size.png", 24, 20)  # transposed: wrong size
    (hints / "corrupt.png").write_bytes(b"not an image at all")
    assert main(["predict", str(hint_model_path), str(sketches), str(out), "--hints", str(hints)]) == 1
    err = capsys.readouterr().err
    assert "3 of 6 sketches failed" in err
    assert "grey.png: has no alpha channel" in err and "size.png: is 20x24 px but its sketch is 24x20 px" in err
    assert "corrupt.png: not a readable image" in err
    assert sorted(p.name for p in out.iterdir()) == ["la.png", "none.png", "odd.png"]
    assert Image.open(out / "odd.png").size == (37, 23) and Image.open(out / "la.png").size == (21, 30)
    # the hints reached the model: with them the photo differs from the one without; "none" had no hint file
    assert main(["predict", str(hint_model_path), str(sketches / "odd.png"), str(tmp_path / "plain.png")]) == 0
    assert not np.array_equal(np.asarray(Image.open(out / "odd.png")), np.asarray(Image.open(tmp_path / "plain.png")))
    assert main(["predict", str(hint_model_path), str(sketches / "none.png"), str(tmp_path / "none.png")]) == 0
    np.testing.assert_array_equal(np.asarray(Image.open(out / "none.png")), np.asarray(Image.open(tmp_path / "none.png")))
    # one sketch, one hint file: exactly the model on the padded sketch and hints
    assert main(["predict", str(hint_model_path), str(sketches / "odd.png"), str(tmp_path / "one.png"),
                 "--hints", str(hints / "odd.png")]) == 0
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "one.png")), np.asarray(Image.open(out / "odd.png")))


def test_predict_hints_refuses_what_cannot_work(hint_model_path, tmp_path, capsys):
    plain = tmp_path / "plain.keras"
    build_generator("scribbler", base_filters=4, residual_blocks=1).save(plain)
    Image.fromarray(np.full((8, 8), 255, np.uint8)).save(tmp_path / "s.png")
    write_rgba(tmp_path / "h.png", 8, 8)
    assert main(["predict", str(plain), str(tmp_path / "s.png"), str(tmp_path / "o.png"), "--hints",
                 str(tmp_path / "h.png")]) != 0
    assert "takes no colour hints" in capsys.readouterr().err
    (tmp_path / "folder").mkdir()
    Image.fromarray(np.full((8, 8), 255, np.uint8)).save(tmp_path / "folder" / "s.png")
    assert main(["predict", str(hint_model_path), str(tmp_path / "folder"), str(tmp_path / "o"), "--hints",
                 str(tmp_path / "h.png")]) != 0
    assert "is one file but" in capsys.readouterr().err
    assert not (tmp_path / "o.png").exists() and not (tmp_path / "o").exists()


def test_the_sampler_defaults_are_the_schema_defaults():
    import yaml

    from sketchback.sketches.hints import DEFAULT_PARAMS
    from snakemake_run import REPO

    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    hints = schema["properties"]["models"]["additionalProperties"]["properties"]["hints"]["then"]["properties"]
    assert {key: spec["default"] for key, spec in hints.items()} == DEFAULT_PARAMS


def test_only_hint_models_are_evaluated_with_hints():
    import yaml

    from sketchback.tools.config import evaluation_plan, hint_evaluation_plan, hint_models
    from snakemake_run import REPO

    config = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    config["models"]["faces"]["hints"] = None
    assert hint_models(config) == ["faces_hints"]
    plan = hint_evaluation_plan(config)
    assert plan and {model for model, _, _ in plan} == {"faces_hints"}
    assert plan == [entry for entry in evaluation_plan(config) if entry[0] == "faces_hints"]
