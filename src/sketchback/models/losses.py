"""The study's loss, Lt = wp*Lp + wf*Lf + wv*Lv, written with keras.ops so any Keras backend runs it.

Images are float32 NHWC in [0, 1]. Every term returns one value per sample, shape (N,):

* Lp, pixel loss: root-mean-square error over all pixels and channels.
* Lf, feature loss: root-mean-square difference of VGG16 ``block2_conv2`` (relu2_2) activations of
  prediction and truth, with VGG16's own ("caffe") input preprocessing: the poster's equation (2)
  and the original code's ``feature_loss``, an RMS like Lp. (Before this was corrected the term
  was the mean squared difference, RMS², which weighed it against Lp far more than wf says.)
* Lv, total variation of the prediction: sum over pixels of squared horizontal and vertical
  neighbour differences.
"""

from __future__ import annotations

import keras
from keras import ops

# The VGG16 machinery lives in sketchback.vgg (style transfer and the feature distance use it too).
from sketchback.vgg import vgg_preprocess


def pixel_loss(y_true, y_pred):
    """Per-sample RMS error, (N,)."""
    return ops.sqrt(ops.mean(ops.square(y_true - y_pred), axis=(1, 2, 3)))


def total_variation(y_pred):
    """Per-sample sum of squared neighbour differences, (N,)."""
    dy = y_pred[:, 1:, :, :] - y_pred[:, :-1, :, :]
    dx = y_pred[:, :, 1:, :] - y_pred[:, :, :-1, :]
    return ops.sum(ops.square(dy), axis=(1, 2, 3)) + ops.sum(ops.square(dx), axis=(1, 2, 3))


def feature_loss(extractor, y_true, y_pred):
    """Per-sample root-mean-square difference of VGG features, (N,)."""
    # Under mixed precision the extractor computes in float16; the loss is summed in float32.
    diff = ops.cast(extractor(vgg_preprocess(y_true)), "float32") - ops.cast(extractor(vgg_preprocess(y_pred)), "float32")
    return ops.sqrt(ops.mean(ops.square(diff), axis=(1, 2, 3)))


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
