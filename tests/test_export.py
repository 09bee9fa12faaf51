"""`sketchback export`: each format run by its own runtime, independently of sketchback.tools.export's own check.

The exported files are run here with onnxruntime, the LiteRT interpreter and tf.saved_model
directly, at sizes other than those export_model checks, and compared with the saved Keras model.
"""

import re
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from sketchback.tools import export
from sketchback.tools.cli import main, predict_photo
from sketchback.tools.export import MissingDependency, export_model
from sketchback.models.generators import build_generator, original_generator

REPO = Path(__file__).resolve().parents[1]
SIZES = ((2, 16, 16), (1, 24, 32))  # (N, H, W): a batch, and a non-square size
SMALL_CHECK = ((1, 8, 16),)  # export_model's own check, kept small and unlike SIZES
FORMATS = export.FORMATS


def out_name(fmt: str) -> str:
    return {"onnx": "g.onnx", "tflite": "g.tflite", "saved_model": "g_saved_model"}[fmt]


def generator(architecture: str, channels: int, downsamplings: int = 2) -> keras.Model:
    """A tiny generator; with 5 channels the colour-hint input (sketch, hint RGB, hint mask). ``original``
    (its fixed sizes) records a training size, as the original's released weights do once converted."""
    if architecture == "original":
        return original_generator(channels, training_size=(16, 24), origin="a test")
    return build_generator(architecture, base_filters=4, residual_blocks=1, input_channels=channels,
                           downsamplings=downsamplings)


def run_in_runtime(fmt: str, path: Path, x: np.ndarray) -> np.ndarray:
    """The exported file run by its runtime, written out here rather than taken from sketchback.tools.export."""
    if fmt == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return session.run(None, {session.get_inputs()[0].name: x})[0]
    if fmt == "tflite":
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=str(path))
        index = interpreter.get_input_details()[0]["index"]
        interpreter.resize_tensor_input(index, x.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(index, x)
        interpreter.invoke()
        return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    loaded = tf.saved_model.load(str(path))
    return loaded.serve(tf.constant(x)).numpy()


# each architecture, each input (sketch; sketch + colour hints); original as a released model converts it
MODELS = (("scribbler", 1), ("csi", 5), ("original", 1))
DOWNSAMPLINGS = {"scribbler": 2, "csi": 3, "original": 3}  # the default, and one more (sizes: multiples of 4, of 8)
# Which model goes through which format: every format on the demo's model (the export page's snippets run
# those files), and each other model through a format whose converter is not plain TensorFlow: the 5-channel
# hint input through LiteRT, the original's max-pooling and nearest upsampling through tf2onnx. Every
# format and every model is exported; all 9 pairs took 61 s of the suite, these 5 take 22 s (idle, 2 cores).
PAIRS = {("scribbler", 1): FORMATS, ("csi", 5): ("tflite",), ("original", 1): ("onnx",)}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Tiny generators by (architecture, input channels), saved, and exported beside themselves in each format
    with the default names: {key: (model path, {format: ExportReport})}."""
    result = {}
    for architecture, channels in MODELS:
        keras.utils.set_random_seed(channels)
        path = tmp_path_factory.mktemp(f"{architecture}_{channels}") / "generator.keras"
        generator(architecture, channels, DOWNSAMPLINGS[architecture]).save(path)
        result[architecture, channels] = path, {fmt: export_model(path, None, fmt, shapes=SMALL_CHECK)
                                                for fmt in PAIRS[architecture, channels]}
    return result


@pytest.fixture()
def model_path(exported):
    return exported["scribbler", 1][0]


@pytest.mark.parametrize(("key", "fmt"), [(key, fmt) for key in MODELS for fmt in PAIRS[key]],
                         ids=lambda value: f"{value[0]}-{value[1]}ch" if isinstance(value, tuple) else value)
def test_export_round_trip(exported, fmt, key):
    model_path, reports = exported[key]
    report = reports[fmt]
    default = {"onnx": "generator.onnx", "tflite": "generator.tflite", "saved_model": "generator_saved_model"}[fmt]
    assert report.path == model_path.parent / default and report.path.exists() and report.size_bytes > 0
    assert report.max_abs_diff <= 1e-4 and report.mixed_precision_diff is None
    assert report.size_multiple == 2 ** DOWNSAMPLINGS[key[0]]
    keras_model = keras.models.load_model(model_path, compile=False)
    rng = np.random.default_rng(1)
    for n, h, w in SIZES:
        x = rng.random((n, h, w, key[1]), dtype=np.float32)
        got = run_in_runtime(fmt, report.path, x)
        expected = np.asarray(keras_model(x, training=False))
        assert got.dtype == np.float32 and got.shape == (n, h, w, 3)
        assert np.abs(got - expected).max() <= 1e-4, (fmt, key, (n, h, w))
        assert expected.std() > 1e-3  # a model whose output ignored its input would match trivially


def test_mixed_precision_model_exports_float32(tmp_path):
    """A generator trained and saved under mixed_float16 loads computing in float16; the exports are float32."""
    keras.utils.set_random_seed(3)
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        mixed = build_generator("scribbler", base_filters=4, residual_blocks=1)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    mixed.save(tmp_path / "mixed.keras")
    assert {layer.dtype_policy.name for layer in keras.models.load_model(tmp_path / "mixed.keras").layers} \
        >= {"mixed_float16"}
    float32 = build_generator("scribbler", base_filters=4, residual_blocks=1)
    float32.set_weights(mixed.get_weights())  # the same weights, computed in float32: what the exports must match
    x = np.random.default_rng(2).random((1, 16, 20, 1), dtype=np.float32)
    expected = np.asarray(float32(x))
    assert np.abs(np.asarray(mixed(x)) - expected).max() > 1e-4  # float16 arithmetic is visibly different
    for fmt in FORMATS:
        report = export_model(tmp_path / "mixed.keras", tmp_path / out_name(fmt), fmt, shapes=SMALL_CHECK)
        assert report.mixed_precision_diff is not None and report.mixed_precision_diff > report.max_abs_diff
        assert np.abs(run_in_runtime(fmt, report.path, x) - expected).max() <= 1e-4, fmt
    import onnx

    graph, half = onnx.load(str(tmp_path / "g.onnx")).graph, onnx.TensorProto.FLOAT16
    assert not [node.name for node in graph.node for a in node.attribute if a.name == "to" and a.i == half]
    assert not [t.name for t in graph.initializer if t.data_type == half]
    assert [v.type.tensor_type.elem_type for v in (*graph.input, *graph.output)] == [onnx.TensorProto.FLOAT] * 2


def test_cli_exports_checks_and_reports(model_path, tmp_path, capsys):
    out = tmp_path / "faces.onnx"
    assert main(["export", str(model_path), "--format", "onnx", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert out.is_file() and "onnxruntime" in err
    assert float(re.search(r"max \|export - Keras\| = (\S+) ", err).group(1)) <= 1e-4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["faces.onnx"]


@pytest.mark.parametrize("content", [b"", b"not a model", b"\x89PNG\r\n\x1a\n" + bytes(64)], ids=["empty", "text", "png"])
def test_not_a_model_file(tmp_path, capsys, content):
    bad = tmp_path / "generator.keras"
    bad.write_bytes(content)
    with pytest.raises(ValueError, match=r"generator\.keras is not a Keras model file"):
        export_model(bad, tmp_path / "g.onnx", "onnx")
    assert main(["export", str(bad), "--format", "tflite"]) == 1
    assert "is not a Keras model file" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["generator.keras"]


def test_missing_model_and_unknown_format(model_path, tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="nothing.keras does not exist"):
        export_model(tmp_path / "nothing.keras", None, "onnx")
    with pytest.raises(ValueError, match=r"unknown export format 'coreml'; choose one of onnx, tflite, saved_model"):
        export_model(model_path, tmp_path / "g.mlmodel", "coreml")
    with pytest.raises(SystemExit):
        main(["export", str(model_path), "--format", "coreml"])
    assert "invalid choice: 'coreml'" in capsys.readouterr().err


def test_bad_out_paths(model_path, tmp_path):
    with pytest.raises(ValueError, match=r"a onnx export is a \.onnx file; name it e\.g\. g\.onnx"):
        export_model(model_path, tmp_path / "g.tflite", "onnx")
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "keep.png").write_bytes(b"x")
    with pytest.raises(ValueError, match="exists and is not a SavedModel folder"):
        export_model(model_path, tmp_path / "photos", "saved_model")
    assert (tmp_path / "photos" / "keep.png").read_bytes() == b"x"


def test_missing_dependency_names_the_extra(model_path, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tf2onnx", None)  # import tf2onnx now raises ImportError
    with pytest.raises(MissingDependency, match=r"needs the Python package tf2onnx.*pip install 'sketchback\[export\]'"):
        export_model(model_path, tmp_path / "g.onnx", "onnx")
    assert main(["export", str(model_path), "--format", "onnx", "--out", str(tmp_path / "g.onnx")]) == 1
    assert "sketchback[export]" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fmt", ["onnx", "saved_model"])  # a file (as tflite) and a folder
def test_a_mismatching_export_leaves_nothing(model_path, tmp_path, monkeypatch, fmt):
    """An export whose runtime disagrees with Keras is not written; an earlier export there survives intact."""
    out = tmp_path / out_name(fmt)
    earlier = out / "saved_model.pb" if fmt == "saved_model" else out
    earlier.parent.mkdir(exist_ok=True)
    earlier.write_bytes(b"an earlier export")
    broken = export.RUNNERS[fmt]
    monkeypatch.setitem(export.RUNNERS, fmt, lambda path: lambda x: broken(path)(x) + 1e-3)
    with pytest.raises(export.ExportMismatch, match=r"differs from the Keras model by up to 0\.001"):
        export_model(model_path, out, fmt, shapes=SMALL_CHECK)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == [earlier]  # no temporary file or folder left
    assert earlier.read_bytes() == b"an earlier export"


def readme_snippets() -> list[str]:
    """The ```python blocks of the export section of docs/tools.md, in order."""
    text = (REPO / "docs" / "tools.md").read_text()
    section = text.split("## Exporting a model (ONNX, TFLite, SavedModel)")[1].split("\n## ")[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_the_export_pages_plain_python_snippets_run(exported, tmp_path):
    """Each of the export page's snippets, run in a fresh Python that cannot import sketchback, gives the photo
    `sketchback predict` gives (to a uint8 rounding), for a sketch whose size is not a multiple of 4."""
    snippets = readme_snippets()
    assert len(snippets) == 5, "expected: read the sketch, onnxruntime, LiteRT, SavedModel, save the photo"
    read, *runtimes, save = snippets
    model_path, reports = exported["scribbler", 1]
    for report in reports.values():  # the README's names: generator.onnx, generator.tflite, generator_saved_model
        (tmp_path / report.path.name).symlink_to(report.path)
    rng = np.random.default_rng(4)
    sketch = np.where(rng.random((30, 22)) < 0.1, 0, 255).astype(np.uint8)
    Image.fromarray(sketch).save(tmp_path / "sketch.png")
    expected = predict_photo(keras.models.load_model(model_path, compile=False), sketch)
    for runtime in runtimes:
        assert "sketchback" not in read + runtime + save
        (tmp_path / "photo.png").unlink(missing_ok=True)
        code = "import sys\nsys.modules['sketchback'] = None\n" + read + runtime + save
        done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        photo = np.asarray(Image.open(tmp_path / "photo.png"))
        assert photo.shape == (30, 22, 3)
        assert np.abs(photo.astype(int) - expected).max() <= 1, runtime
