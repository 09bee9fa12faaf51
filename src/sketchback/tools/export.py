"""Export a trained generator to ONNX, TFLite (LiteRT) or a TensorFlow SavedModel, checked in that format's runtime.

Every export is a float32 graph: input float32 (N, H, W, C) in [0, 1], C read from the model (1: a
sketch; 5: sketch, hint RGB, hint mask), output float32 (N, H, W, 3) in [0, 1]. N, H and W are left
free in all three formats (H and W multiples of the model's ``size_multiple``, 4 for two
downsamplings, as for the Keras model). A model trained under
mixed precision is exported in float32: its weights are float32 already, its float16 arithmetic
becomes float32.

The file is written under a temporary name, run in its own runtime (onnxruntime; the LiteRT
interpreter, which is TensorFlow Lite's; TensorFlow) on seeded random sketches of two sizes and
compared with the Keras model computing in float32; it gets its final name only when the two agree
within ``TOLERANCE``. A failed or mismatching export leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import logging
import os
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sketchback.io import atomic_path

if TYPE_CHECKING:
    import keras

log = logging.getLogger(__name__)

FORMATS = ("onnx", "tflite", "saved_model")
SUFFIXES = {"onnx": ".onnx", "tflite": ".tflite", "saved_model": ""}  # a SavedModel is a folder
TOLERANCE = 1e-4  # max |export - Keras| over the check sketches, float32
CHECK_SHAPES = ((1, 64, 64), (2, 48, 80))  # (N, H, W) of the random check sketches: multiples of 16 (4 downsamplings)
INSTALL = "pip install 'sketchback[export]'"
# (module, pip package) each format needs beyond TensorFlow, to export and to run the export
NEEDS = {"onnx": (("tf2onnx", "tf2onnx"), ("onnx", "onnx"), ("onnxruntime", "onnxruntime")),
         "tflite": (), "saved_model": ()}


class MissingDependency(ImportError):
    """An optional package an export format needs is not installed (the message names the extra)."""


class ExportMismatch(ValueError):
    """The exported file, run in its runtime, does not compute what the Keras model computes."""


@dataclass(frozen=True)
class ExportReport:
    """What ``export_model`` wrote and how well it matched the Keras model."""

    path: Path
    fmt: str
    seconds: float  # the export itself (not the loading, not the check)
    size_bytes: int  # the file, or all files of a SavedModel folder
    max_abs_diff: float  # max |export - Keras float32| over the check sketches
    shapes: tuple[tuple[int, int, int, int], ...]  # (N, H, W, C) of the check sketches
    mixed_precision_diff: float | None = None  # max |export - the model as trained| when trained in mixed precision
    tolerance: float = TOLERANCE
    size_multiple: int = 4  # H and W must be multiples of this (2 ** the model's downsamplings)

    def summary(self) -> str:
        shapes = ", ".join("x".join(map(str, shape)) for shape in self.shapes)
        text = (f"{self.path} ({self.fmt}, {self.size_bytes / 1e6:.2f} MB, exported in {self.seconds:.1f} s): run "
                f"by {RUNTIMES[self.fmt]} on seeded random sketches {shapes}, max |export - Keras| = "
                f"{self.max_abs_diff:.2g} (limit {self.tolerance:g}); it takes any N, and H and W multiples of "
                f"{self.size_multiple}")
        if self.mixed_precision_diff is not None:
            text += (f"; the model computes in mixed precision, the export in float32: max |export - Keras in mixed "
                     f"precision| = {self.mixed_precision_diff:.2g}")
        return text


def require(fmt: str) -> None:
    """Raise MissingDependency, naming the extra to install, when a package ``fmt`` needs is missing."""
    for module, package in NEEDS[fmt]:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise MissingDependency(f"the {fmt} export needs the Python package {package}, which is not installed; "
                                    f"install the export extra: {INSTALL}") from exc


@functools.cache
def graph_upsampling():
    """The layer class GraphUpSampling2D, made on first use (importing this module does not import Keras)."""
    import keras

    class GraphUpSampling2D(keras.layers.Layer):
        """UpSampling2D (channels last) that traces with unknown height and width; only ever inside an export.

        Keras 3.15's ``ops.image.resize`` checks ``size[0] <= 0`` in Python, which a symbolic size
        cannot answer (keras-team/keras#22079), so UpSampling2D(interpolation="bilinear") fails to
        trace for a (None, None) input, in all three export formats. This calls the op Keras's
        TensorFlow backend calls (``tf.image.resize`` without antialiasing) with the size read from
        ``tf.shape``: the same numbers (the round-trip tests compare against the Keras layer).
        """

        def __init__(self, size: tuple[int, int], interpolation: str, **kwargs):
            super().__init__(**kwargs)
            self.size, self.interpolation = tuple(size), interpolation

        def call(self, x):
            import tensorflow as tf

            return tf.image.resize(x, tf.shape(x)[1:3] * tf.constant(self.size, tf.int32), method=self.interpolation)

        def compute_output_shape(self, shape):
            n, h, w, c = shape
            return n, None if h is None else h * self.size[0], None if w is None else w * self.size[1], c

    return GraphUpSampling2D


def float32_copy(model: keras.Model, traceable: bool = False) -> keras.Model:
    """The model computing in float32 in every layer, with the same (float32) weights.

    With ``traceable``, UpSampling2D layers become GraphUpSampling2D, so the model traces with free
    height and width.
    """

    import keras

    def clone(layer):
        if traceable and isinstance(layer, keras.layers.UpSampling2D):
            if layer.data_format != "channels_last":
                raise ValueError(f"layer {layer.name}: only channels_last UpSampling2D can be exported")
            return graph_upsampling()(layer.size, layer.interpolation, name=layer.name, dtype="float32")
        return layer.__class__.from_config({**layer.get_config(), "dtype": "float32"})

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy


def computes_in_float32(model: keras.Model) -> bool:
    return all(layer.dtype_policy.compute_dtype == "float32" for layer in model.layers)


def load_keras_model(path: str | os.PathLike) -> keras.Model:
    """A generator saved as .keras, checked to take one (N, H, W, C) input and give one output."""
    import keras

    import sketchback.models.generators  # noqa: F401 (registers TrainingSize, the layer a converted released model has)

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model {path} does not exist; give a generator .keras file, e.g. "
                                f"results/models/faces/generator.keras")
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as exc:
        raise ValueError(f"{path} is not a Keras model file ({type(exc).__name__}: {exc}); give a generator .keras "
                         f"file as the workflow writes it, e.g. results/models/faces/generator.keras") from exc
    if not isinstance(model, keras.Model) or len(model.inputs) != 1 or len(model.outputs) != 1 \
            or len(model.inputs[0].shape) != 4 or model.inputs[0].shape[-1] is None:
        raise ValueError(f"{path} is not a Sketchback generator: expected one (N, H, W, C) input and one output")
    return model


def input_signature(model: keras.Model) -> list:
    import tensorflow as tf

    channels = model.inputs[0].shape[-1]
    return [tf.TensorSpec((None, None, None, channels), tf.float32, name=model.layers[0].name)]


def export_onnx(model: keras.Model, path: Path) -> None:
    """ONNX through tf2onnx (what Keras's own ``export(format="onnx")`` uses on TensorFlow)."""
    require("onnx")
    converter_log = logging.getLogger("tf2onnx")  # it logs each optimisation pass at INFO
    level = converter_log.level
    converter_log.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():  # Keras's numpy 2 patch of tf2onnx probes the removed np.object
            warnings.simplefilter("ignore", FutureWarning)
            model.export(str(path), format="onnx", verbose=False, input_signature=input_signature(model))
    finally:
        converter_log.setLevel(level)


def export_tflite(model: keras.Model, path: Path) -> None:
    """A .tflite flatbuffer of TFLite built-in ops only, so that the plain LiteRT interpreter runs it."""
    import tensorflow as tf

    model.export(str(path), format="litert", verbose=False, input_signature=input_signature(model),
                 target_spec={"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]})


def export_saved_model(model: keras.Model, path: Path) -> None:
    """A SavedModel folder whose ``serve`` function (and ``serving_default`` signature) runs the generator."""
    model.export(str(path), format="tf_saved_model", verbose=False, input_signature=input_signature(model))


def onnx_runner(path: str | os.PathLike):
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda sketches: session.run(None, {name: sketches})[0]


def tflite_interpreter(path: str | os.PathLike):
    """The LiteRT interpreter (ai-edge-litert), or TensorFlow's deprecated copy where it has no wheel."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # e.g. Linux aarch64; tf.lite.Interpreter warns that it is deprecated
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    return Interpreter(model_path=str(path))


def tflite_runner(path: str | os.PathLike):
    interpreter = tflite_interpreter(path)
    entry, exit_ = interpreter.get_input_details()[0]["index"], interpreter.get_output_details()[0]["index"]

    def run(sketches: np.ndarray) -> np.ndarray:
        interpreter.resize_tensor_input(entry, sketches.shape)  # the input's size is free: set it per call
        interpreter.allocate_tensors()
        interpreter.set_tensor(entry, sketches)
        interpreter.invoke()
        return interpreter.get_tensor(exit_)

    return run


def saved_model_runner(path: str | os.PathLike):
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))  # held by the closure: its variables die with it
    return lambda sketches: loaded.serve(tf.constant(sketches)).numpy()


EXPORTERS = {"onnx": export_onnx, "tflite": export_tflite, "saved_model": export_saved_model}
# each gives a function float32 (N, H, W, C) -> (N, H, W, 3) that runs the exported file in its runtime
RUNNERS = {"onnx": onnx_runner, "tflite": tflite_runner, "saved_model": saved_model_runner}
RUNTIMES = {"onnx": "onnxruntime", "tflite": "the LiteRT (TFLite) interpreter", "saved_model": "TensorFlow"}


def check_sketches(channels: int, seed: int, shapes=CHECK_SHAPES) -> list[np.ndarray]:
    """Seeded random float32 inputs in [0, 1], one array per (N, H, W) in ``shapes``."""
    rng = np.random.default_rng(seed)
    return [rng.random((n, h, w, channels), dtype=np.float32) for n, h, w in shapes]


def max_abs_diff(model: keras.Model, path: Path, fmt: str, sketches: list[np.ndarray]) -> float:
    """max |export run in its runtime - Keras model| over the sketches (NaN when either gives NaN)."""
    run = RUNNERS[fmt](path)
    worst = 0.0
    for x in sketches:
        exported = np.asarray(run(x), dtype=np.float32)
        expected = np.asarray(model(x, training=False), dtype=np.float32)
        if exported.shape != expected.shape:
            raise ExportMismatch(f"the {fmt} export gives shape {exported.shape} for input {x.shape}; Keras gives "
                                 f"{expected.shape}")
        diff = float(np.max(np.abs(exported - expected)))
        if np.isnan(diff):
            return diff
        worst = max(worst, diff)
    return worst


def default_out(model_path: Path, fmt: str) -> Path:
    """generator.keras -> generator.onnx, generator.tflite, generator_saved_model/ (beside the model)."""
    return model_path.with_name(model_path.stem + ("_saved_model" if fmt == "saved_model" else SUFFIXES[fmt]))


def check_out(out: Path, fmt: str, model_path: Path) -> None:
    """Refuse an output path that would overwrite the model, a file of another kind, or a folder of other things."""
    if out.resolve() == model_path.resolve():
        raise ValueError(f"--out {out} is the model itself; choose another name")
    if fmt != "saved_model" and out.suffix.lower() != SUFFIXES[fmt]:
        raise ValueError(f"--out {out}: a {fmt} export is a {SUFFIXES[fmt]} file; name it e.g. "
                         f"{out.with_suffix(SUFFIXES[fmt]).name}")
    if fmt == "saved_model" and out.exists() and not (out / "saved_model.pb").is_file():
        raise ValueError(f"--out {out} exists and is not a SavedModel folder, which the export would replace; "
                         f"choose a new folder name")


@contextlib.contextmanager
def atomic_dir(path: Path):
    """Yield a temporary folder beside ``path``; it replaces ``path`` only when the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    old = tmp.with_name(tmp.name + ".old")
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes 0700 folders; give the one a plain mkdir would
        if path.exists():
            os.replace(path, old)
        try:
            os.replace(tmp, path)
        except OSError:
            if old.exists():  # put the earlier export back
                os.replace(old, path)
            raise
    finally:
        for leftover in (tmp, old):
            if leftover.exists():
                shutil.rmtree(leftover)


def written_bytes(path: Path) -> int:
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return path.stat().st_size


def export_model(model_path: str | os.PathLike, out_path: str | os.PathLike | None, fmt: str, seed: int = 0,
                 shapes=CHECK_SHAPES, tolerance: float = TOLERANCE) -> ExportReport:
    """Export the generator at ``model_path`` as ``fmt`` to ``out_path`` (None: beside the model), checked.

    The export runs in its runtime on seeded random sketches of ``shapes`` (N, H, W; H and W
    multiples of the model's size multiple) and must match the Keras model in float32 within ``tolerance``, else
    ExportMismatch and nothing is written. Raises MissingDependency when the format's packages
    are missing, ValueError for an unknown format or a file that is not a generator.
    """
    from sketchback.models.generators import size_multiple

    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    model_path = Path(model_path)
    out = Path(out_path) if out_path is not None else default_out(model_path, fmt)
    check_out(out, fmt, model_path)
    require(fmt)
    model = load_keras_model(model_path)
    multiple = size_multiple(model)
    if any(h % multiple or w % multiple for _, h, w in shapes):
        raise ValueError(f"{model_path} takes H and W multiples of {multiple}; cannot check it on {shapes}")
    reference, traceable = float32_copy(model), float32_copy(model, traceable=True)
    sketches = check_sketches(model.inputs[0].shape[-1], seed, shapes)
    log.info("exporting %s as %s to %s", model_path, fmt, out)
    with (atomic_dir(out) if fmt == "saved_model" else atomic_path(out)) as tmp:
        start = time.perf_counter()
        EXPORTERS[fmt](traceable, tmp)
        seconds = time.perf_counter() - start
        diff = max_abs_diff(reference, tmp, fmt, sketches)
        if not diff <= tolerance:
            raise ExportMismatch(f"{model_path}: the {fmt} export, run by {RUNTIMES[fmt]}, differs from the Keras "
                                 f"model by up to {diff:.3g} (limit {tolerance:g}); nothing was written")
        mixed = None if computes_in_float32(model) else max_abs_diff(model, tmp, fmt, sketches)
        size = written_bytes(tmp)
    return ExportReport(out, fmt, seconds, size, diff, tuple(x.shape for x in sketches), mixed, tolerance, multiple)
