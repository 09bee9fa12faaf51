"""The adversarial loss: a conditional patch discriminator and one training step for both networks.

Scribbler (Sangkloy et al. 2017) trains in two stages: first with the content loss (pixel, feature,
total variation), then with an adversarial term added. The discriminator here is pix2pix's
conditional PatchGAN (Isola et al. 2017): it sees the sketch next to a photo, real or generated,
and scores each patch as real or fake (logits, N x H/2^k x W/2^k x 1). The generator's term is the
non-saturating GAN loss, softplus(-D(sketch, prediction)); the discriminator's is the mean of
softplus(-D(sketch, photo)) and softplus(D(sketch, prediction)).

``AdversarialTrainer.train_step`` updates generator and discriminator in one compiled step (one
forward pass of the generator serves both losses). It computes gradients with TensorFlow's
GradientTape: Keras 3 has no backend-neutral gradient API, and the study trains on TensorFlow.
Images are float32 NHWC in [0, 1]; the discriminator is conditioned on the sketch channel only
(channel 0), so colour-hint generators need no other discriminator.
"""

from __future__ import annotations

import math

import keras
from keras import layers, ops

# Per-term log names of the adversarial stage (next to the content loss's loss, pixel, tv).
ADVERSARIAL_TERMS = ("adversarial", "discriminator", "d_real", "d_fake")
# An epoch whose mean discriminator loss is below this tells real from generated almost perfectly
# (softplus(-x) < 0.01 needs a margin of 4.6 logits on every patch): the generator's adversarial
# gradient then vanishes ("the discriminator won").
COLLAPSE_LOSS = 0.01
# D(real) and D(fake) (mean probabilities) both above this: the discriminator calls everything
# real, it no longer tells them apart ("the discriminator lost").
FOOLED_PROBABILITY = 0.95


def patch_discriminator(filters: int = 32, layers_count: int = 3, sketch_channels: int = 1) -> keras.Model:
    """Conditional PatchGAN: (sketch (N,H,W,1), photo (N,H,W,3)) -> patch logits (N,H/2^k,W/2^k,1).

    ``layers_count`` strided 4x4 convolutions (filters doubling up to 8x), LeakyReLU(0.2),
    instance normalisation after the first, then a 4x4 convolution to one logit per patch
    (float32 also under mixed precision).
    """
    sketch = keras.Input(shape=(None, None, sketch_channels), name="sketch")
    photo = keras.Input(shape=(None, None, 3), name="photo")
    x = layers.Concatenate()([sketch, photo])
    for i in range(layers_count):
        x = layers.Conv2D(filters * min(2 ** i, 8), 4, strides=2, padding="same", use_bias=i == 0)(x)
        if i:
            x = layers.GroupNormalization(groups=-1, epsilon=1e-5)(x)
        x = layers.LeakyReLU(0.2)(x)
    logits = layers.Conv2D(1, 4, padding="same", dtype="float32", name="patch_logits")(x)
    return keras.Model([sketch, photo], logits, name="patch_discriminator")


def generator_adversarial_loss(fake_logits):
    """Non-saturating generator term: mean softplus(-D(fake)), a scalar."""
    return ops.mean(ops.softplus(-ops.cast(fake_logits, "float32")))


def discriminator_loss(real_logits, fake_logits):
    """Mean of softplus(-D(real)) and softplus(D(fake)), a scalar (log 2 = 0.693 for a coin flip)."""
    real = ops.mean(ops.softplus(-ops.cast(real_logits, "float32")))
    fake = ops.mean(ops.softplus(ops.cast(fake_logits, "float32")))
    return 0.5 * (real + fake)


def discriminator_health(d_loss: float, d_real: float, d_fake: float) -> str | None:
    """None when the discriminator is still a useful opponent, else what went wrong, in words."""
    if not all(math.isfinite(v) for v in (d_loss, d_real, d_fake)):
        return f"the discriminator exploded (loss {d_loss}, D(real) {d_real}, D(fake) {d_fake})"
    if d_loss < COLLAPSE_LOSS:
        return (f"the discriminator won: it tells every prediction from the photo (loss {d_loss:.3g}, "
                f"D(real) {d_real:.3f}, D(fake) {d_fake:.3f}), so the adversarial term gives the generator no "
                f"gradient; lower adversarial.learning_rate or adversarial.filters, or raise adversarial.weight")
    if d_real > FOOLED_PROBABILITY and d_fake > FOOLED_PROBABILITY:
        return (f"the discriminator lost: it calls everything real (D(real) {d_real:.3f}, D(fake) {d_fake:.3f}); "
                f"raise adversarial.learning_rate or lower adversarial.weight")
    return None


class AdversarialTrainer(keras.Model):
    """One compiled step that updates the generator (content + weight x adversarial) and the discriminator.

    ``content_loss`` is the study's SketchInversionLoss (per-sample values); the generator's
    optimizer is the one its content-only stage used (its Adam state carries over). Logs per
    batch: loss (the content loss, as in the first stage), pixel, tv, adversarial (the generator's
    term, unweighted), discriminator (its loss), d_real and d_fake (mean probabilities).
    """

    def __init__(self, generator, discriminator, content_loss, weight: float, g_optimizer, d_optimizer, **kwargs):
        super().__init__(**kwargs)
        self.generator, self.discriminator, self.content_loss = generator, discriminator, content_loss
        self.weight, self.g_optimizer, self.d_optimizer = float(weight), g_optimizer, d_optimizer

    def call(self, inputs, training=False):
        return self.generator(inputs, training=training)

    def train_step(self, data):
        import tensorflow as tf

        from sketchback.models.losses import pixel_loss, total_variation

        sketches, photos, _ = keras.utils.unpack_x_y_sample_weight(data)
        condition = sketches[..., :1]
        g_vars, d_vars = self.generator.trainable_variables, self.discriminator.trainable_variables
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            fake = self.generator(sketches, training=True)
            real_logits = self.discriminator([condition, photos], training=True)
            fake_logits = self.discriminator([condition, fake], training=True)
            content = ops.mean(self.content_loss.call(photos, fake))
            adversarial = generator_adversarial_loss(fake_logits)
            g_total = content + self.weight * adversarial
            d_total = discriminator_loss(real_logits, fake_logits)
            g_scaled = self.g_optimizer.scale_loss(g_total)
            d_scaled = self.d_optimizer.scale_loss(d_total)
        self.g_optimizer.apply(g_tape.gradient(g_scaled, g_vars), g_vars)
        self.d_optimizer.apply(d_tape.gradient(d_scaled, d_vars), d_vars)
        return {
            "loss": content,
            "pixel": ops.mean(pixel_loss(photos, fake)),
            "tv": ops.mean(total_variation(fake)),
            "adversarial": adversarial,
            "discriminator": d_total,
            "d_real": ops.mean(ops.sigmoid(ops.cast(real_logits, "float32"))),
            "d_fake": ops.mean(ops.sigmoid(ops.cast(fake_logits, "float32"))),
        }
