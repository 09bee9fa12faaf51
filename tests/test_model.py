import keras
import numpy as np
import pytest

from sketchback.model import ARCHITECTURES, build_generator, check_image_size


@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("height,width", [(32, 32), (64, 48), (100, 128)])
def test_generator_maps_sketch_to_photo_of_same_size(architecture, height, width):
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
    generator = build_generator("sketchback", base_filters=4, residual_blocks=1)
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
