"""Generators that map a grey sketch to a colour photo (fully convolutional, keras.layers only).

Three architectures (``training.architecture``):

* ``scribbler`` (default): after Sangkloy et al. 2017 — an encoder of strided convolutions with a
  residual block at each scale, a stack of residual blocks at the bottleneck, and a decoder of
  bilinear upsampling + convolution (no checkerboard artefacts) with residual blocks and skip
  connections from the encoder's features of the same scale.
* ``original``: the network the original study trained and released weights of (its script's
  ``generator_model``): plain ReLU convolutions with biases and no normalisation, three max-pool
  and three nearest-neighbour upsampling steps (32-64-128-256 channels, down to w/8 and back),
  residual additions at every scale after the first, no skip connections. Its layers and sizes
  are fixed; ``sketchback.models.released`` loads the original's weight files into it.
* ``csi``: Convolutional Sketch Inversion's generator (Güçlütürk et al. 2016, after Johnson et
  al.), which the original's notebook defines as an alternative but never trains — 9x9 input
  convolution, strided convolutions, residual blocks, transposed convolutions, 9x9 output
  convolution. It was called ``sketchback`` before it was told apart from the original's network.

Input: sketch, float32 (N, H, W, 1) in [0, 1] (white paper = 1), or for a model that takes colour
hints (N, H, W, 5): sketch, hint RGB, hint mask (``sketchback.sketches.hints``). Output: photo, float32
(N, H, W, 3) in [0, 1]. H and W must be multiples of 2 ** downsamplings (4 for the default two
2x downsamplings, 8 for ``original``; ``size_multiple`` reads it off a saved model).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from sketchback.models.options import ORIGINAL_SIZES, architecture_problem

ORIGINAL_DOWNSAMPLINGS = ORIGINAL_SIZES["downsamplings"]  # the original's three max-pools: multiples of 8
DOWNSAMPLINGS = (2, 3, 4)  # 2x downsampling steps a generator may take (training.downsamplings)
DOWNSAMPLING = 4  # H and W must be divisible by this with the default two downsamplings


def normalization():
    """Instance normalisation (one group per channel).

    Batch normalisation was measured here to behave very differently in inference mode after a
    few hundred steps (pixel RMS 0.14 in training mode vs 0.30 in inference mode on the demo
    faces, with momentum 0.9): its moving statistics lag the weights. Instance normalisation, as
    in Johnson et al.'s and Scribbler's generators, computes the same thing in both modes.
    """
    return layers.GroupNormalization(groups=-1, epsilon=1e-5)


def conv_norm_relu(x, filters: int, kernel: int = 3, strides: int = 1):
    x = layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False)(x)
    x = normalization()(x)
    return layers.ReLU()(x)


def residual_block(x, filters: int):
    """Two 3x3 convolutions with instance norm and an identity shortcut."""
    shortcut = x
    x = conv_norm_relu(x, filters)
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
    x = normalization()(x)
    return layers.Add()([shortcut, x])


def upsample(x):
    """Bilinear 2x upsampling, computed in float32 also under mixed precision.

    TensorFlow's gradient of a float16 bilinear resize (ResizeBilinearGrad) is float32; with XLA
    (jit_compile) that mix of precisions stops the first training step ("Seen floating point types
    of different precisions ... but mixed precision is disallowed"). In float32 both agree; the
    next layer casts back to float16. Under the float32 policy nothing changes.
    """
    return layers.UpSampling2D(2, interpolation="bilinear", dtype="float32")(x)


def scribbler_generator(base_filters: int = 32, residual_blocks: int = 5, input_channels: int = 1,
                        downsamplings: int = 2) -> keras.Model:
    """Scribbler-style encoder / residual bottleneck / decoder with residual blocks per scale.

    Each of the ``downsamplings`` strided convolutions halves the size and doubles the channels
    (f, 2f, 4f, ...: with 3 and f = 32 the poster's 32-64-128-256). The decoder concatenates the
    encoder's features of the same scale (skip connections) so the sketch's fine strokes reach
    the output directly; without them the demo's predictions were too blurry to beat the sketch
    itself on SSIM for the building facades.
    """
    f = base_filters
    sketch = keras.Input(shape=(None, None, input_channels), name="sketch")
    x = conv_norm_relu(sketch, f, kernel=5)
    skips = [residual_block(x, f)]  # the encoder's features at each scale above the bottleneck
    for scale in range(1, downsamplings):
        x = conv_norm_relu(skips[-1], 2**scale * f, strides=2)
        skips.append(residual_block(x, 2**scale * f))
    x = conv_norm_relu(skips[-1], 2**downsamplings * f, strides=2)
    for _ in range(residual_blocks):
        x = residual_block(x, 2**downsamplings * f)
    for skip in reversed(skips):
        x = upsample(x)
        x = conv_norm_relu(layers.Concatenate()([x, skip]), skip.shape[-1])
        x = residual_block(x, skip.shape[-1])
    photo = layers.Conv2D(3, 3, padding="same", activation="sigmoid", dtype="float32", name="photo")(x)
    return keras.Model(sketch, photo, name="scribbler")


def csi_generator(base_filters: int = 32, residual_blocks: int = 5, input_channels: int = 1,
                  downsamplings: int = 2) -> keras.Model:
    """Convolutional Sketch Inversion's generator: 9x9 conv, strided convs, residual blocks, deconvs, 9x9 conv.

    ``downsamplings`` strided convolutions (channels doubling from f) and as many transposed ones;
    the original notebook's (unused) version has 2.
    """
    f = base_filters
    sketch = keras.Input(shape=(None, None, input_channels), name="sketch")
    x = conv_norm_relu(sketch, f, kernel=9)
    for scale in range(1, downsamplings + 1):
        x = conv_norm_relu(x, 2**scale * f, strides=2)
    for _ in range(residual_blocks):
        x = residual_block(x, 2**downsamplings * f)
    for scale in reversed(range(downsamplings)):
        x = layers.Conv2DTranspose(2**scale * f, 3, strides=2, padding="same", use_bias=False)(x)
        x = normalization()(x)
        x = layers.ReLU()(x)
    photo = layers.Conv2D(3, 9, padding="same", activation="sigmoid", dtype="float32", name="photo")(x)
    return keras.Model(sketch, photo, name="csi")


@keras.saving.register_keras_serializable(package="sketchback")
class TrainingSize(layers.Layer):
    """Passes its input through unchanged; records in the saved model the (height, width) it was
    trained at and where its weights came from (a model imported from the original's weight files,
    ``sketchback.models.released``). ``trained_size`` reads it; inference runs such a model at that size."""

    def __init__(self, height: int, width: int, origin: str = "", **kwargs):
        super().__init__(**kwargs)
        self.height, self.width, self.origin = int(height), int(width), str(origin)

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width, "origin": self.origin}


def _relu_conv(x, filters: int, kernel: int, name: str | None = None):
    """A ReLU convolution with a bias and TensorFlow's "same" padding (a 2x2 kernel pads after)."""
    return layers.Conv2D(filters, kernel, padding="same", activation="relu", name=name)(x)


def _residual_additions(x, filters: int, count: int):
    """``count`` times x <- x + relu(conv3x3(x)), as the original's ``layers.add([x, res])``."""
    for _ in range(count):
        x = layers.Add()([x, _relu_conv(x, filters, 3)])
    return x


def original_generator(input_channels: int = 1, training_size: tuple[int, int] | None = None,
                       origin: str = "") -> keras.Model:
    """The original study's trained network, layer for layer (its script's ``generator_model``).

    Encoder: conv 3x3 32, conv 2x2 32, max-pool; conv 3x3 64, conv 2x2 64, max-pool; conv 3x3 128,
    conv 3x3 128, max-pool; conv 3x3 256 and two residual additions. Decoder: three residual
    additions at 256; then for 128, 64 and 32 channels a conv 2x2, nearest 2x upsampling, a conv
    3x3 and two residual additions (one at 32); conv 3x3 3 with a sigmoid. Every other convolution
    has a ReLU and a bias; there is no normalisation. The first convolution of each stage carries
    the original's explicit name (block2_conv1 ... block11_conv1). 24 convolutions, 4,251,555
    parameters with one input channel; H and W must be multiples of 8.

    training_size: the (height, width) its weights were trained at, recorded in a ``TrainingSize``
    layer after the input (a model imported from the original's weight files); ``origin`` says
    where the weights came from.
    """
    sketch = keras.Input(shape=(None, None, input_channels), name="sketch")
    x = sketch
    if training_size is not None:
        height, width = training_size
        if height % 8 or width % 8:
            raise ValueError(f"training size {height}x{width} is not a multiple of 8 (the original generator's "
                             f"three max-pool steps)")
        x = TrainingSize(height, width, origin, name="training_size")(x)
    x = _relu_conv(x, 32, 3)
    x = _relu_conv(x, 32, 2)
    x = layers.MaxPooling2D(2, padding="same")(x)
    x = _relu_conv(x, 64, 3, "block2_conv1")
    x = _relu_conv(x, 64, 2)
    x = layers.MaxPooling2D(2, padding="same")(x)
    x = _relu_conv(x, 128, 3, "block3_conv1")
    x = _relu_conv(x, 128, 3)
    x = layers.MaxPooling2D(2, padding="same")(x)
    x = _relu_conv(x, 256, 3, "block4_conv1")
    x = _residual_additions(x, 256, 2)
    x = layers.Add()([x, _relu_conv(x, 256, 3, "block5_conv1")])
    x = _residual_additions(x, 256, 2)
    for filters, block, additions in ((128, 6, 2), (64, 8, 2), (32, 10, 1)):
        x = _relu_conv(x, filters, 2, f"block{block}_conv1")
        x = layers.UpSampling2D(2, interpolation="nearest")(x)
        x = _relu_conv(x, filters, 3, f"block{block + 1}_conv1")
        x = _residual_additions(x, filters, additions)
    photo = layers.Conv2D(3, 3, padding="same", activation="sigmoid", dtype="float32", name="photo")(x)
    return keras.Model(sketch, photo, name="original")


def build_generator(architecture: str = "scribbler", base_filters: int = 32, residual_blocks: int = 5,
                    input_channels: int = 1, downsamplings: int = 2) -> keras.Model:
    """Build a generator by name; ``input_channels`` 1 (sketch) or 5 (sketch + colour hints);
    ``downsamplings`` 2x downsampling steps (2 to 4: training.downsamplings). ``original`` has its
    own fixed sizes: ``base_filters``, ``residual_blocks`` and ``downsamplings`` do not apply to it."""
    problem = architecture_problem(architecture, "training.architecture")
    if problem:
        raise ValueError(problem)
    if architecture == "original":
        return original_generator(input_channels)
    if downsamplings not in DOWNSAMPLINGS:
        raise ValueError(f"training.downsamplings {downsamplings!r} is not supported; use one of "
                         f"{', '.join(map(str, DOWNSAMPLINGS))}")
    if architecture == "scribbler":
        return scribbler_generator(base_filters, residual_blocks, input_channels, downsamplings)
    if architecture == "csi":
        return csi_generator(base_filters, residual_blocks, input_channels, downsamplings)
    raise AssertionError(f"architecture {architecture!r} is in ARCHITECTURES but not built here")


def trained_size(generator) -> tuple[int, int] | None:
    """The (height, width) a model records it was trained at (``TrainingSize``), or None."""
    for layer in getattr(generator, "layers", ()):
        if isinstance(layer, TrainingSize):
            return layer.height, layer.width
    return None


def widen_input(generator: keras.Model, input_channels: int) -> keras.Model:
    """The same generator taking ``input_channels`` input channels, its first channels' weights kept.

    The kernels that read the new channels start at zero, so with those channels zero (a hint
    model given no hints) the widened model computes exactly what ``generator`` computes: a
    hint model fine-tuned from a sketch-only one starts as that model.
    """
    old_channels = generator.inputs[0].shape[-1]
    if input_channels < old_channels:
        raise ValueError(f"{generator.name} takes {old_channels} input channels; cannot narrow it to {input_channels}")
    if input_channels == old_channels:
        return generator
    wider = keras.models.clone_model(generator, input_tensors=keras.Input((None, None, input_channels),
                                                                            name=generator.inputs[0].name))
    for old, new in zip(generator.layers, wider.layers):
        weights = old.get_weights()
        if isinstance(old, layers.Conv2D) and weights and new.get_weights()[0].shape != weights[0].shape:
            kernel = np.zeros(new.get_weights()[0].shape, weights[0].dtype)
            kernel[:, :, :old_channels] = weights[0]  # the layer reading the input: new channels start at zero
            weights[0] = kernel
        new.set_weights(weights)
    return wider


def size_multiple(generator: keras.Model) -> int:
    """What a saved generator's input height and width must be a multiple of: 2 ** its downsampling
    layers (strided convolutions, max-pools).

    A callable that is not a Keras model (a stand-in in tests) gets the default generators' 4.
    """
    if not hasattr(generator, "layers"):
        return DOWNSAMPLING
    halving = [layer for layer in generator.layers
               if (isinstance(layer, layers.Conv2D) and not isinstance(layer, layers.Conv2DTranspose)
                   and tuple(layer.strides) == (2, 2)) or isinstance(layer, layers.MaxPooling2D)]
    return 2 ** len(halving)


def downsamplings_of(architecture: str, downsamplings: int) -> int:
    """The 2x downsampling steps a generator of ``architecture`` takes (``original``: always 3)."""
    return ORIGINAL_DOWNSAMPLINGS if architecture == "original" else downsamplings


def check_image_size(size: int, downsamplings: int = 2) -> None:
    """Fail early, naming the settings, when the image size does not fit the generator."""
    multiple = 2**downsamplings
    if size % multiple:
        raise ValueError(
            f"image_size {size} is not a multiple of {multiple}; the generator halves the resolution "
            f"{downsamplings} times (training.downsamplings: {downsamplings}), so choose e.g. "
            f"{size - size % multiple or multiple} or {size + multiple - size % multiple}"
        )
