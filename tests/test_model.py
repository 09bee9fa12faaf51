import keras
import numpy as np
import pytest

from keras import layers

from sketchback.models.options import ARCHITECTURES
from sketchback.models.generators import (
    build_generator,
    check_image_size,
    original_generator,
    size_multiple,
    trained_size,
)

SIZES = [(32, 32), (64, 48), (100, 128)]


@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("height,width", SIZES)
def test_generator_maps_sketch_to_photo_of_same_size(architecture, height, width):
    if architecture == "original" and height % 8:
        height += 8 - height % 8  # its three max-pools: multiples of 8
    generator = build_generator(architecture, base_filters=4, residual_blocks=1)
    sketch = np.random.default_rng(0).random((2, height, width, 1), dtype=np.float32)
    photo = generator.predict(sketch, verbose=0)
    assert photo.shape == (2, height, width, 3)
    assert photo.min() >= 0.0 and photo.max() <= 1.0


def test_generator_size_grows_with_settings():
    small = build_generator("scribbler", base_filters=8, residual_blocks=1).count_params()
    large = build_generator("scribbler", base_filters=16, residual_blocks=3).count_params()
    assert large > 3 * small


def test_saved_generator_reloads_without_training_options(tmp_path):
    generator = build_generator("csi", base_filters=4, residual_blocks=1)
    sketch = np.random.default_rng(1).random((1, 32, 32, 1), dtype=np.float32)
    generator.save(tmp_path / "g.keras")
    loaded = keras.models.load_model(tmp_path / "g.keras", compile=False)
    np.testing.assert_allclose(loaded.predict(sketch, verbose=0), generator.predict(sketch, verbose=0), atol=1e-6)


def test_unknown_architecture_and_bad_size_are_named():
    with pytest.raises(ValueError, match="unet"):
        build_generator("unet")
    with pytest.raises(ValueError, match="image_size 66"):
        check_image_size(66)
    check_image_size(64)


# The original's generator_model, as the issue reads it from its script: (kernel, filters, activation)
# of each convolution in order, "pool" and "up" for max-pooling and upsampling, "+" for x + conv(x).
ORIGINAL = ([(3, 32), (2, 32), "pool", (3, 64), (2, 64), "pool", (3, 128), (3, 128), "pool", (3, 256)]
            + ["+256"] * 5 + [(2, 128), "up", (3, 128), "+128", "+128", (2, 64), "up", (3, 64), "+64", "+64",
                              (2, 32), "up", (3, 32), "+32", (3, 3)])


def sequence(model) -> list:
    """The model's layers in the notation of ORIGINAL (a residual conv and its Add as one "+N")."""
    out = []
    for layer in model.layers:
        if isinstance(layer, layers.Conv2D):
            out.append((layer.kernel_size[0], layer.filters))
        elif isinstance(layer, layers.Add):
            out[-1] = f"+{out[-1][1]}"
        elif isinstance(layer, layers.MaxPooling2D):
            out.append("pool")
        elif isinstance(layer, layers.UpSampling2D):
            out.append("up")
    return out


def test_the_original_architecture_is_the_originals_trained_network_layer_for_layer():
    model = build_generator("original", base_filters=4, residual_blocks=1)  # its sizes are fixed
    assert sequence(model) == ORIGINAL
    convolutions = [layer for layer in model.layers if isinstance(layer, layers.Conv2D)]
    assert len(convolutions) == 24 and model.count_params() == 4_251_555
    assert all(c.padding == "same" and c.use_bias and c.strides == (1, 1) for c in convolutions)
    assert [c.activation.__name__ for c in convolutions] == ["relu"] * 23 + ["sigmoid"]
    assert not [layer for layer in model.layers if "Normalization" in type(layer).__name__]
    assert all(layer.interpolation == "nearest" for layer in model.layers if isinstance(layer, layers.UpSampling2D))
    named = [c.name for c in convolutions if c.name.startswith("block")]
    assert named == [f"block{i}_conv1" for i in range(2, 12)]
    assert size_multiple(model) == 8 and trained_size(model) is None


def test_a_two_by_two_same_convolution_pads_after_as_tensorflow_does():
    """The original's 2x2 convolutions: TensorFlow's "same" puts the extra row and column after."""
    conv = layers.Conv2D(1, 2, padding="same", use_bias=False, kernel_initializer="ones")
    image = np.arange(9, dtype=np.float32).reshape(1, 3, 3, 1)
    out = np.asarray(conv(image))[0, ..., 0]
    assert out[0, 0] == 0 + 1 + 3 + 4 and out[2, 2] == 8  # bottom-right: only itself, padding after


def test_the_original_generator_records_its_training_size_and_keeps_it_saved(tmp_path):
    model = original_generator(training_size=(88, 72), origin="a test")
    model.save(tmp_path / "g.keras")
    loaded = keras.models.load_model(tmp_path / "g.keras", compile=False)
    assert trained_size(loaded) == (88, 72) and size_multiple(loaded) == 8
    sketch = np.random.default_rng(2).random((1, 16, 24, 1), dtype=np.float32)
    np.testing.assert_allclose(np.asarray(loaded(sketch)), np.asarray(model(sketch)), atol=1e-6)
    with pytest.raises(ValueError, match="90x72 is not a multiple of 8"):
        original_generator(training_size=(90, 72))


def test_the_old_name_of_the_csi_generator_is_refused_with_its_new_name():
    with pytest.raises(ValueError, match=r"'sketchback' is now called 'csi'.*original"):
        build_generator("sketchback")
