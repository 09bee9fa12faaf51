"""Evaluation grid layout and the report plots: shapes, dtypes, readable PNGs, no temp files."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest

from sketchback.evaluation.figures import (
    GUTTER,
    evaluation_grid,
    header_height,
    plot_loss_curves,
    plot_metric_bars,
    save_png,
)

RNG = np.random.default_rng(0)


def _columns(n: int = 5):
    sketches = RNG.random((n, 32, 32))  # grey float
    preds = RNG.integers(0, 256, (n, 64, 64, 3), dtype=np.uint8)  # uint8 RGB
    truths = RNG.random((n, 64, 64, 3)).astype(np.float32)  # float RGB
    return [sketches, preds, truths], ["sketch", "prediction", "ground truth"]


@pytest.mark.parametrize("cell", [32, 64, 128])
@pytest.mark.parametrize("title", [None, "model / dataset"])
def test_grid_shape_arithmetic(cell, title):
    cols, labels = _columns(5)
    grid = evaluation_grid(cols, labels, max_rows=3, cell=cell, title=title)
    assert grid.dtype == np.uint8
    assert grid.ndim == 3 and grid.shape[2] == 3
    assert grid.shape[1] == 3 * (cell + GUTTER) + GUTTER
    assert grid.shape[0] == header_height(cell, title) + 3 * (cell + GUTTER) + GUTTER


def test_title_adds_height_and_header_has_text():
    cols, labels = _columns(2)
    plain = evaluation_grid(cols, labels, cell=64)
    titled = evaluation_grid(cols, labels, cell=64, title="a title")
    assert titled.shape[0] > plain.shape[0]
    header = plain[: header_height(64)]
    assert (header < 128).any(), "labels should draw dark pixels on the white header"


def test_max_rows_respected_and_fewer_samples_than_max():
    cols, labels = _columns(5)
    h2 = evaluation_grid(cols, labels, max_rows=2, cell=32).shape[0]
    h3 = evaluation_grid(cols, labels, max_rows=3, cell=32).shape[0]
    h_all = evaluation_grid(cols, labels, max_rows=50, cell=32).shape[0]
    assert h3 - h2 == 32 + GUTTER
    assert h_all == header_height(32) + 5 * (32 + GUTTER) + GUTTER


def test_cells_hold_the_images_where_expected():
    cell = 16
    red = np.zeros((2, 4, 4, 3), dtype=np.float64)
    red[..., 0] = 1.0
    grey = np.full((2, 40, 40), 100, dtype=np.uint8)  # downscaled with INTER_AREA, stays 100
    grid = evaluation_grid([red, grey], ["red", "grey"], cell=cell)
    top = header_height(cell)
    y = top + GUTTER + (cell + GUTTER)  # second row
    first = grid[y : y + cell, GUTTER : GUTTER + cell]
    second = grid[y : y + cell, 2 * GUTTER + cell : 2 * GUTTER + 2 * cell]
    assert (first == [255, 0, 0]).all()
    assert (second == 100).all()
    assert (grid[-GUTTER:] == 255).all(), "bottom gutter is white"


def test_upscaling_is_nearest_neighbour():
    checker = np.indices((4, 4)).sum(axis=0) % 2  # 0/1 checkerboard
    grid = evaluation_grid([checker[None].astype(np.float64)], ["c"], cell=32)
    top = header_height(32) + GUTTER
    cell = grid[top : top + 32, GUTTER : GUTTER + 32, 0]
    assert set(np.unique(cell)) == {0, 255}, "no blended grey values when enlarging"


def test_grid_accepts_single_channel_axis_and_clips_floats():
    a = RNG.random((2, 20, 20, 1)) * 3 - 1  # out of [0, 1]
    # -0.5 and 1.5 would wrap around to 128 and 126 unclipped; clipped they are black and white
    a[0, :10], a[0, 10:] = -0.5, 1.5
    grid = evaluation_grid([a], ["x"], cell=20)
    assert grid.dtype == np.uint8
    np.testing.assert_array_equal(grid, evaluation_grid([np.clip(a, 0.0, 1.0)], ["x"], cell=20))
    np.testing.assert_array_equal(grid, evaluation_grid([np.clip(a[..., 0], 0.0, 1.0)], ["x"], cell=20))


def test_grid_rejects_bad_input():
    cols, labels = _columns(3)
    with pytest.raises(ValueError, match="labels"):
        evaluation_grid(cols, labels[:2])
    with pytest.raises(ValueError, match="same number"):
        evaluation_grid([cols[0], cols[1][:2]], labels[:2])


def test_save_png_roundtrip_rgb(tmp_path):
    img = np.zeros((10, 12, 3), dtype=np.uint8)
    img[..., 0] = 200  # red channel in RGB
    path = tmp_path / "sub" / "dir" / "grid.png"
    save_png(path, img)
    back = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert back is not None and back.shape == (10, 12, 3)
    assert (back[..., 2] == 200).all() and (back[..., :2] == 0).all()  # BGR on disk
    assert [p.name for p in path.parent.iterdir()] == ["grid.png"]
    with pytest.raises(TypeError):
        save_png(tmp_path / "f.png", img.astype(np.float32))


def _histories():
    ep = np.arange(12)
    return {
        "unet": pd.DataFrame(
            {"epoch": ep, "loss": np.exp(-ep / 2), "val_loss": np.exp(-ep / 3), "lr": 1e-3}
        ),
        "pix2pix": pd.DataFrame(
            {"epoch": ep, "loss": 2 + 0.1 * np.sin(ep), "pixel": 0.3 + 0.01 * ep, "val_pixel": 0.35 + 0.01 * ep}
        ),
    }


def _assert_png(path):
    assert path.exists() and path.stat().st_size > 0
    img = cv2.imread(str(path))
    assert img is not None and img.shape[0] > 100 and img.shape[1] > 100
    assert [p.name for p in path.parent.iterdir()] == [path.name], "temp files left behind"


def test_plot_loss_curves_writes_png(tmp_path):
    path = tmp_path / "loss.png"
    plot_loss_curves(_histories(), path, title="curves")
    _assert_png(path)


def test_plot_loss_curves_needs_epoch(tmp_path):
    with pytest.raises(ValueError, match="epoch"):
        plot_loss_curves({"m": pd.DataFrame({"loss": [1.0]})}, tmp_path / "x.png")
    assert list(tmp_path.iterdir()) == []


def _summary(metric="ssim"):
    rows = []
    for model in ("unet", "pix2pix"):
        for method in ("xdog", "pencil"):
            row = {"model": model, "dataset": "cuhk", "method": method}
            for est, m in (("prediction", 0.7), ("sketch", 0.4), ("mean_image", 0.3)):
                row[f"{metric}_{est}"] = m
                row[f"{metric}_{est}_lo"] = m - 0.03
                row[f"{metric}_{est}_hi"] = m + 0.02
            rows.append(row)
    return pd.DataFrame(rows)


@pytest.mark.parametrize("metric", ["ssim", "psnr"])
def test_plot_metric_bars_writes_png(tmp_path, metric):
    path = tmp_path / "bars.png"
    plot_metric_bars(_summary(metric), path, metric=metric)
    _assert_png(path)


def test_plot_metric_bars_missing_columns(tmp_path):
    with pytest.raises(ValueError, match="psnr_prediction"):
        plot_metric_bars(_summary("ssim"), tmp_path / "bars.png", metric="psnr")


def test_plot_loss_curves_one_row_per_stage_one_panel_per_term(tmp_path):
    ep = np.arange(1, 7)
    history = pd.DataFrame({"epoch": ep, "loss": 0.2 / ep, "pixel": 0.18 / ep, "tv": 80.0 / ep, "feature": 5.0 / ep,
                            "val_loss": 0.21 / ep, "val_pixel": 0.19 / ep, "val_tv": 40.0 / ep, "val_feature": 4.0 / ep})
    one, two = tmp_path / "one.png", tmp_path / "two.png"
    plot_loss_curves({"faces": history}, one, subtitles={"faces": "faces: trained from scratch"})
    plot_loss_curves({"faces": history, "buildings": history}, two, title="stages", dpi=100)
    h1, w1 = cv2.imread(str(one)).shape[:2]
    h2, w2 = cv2.imread(str(two)).shape[:2]
    # four terms side by side; a second stage adds a row, not a column
    assert w1 > 2.5 * h1 and h2 / 100 > 1.6 * h1 / 150


def _cross_table(with_missing: bool = True) -> pd.DataFrame:
    rows = []
    for model, test_set, styles in (("faces", "faces", ["pencil", "xdog"]), ("faces", "cuhk", ["pencil", "handdrawn"])):
        for style in styles:
            row = {"model": model, "training_set": "faces", "training_styles": "pencil", "test_set": test_set,
                   "style": style, "seen_style": style == "pencil", "n_images": 10}
            for metric, value in (("ssim", 0.6), ("psnr", 16.0), ("feature_distance", 0.3)):
                row.update({metric: value, f"{metric}_lo": value * 0.95, f"{metric}_hi": value * 1.05})
            rows.append(row)
    return pd.DataFrame(rows if with_missing else rows[:2])


def test_plot_cross_style_writes_heat_maps(tmp_path):
    from sketchback.evaluation.figures import plot_cross_style

    path = tmp_path / "cross.png"
    plot_cross_style(_cross_table(), path, styles=["pencil", "xdog", "handdrawn"], style_labels={"handdrawn": "hand-drawn"})
    _assert_png(path)
    with pytest.raises(ValueError, match="seen_style"):
        plot_cross_style(_cross_table().drop(columns=["seen_style"]), tmp_path / "bad.png")
    with pytest.raises(ValueError, match="no rows"):
        plot_cross_style(_cross_table().iloc[:0], tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()


def test_save_png_records_the_print_resolution(tmp_path):
    from PIL import Image

    grey = np.tile(np.arange(40, dtype=np.uint8), (30, 1))
    save_png(tmp_path / "poster.png", np.repeat(grey[..., None], 3, axis=-1), dpi=300)
    with Image.open(tmp_path / "poster.png") as image:
        assert round(image.info["dpi"][0]) == 300 and image.size == (40, 30)
    back = cv2.imread(str(tmp_path / "poster.png"), cv2.IMREAD_GRAYSCALE)
    np.testing.assert_array_equal(back, grey)
