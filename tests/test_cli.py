"""`sketchback predict` on images the project did not make, and `sketchback sketch`."""

import logging
import time

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata
from test_images import jpeg_declaring, png_declaring

from sketchback.tools.cli import check_pixels, main, predict_photo, read_grey
from sketchback.images import DEFAULT_MAX_PIXELS
from sketchback.models.generators import build_generator
from sketchback.sketches.sketch import pencil_sketch, xdog


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "generator.keras"
    build_generator("scribbler", base_filters=4, residual_blocks=1).save(path)
    return path


def line_drawing(h: int, w: int) -> np.ndarray:
    """A hand-drawn-looking face: wobbly strokes and ellipses in black on white, uint8 grey."""
    rng = np.random.default_rng(5)
    img = np.full((h, w), 255, np.uint8)
    cx, cy = w // 2, h // 2
    cv2.ellipse(img, (cx, cy), (w // 3, h // 2 - 6), 0, 0, 360, 30, 2, cv2.LINE_AA)  # head
    for dx in (-w // 8, w // 8):  # eyes
        cv2.ellipse(img, (cx + dx, cy - h // 10), (w // 16, h // 30 + 1), 0, 0, 360, 20, 2, cv2.LINE_AA)
    points = np.array([[cx - w // 8 + 4 * i, cy + h // 5 + int(rng.integers(-2, 3))] for i in range(w // 16)], np.int32)
    cv2.polylines(img, [points], False, 40, 2, cv2.LINE_AA)  # mouth
    for _ in range(12):  # hair strokes
        x0 = int(rng.integers(cx - w // 3, cx + w // 3))
        cv2.line(img, (x0, cy - h // 2 + 4), (x0 + int(rng.integers(-15, 16)), cy - h // 4), 60, 1, cv2.LINE_AA)
    return img


@pytest.fixture(scope="module")
def foreign(tmp_path_factory):
    """Sketches made from scikit-image's sample photos and a drawing, in the formats people have."""
    folder = tmp_path_factory.mktemp("foreign")
    astronaut = pencil_sketch(skdata.astronaut()[:301, 40:227])  # odd size, 187 x 301
    cv2.imwrite(str(folder / "astronaut.jpg"), astronaut)  # grey JPEG
    sepia = cv2.cvtColor(pencil_sketch(skdata.coffee()), cv2.COLOR_GRAY2RGB).astype(np.float32) * [1.0, 0.9, 0.75]
    cv2.imwrite(str(folder / "coffee.png"), cv2.cvtColor(sepia.astype(np.uint8), cv2.COLOR_RGB2BGR))  # colour, 600 x 400
    cv2.imwrite(str(folder / "camera.png"), xdog(skdata.camera()[5:102, 11:142]))  # grey PNG, 131 x 97
    drawing = line_drawing(83, 61)
    rgba = np.zeros((83, 61, 4), np.uint8)  # strokes on a transparent background; RGB black everywhere
    rgba[..., 3] = 255 - drawing
    cv2.imwrite(str(folder / "drawing.png"), rgba)
    Image.fromarray(np.dstack([np.zeros_like(drawing), 255 - drawing]), "LA").save(folder / "drawing_la.png")
    Image.fromarray(drawing.astype(np.uint16) * 257).save(folder / "drawing16.png")  # 16-bit grey
    return folder


def test_read_grey_composites_alpha_over_white_paper(foreign):
    drawing = line_drawing(83, 61)
    for name in ("drawing.png", "drawing_la.png", "drawing16.png"):
        grey = read_grey(foreign / name)
        assert grey.shape == (83, 61) and grey.dtype == np.uint8, name
        assert np.abs(grey.astype(int) - drawing).max() <= 1, name
    assert read_grey(foreign / "coffee.png").shape == (400, 600)


def test_predict_a_folder_of_foreign_sketches_keeps_each_size(model_path, foreign, tmp_path, capsys):
    out = tmp_path / "photos"
    assert main(["predict", str(model_path), str(foreign), str(out)]) == 0
    sizes = {p.name: cv2.imread(str(p), cv2.IMREAD_UNCHANGED).shape for p in out.iterdir()}
    assert sizes == {"astronaut.png": (301, 187, 3), "coffee.png": (400, 600, 3), "camera.png": (97, 131, 3),
                     "drawing.png": (83, 61, 3), "drawing_la.png": (83, 61, 3), "drawing16.png": (83, 61, 3)}
    err = capsys.readouterr().err
    assert "[1/6]" in err and "[6/6]" in err  # a progress line per sketch when not on a terminal
    assert "6 of 6 sketches" in err


def test_predict_one_sketch_side_by_side_and_as_jpeg(model_path, foreign, tmp_path):
    out = tmp_path / "pair.png"
    assert main(["predict", str(model_path), str(foreign / "drawing.png"), str(out), "--side-by-side"]) == 0
    pair = cv2.imread(str(out), cv2.IMREAD_GRAYSCALE)
    assert pair.shape == (83, 122)
    np.testing.assert_allclose(pair[:, :61].astype(int), line_drawing(83, 61), atol=1)  # the sketch as the model saw it
    assert main(["predict", str(model_path), str(foreign / "astronaut.jpg"), str(tmp_path / "a.jpg"), "--size", "64"]) == 0
    assert cv2.imread(str(tmp_path / "a.jpg")).shape == (301, 187, 3)
    assert main(["predict", str(model_path), str(foreign / "camera.png"), str(tmp_path / "new_folder")]) == 0
    assert cv2.imread(str(tmp_path / "new_folder" / "camera.png")).shape == (97, 131, 3)


def test_predict_runs_the_model_at_the_size_asked_for():
    seen = []

    def generator(x, training):
        seen.append(x.shape)
        return np.full(x.shape[:3] + (3,), 0.5, np.float32)

    sketch = np.full((37, 53), 255, np.uint8)
    assert predict_photo(generator, sketch).shape == (37, 53, 3)
    assert predict_photo(generator, sketch, size=32).shape == (37, 53, 3)
    assert predict_photo(generator, np.full((900, 3000), 255, np.uint8), max_side=1024).shape == (900, 3000, 3)
    # own size padded to a multiple of 4; longer side scaled to 32; a large sketch scaled down to 1024
    assert seen == [(1, 40, 56, 1), (1, 24, 32, 1), (1, 308, 1024, 1)]


def test_predict_reports_every_unreadable_file_and_finishes_the_rest(model_path, foreign, tmp_path, capsys):
    folder = tmp_path / "mixed"
    folder.mkdir()
    for name in ("astronaut.jpg", "camera.png"):
        (folder / name).write_bytes((foreign / name).read_bytes())
    good = (foreign / "coffee.png").read_bytes()
    (folder / "truncated.png").write_bytes(good[: len(good) // 2])
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "notes.jpg").write_text("not an image at all")
    (folder / "readme.txt").write_text("ignored: not an image suffix")
    out = tmp_path / "out"
    assert main(["predict", str(model_path), str(folder), str(out)]) == 1
    assert sorted(p.name for p in out.iterdir()) == ["astronaut.png", "camera.png"]
    err = capsys.readouterr().err
    assert "3 of 5 sketches failed" in err
    for name in ("truncated.png", "empty.jpg", "notes.jpg"):
        assert name in err.split("failed:")[1]
    assert "readme.txt" not in err


def test_predict_refuses_to_overwrite_its_input_and_names_what_is_wrong(model_path, foreign, tmp_path, capsys):
    assert main(["predict", str(model_path), str(foreign), str(foreign)]) == 1
    assert "overwrite" in capsys.readouterr().err
    assert main(["predict", str(model_path), str(foreign), str(tmp_path / "one.png")]) == 1
    assert "must be a folder" in capsys.readouterr().err
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    assert main(["predict", str(model_path), str(bad), str(tmp_path / "o.png")]) == 1
    assert "bad.png" in capsys.readouterr().err and not (tmp_path / "o.png").exists()
    assert main(["predict", str(tmp_path / "none.keras"), str(bad), str(tmp_path / "o.png")]) == 1
    assert "none.keras" in capsys.readouterr().err
    assert main(["predict", str(model_path), str(tmp_path / "missing.png"), str(tmp_path / "o.png")]) == 1
    assert "missing.png does not exist" in capsys.readouterr().err


def test_predict_keeps_inputs_that_share_a_name_apart(model_path, foreign, tmp_path):
    folder = tmp_path / "same"
    folder.mkdir()
    (folder / "a.png").write_bytes((foreign / "camera.png").read_bytes())
    (folder / "a.jpg").write_bytes((foreign / "astronaut.jpg").read_bytes())
    assert main(["predict", str(model_path), str(folder), str(tmp_path / "out")]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a_jpg.png", "a_png.png"]


def test_sketch_command_writes_a_pencil_sketch(tmp_path):
    photo = np.full((40, 40, 3), 255, np.uint8)
    cv2.line(photo, (5, 20), (35, 20), (0, 0, 0), 2)
    cv2.imwrite(str(tmp_path / "photo.png"), photo)
    assert main(["sketch", str(tmp_path / "photo.png"), str(tmp_path / "sketch.png")]) == 0
    sketch = cv2.imread(str(tmp_path / "sketch.png"), cv2.IMREAD_GRAYSCALE)
    assert sketch.shape == (40, 40) and sketch[20, 20] < 128 and sketch[5, 5] == 255


def test_sketch_command_equals_the_library_functions_with_parameters_and_seed(tmp_path):
    rgb = skdata.astronaut()[:150, 100:221]  # odd size, 121 x 150
    cv2.imwrite(str(tmp_path / "astronaut.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    src = str(tmp_path / "astronaut.png")
    assert main(["sketch", src, str(tmp_path / "x.png"), "--method", "xdog", "--set", "sigma=1.2", "--set", "phi=8"]) == 0
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / "x.png"), cv2.IMREAD_GRAYSCALE), xdog(rgb, sigma=1.2, phi=8))
    for seed in (3, 4):
        assert main(["sketch", src, str(tmp_path / f"p{seed}.png"), "--set", "paper=0.2", "--seed", str(seed)]) == 0
        np.testing.assert_array_equal(cv2.imread(str(tmp_path / f"p{seed}.png"), cv2.IMREAD_GRAYSCALE),
                                      pencil_sketch(rgb, paper=0.2, seed=seed))
    assert not np.array_equal(cv2.imread(str(tmp_path / "p3.png")), cv2.imread(str(tmp_path / "p4.png")))


def test_sketch_command_on_a_folder_with_alpha_and_broken_files(foreign, tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("drawing.png", "drawing16.png", "coffee.png"):
        (folder / name).write_bytes((foreign / name).read_bytes())
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    out = tmp_path / "sketches"
    assert main(["sketch", str(folder), str(out), "--method", "xdog"]) == 1
    assert sorted(p.name for p in out.iterdir()) == ["coffee.png", "drawing.png", "drawing16.png"]
    err = capsys.readouterr().err
    assert "1 of 4 photos failed" in err and "broken.jpg" in err
    # strokes on a transparent background are a drawing on white paper, not a black square
    from_alpha = cv2.imread(str(out / "drawing.png"), cv2.IMREAD_GRAYSCALE)
    np.testing.assert_array_equal(from_alpha, xdog(line_drawing(83, 61)))
    np.testing.assert_array_equal(cv2.imread(str(out / "drawing16.png"), cv2.IMREAD_GRAYSCALE), from_alpha)


def test_sketch_command_names_bad_settings_before_reading_anything(foreign, tmp_path, capsys):
    src = str(foreign / "camera.png")
    for settings, message in ((["sigma=0"], "sigma must be > 0"),
                              (["sigmaa=1"], "unknown parameter(s) ['sigmaa'] for sketch method 'xdog'"),
                              (["sigma"], "write KEY=VALUE"),
                              (["sigma=[1"], "not valid YAML")):
        args = ["sketch", src, str(tmp_path / "o.png"), "--method", "xdog"] + [a for s in settings for a in ("--set", s)]
        assert main(args) == 1
        assert message in capsys.readouterr().err, settings
    assert not (tmp_path / "o.png").exists()
    assert main(["sketch", str(foreign), str(foreign)]) == 1
    assert "overwrite" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--help"], ["predict", "--help"], ["sketch", "--help"]])
def test_help_is_plain_text(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: sketchback") and "`" not in out
    if argv != ["--help"]:  # each command states its pixel limit, how to change it and how to lift it
        flat = " ".join(out.split())
        assert "--max-pixels N" in flat and "178,956,970 px" in flat and "warn above N/2" in flat, flat
        assert "0 or none: no limit" in flat, flat


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == "sketchback 0.1.0"


def test_a_corrupt_png_is_named_by_the_project_alone(foreign, tmp_path, capfd):
    # cut after the signature, or garbage after it: OpenCV's PNG reader would print its own
    # "[ERROR:0@...] global grfmt_png.cpp ... readHeader IHDR chunk shall be first" line
    good = (foreign / "coffee.png").read_bytes()
    for name, data in (("cut.png", good[:16]), ("garbage.png", good[:8] + b"garbage" * 10)):
        (tmp_path / name).write_bytes(data)
        assert main(["sketch", str(tmp_path / name), str(tmp_path / "out.png")]) == 1
        err = capfd.readouterr().err
        assert "[ERROR:" not in err and "WARN:" not in err, err
        assert err.count(name) == 1 and f"{name}: cannot be decoded as an image" in err, err


@pytest.mark.parametrize("rows", [32, 30000])
def test_a_png_declaring_30000x30000_px_is_refused_before_decoding(tmp_path, capsys, rows):
    # 1 KB with 32 rows of data (OpenCV gives up on it as truncated); 0.9 MB with all of them, which
    # OpenCV decodes: 900 megapixels, 30 s and 6 GB before the limit
    (tmp_path / "bomb.png").write_bytes(png_declaring(30000, 30000, rows))
    start = time.perf_counter()
    assert main(["sketch", str(tmp_path / "bomb.png"), str(tmp_path / "out.png")]) == 1
    assert time.perf_counter() - start < 2
    assert not (tmp_path / "out.png").exists()
    err = " ".join(capsys.readouterr().err.split())
    assert (f"{tmp_path / 'bomb.png'}: declares 30000x30000 = 900,000,000 px (900 megapixels), over the limit of "
            "178,956,970 px (179 megapixels)") in err, err
    assert "--max-pixels 900000000 (or --max-pixels none)" in err


def test_a_jpeg_declaring_a_huge_size_is_refused_before_decoding(model_path, tmp_path, capsys):
    (tmp_path / "huge.jpg").write_bytes(jpeg_declaring(20000, 10000))  # under OpenCV's own 2^30 px limit
    start = time.perf_counter()
    assert main(["predict", str(model_path), str(tmp_path / "huge.jpg"), str(tmp_path / "out.png")]) == 1
    assert time.perf_counter() - start < 2
    assert not (tmp_path / "out.png").exists()
    err = " ".join(capsys.readouterr().err.split())
    assert "huge.jpg: declares 20000x10000 = 200,000,000 px (200 megapixels), over the limit" in err, err


def test_the_default_limit_is_pillow_s_warn_above_89_megapixels_refuse_above_twice(tmp_path, caplog):
    assert DEFAULT_MAX_PIXELS == 2 * Image.MAX_IMAGE_PIXELS == 178_956_970
    with caplog.at_level(logging.WARNING, logger="sketchback"):
        check_pixels(tmp_path / "a.png", 9459, 9459, DEFAULT_MAX_PIXELS)  # 89,472,681 px: quiet
        assert not caplog.records
        check_pixels(tmp_path / "a.png", 10000, 10000, DEFAULT_MAX_PIXELS)  # 100 megapixels: warned, done
        assert "a.png: declares 10000x10000 = 100,000,000 px (100 megapixels), over half the limit" in caplog.text
        check_pixels(tmp_path / "a.png", 10000, 10000, None)  # --max-pixels none
        check_pixels(tmp_path / "a.png", 10000, 10000, 100_000_000)
        with pytest.raises(ValueError, match="--max-pixels 179000000"):
            check_pixels(tmp_path / "a.png", 17900, 10000, DEFAULT_MAX_PIXELS)


def test_max_pixels_raises_or_lifts_the_limit(tmp_path, capsys, caplog):
    cv2.imwrite(str(tmp_path / "big.png"), np.full((100, 100), 255, np.uint8))  # 10000 x 10000 px, scaled down

    def run(limit: str) -> int:
        return main(["sketch", str(tmp_path / "big.png"), str(tmp_path / f"{limit}.png"), "--max-pixels", limit])

    assert run("9999") == 1 and not (tmp_path / "9999.png").exists()
    assert "--max-pixels 10000 (or --max-pixels none)" in capsys.readouterr().err
    for limit in ("20000", "none", "None", "0"):
        caplog.clear()
        assert run(limit) == 0 and (tmp_path / f"{limit}.png").exists()
        assert not caplog.records, limit  # under half the limit, or no limit: not a word
    for bad in ("-1", "lots", "1e8"):
        with pytest.raises(SystemExit):
            run(bad)
        assert f"argument --max-pixels: '{bad}': give a number of pixels" in capsys.readouterr().err


def test_an_image_over_half_the_limit_is_done_with_a_warning(model_path, tmp_path, caplog):
    cv2.imwrite(str(tmp_path / "big.png"), np.full((100, 100), 255, np.uint8))
    for argv in (["sketch"], ["predict", str(model_path)]):
        caplog.clear()
        out = tmp_path / f"{argv[0]}.png"
        assert main(argv + [str(tmp_path / "big.png"), str(out), "--max-pixels", "15000"]) == 0
        assert cv2.imread(str(out)).shape == (100, 100, 3)
        assert [r.levelname for r in caplog.records] == ["WARNING"]
        assert "big.png: declares 100x100 = 10,000 px (0.01 megapixels), over half the limit of 15,000 px" in caplog.text


def test_a_folder_with_refused_files_still_does_the_others(model_path, foreign, tmp_path, capsys):
    folder = tmp_path / "mixed"
    folder.mkdir()
    for name in ("camera.png", "drawing.png"):
        (folder / name).write_bytes((foreign / name).read_bytes())
    (folder / "bomb.png").write_bytes(png_declaring(30000, 30000))
    (folder / "huge.jpg").write_bytes(jpeg_declaring(20000, 10000))
    out = tmp_path / "out"
    assert main(["predict", str(model_path), str(folder), str(out)]) == 1
    assert sorted(p.name for p in out.iterdir()) == ["camera.png", "drawing.png"]
    err = capsys.readouterr().err
    assert "[1/4] bomb.png: FAILED" in err and "2 of 4 sketches failed" in err
    failures = err.split("failed:")[1]
    assert "bomb.png: declares 30000x30000" in failures and "huge.jpg: declares 20000x10000" in failures


def test_a_header_that_lies_is_caught_after_decoding(monkeypatch, tmp_path, capsys):
    cv2.imwrite(str(tmp_path / "liar.png"), np.full((100, 100), 255, np.uint8))
    monkeypatch.setattr("sketchback.tools.cli.declared_size", lambda path: (10, 10))  # a header saying 100 px
    assert main(["sketch", str(tmp_path / "liar.png"), str(tmp_path / "out.png"), "--max-pixels", "5000"]) == 1
    assert not (tmp_path / "out.png").exists()
    assert "liar.png: declares 10x10 px but decodes to 100x100 = 10,000 px" in capsys.readouterr().err
