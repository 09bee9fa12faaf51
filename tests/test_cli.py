import cv2
import numpy as np
import pytest

from sketchback.cli import main
from sketchback.model import build_generator


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "generator.keras"
    build_generator("scribbler", base_filters=4, residual_blocks=1).save(path)
    return path


def test_predict_keeps_the_size_of_odd_colour_and_grey_inputs(model_path, tmp_path):
    sketches = tmp_path / "sketches"
    sketches.mkdir()
    rng = np.random.default_rng(0)
    cv2.imwrite(str(sketches / "colour.png"), rng.integers(0, 256, (37, 53, 3), dtype=np.uint8))
    cv2.imwrite(str(sketches / "grey.jpg"), rng.integers(0, 256, (64, 30), dtype=np.uint8))
    cv2.imwrite(str(sketches / "alpha.png"), rng.integers(0, 256, (20, 24, 4), dtype=np.uint8))
    assert main(["predict", str(model_path), str(sketches), str(tmp_path / "out")]) == 0
    sizes = {p.name: cv2.imread(str(p)).shape for p in (tmp_path / "out").iterdir()}
    assert sizes == {"colour.png": (37, 53, 3), "grey.png": (64, 30, 3), "alpha.png": (20, 24, 3)}
    assert main(["predict", str(model_path), str(sketches / "grey.jpg"), str(tmp_path / "one.png"), "--side-by-side"]) == 0
    assert cv2.imread(str(tmp_path / "one.png")).shape == (64, 60, 3)


def test_predict_names_unreadable_inputs(model_path, tmp_path, capsys):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    assert main(["predict", str(model_path), str(bad), str(tmp_path / "o.png")]) == 1
    assert "bad.png" in capsys.readouterr().err
    assert main(["predict", str(tmp_path / "none.keras"), str(bad), str(tmp_path / "o.png")]) == 1
    assert "none.keras" in capsys.readouterr().err


def test_sketch_command_writes_a_pencil_sketch(tmp_path):
    photo = np.full((40, 40, 3), 255, np.uint8)
    cv2.line(photo, (5, 20), (35, 20), (0, 0, 0), 2)
    cv2.imwrite(str(tmp_path / "photo.png"), photo)
    assert main(["sketch", str(tmp_path / "photo.png"), str(tmp_path / "sketch.png")]) == 0
    sketch = cv2.imread(str(tmp_path / "sketch.png"), cv2.IMREAD_GRAYSCALE)
    assert sketch.shape == (40, 40) and sketch[20, 20] < 128 and sketch[5, 5] == 255
