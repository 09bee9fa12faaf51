"""The FID/KID reference network (sketchback.evaluation.inception) on a stand-in graph, and its download rule.

The real inception-2015-12-05 graph (95 MB) is not fetched: a tiny GraphDef with its tensor names and
its path from the JPEG decoder to ``pool_3`` (DecodeJpeg -> Cast -> ExpandDims -> ResizeBilinear ->
Sub -> Mul -> conv -> pool_3 -> the batch-1 pool_3/_reshape) stands in for it, resizing to 8 x 8
instead of 299 x 299. The download rule runs through the real Snakemake against a 127.0.0.1 server.
"""

import hashlib
import io
import tarfile

import numpy as np
import pytest
import snakemake_run
import tensorflow as tf
import yaml
from http_fixture import LocalServer, Route
from snakemake_run import REPO

from sketchback.data.extract import ArchiveError
from sketchback.data.fetch import DownloadError, Limits
from sketchback.evaluation.inception import (ARCHIVE_FILE, GRAPH_FILE, InceptionGraphError, download_inception_graph,
                                             inception_features, inception_network, read_graph_def)

SIZE = 8  # the stand-in's ResizeBilinear size (the real graph's is 299)
KERNEL = np.random.default_rng(0).normal(0, 0.3, (3, 3, 3, 2048)).astype("float32")
GRAPH = "resources/inception/classify_image_graph_def.pb"
FAST = Limits(retries=0, backoff=0.0, timeout=10.0, deadline=60.0)


def stand_in_graph_def(pool_name="pool_3"):
    """A GraphDef shaped like classify_image_graph_def.pb's path to pool_3, with a random conv."""
    graph = tf.Graph()
    with graph.as_default():
        jpeg = tf.compat.v1.placeholder(tf.string, [], name="DecodeJpeg/contents")
        x = tf.cast(tf.io.decode_jpeg(jpeg, channels=3, name="DecodeJpeg"), tf.float32, name="Cast")
        x = tf.expand_dims(x, 0, name="ExpandDims")
        x = tf.raw_ops.ResizeBilinear(images=x, size=tf.constant([SIZE, SIZE]), name="ResizeBilinear")
        x = tf.multiply(tf.subtract(x, 128.0, name="Sub"), 1 / 128.0, name="Mul")
        x = tf.nn.relu(tf.nn.conv2d(x, tf.constant(KERNEL), 1, "SAME"), name="conv")
        pool = tf.nn.avg_pool2d(x, SIZE, 1, "VALID", name=pool_name)
        tf.reshape(pool, [1, 2048], name=f"{pool_name}/_reshape")  # batch 1, as in the real graph
    return graph.as_graph_def().SerializeToString()


def reference_features(images):
    """What the stand-in's pool_3 is for uint8 images fed, as floats 0..255, at ExpandDims."""
    x = tf.raw_ops.ResizeBilinear(images=tf.constant(images.astype("float32")), size=[SIZE, SIZE])
    x = tf.nn.relu(tf.nn.conv2d((x - 128.0) / 128.0, KERNEL, 1, "SAME"))
    return tf.reduce_mean(x, axis=[1, 2]).numpy()


def tgz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def graph_bytes():
    return stand_in_graph_def()


@pytest.fixture(scope="module")
def network(graph_bytes, tmp_path_factory):
    path = tmp_path_factory.mktemp("graph") / GRAPH_FILE
    path.write_bytes(graph_bytes)
    return inception_network(path, sha256(graph_bytes))


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(1).integers(0, 256, (7, 20, 24, 3), dtype=np.uint8)


def test_features_are_pool_3_of_0_255_pixels_fed_at_expand_dims_and_resized_by_the_graph(network, images):
    features = inception_features(images, network, batch_size=4)
    assert features.shape == (7, 2048) and features.dtype == np.float64
    np.testing.assert_allclose(features, reference_features(images), rtol=1e-5, atol=1e-6)
    larger = inception_features(np.repeat(np.repeat(images, 2, 1), 2, 2), network)  # any size goes in: no resize before
    assert larger.shape == (7, 2048)


def test_features_are_deterministic_and_do_not_depend_on_the_batch_size(network, images):
    once = inception_features(images, network, batch_size=3)
    assert np.array_equal(once, inception_features(images, network, batch_size=3))
    for batch_size in (1, 7, 50):  # 7 % 3 != 0: the short last batch is used, unlike TTUR's
        np.testing.assert_allclose(inception_features(images, network, batch_size=batch_size), once, rtol=1e-5, atol=1e-6)


def test_grey_images_are_repeated_into_rgb_and_floats_are_refused(network, images):
    grey = images[..., 0]
    expected = inception_features(np.repeat(grey[..., None], 3, axis=-1), network)
    assert np.array_equal(inception_features(grey, network), expected)
    assert np.array_equal(inception_features(grey[..., None], network), expected)
    with pytest.raises(TypeError, match="uint8"):
        inception_features(images / 255.0, network)


def test_a_damaged_or_wrong_graph_is_refused_naming_the_file_and_the_fix(graph_bytes, tmp_path):
    path = tmp_path / GRAPH_FILE
    path.write_bytes(graph_bytes[: len(graph_bytes) // 3])
    with pytest.raises(InceptionGraphError, match=rf"{GRAPH_FILE} is not a TensorFlow GraphDef.*delete .*download_inception"):
        read_graph_def(path)
    path.write_bytes(stand_in_graph_def(pool_name="avgpool"))
    with pytest.raises(InceptionGraphError, match=r"without the Inception nodes \['pool_3'\].*place the real"):
        inception_network(path)
    path.write_bytes(graph_bytes)
    with pytest.raises(InceptionGraphError, match=f"has sha256 {sha256(graph_bytes)}, expected {'0' * 64}"):
        read_graph_def(path, "0" * 64)
    with pytest.raises(FileNotFoundError, match="download_inception"):
        read_graph_def(tmp_path / "absent.pb")


@pytest.fixture(scope="module")
def server(graph_bytes):
    with LocalServer() as local:
        archive = tgz({GRAPH_FILE: graph_bytes, "imagenet_synset_to_human_label_map.txt": b"n01440764\ttench\n"})
        local.routes[f"/models/{ARCHIVE_FILE}"] = Route(archive)
        local.routes["/empty.tgz"] = Route(tgz({"LICENSE": b"not the graph"}))
        local.routes["/truncated.tgz"] = Route(archive[: len(archive) // 2])
        yield local


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.mark.parametrize("route, sha, error, message", [
    ("/empty.tgz", None, InceptionGraphError, f"holds no {GRAPH_FILE}"),
    ("/truncated.tgz", None, DownloadError, "truncated|damaged|cannot be used|not usable"),
    (f"/models/{ARCHIVE_FILE}", "f" * 64, InceptionGraphError, f"sha256 .*expected {'f' * 64}.*archive is deleted: rerun"),
])
def test_a_bad_download_is_refused_and_leaves_nothing_that_looks_complete(server, tmp_path, route, sha, error, message):
    dest = tmp_path / "inception" / GRAPH_FILE
    with pytest.raises((error, ArchiveError), match=message):
        download_inception_graph(dest, [server.url(route)], sha, FAST)
    assert not dest.exists() and leftovers(dest.parent) == []


def test_the_download_rule_fetches_and_unpacks_only_the_graph_through_snakemake(server, graph_bytes, tmp_path):
    config = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    config.setdefault("evaluation", {}).update(inception_urls=[server.url("/missing.tgz"), server.url(f"/models/{ARCHIVE_FILE}")],
                                                inception_sha256=sha256(graph_bytes))
    config["download"] = {"retries": 0, "backoff": 0.0, "timeout": 10.0}
    result = snakemake_run.snakemake(tmp_path, config, "--cores", "1", GRAPH, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (tmp_path / GRAPH).read_bytes() == graph_bytes
    assert leftovers(tmp_path / "resources/inception") == [GRAPH_FILE]  # no archive, labels or staging folder
    assert "classify_image_graph_def.pb in place" in (tmp_path / "results/logs/download/inception.log").read_text()
    config["evaluation"]["inception_urls"] = [server.url("/elsewhere.tgz")]  # a new mirror reruns nothing
    assert snakemake_run.planned(snakemake_run.snakemake(tmp_path, config, "-n", GRAPH, timeout=300)) == {}
