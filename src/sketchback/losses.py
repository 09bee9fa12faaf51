"""The study's loss, Lt = wp*Lp + wf*Lf + wv*Lv, written with keras.ops so any Keras backend runs it.

Images are float32 NHWC in [0, 1]. Every term returns one value per sample, shape (N,):

* Lp, pixel loss: root-mean-square error over all pixels and channels.
* Lf, feature loss: mean squared difference of VGG16 ``block2_conv2`` (relu2_2) activations of
  prediction and truth, with VGG16's own ("caffe") input preprocessing.
* Lv, total variation of the prediction: sum over pixels of squared horizontal and vertical
  neighbour differences.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
from keras import ops

from sketchback.io import file_digest

FEATURE_LAYER = "block2_conv2"
VGG_NOTOP_FILE = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
VGG_NOTOP_MD5 = "6d6bbae143d832006294945121d1f1fc"
# ImageNet channel means in BGR order, as keras.applications.vgg16.preprocess_input uses them.
_VGG_BGR_MEAN = (103.939, 116.779, 123.68)


def pixel_loss(y_true, y_pred):
    """Per-sample RMS error, (N,)."""
    return ops.sqrt(ops.mean(ops.square(y_true - y_pred), axis=(1, 2, 3)))


def total_variation(y_pred):
    """Per-sample sum of squared neighbour differences, (N,)."""
    dy = y_pred[:, 1:, :, :] - y_pred[:, :-1, :, :]
    dx = y_pred[:, :, 1:, :] - y_pred[:, :, :-1, :]
    return ops.sum(ops.square(dy), axis=(1, 2, 3)) + ops.sum(ops.square(dx), axis=(1, 2, 3))


def vgg_preprocess(images):
    """[0, 1] RGB -> VGG16's input: 0..255 BGR minus the ImageNet mean."""
    bgr = ops.flip(images, axis=-1) * 255.0
    return bgr - ops.convert_to_tensor(np.array(_VGG_BGR_MEAN, dtype="float32"))


def feature_loss(extractor, y_true, y_pred):
    """Per-sample mean squared difference of VGG features, (N,)."""
    # Under mixed precision the extractor computes in float16; the loss is summed in float32.
    diff = ops.cast(extractor(vgg_preprocess(y_true)), "float32") - ops.cast(extractor(vgg_preprocess(y_pred)), "float32")
    return ops.mean(ops.square(diff), axis=(1, 2, 3))


def vgg16_notop(weights: str = "random", md5: str | None = None, seed: int = 0,
                config_key: str = "training.vgg_weights") -> keras.Model:
    """Keras' VGG16 without its classifier, for any input size.

    ``weights`` is either a path to the Keras ImageNet *notop* weights file
    (``vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5``; checked against ``md5`` when given),
    or ``"random"``: fixed filters seeded by ``seed`` (this seeds Keras' global generators).
    ``config_key`` names the setting in error messages.
    """
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
    """VGG16 up to ``block2_conv2``, frozen (weights as for :func:`vgg16_notop`).

    Random VGG features are a weaker perceptual signal than ImageNet ones; the offline demo uses
    them because the real weights cannot be downloaded there, and its report says so.
    """
    vgg = vgg16_notop(weights, md5, seed)
    extractor = keras.Model(vgg.input, vgg.get_layer(FEATURE_LAYER).output, name="vgg16_relu2_2")
    extractor.trainable = False
    return extractor


@keras.saving.register_keras_serializable(package="sketchback")
class SketchInversionLoss(keras.losses.Loss):
    """Lt = wp*Lp + wf*Lf + wv*Lv per sample; VGG features of truth and prediction are computed
    inside the same compiled training step."""

    def __init__(self, extractor, pixel_weight=1.0, feature_weight=1e-3, tv_weight=1e-5, name="sketch_inversion_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.extractor = extractor
        self.pixel_weight = pixel_weight
        self.feature_weight = feature_weight
        self.tv_weight = tv_weight

    def call(self, y_true, y_pred):
        total = self.pixel_weight * pixel_loss(y_true, y_pred)
        if self.feature_weight:
            total = total + self.feature_weight * feature_loss(self.extractor, y_true, y_pred)
        if self.tv_weight:
            total = total + self.tv_weight * total_variation(y_pred)
        return total

    def get_config(self):
        # The extractor is not serialised: inference never needs the loss, and models are
        # loaded with compile=False.
        return {"name": self.name, "pixel_weight": self.pixel_weight,
                "feature_weight": self.feature_weight, "tv_weight": self.tv_weight}
