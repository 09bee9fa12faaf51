"""The FID/KID reference network: 2048-d ``pool_3`` features of TensorFlow's inception-2015-12-05 graph.

Matches the original FID implementation, TTUR's ``fid.py`` (bioinf-jku/TTUR), and so clean-fid's
``legacy_tensorflow`` mode, which runs NVIDIA's TorchScript translation of the same graph:

- the graph is ``classify_image_graph_def.pb`` from
  http://download.tensorflow.org/models/image/imagenet/inception-2015-12-05.tgz, imported as a
  GraphDef (TTUR: ``tf.import_graph_def(graph_def, name='FID_Inception_Net')``);
- images are fed to the tensor ``ExpandDims:0`` (TTUR: ``'FID_Inception_Net/ExpandDims:0'``), which
  skips the graph's JPEG decoder (``DecodeJpeg`` -> ``Cast`` -> ``ExpandDims``): NHWC RGB float32 with
  the values 0..255 of uint8 pixels (TTUR: ``imread(...).astype(np.float32)``; clean-fid: uint8
  images become float tensors times 255);
- no resize before feeding: the graph's own ``ResizeBilinear`` to 299 x 299 (and its
  ``(x - 128) / 128``) follows ``ExpandDims``, so any image size goes in as it is (clean-fid's
  ``build_resizer("legacy_tensorflow")`` is the identity; its network resizes inside);
- the features are ``pool_3:0``, [N, 1, 1, 2048], reshaped to (N, 2048) float64 (TTUR's array).

TTUR makes the graph take batches by rewriting every op output's static batch dimension of 1 to
None (``_get_inception_layer``): the graph was exported for one JPEG. Under TensorFlow 2 the same is
done by ``input_map``: a [None, None, None, 3] float32 argument replaces ``ExpandDims:0``, and the
imported ops infer their shapes from it, inside a ``tf.compat.v1.wrap_function`` pruned to
``pool_3:0`` (the batch-1 ``pool_3/_reshape`` and the classifier after it are never run). One
difference: TTUR drops the images after the last whole batch; here every image is used.

The graph's file is made by rule download_inception (workflow/rules/inception.smk) or placed by hand.
No checksum of the archive or graph is published: with ``evaluation.inception_sha256`` unset, a file
is accepted when it parses as a GraphDef with the reference tensors, and ``sha256`` pins it. TensorFlow
is imported only when a graph is read, so planning the workflow never pays for it.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import numpy as np

from sketchback.data.extract import ArchiveError, extract, verify_archive
from sketchback.data.fetch import Limits, fetch
from sketchback.io import file_digest
from sketchback.logs import job_log

log = logging.getLogger(__name__)

INCEPTION_URL = "http://download.tensorflow.org/models/image/imagenet/inception-2015-12-05.tgz"
ARCHIVE_FILE = "inception-2015-12-05.tgz"
GRAPH_FILE = "classify_image_graph_def.pb"
INPUT_TENSOR = "ExpandDims:0"
FEATURE_TENSOR = "pool_3:0"
RESIZE_NODE = "ResizeBilinear"
FEATURES = 2048
SCOPE = "FID_Inception_Net"  # TTUR's import name


class InceptionGraphError(ValueError):
    """A graph file that is not the reference graph; the message names the file and the fix."""


def graph_fix(path: str | os.PathLike) -> str:
    return (f"delete {path} and rerun rule download_inception (workflow/rules/inception.smk), or place the real "
            f"{GRAPH_FILE} from {INCEPTION_URL} there by hand")


def check_graph_def(graph_def, path: Path | str, fix: str) -> None:
    """Refuse a GraphDef without the reference tensors, or whose resize does not follow ExpandDims."""
    nodes = {node.name: node for node in graph_def.node}
    missing = [name for name in (INPUT_TENSOR.split(":")[0], RESIZE_NODE, FEATURE_TENSOR.split(":")[0])
               if name not in nodes]
    if missing:
        raise InceptionGraphError(f"{path} is a TensorFlow graph without the Inception nodes {missing} "
                                  f"(not {GRAPH_FILE} of {ARCHIVE_FILE}): {fix}")
    if not nodes[RESIZE_NODE].input or nodes[RESIZE_NODE].input[0] != INPUT_TENSOR.split(":")[0]:
        raise InceptionGraphError(f"{path}: its {RESIZE_NODE} does not read {INPUT_TENSOR}, as the reference "
                                  f"graph's does: {fix}")


def read_graph_def(path: str | os.PathLike, sha256: str | None = None, fix: str | None = None,
                   name: str | None = None):
    """The GraphDef in ``path``, checked (its sha256 when pinned, then its tensors). An error names the
    file as ``name`` (default: its path) and says to do ``fix`` (default ``graph_fix(path)``)."""
    import tensorflow as tf
    from google.protobuf.message import DecodeError

    path = Path(path)
    fix, name = fix or graph_fix(path), name or str(path)
    if not path.is_file():
        raise FileNotFoundError(f"Inception graph {path} not found: run rule download_inception "
                                f"(workflow/rules/inception.smk), or place {GRAPH_FILE} from {INCEPTION_URL} there by hand")
    if sha256 and file_digest(path, "sha256") != sha256.strip().lower():
        raise InceptionGraphError(f"{name} has sha256 {file_digest(path, 'sha256')}, expected {sha256}: the file "
                                  f"is damaged or a different file; {fix}")
    graph_def = tf.compat.v1.GraphDef()
    try:
        graph_def.ParseFromString(path.read_bytes())
    except (DecodeError, RuntimeWarning) as error:
        raise InceptionGraphError(f"{name} is not a TensorFlow GraphDef ({error}; truncated or damaged?): "
                                  f"{fix}") from error
    check_graph_def(graph_def, name, fix)
    return graph_def


def inception_network(path: str | os.PathLike, sha256: str | None = None):
    """A TF2 function: float32 [N, H, W, 3] in 0..255 -> [N, 1, 1, 2048] ``pool_3`` (see the module docstring)."""
    import tensorflow as tf

    graph_def = read_graph_def(path, sha256)

    def imported(images):
        (pool3,) = tf.compat.v1.import_graph_def(graph_def, input_map={INPUT_TENSOR: images},
                                                 return_elements=[FEATURE_TENSOR], name=SCOPE)
        return pool3

    try:
        wrapped = tf.compat.v1.wrap_function(imported, [tf.TensorSpec([None, None, None, 3], tf.float32)])
        pool3 = wrapped.graph.get_tensor_by_name(f"{SCOPE}/{FEATURE_TENSOR}")
    except (ValueError, TypeError, tf.errors.OpError) as error:
        raise InceptionGraphError(f"{path} cannot be imported as the Inception graph ({error}): "
                                  f"{graph_fix(path)}") from error
    return wrapped.prune(feeds=wrapped.inputs, fetches=pool3)


def as_rgb255(images: np.ndarray) -> np.ndarray:
    """uint8 images, [N, H, W, 3] or grey [N, H, W] / [N, H, W, 1], as float32 RGB 0..255.

    Grey is repeated into three channels, as PIL's ``convert("RGB")`` (clean-fid) does.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise TypeError(f"Inception features take uint8 images (0..255), not {images.dtype}; "
                        f"convert [0, 1] floats with np.round(x * 255).astype(np.uint8)")
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(f"Inception features take [N, H, W, 3] or grey [N, H, W(, 1)] images, not {images.shape}")
    return np.repeat(images, 3, axis=-1).astype(np.float32) if images.shape[-1] == 1 else images.astype(np.float32)


def inception_features(images: np.ndarray, network, batch_size: int = 50) -> np.ndarray:
    """(N, 2048) float64 ``pool_3`` features of uint8 ``images`` (see ``as_rgb255``), ``batch_size`` at a time.

    network: from ``inception_network``. Every image is used, the last batch possibly short.
    """
    import tensorflow as tf

    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    images = np.asarray(images)
    out = np.empty((len(images), FEATURES), dtype=np.float64)
    batches = range(0, len(images), batch_size)
    for number, start in enumerate(batches, 1):
        pool3 = np.asarray(network(tf.constant(as_rgb255(images[start:start + batch_size]))))
        if pool3.size != len(pool3) * FEATURES:
            raise InceptionGraphError(f"the graph's {FEATURE_TENSOR} has shape {pool3.shape[1:]}, not (1, 1, "
                                      f"{FEATURES}): not the reference Inception graph")
        out[start:start + len(pool3)] = pool3.reshape(len(pool3), FEATURES)
        if number % 20 == 0 or number == len(batches):
            log.info("Inception features: batch %d of %d", number, len(batches))
    return out


def download_inception_graph(dest: str | os.PathLike, urls: list[str], sha256: str | None = None,
                             limits: Limits = Limits()) -> Path:
    """Fetch ``ARCHIVE_FILE`` next to ``dest``, unpack it safely and move only its ``GRAPH_FILE`` onto ``dest``.

    The archive is kept when it reads through whole (``verify_archive``); the graph when it passes
    ``read_graph_def`` (``sha256`` when pinned). A damaged archive, or one without a usable graph, is
    deleted (a rerun downloads it again) and ``dest`` is not made. The archive goes once ``dest`` is in place.
    """
    dest = Path(dest)
    archive, staging = dest.parent / ARCHIVE_FILE, dest.parent / f".{ARCHIVE_FILE}.unpacked"
    fetch(urls, archive, {}, limits=limits, verify=verify_archive)
    try:
        extract(archive, staging)
        graph = staging / GRAPH_FILE
        if not graph.is_file():
            raise InceptionGraphError(f"{archive} holds no {GRAPH_FILE} at its top level: not the Inception "
                                      f"archive {ARCHIVE_FILE}; check the URL in evaluation.inception_urls, or "
                                      f"place {GRAPH_FILE} at {dest} by hand")
        read_graph_def(graph, sha256, name=f"the {GRAPH_FILE} in {archive}",
                       fix=f"the archive is deleted: rerun to download it again, or place the real {GRAPH_FILE} "
                           f"at {dest} by hand")
        os.replace(graph, dest)
    except (ArchiveError, InceptionGraphError):
        archive.unlink(missing_ok=True)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    archive.unlink(missing_ok=True)
    log.info("%s: %s in place (sha256 %s)", dest, GRAPH_FILE, file_digest(dest, "sha256"))
    return dest


def run_download_inception(dest: str | os.PathLike, urls: list[str], sha256: str | None, limits: dict,
                           log_path: str | os.PathLike) -> Path:
    """Body of the download_inception rule: ``download_inception_graph``, logging to ``log_path``."""
    with job_log(log_path):
        return download_inception_graph(dest, urls, sha256, Limits(**limits))
