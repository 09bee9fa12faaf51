"""The original's released weight files: converted by layer order and shape, checked against an
independent NumPy forward pass of the original's network, and every other file refused."""

import json

import h5py
import keras
import numpy as np
import pytest

from sketchback.tools.cli import main
from sketchback.models.generators import TrainingSize, original_generator, trained_size
from sketchback.models.released import (GENERATOR_KERNELS, ReleasedWeightsError, check_original_weights, import_original,
                                 read_original_weights, training_size_of)

# The original's generator_model as its script writes it, in Keras 2's layer order: c = ReLU conv
# (":name" where the original named it), r = ReLU conv then an Add of it to its input, P = max-pool,
# U = nearest upsampling, s = the sigmoid conv.
SEQUENCE = ("c c P c:block2_conv1 c P c:block3_conv1 c P c:block4_conv1 r r r:block5_conv1 r r "
            "c:block6_conv1 U c:block7_conv1 r r c:block8_conv1 U c:block9_conv1 r r "
            "c:block10_conv1 U c:block11_conv1 r s").split()
KERNELS = [(3, 3, 1, 32), (2, 2, 32, 32), (3, 3, 32, 64), (2, 2, 64, 64), (3, 3, 64, 128), (3, 3, 128, 128),
           (3, 3, 128, 256)] + [(3, 3, 256, 256)] * 5 + [(2, 2, 256, 128)] + [(3, 3, 128, 128)] * 3 + \
          [(2, 2, 128, 64)] + [(3, 3, 64, 64)] * 3 + [(2, 2, 64, 32)] + [(3, 3, 32, 32)] * 2 + [(3, 3, 32, 3)]
VGG = [(3, 3, 3, 64), (3, 3, 64, 64), (3, 3, 64, 128), (3, 3, 128, 128)]
HTML = (b"<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title></head>"
        b"<body>Google Drive can't scan this file for viruses.</body></html>")


def random_pairs(kernels, seed):
    """Seeded (kernel, bias) pairs, He-normal-like and damped on residual convs so activations stay moderate."""
    rng = np.random.default_rng(seed)
    pairs = []
    for kh, kw, cin, cout in kernels:
        gain = 0.5 if cin == cout and kh == 3 else 1.0
        kernel = rng.normal(0, gain * np.sqrt(2 / (kh * kw * cin)), (kh, kw, cin, cout))
        pairs.append((kernel.astype(np.float32), rng.normal(0, 0.05, cout).astype(np.float32)))
    return pairs


def conv_layer(name, scope, pair):
    return name, [(f"{scope}/kernel:0", pair[0]), (f"{scope}/bias:0", pair[1])]


def training_model_layers(pairs, offset=3):
    """(layer name, [(weight name, array)]) of the original's full_model in Keras 2's model.layers order:
    default names numbered from an offset, the original's block names (their TensorFlow scopes
    uniquified to block2_conv1_1 ..., as VGG16 had taken them), then the Lambda and the nested VGG."""
    convs, counts, layers = iter(pairs), {"conv2d": offset, "add": 0, "max_pooling2d": 0, "up_sampling2d": 0}, []

    def numbered(kind):
        counts[kind] += 1
        return f"{kind}_{counts[kind]}"

    layers.append(("input_2", []))
    for token in SEQUENCE:
        kind, _, explicit = token.partition(":")
        if kind in "crs":
            name = explicit or numbered("conv2d")
            layers.append(conv_layer(name, f"{name}_1" if explicit else name, next(convs)))
            if kind == "r":
                layers.append((numbered("add"), []))
        else:
            layers.append((numbered("max_pooling2d" if kind == "P" else "up_sampling2d"), []))
    vgg_names = ["block1_conv1", "block1_conv2", "block2_conv1", "block2_conv2"]
    vgg_pairs = zip(vgg_names, random_pairs(VGG, seed=99))
    vgg_weights = [weight for name, pair in vgg_pairs for weight in conv_layer(name, name, pair)[1]]
    return layers + [("lambda_1", []), ("model_1", vgg_weights)]


def write_layers(group, layers, backend):
    """Keras 2's save_weights_to_hdf5_group: layer_names, backend, keras_version, a group per layer."""
    group.attrs["layer_names"] = [name.encode() for name, _ in layers]
    group.attrs["backend"] = backend
    group.attrs["keras_version"] = b"2.0.8"
    for name, weights in layers:
        layer = group.create_group(name)
        layer.attrs["weight_names"] = [w.encode() for w, _ in weights]
        for weight, value in weights:
            layer.create_dataset(weight, data=value)


def write_keras2(path, layers, whole_model_input=None, backend=b"tensorflow"):
    """A save_weights file, or with ``whole_model_input`` (rows, columns) the file model.save writes."""
    with h5py.File(path, "w") as f:
        if whole_model_input is None:
            write_layers(f, layers, backend)
            return path
        rows, cols = whole_model_input
        input_layer = {"class_name": "InputLayer", "name": "input_2", "inbound_nodes": [],
                       "config": {"batch_input_shape": [None, rows, cols, 1], "dtype": "float32", "name": "input_2"}}
        config = {"class_name": "Model", "config": {"name": "architect", "input_layers": [["input_2", 0, 0]],
                                                    "layers": [input_layer]}}
        f.attrs.update(model_config=json.dumps(config).encode(), keras_version=b"2.0.8", backend=backend,
                       training_config=json.dumps({"loss_weights": [1, 0.01]}).encode())
        write_layers(f.create_group("model_weights"), layers, backend)
        optimizer = f.create_group("optimizer_weights")
        optimizer.attrs["weight_names"] = [b"Adam/iterations:0", b"Adam/lr:0"]
        optimizer.create_dataset("Adam/iterations:0", data=np.int64(120000))
        optimizer.create_dataset("Adam/lr:0", data=np.float32(1e-4))
    return path


# An independent forward pass of the original's network (no Keras): NHWC float64.
def conv2d(x, kernel, bias):
    """TensorFlow's "same" convolution (cross-correlation), stride 1: extra padding goes after."""
    kh, kw = kernel.shape[:2]
    padded = np.pad(x, ((0, 0), ((kh - 1) // 2, kh // 2), ((kw - 1) // 2, kw // 2), (0, 0)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (kh, kw), axis=(1, 2))  # N, H, W, C, kh, kw
    return np.einsum("nhwcij,ijco->nhwo", windows, kernel.astype(np.float64)) + bias


def relu(x):
    return np.maximum(x, 0)


def max_pool(x):
    n, h, w, c = x.shape
    return x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


def upsample(x):
    return x.repeat(2, axis=1).repeat(2, axis=2)


def numpy_original(sketch, pairs):
    """The original's generator_model: encoder to w/8, residual bottleneck, decoder back, sigmoid."""
    pairs = iter(pairs)

    def conv(x):
        return relu(conv2d(x, *next(pairs)))

    x = sketch.astype(np.float64)
    for _ in range(3):
        x = max_pool(conv(conv(x)))
    x = conv(x)
    for _ in range(5):
        x = x + conv(x)
    for additions in (2, 2, 1):
        x = conv(upsample(conv(x)))
        for _ in range(additions):
            x = x + conv(x)
    return 1 / (1 + np.exp(-conv2d(x, *next(pairs))))


def assert_matches_numpy(model_path, pairs, shape=(24, 40)):
    sketch = np.random.default_rng(7).random((2, *shape, 1)).astype(np.float32)
    expected = numpy_original(sketch, pairs)
    assert 0.05 < expected.std() and 0.5 < np.mean((expected > 0.02) & (expected < 0.98)), "saturated test weights"
    got = np.asarray(keras.models.load_model(model_path, compile=False)(sketch))
    assert got.shape == (2, *shape, 3)
    assert np.abs(got - expected).max() < 1e-4


@pytest.fixture(scope="module")
def pairs():
    return random_pairs(KERNELS, seed=1)


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory, pairs):
    return write_keras2(tmp_path_factory.mktemp("released") / "weights_faces", training_model_layers(pairs))


def test_the_reader_expects_the_kernels_of_the_original_generator():
    generator = original_generator()
    kernels = [tuple(layer.kernel.shape) for layer in generator.layers if isinstance(layer, keras.layers.Conv2D)]
    assert kernels == list(GENERATOR_KERNELS) == KERNELS


def test_a_weights_file_converts_by_layer_order_into_the_original_generator(weights_file, pairs, tmp_path):
    read = read_original_weights(weights_file)
    assert len(read) == 24 and all(np.array_equal(a, b) for pair, want in zip(read, pairs) for a, b in zip(pair, want))
    assert training_size_of(weights_file) is None
    out = import_original(weights_file, tmp_path / "generator.keras", training_size=(88, 72), origin="faces")
    assert_matches_numpy(out, pairs)
    model = keras.models.load_model(out, compile=False)
    assert trained_size(model) == (88, 72)
    assert [layer.origin for layer in model.layers if isinstance(layer, TrainingSize)] == ["faces"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["generator.keras"]


def test_a_whole_model_file_converts_and_records_its_input_size(pairs, tmp_path):
    whole = write_keras2(tmp_path / "model_buildings.h5", training_model_layers(pairs, offset=17),
                         whole_model_input=(120, 160))
    assert training_size_of(whole) == (120, 160)
    out = import_original(whole, tmp_path / "generator.keras")
    assert trained_size(keras.models.load_model(out, compile=False)) == (120, 160)
    assert_matches_numpy(out, pairs, shape=(16, 32))
    given = import_original(whole, tmp_path / "given.keras", training_size=(64, 64))
    assert trained_size(keras.models.load_model(given, compile=False)) == (64, 64)


def test_a_whole_model_file_of_a_size_the_generator_cannot_record_converts_without_one(pairs, tmp_path, caplog):
    # the original script's own m, n = 205, 282 are no multiples of 8: nothing to record, and it says so
    whole = write_keras2(tmp_path / "model.h5", training_model_layers(pairs), whole_model_input=(205, 282))
    with caplog.at_level("WARNING", logger="sketchback.models.released"):
        out = import_original(whole, tmp_path / "generator.keras")
    assert "input shape 205x282 is not a multiple of 8; no training size recorded" in caplog.text
    assert trained_size(keras.models.load_model(out, compile=False)) is None


def test_a_training_model_keras_itself_saved_as_h5_converts(tmp_path):
    generator = original_generator()
    for layer, pair in zip([l for l in generator.layers if isinstance(l, keras.layers.Conv2D)],
                           random_pairs(KERNELS, seed=3)):
        layer.set_weights(list(pair))
    vgg_input = keras.Input((None, None, 3))
    x = vgg_input
    for i, kernel in enumerate(VGG):
        x = keras.layers.Conv2D(kernel[-1], 3, padding="same", name=f"block{i // 2 + 1}_conv{i % 2 + 1}")(x)
    vgg = keras.Model(vgg_input, x, name="vgg_features")
    vgg.trainable = False
    training = keras.Model(generator.input, [generator.output, vgg(generator.output)], name="architect")
    training.save(tmp_path / "keras_written.h5")  # Keras's own legacy HDF5 writer, model_weights layout
    out = import_original(tmp_path / "keras_written.h5", tmp_path / "generator.keras")
    sketch = np.random.default_rng(2).random((1, 16, 24, 1)).astype(np.float32)
    converted = keras.models.load_model(out, compile=False)
    assert trained_size(converted) is None  # its input takes any size: nothing to record
    assert np.abs(np.asarray(converted(sketch)) - np.asarray(generator(sketch))).max() < 1e-5


def another_network(tmp_path, pairs):
    """A plain 13-convolution network's weights (VGG16's sizes), in Keras 2's layout."""
    kernels = [(3, 3, 3, 64), (3, 3, 64, 64)] + [(3, 3, 64, 128)] + [(3, 3, 128, 128)] * 10
    layers = [conv_layer(f"conv2d_{i}", f"conv2d_{i}", p) for i, p in enumerate(random_pairs(kernels, 5), 1)]
    return write_keras2(tmp_path / "other.h5", [("input_1", [])] + layers)


def one_kernel_swapped(tmp_path, pairs):
    swapped = list(pairs)
    swapped[4] = random_pairs([(3, 3, 32, 64)], seed=4)[0]
    return write_keras2(tmp_path / "swapped.h5", training_model_layers(swapped))


def truncated(tmp_path, pairs):
    data = write_keras2(tmp_path / "full.h5", training_model_layers(pairs)).read_bytes()
    (tmp_path / "full.h5").unlink()
    (tmp_path / "half.h5").write_bytes(data[:len(data) // 2])
    return tmp_path / "half.h5"


def plain_hdf5(tmp_path, pairs):
    with h5py.File(tmp_path / "data.h5", "w") as f:
        f.create_dataset("images", data=np.zeros((2, 8, 8)))
    return tmp_path / "data.h5"


def web_page(tmp_path, pairs):
    (tmp_path / "weights_faces").write_bytes(HTML)
    return tmp_path / "weights_faces"


def theano(tmp_path, pairs):
    return write_keras2(tmp_path / "theano.h5", training_model_layers(pairs), backend=b"theano")


REFUSALS = {
    "web page": (web_page, r"is not an HDF5 file: it starts with '<!DOCTYPE html><html><head><title>Google…': a web "
                           r"page .*, not the weights; download it again"),
    "truncated": (truncated, r"half.h5 is a truncated or damaged HDF5 file \(.*\); download it again"),
    "another network": (another_network, r"other.h5 holds 13 layers with weights where the original generator has 24 "
                                         r"convolutions: it is the weights of another network"),
    "a kernel swapped": (one_kernel_swapped, r"swapped.h5: layer 5 of 24 \(block3_conv1\) has kernel \(3, 3, 32, 64\) "
                                             r"where the original generator's 5th convolution has \(3, 3, 64, 128\)"),
    "not keras": (plain_hdf5, r"data.h5 is HDF5 but not a Keras weights file \(no 'layer_names'"),
    "theano": (theano, r"theano.h5 was written with Keras's Theano backend, whose convolution kernels are flipped"),
}


@pytest.mark.parametrize("case", REFUSALS)
def test_a_file_that_is_not_the_originals_weights_is_refused_and_nothing_written(case, tmp_path, pairs):
    make, message = REFUSALS[case]
    path = make(tmp_path, pairs)
    with pytest.raises(ReleasedWeightsError, match=message):
        check_original_weights(path)
    with pytest.raises(ReleasedWeightsError, match=message):
        import_original(path, tmp_path / "generator.keras", training_size=(88, 72))
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no OUT, no temporary file


def test_the_output_must_be_a_keras_file(weights_file, tmp_path):
    with pytest.raises(ValueError, match=r"generator.h5: .* name it with .keras, e.g. .*generator.keras"):
        import_original(weights_file, tmp_path / "generator.h5")
    assert not list(tmp_path.iterdir())


def test_cli_import_original_writes_a_model_that_runs_at_its_training_size(weights_file, pairs, tmp_path, caplog):
    out = tmp_path / "models" / "generator.keras"
    with caplog.at_level("INFO", logger="sketchback.models.released"):
        assert main(["import-original", str(weights_file), str(out), "--trained-at", "88x72",
                     "--origin", "BKHMSI/Sketchback faces"]) == 0
    assert "trained at 88x72" in caplog.text
    model = keras.models.load_model(out, compile=False)
    assert trained_size(model) == (88, 72)
    np.testing.assert_array_equal(model.get_layer("block2_conv1").get_weights()[0], pairs[2][0])


@pytest.mark.parametrize("size", ["87x72", "88", "0x72", "-8x8"])
def test_cli_refuses_a_training_size_the_generator_cannot_run_at(size, weights_file, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["import-original", str(weights_file), str(tmp_path / "g.keras"), f"--trained-at={size}"])
    assert exit_.value.code == 2
    assert "rows x columns, both positive multiples of 8" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_cli_reports_a_refused_file_and_fails(tmp_path, capsys):
    page = web_page(tmp_path, None)
    assert main(["import-original", str(page), str(tmp_path / "g.keras"), "--trained-at", "88x72"]) == 1
    assert "sketchback: error: " in capsys.readouterr().err and not (tmp_path / "g.keras").exists()


# --- a converted model in use: predict, serve, evaluation ------------------------------------------


def at_training_size(model, grey: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """What running ``model`` at its training size means, written out: the sketch resized to it, the
    photo resized back (cv2: area averaging down, cubic up, as the package scales)."""
    import cv2

    small = cv2.resize(grey, size[::-1], interpolation=cv2.INTER_AREA)
    photo = np.asarray(model(small[None, ..., None].astype(np.float32) / 255, training=False))[0]
    photo = (np.clip(photo, 0, 1) * 255 + 0.5).astype(np.uint8)
    return cv2.resize(photo, grey.shape[::-1], interpolation=cv2.INTER_CUBIC)


def test_predict_and_serve_run_a_converted_model_at_its_training_size(weights_file, tmp_path):
    from sketchback.tools.cli import predict_photo
    from sketchback.evaluation.evaluate import load_generator
    from sketchback.tools.serve import Traced

    model = load_generator(import_original(weights_file, tmp_path / "g.keras", training_size=(16, 24)))
    grey = np.random.default_rng(3).integers(0, 256, (40, 60), dtype=np.uint8)
    expected = at_training_size(model, grey, (16, 24))
    assert np.abs(predict_photo(model, grey).astype(int) - expected).max() <= 1
    assert np.abs(predict_photo(Traced(model), grey).astype(int) - expected).max() <= 1  # sketchback serve's model
    at_own_size = predict_photo(model, grey, size=60)  # --size: the longer side given, as for any model
    assert np.abs(at_own_size.astype(int) - expected).mean() > 1


def test_the_cli_predicts_with_a_converted_model(weights_file, tmp_path):
    import cv2

    out = import_original(weights_file, tmp_path / "g.keras", training_size=(16, 24))
    cv2.imwrite(str(tmp_path / "sketch.png"), np.full((50, 70), 255, np.uint8))
    assert main(["predict", str(out), str(tmp_path / "sketch.png"), str(tmp_path / "photo.png")]) == 0
    assert cv2.imread(str(tmp_path / "photo.png")).shape == (50, 70, 3)


def test_the_evaluation_runs_a_converted_model_at_its_training_size(weights_file, tmp_path):
    from sketchback.evaluation.evaluate import load_generator, predict, resize_images

    model = load_generator(import_original(weights_file, tmp_path / "g.keras", training_size=(16, 24)))
    sketches = np.random.default_rng(4).random((3, 32, 32, 1), dtype=np.float32)
    small = np.asarray(model(resize_images(sketches, (16, 24)), training=False))
    np.testing.assert_allclose(predict(model, sketches), np.clip(resize_images(small, (32, 32)), 0, 1), atol=1e-5)
