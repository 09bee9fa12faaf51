"""sketchback.evaluation.examples: cutting figures in the original's layout into their panels, and scoring models
against the original's published predictions. Stand-in figures come from tests/original_fixture.py."""

import sys
from pathlib import Path

import cv2
import matplotlib
import numpy as np
import pandas as pd
import pytest
from PIL import Image

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from original_fixture import FIGURE_SIZES, standin_images, write_original_layout_figure  # noqa: E402

from sketchback.evaluation.examples import (PUBLISHED, compare_with_original, cut_panels, model_outputs,  # noqa: E402
                                 read_example, read_figure)
from sketchback.evaluation.metrics import psnr, ssim  # noqa: E402



def correlation(a, b) -> float:
    return float(np.corrcoef(np.asarray(a, float).ravel(), np.asarray(b, float).ravel())[0, 1])


def smooth_photo(shape, seed) -> np.ndarray:
    """A seeded smooth colour image, uint8 (H, W, 3)."""
    small = np.random.default_rng(seed).integers(0, 256, (5, 5, 3), dtype=np.uint8)
    return cv2.resize(small, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)


def sparse_sketch(shape) -> np.ndarray:
    """A mostly white sketch: a few strokes in its upper left, far from the image's edges."""
    sketch = np.full(shape, 255, np.uint8)
    h, w = shape
    cv2.circle(sketch, (w // 3, h // 3), h // 6, 0, 2)
    cv2.line(sketch, (w // 5, h // 2), (w // 2, h // 2 + 8), 40, 2)
    return sketch


def sketch_like_prediction(sketch) -> np.ndarray:
    """What a network might draw from ``sketch``: its strokes softened and tinted."""
    soft = cv2.GaussianBlur(sketch, (5, 5), 0).astype(np.float32) / 255.0
    return np.round(np.stack([soft, 0.8 * soft + 0.1, 0.6 * soft + 0.2], -1) * 255).astype(np.uint8)


def one_figure(path, n, titles=("Sketch", "Prediction", "Ground Truth", "Extra")):
    """A figure of ``n`` photo panels side by side, titled, axes off."""
    fig = plt.figure(figsize=(2.2 * n, 2.0), dpi=72)
    for i in range(n):
        ax = fig.add_subplot(1, n, i + 1)
        ax.imshow(smooth_photo((60, 80), i))
        ax.set_title(titles[i])
        ax.axis("off")
    fig.savefig(path, dpi=72, bbox_inches="tight")
    plt.close(fig)
    return path


# --------------------------------------------------------------------------- cutting


@pytest.mark.parametrize("name", ["faces_1", "building_7", "building_9"])
def test_cutting_a_stand_in_gives_back_the_images_drawn(tmp_path, name):
    photo, sketch = standin_images(name)
    prediction = cv2.GaussianBlur(photo, (7, 7), 0)
    truth = None if name == "building_9" else photo
    figure = read_figure(write_original_layout_figure(tmp_path / f"{name}.png", sketch, prediction, truth))
    panels = cut_panels(figure, name)
    drawn = [np.repeat(sketch[..., None], 3, -1), prediction] + ([] if truth is None else [truth])
    assert len(panels) == len(drawn)
    for panel, image in zip(panels, drawn):
        assert panel.shape == image.shape == FIGURE_SIZES[name] + (3,)
        # one figure pixel per image pixel: the same pixels (the grey colour map rounds by one level)
        assert np.abs(panel.astype(int) - image).max() <= 1


@pytest.mark.parametrize("truth", [True, False], ids=["three panels", "two panels"])
@pytest.mark.parametrize("titles", [True, False], ids=["titled", "untitled"])
def test_a_mostly_white_sketch_is_cut_at_its_whole_image(tmp_path, truth, titles):
    sketch = sparse_sketch((109, 133))
    assert (sketch < 235).mean() < 0.05  # the strokes alone span about a third of the image
    prediction = sketch_like_prediction(sketch)
    path = write_original_layout_figure(tmp_path / "sparse.png", sketch, prediction,
                                        smooth_photo((109, 133), 1) if truth else None,
                                        titles=("Sketch", "Prediction", "Ground Truth") if titles else ("",) * 3)
    panels = cut_panels(read_figure(path), "sparse.png")
    assert len(panels) == (3 if truth else 2)
    assert panels[0].shape == (109, 133, 3)
    assert np.abs(panels[0][..., 0].astype(int) - sketch).max() <= 1  # not shifted by a single pixel
    assert np.abs(panels[1].astype(int) - prediction).max() <= 1


def test_images_drawn_larger_than_their_pixels_are_cut_at_the_size_shown(tmp_path):
    photo, sketch = standin_images("faces_2")
    small = (64, 80)
    sketch, photo = (cv2.resize(a, small[::-1], interpolation=cv2.INTER_AREA) for a in (sketch, photo))
    prediction = cv2.GaussianBlur(photo, (5, 5), 0)
    path = write_original_layout_figure(tmp_path / "faces_2.png", sketch, prediction, photo, panel_width=133,
                                        interpolation="bilinear")  # as the real figures show their images
    panels = cut_panels(read_figure(path), "faces_2.png")
    assert len(panels) == 3
    height, width = panels[0].shape[:2]
    assert width == pytest.approx(133, abs=2)
    assert height / width == pytest.approx(small[0] / small[1], rel=0.03)
    for panel, image in zip(panels, [sketch, prediction, photo]):
        back = cv2.resize(panel, small[::-1], interpolation=cv2.INTER_AREA)
        assert correlation(back[..., 0] if image.ndim == 2 else back, image) > 0.97


@pytest.mark.parametrize("n", [1, 4])
def test_a_figure_with_one_or_four_panels_is_refused_by_name(tmp_path, n):
    figure = read_figure(one_figure(tmp_path / "odd.png", n))
    with pytest.raises(ValueError, match=rf"odd\.png: found {n} image panel.*2 \(Sketch, Prediction\) or 3"):
        cut_panels(figure, "odd.png")


def test_a_blank_figure_is_refused_by_name():
    with pytest.raises(ValueError, match=r"blank\.png: found no image panels"):
        cut_panels(np.full((120, 400, 3), 255, np.uint8), "blank.png")
    with pytest.raises(ValueError, match="uint8 RGB"):
        cut_panels(np.zeros((120, 400)), "grey.png")


# --------------------------------------------------------------------------- reading


def test_read_example_gives_unit_images_at_the_sketch_size(tmp_path):
    photo, sketch = standin_images("faces_3")
    three = write_original_layout_figure(tmp_path / "faces_3.png", sketch, cv2.GaussianBlur(photo, (5, 5), 0), photo)
    two = write_original_layout_figure(tmp_path / "building_9.png", *standin_images("building_9")[::-1])
    example = read_example(three)
    assert example["sketch"].shape == (109, 133) and example["sketch"].dtype == np.float32
    assert example["prediction"].shape == example["truth"].shape == (109, 133, 3)
    for image in example.values():
        assert image.dtype == np.float32 and 0.0 <= image.min() and image.max() <= 1.0
    assert np.abs(example["sketch"] - sketch / 255.0).max() <= 1.5 / 255
    assert np.abs(example["truth"] - photo / 255.0).max() <= 0.5 / 255
    assert read_example(two)["truth"] is None and read_example(two)["sketch"].shape == (119, 159)


def test_read_figure_composites_transparency_onto_white_and_names_bad_files(tmp_path):
    rgba = np.zeros((4, 5, 4), np.uint8)
    rgba[0, 0] = (10, 20, 30, 255)
    Image.fromarray(rgba).save(tmp_path / "clear.png")
    figure = read_figure(tmp_path / "clear.png")
    assert figure.shape == (4, 5, 3) and tuple(figure[0, 0]) == (10, 20, 30) and figure[1:].min() == 255
    with pytest.raises(FileNotFoundError, match=r"missing\.png does not exist; download it"):
        read_figure(tmp_path / "missing.png")
    (tmp_path / "page.png").write_text("<html>not found</html>")
    with pytest.raises(ValueError, match=r"page\.png is not a readable image"):
        read_figure(tmp_path / "page.png")


# --------------------------------------------------------------------------- running and scoring models


def test_model_outputs_pad_with_white_paper_and_crop_back():
    seen = []

    def identity(x, training=False):  # a stand-in generator: its photo is its sketch, in grey
        seen.append(np.array(x))
        return np.repeat(x, 3, axis=-1)

    rng = np.random.default_rng(0)
    sketches = [rng.random((109, 133), np.float32), rng.random((78, 103), np.float32),
                rng.random((109, 133), np.float32)]
    photos = model_outputs(identity, sketches, batch_size=8)
    assert [p.shape for p in photos] == [(109, 133, 3), (78, 103, 3), (109, 133, 3)]
    for photo, sketch in zip(photos, sketches):
        np.testing.assert_allclose(photo[..., 1], sketch)
    assert sorted(x.shape for x in seen) == [(1, 80, 104, 1), (2, 112, 136, 1)]  # one call per size
    assert all(x[:, 109:].min() == 1.0 and x[:, :, 133:].min() == 1.0 for x in seen if x.shape[1] == 112)


def _generator(seed):
    import keras

    from sketchback.models.generators import build_generator

    keras.utils.set_random_seed(seed)
    return build_generator("scribbler", base_filters=4, residual_blocks=1)


def _drawn_prediction(generator, sketch_u8) -> np.ndarray:
    """The generator's photo of a uint8 sketch, worked out here: padded with white to a multiple of 4."""
    from sketchback.evaluation.evaluate import predict

    h, w = sketch_u8.shape
    x = np.pad(sketch_u8.astype(np.float32) / 255.0, ((0, -h % 4), (0, -w % 4)), constant_values=1.0)
    photo = predict(generator, x[None, ..., None])[0, :h, :w]
    return np.round(photo * 255.0).astype(np.uint8)


@pytest.fixture(scope="module")
def comparison(tmp_path_factory):
    """Three stand-ins whose Prediction panel is what the generator "known" draws from their sketch."""
    folder = tmp_path_factory.mktemp("original")
    known, other = _generator(1), _generator(2)
    known.save(folder / "known.keras")
    figures, drawn = {}, {}
    for name in ("faces_1", "building_7", "building_9"):
        photo, sketch = standin_images(name)
        drawn[name] = (_drawn_prediction(known, sketch), None if name == "building_9" else photo)
        figures[name] = write_original_layout_figure(folder / f"{name}.png", sketch, *drawn[name])
    out = folder / "out"
    table = compare_with_original(figures, {"known": folder / "known.keras", "other": other}, out / "table.csv",
                                  out / "summary.csv", out / "figure.png", out_markdown=out / "summary.md",
                                  batch_size=2)
    return table, out, drawn


def test_the_model_that_drew_the_predictions_reproduces_them_and_another_does_not(comparison):
    table, _, _ = comparison
    versus = table[table["reference"] == "original prediction"].set_index(["figure", "model"])
    for figure in ("faces_1", "building_7", "building_9"):
        assert versus.loc[(figure, "known"), "ssim"] > 0.99  # only the figure's 8-bit rounding differs
        assert versus.loc[(figure, "known"), "psnr"] > 40
        assert versus.loc[(figure, "other"), "ssim"] < versus.loc[(figure, "known"), "ssim"] - 0.1


def test_the_table_has_a_row_per_figure_model_and_reference(comparison):
    table, out, drawn = comparison
    assert list(table.columns) == ["figure", "model", "reference", "ssim", "psnr"]
    # per three-panel figure: published vs truth, and each model vs prediction and truth; building_9: no truth
    assert len(table) == 2 * 5 + 2
    assert set(table.loc[table["figure"] == "building_9", "reference"]) == {"original prediction"}
    published = table[table["model"] == PUBLISHED].set_index("figure")
    assert set(published["reference"]) == {"ground truth"}
    prediction, truth = drawn["faces_1"]
    assert published.loc["faces_1", "ssim"] == pytest.approx(ssim(prediction / 255.0, truth / 255.0), abs=1e-6)
    assert published.loc["faces_1", "psnr"] == pytest.approx(psnr(prediction / 255.0, truth / 255.0), abs=1e-4)
    pd.testing.assert_frame_equal(pd.read_csv(out / "table.csv"), table)


def test_the_summary_counts_the_images_behind_each_mean(comparison):
    table, out, _ = comparison
    summary = pd.read_csv(out / "summary.csv").set_index(["model", "reference"])
    assert summary["n"].to_dict() == {
        (PUBLISHED, "ground truth"): 2, ("known", "original prediction"): 3, ("known", "ground truth"): 2,
        ("other", "original prediction"): 3, ("other", "ground truth"): 2}
    known = table[(table["model"] == "known") & (table["reference"] == "original prediction")]
    assert summary.loc[("known", "original prediction"), "ssim"] == pytest.approx(known["ssim"].mean())
    markdown = (out / "summary.md").read_text()
    assert markdown.startswith("| model | reference | n | SSIM | PSNR (dB) |")
    assert "| known | original prediction | 3 |" in markdown and len(markdown.splitlines()) == 2 + 5


def test_the_comparison_figure_shows_a_row_per_example_and_a_column_per_image(comparison):
    _, out, _ = comparison
    image = np.asarray(Image.open(out / "figure.png").convert("RGB"))
    # 3 examples x (sketch, published, known, other, ground truth): wider than high, far from blank
    assert image.shape[1] > image.shape[0] > 300
    assert (image.min(axis=-1) < 200).mean() > 0.2
