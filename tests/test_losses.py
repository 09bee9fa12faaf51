import h5py
import keras
import numpy as np
import pytest

from sketchback.io import file_digest
from sketchback.models.losses import SketchInversionLoss, feature_loss, pixel_loss, total_variation
from sketchback.vgg import VGG_NOTOP_FILE, vgg_feature_extractor, vgg_preprocess

RNG = np.random.default_rng(42)
TRUTH = RNG.random((3, 16, 20, 3), dtype=np.float32)
PRED = np.clip(TRUTH + RNG.normal(0, 0.1, TRUTH.shape), 0, 1).astype(np.float32)


def test_pixel_loss_is_per_sample_rms():
    expected = np.sqrt(((TRUTH.astype(np.float64) - PRED) ** 2).mean(axis=(1, 2, 3)))
    np.testing.assert_allclose(np.asarray(pixel_loss(TRUTH, PRED)), expected, rtol=1e-5)


def test_total_variation_matches_numpy():
    x = PRED.astype(np.float64)
    expected = ((x[:, 1:] - x[:, :-1]) ** 2).sum(axis=(1, 2, 3)) + ((x[:, :, 1:] - x[:, :, :-1]) ** 2).sum(axis=(1, 2, 3))
    np.testing.assert_allclose(np.asarray(total_variation(PRED)), expected, rtol=1e-5)
    assert np.asarray(total_variation(np.full((1, 8, 8, 3), 0.3, np.float32)))[0] == 0


def test_vgg_preprocess_matches_keras_applications():
    expected = keras.applications.vgg16.preprocess_input(TRUTH * 255.0)
    np.testing.assert_allclose(np.asarray(vgg_preprocess(TRUTH)), expected, atol=1e-3)


def test_feature_loss_is_the_posters_per_sample_rms_of_the_feature_difference():
    """Equation (2) of the poster and the original's feature_loss: the root of the mean squared
    difference of relu2_2 features, here per sample (not the mean squared difference itself)."""
    extractor = vgg_feature_extractor("random", seed=3)
    f_true = np.asarray(extractor(keras.applications.vgg16.preprocess_input(TRUTH * 255.0)), dtype=np.float64)
    f_pred = np.asarray(extractor(keras.applications.vgg16.preprocess_input(PRED * 255.0)), dtype=np.float64)
    mse = ((f_true - f_pred) ** 2).mean(axis=(1, 2, 3))
    got = np.asarray(feature_loss(extractor, TRUTH, PRED))
    np.testing.assert_allclose(got, np.sqrt(mse), rtol=1e-4)
    assert got.shape == (3,) and not np.allclose(got, mse, rtol=1e-2)  # the root, not RMS squared
    assert f_true.shape[1:] == (8, 10, 128)  # relu2_2: half resolution, 128 channels
    assert np.asarray(feature_loss(extractor, TRUTH, TRUTH)).max() == 0


def test_total_loss_weights_the_terms():
    extractor = vgg_feature_extractor("random", seed=3)
    loss = SketchInversionLoss(extractor, pixel_weight=1.0, feature_weight=1e-3, tv_weight=1e-5)
    expected = (np.asarray(pixel_loss(TRUTH, PRED)) + 1e-3 * np.asarray(feature_loss(extractor, TRUTH, PRED))
                + 1e-5 * np.asarray(total_variation(PRED)))
    np.testing.assert_allclose(float(loss(TRUTH, PRED)), expected.mean(), rtol=1e-5)
    pixel_only = SketchInversionLoss(extractor, 1.0, 0.0, 0.0)
    np.testing.assert_allclose(float(pixel_only(TRUTH, PRED)), np.asarray(pixel_loss(TRUTH, PRED)).mean(), rtol=1e-5)


def write_keras_notop_h5(model: keras.Model, path) -> None:
    """Write ``model``'s weights in the layout of Keras' published VGG16 notop .h5 file."""
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [layer.name.encode() for layer in model.layers]
        for layer in model.layers:
            group = f.create_group(layer.name)
            names = [f"{layer.name}_{'W' if i == 0 else 'b'}_1:0".encode() for i in range(len(layer.weights))]
            group.attrs["weight_names"] = names
            for name, value in zip(names, layer.get_weights()):
                group.create_dataset(name.decode(), data=value)


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    keras.utils.set_random_seed(123)
    vgg = keras.applications.VGG16(include_top=False, weights=None, input_shape=(None, None, 3))
    path = tmp_path_factory.mktemp("vgg") / VGG_NOTOP_FILE
    write_keras_notop_h5(vgg, path)
    return path, vgg.get_layer("block2_conv2").get_weights()[0]


def test_real_weights_file_path_loads_the_file(weights_file):
    path, kernel = weights_file
    extractor = vgg_feature_extractor(str(path), md5=file_digest(path, "md5"))
    np.testing.assert_array_equal(extractor.get_layer("block2_conv2").get_weights()[0], kernel)
    assert extractor.count_params() == 260_160
    assert not extractor.trainable


def test_weights_file_errors_name_the_file(weights_file, tmp_path):
    path, _ = weights_file
    with pytest.raises(ValueError, match="md5"):
        vgg_feature_extractor(str(path), md5="0" * 32)
    with pytest.raises(FileNotFoundError, match="missing.h5"):
        vgg_feature_extractor(str(tmp_path / "missing.h5"))
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"<html>quota exceeded</html>")
    with pytest.raises(ValueError, match="junk.h5"):
        vgg_feature_extractor(str(junk))
