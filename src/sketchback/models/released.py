"""The original study's released weight files, read and converted into a model of this study.

The original (GitHub BKHMSI/Sketchback, Keras 2) published two files written by Keras 2's
``model.save_weights`` of its whole *training* model: input -> generator -> a ``Lambda`` (VGG
preprocessing, no weights) -> a nested VGG16 feature model (block1_conv1 ... block2_conv2). Keras 2's
legacy HDF5 layout: the root's ``layer_names`` attribute lists the layers in the model's order; each
layer has a group of that name whose ``weight_names`` attribute names its datasets. A whole-model
file (``model.save``) has the same layout inside a ``model_weights`` group, next to a
``model_config`` (JSON) that gives the input shape it was trained at.

The generator's layers are matched by order and shape, never by name: Keras 2 numbered default
names per session (conv2d_1, conv2d_2 ... offset by the VGG16 built beside it) and the original
named the first convolution of each stage block2_conv1 ... block11_conv1, as VGG16 names its own.
Layers without weights and the VGG16 group are skipped; every other weighted layer must be one
convolution's kernel and bias, 24 of them with the original generator's shapes in order
(``GENERATOR_KERNELS``, ``sketchback.models.generators.original_generator``).

No checksum of the files was published, so a download is trusted only when it opens as HDF5 and
its weighted layers match the original generator's shapes (``check_original_weights``, the
download rule's check); anything else is refused with a ``ReleasedWeightsError`` naming the file,
what does not match and what to do.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
from pathlib import Path

import h5py
import numpy as np

from sketchback.io import atomic_path

log = logging.getLogger(__name__)

# The original generator's 24 convolution kernels in order, (rows, columns, in, out); each has a bias
# of ``out`` values. A 2x2 kernel is the one before each max-pool / upsampling of a stage.
GENERATOR_KERNELS: tuple[tuple[int, int, int, int], ...] = (
    (3, 3, 1, 32), (2, 2, 32, 32),  # max-pool
    (3, 3, 32, 64), (2, 2, 64, 64),  # max-pool
    (3, 3, 64, 128), (3, 3, 128, 128),  # max-pool
    (3, 3, 128, 256), *[(3, 3, 256, 256)] * 5,  # five residual additions
    (2, 2, 256, 128), (3, 3, 128, 128), (3, 3, 128, 128), (3, 3, 128, 128),  # upsampling after the 2x2
    (2, 2, 128, 64), (3, 3, 64, 64), (3, 3, 64, 64), (3, 3, 64, 64),
    (2, 2, 64, 32), (3, 3, 32, 32), (3, 3, 32, 32),
    (3, 3, 32, 3),  # sigmoid
)
# The VGG16 convolutions (block1_conv1 ... block2_conv2) the training model's feature loss nests.
VGG_FEATURE_KERNELS = ((3, 3, 3, 64), (3, 3, 64, 64), (3, 3, 64, 128), (3, 3, 128, 128))
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
DOWNLOAD_AGAIN = "download it again (delete it; the workflow's download_released rule fetches it anew)"
USE_ORIGINAL = ("use one of the weight files the original published (README, \"The original's released "
                "models\")")


class ReleasedWeightsError(ValueError):
    """A file that is not one of the original's weight files; the message names the file, what does
    not match and the fix."""


def read_original_weights(path: str | os.PathLike) -> list[tuple[np.ndarray, np.ndarray]]:
    """The original generator's 24 (kernel, bias) pairs, float32, in the network's order.

    Raises FileNotFoundError for a missing file and ReleasedWeightsError for anything that is not one
    of the original's weight files (not HDF5, truncated, not a Keras layout, Theano kernels, another
    network's layers).
    """
    path = Path(path)
    _check_signature(path)
    with _open_hdf5(path) as f:
        root = _weights_root(path, f)
        _check_backend(path, root, f)
        layers = _weighted_layers(path, root)
        _check_layers(path, layers)
        return [_read_pair(path, group, names) for _, group, names, _ in layers]


def check_original_weights(path: str | os.PathLike) -> None:
    """Raise unless ``path`` is one of the original's weight files (the downloader's verify check)."""
    read_original_weights(path)


def training_size_of(path: str | os.PathLike) -> tuple[int, int] | None:
    """The (rows, columns) of a whole-model file's fixed input shape (its ``model_config``), or None
    for a weights-only file or an input of any size."""
    path = Path(path)
    _check_signature(path)
    with _open_hdf5(path) as f:
        config = f.attrs.get("model_config")
    if config is None:
        return None
    try:
        config = json.loads(config.decode("utf8") if isinstance(config, bytes) else config)
        inputs = [layer["config"] for layer in config["config"]["layers"] if layer["class_name"] == "InputLayer"]
        shapes = [spec.get("batch_input_shape") or spec.get("batch_shape") for spec in inputs]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        log.warning("%s: its model_config cannot be read (%s); no training size taken from it", path, exc)
        return None
    if len(shapes) != 1 or not shapes[0] or len(shapes[0]) != 4:
        return None
    rows, cols = shapes[0][1:3]
    return (rows, cols) if isinstance(rows, int) and isinstance(cols, int) else None


def parse_training_size(text: str) -> tuple[int, int]:
    """``"88x72"`` (rows x columns) as (88, 72); ValueError unless both are positive multiples of 8."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not match or not all(int(n) > 0 and int(n) % 8 == 0 for n in match.groups()):
        raise ValueError(f"{text!r}: give rows x columns, both positive multiples of 8 (the original generator's "
                         f"three max-pools), e.g. 88x72")
    return int(match[1]), int(match[2])


def import_original(weights: str | os.PathLike, out: str | os.PathLike, *,
                    training_size: tuple[int, int] | None = None, origin: str = "") -> Path:
    """Convert one of the original's weight files into ``out`` (a .keras model of ``original_generator``).

    training_size: (rows, columns) it was trained at, recorded in the model; default: a whole-model
    file's input shape, else none. origin: where the weights came from (default: the file's name).
    Nothing is written unless the file is accepted; ``out`` is written atomically.
    """
    import keras

    from sketchback.models.generators import original_generator

    weights, out = Path(weights), Path(out)
    if out.suffix != ".keras":
        raise ValueError(f"{out}: the converted model is a Keras 3 model file; name it with .keras, e.g. "
                         f"{out.with_suffix('.keras')}")
    pairs = read_original_weights(weights)
    size = _chosen_training_size(weights, training_size)
    generator = original_generator(training_size=size, origin=origin or weights.name)
    convolutions = [layer for layer in generator.layers if isinstance(layer, keras.layers.Conv2D)]
    for layer, pair in zip(convolutions, pairs, strict=True):
        layer.set_weights(list(pair))
    with atomic_path(out) as tmp:
        generator.save(tmp)
    trained = f"trained at {size[0]}x{size[1]}" if size else "no training size recorded"
    log.info("%s: the original generator's %d convolutions -> %s (%s)", weights, len(pairs), out, trained)
    return out


def _chosen_training_size(weights: Path, given: tuple[int, int] | None) -> tuple[int, int] | None:
    """``given``, else the whole-model file's input size when it is one the generator can record."""
    found = training_size_of(weights)
    if given is not None:
        if found is not None and tuple(found) != tuple(given):
            log.warning("%s: its model_config says it was trained at %dx%d; recording the %dx%d given",
                        weights, *found, *given)
        return tuple(given)
    if found is not None and (found[0] % 8 or found[1] % 8):
        log.warning("%s: its input shape %dx%d is not a multiple of 8; no training size recorded (give one)",
                    weights, *found)
        return None
    return found


def _check_signature(path: Path) -> None:
    """Refuse a file that does not start with HDF5's signature, saying what it starts with."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; give the path of one of the original's weight files "
                                f"(the workflow downloads them to resources/released/)")
    with open(path, "rb") as handle:
        start = handle.read(1024)
    if start.startswith(HDF5_SIGNATURE):
        return
    if not start:
        raise ReleasedWeightsError(f"{path} is empty, not the original's weights; {DOWNLOAD_AGAIN}")
    raise ReleasedWeightsError(f"{path} is not an HDF5 file: it starts with {_opening(start)}; {DOWNLOAD_AGAIN}")


def _opening(start: bytes) -> str:
    """What a file's first bytes are, for a message: "'<!DOCTYPE html…': a web page, not the weights"."""
    text = start.decode("utf8", "replace").lstrip()
    readable = all(c.isprintable() or c.isspace() for c in text[:40])
    words = " ".join(text[:40].split())
    shown = repr(words + "…" * (len(text) > 40)) if readable else repr(start[:16])
    if "<html" in text.lower() or text.lower().startswith("<!doctype"):
        return f"{shown}: a web page (a sign-in or error page of the download site), not the weights"
    if start.startswith(b"PK\x03\x04"):
        return f"{shown}: a zip archive (a Keras 3 .keras model?), not the original's HDF5 weights"
    return shown


@contextlib.contextmanager
def _open_hdf5(path: Path):
    """``h5py.File(path, "r")``, whose open errors say the file is truncated or damaged."""
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise _damaged(path, exc) from exc
    with f:
        yield f


def _damaged(path: Path, exc: Exception) -> ReleasedWeightsError:
    return ReleasedWeightsError(f"{path} is a truncated or damaged HDF5 file ({exc}); {DOWNLOAD_AGAIN}")


def _names(group: h5py.Group, name: str) -> list[str]:
    """A list attribute as Keras writes it: ``name``, or split over ``name0``, ``name1``... when large."""
    if name in group.attrs:
        chunks = [group.attrs[name]]
    else:
        chunks = []
        while f"{name}{len(chunks)}" in group.attrs:
            chunks.append(group.attrs[f"{name}{len(chunks)}"])
    return [n.decode("utf8") if isinstance(n, bytes) else str(n) for chunk in chunks for n in np.atleast_1d(chunk)]


def _has_names(group: h5py.Group, name: str) -> bool:
    return name in group.attrs or f"{name}0" in group.attrs


def _weights_root(path: Path, f: h5py.File) -> h5py.Group:
    """The group holding the layers: the root (save_weights) or ``model_weights`` (model.save)."""
    if _has_names(f, "layer_names"):
        return f
    if isinstance(f.get("model_weights"), h5py.Group) and _has_names(f["model_weights"], "layer_names"):
        return f["model_weights"]
    raise ReleasedWeightsError(f"{path} is HDF5 but not a Keras weights file (no 'layer_names' attribute at its root "
                               f"or in a 'model_weights' group); {USE_ORIGINAL}")


def _check_backend(path: Path, root: h5py.Group, f: h5py.File) -> None:
    """Refuse Theano files: Theano convolves, so their kernels would need flipping."""
    backend = root.attrs.get("backend", f.attrs.get("backend", b""))
    backend = backend.decode("utf8") if isinstance(backend, bytes) else str(backend)
    if backend == "theano":
        raise ReleasedWeightsError(f"{path} was written with Keras's Theano backend, whose convolution kernels are "
                                   f"flipped relative to TensorFlow's; only TensorFlow-backend files are read: "
                                   f"{USE_ORIGINAL}")


def _weighted_layers(path: Path, root: h5py.Group) -> list[tuple[str, h5py.Group, list[str], list[tuple]]]:
    """(layer name, group, weight names, weight shapes) of each layer with weights, in the model's
    order, the VGG16 feature model skipped."""
    layers = []
    for name in _names(root, "layer_names"):
        group = root.get(name)
        if not isinstance(group, h5py.Group):
            raise ReleasedWeightsError(f"{path} lists layer {name!r} in layer_names but has no group for it: a "
                                       f"damaged file; {DOWNLOAD_AGAIN}")
        names = _names(group, "weight_names")
        try:
            shapes = [group[weight].shape for weight in names]
        except (KeyError, OSError) as exc:
            raise _damaged(path, exc) from exc
        if names and not _is_vgg_features(shapes):
            layers.append((name, group, names, shapes))
    return layers


def _is_vgg_features(shapes: list[tuple]) -> bool:
    """Whether a layer's weights are the nested VGG16 feature model (its four kernels and biases)."""
    return [tuple(s) for s in shapes[::2]] == list(VGG_FEATURE_KERNELS) and \
        [tuple(s) for s in shapes[1::2]] == [(k[-1],) for k in VGG_FEATURE_KERNELS]


def _check_layers(path: Path, layers: list[tuple[str, h5py.Group, list[str], list[tuple]]]) -> None:
    """Refuse unless the weighted layers are the original generator's 24 convolutions, in order."""
    expected = len(GENERATOR_KERNELS)
    if len(layers) != expected:
        raise ReleasedWeightsError(f"{path} holds {len(layers)} layer{'s' * (len(layers) != 1)} with weights where "
                                   f"the original generator has {expected} convolutions: it is the weights of "
                                   f"another network; {USE_ORIGINAL}")
    for position, ((name, _, _, shapes), kernel) in enumerate(zip(layers, GENERATOR_KERNELS), start=1):
        if len(shapes) != 2 or len(shapes[0]) != 4 or tuple(shapes[1]) != (shapes[0][-1],):
            raise ReleasedWeightsError(f"{path}: layer {position} of {expected} ({name}) has weights of shapes "
                                       f"{_shapes(shapes)} where each of the original generator's "
                                       f"convolutions has a kernel and a bias: it is the weights of another "
                                       f"network; {USE_ORIGINAL}")
        if tuple(shapes[0]) != kernel:
            raise ReleasedWeightsError(f"{path}: layer {position} of {expected} ({name}) has kernel "
                                       f"{tuple(shapes[0])} where the original generator's {_ordinal(position)} "
                                       f"convolution has {kernel}: it is the weights of another network; "
                                       f"{USE_ORIGINAL}")


def _read_pair(path: Path, group: h5py.Group, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """A convolution's (kernel, bias) as float32, a read error reported as a damaged file."""
    try:
        return tuple(np.asarray(group[name], dtype=np.float32) for name in names)
    except OSError as exc:
        raise _damaged(path, exc) from exc


def _shapes(shapes: list[tuple]) -> str:
    """A layer's weight shapes for a message, the first four of a long list."""
    shown = ", ".join(str(tuple(s)) for s in shapes[:4])
    return f"{shown}, ... ({len(shapes)} weights)" if len(shapes) > 4 else shown


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
