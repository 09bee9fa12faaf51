"""VGG16 features, shared by the training loss (losses.py), style transfer (style.py) and the
feature distance (metrics.py, evaluate.py).

Images are float32 NHWC RGB in [0, 1]; ``vgg_preprocess`` turns them into VGG16's input. The
network is Keras' VGG16 without its classifier, with the published ImageNet *notop* weights or
fixed random filters ("random", seeded), which the offline demo uses.

Importing this module does not start Keras: the config check imports style.py, which names
``VGG_LAYERS``, and must not pay for TensorFlow.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sketchback.io import file_digest

if TYPE_CHECKING:
    import keras

VGG_LAYERS = (
    "block1_conv1", "block1_conv2", "block2_conv1", "block2_conv2", "block3_conv1", "block3_conv2",
    "block3_conv3", "block4_conv1", "block4_conv2", "block4_conv3", "block5_conv1", "block5_conv2",
    "block5_conv3",
)
FEATURE_LAYER = "block2_conv2"  # relu2_2: the training loss's and the feature distance's layer
VGG_NOTOP_FILE = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
VGG_NOTOP_MD5 = "6d6bbae143d832006294945121d1f1fc"
# ImageNet channel means in BGR order, as keras.applications.vgg16.preprocess_input uses them.
_VGG_BGR_MEAN = (103.939, 116.779, 123.68)


def vgg_preprocess(images):
    """[0, 1] RGB -> VGG16's input: 0..255 BGR minus the ImageNet mean."""
    from keras import ops

    bgr = ops.flip(images, axis=-1) * 255.0
    return bgr - ops.convert_to_tensor(np.array(_VGG_BGR_MEAN, dtype="float32"))


def vgg16_notop(weights: str = "random", md5: str | None = None, seed: int = 0,
                config_key: str = "training.vgg_weights") -> keras.Model:
    """Keras' VGG16 without its classifier, for any input size.

    ``weights`` is either a path to the Keras ImageNet *notop* weights file
    (``vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5``; checked against ``md5`` when given),
    or ``"random"``: fixed filters seeded by ``seed`` (this seeds Keras' global generators).
    ``config_key`` names the setting in error messages.
    """
    import keras

    if weights == "random":
        keras.utils.set_random_seed(seed)
        return keras.applications.VGG16(include_top=False, weights=None, input_shape=(None, None, 3))
    path = Path(weights)
    if not path.is_file():
        raise FileNotFoundError(
            f"VGG16 weights file {path} not found; download {VGG_NOTOP_FILE} "
            f"(md5 {VGG_NOTOP_MD5}) to that path, or set {config_key} to 'random'"
        )
    if md5 is not None and (actual := file_digest(path, "md5")) != md5:
        raise ValueError(f"VGG16 weights file {path} has md5 {actual}, expected {md5}; the file is damaged or a different file, download it again")
    vgg = keras.applications.VGG16(include_top=False, weights=None, input_shape=(None, None, 3))
    try:
        vgg.load_weights(str(path))
    except Exception as exc:
        raise ValueError(f"{path} is not a VGG16 notop weights file Keras can read ({exc})") from exc
    return vgg


def vgg_feature_extractor(weights: str = "random", md5: str | None = None, seed: int = 0) -> keras.Model:
    """VGG16 up to ``block2_conv2``, frozen (weights as for :func:`vgg16_notop`); it takes
    ``vgg_preprocess``-ed images.

    Random VGG features are a weaker perceptual signal than ImageNet ones; the offline demo uses
    them because the real weights cannot be downloaded there, and its report says so.
    """
    import keras

    vgg = vgg16_notop(weights, md5, seed)
    extractor = keras.Model(vgg.input, vgg.get_layer(FEATURE_LAYER).output, name="vgg16_relu2_2")
    extractor.trainable = False
    return extractor
