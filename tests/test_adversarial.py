"""The adversarial stage: discriminator shapes, its losses, the joint step, health checks and failures."""

import logging
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from sketchback.models.adversarial import (AdversarialTrainer, discriminator_health, discriminator_loss,
                                    generator_adversarial_loss, patch_discriminator)
from sketchback.models.losses import SketchInversionLoss
from sketchback.models.generators import build_generator
from sketchback.models.options import TrainOptions
from sketchback.models.train import check_adversarial
from test_train import TINY, run, write_pairs

ADVERSARIAL = dict(weight=0.05, start_epoch=0, learning_rate=1e-3, filters=8, layers=2)


@pytest.mark.parametrize("layers, size, patches", [(2, (16, 16), (4, 4)), (3, (24, 32), (3, 4))])
def test_the_discriminator_scores_patches_of_a_sketch_and_photo_pair(layers, size, patches):
    discriminator = patch_discriminator(filters=4, layers_count=layers)
    sketch, photo = np.zeros((2, *size, 1), "float32"), np.zeros((2, *size, 3), "float32")
    assert discriminator([sketch, photo]).shape == (2, *patches, 1)


def test_the_losses_of_a_coin_flip_discriminator_are_log_2():
    zeros = np.zeros((3, 4, 4, 1), "float32")
    assert float(discriminator_loss(zeros, zeros)) == pytest.approx(np.log(2), rel=1e-6)
    assert float(generator_adversarial_loss(zeros)) == pytest.approx(np.log(2), rel=1e-6)
    # a discriminator sure of both answers has almost no loss; the fooled generator's term then grows
    sure_real, sure_fake = np.full_like(zeros, 10.0), np.full_like(zeros, -10.0)
    assert float(discriminator_loss(sure_real, sure_fake)) < 1e-4
    assert float(generator_adversarial_loss(sure_fake)) == pytest.approx(10.0, rel=1e-3)


@pytest.mark.parametrize("values, verdict", [
    ((0.69, 0.5, 0.5), None),
    ((0.005, 0.995, 0.004), "the discriminator won"),
    ((0.9, 0.97, 0.96), "the discriminator lost"),
    ((float("nan"), 0.5, 0.5), "the discriminator exploded"),
])
def test_a_collapsed_or_exploded_discriminator_is_named(values, verdict):
    problem = discriminator_health(*values)
    assert (problem is None) if verdict is None else problem.startswith(verdict)


def _pair(size=16, n=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, size, size, 1), dtype=np.float32), rng.random((n, size, size, 3), dtype=np.float32)


def _trainer(weight):
    keras.utils.set_random_seed(3)
    generator = build_generator("scribbler", 4, 1)
    generator.compile(optimizer=keras.optimizers.Adam(1e-2), loss=SketchInversionLoss(None, 1.0, 0.0, 1e-5))
    generator.optimizer.build(generator.trainable_variables)
    discriminator = patch_discriminator(4, 2)
    d_optimizer = keras.optimizers.Adam(1e-2)
    d_optimizer.build(discriminator.trainable_variables)
    trainer = AdversarialTrainer(generator, discriminator, generator.loss, weight, generator.optimizer, d_optimizer)
    trainer.compile(optimizer=generator.optimizer)
    return generator, discriminator, trainer


def test_one_joint_step_updates_both_networks_and_without_the_term_equals_the_content_step():
    x, y = _pair()
    generator, discriminator, trainer = _trainer(weight=0.5)
    g_before, d_before = generator.get_weights(), discriminator.get_weights()
    logs = trainer.train_on_batch(x, y, return_dict=True)
    assert {"loss", "pixel", "tv", "adversarial", "discriminator", "d_real", "d_fake"} <= set(logs)
    assert any(not np.allclose(a, b) for a, b in zip(g_before, generator.get_weights()))
    assert any(not np.allclose(a, b) for a, b in zip(d_before, discriminator.get_weights()))

    # With a zero adversarial weight the generator's update is exactly the content-only step's.
    joint, _, zero = _trainer(weight=0.0)
    zero.train_on_batch(x, y)
    plain, _, _ = _trainer(weight=0.0)
    plain.train_on_batch(x, y)  # the generator's own compiled content-loss step
    for a, b in zip(joint.get_weights(), plain.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_a_warning_names_a_collapsed_discriminator_in_the_log_and_history(tmp_path, caplog, monkeypatch):
    pairs = write_pairs(tmp_path)
    monkeypatch.setattr("sketchback.models.train.discriminator_health",
                        lambda loss, real, fake: f"the discriminator won: it tells every prediction apart ({loss:.3g})")
    caplog.set_level(logging.WARNING)
    history = run(pairs, [], tmp_path / "m", epochs=1, adversarial=ADVERSARIAL)
    assert history["discriminator_state"].tolist() == ["the discriminator won"]
    assert "epoch 1/1: the discriminator won: it tells every prediction apart" in caplog.text


def test_an_exploding_discriminator_stops_training_with_a_clear_message(tmp_path):
    pairs = write_pairs(tmp_path)
    with pytest.raises(FloatingPointError, match=r"not finite: .*(discriminator|d_real|d_fake).*adversarial.learning_rate"):
        run(pairs, [], tmp_path / "m", epochs=1, adversarial=dict(ADVERSARIAL, learning_rate=1e30))
    assert not (tmp_path / "m" / "generator.keras").exists()


@pytest.mark.parametrize("change, message", [
    (dict(adversarial=dict(ADVERSARIAL, start_epoch=2), epochs=2), "leaves no adversarial epoch"),
    (dict(adversarial=ADVERSARIAL, devices=2), "trains on one device"),
])
def test_an_adversarial_stage_that_cannot_run_is_refused_naming_the_setting(change, message):
    with pytest.raises(ValueError, match=message):
        check_adversarial(TrainOptions(**{**TINY, **change}))


SERIAL_PROBE = """
import logging, sys
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
import tensorflow as tf
from sketchback.models.options import RunSettings, TrainOptions
from sketchback.models.train import train
from test_train import TINY, write_pairs
from pathlib import Path
out = Path(sys.argv[1])
pairs = write_pairs(out, counts=(8,))
adversarial = {adversarial}
train(pairs, [], out / "generator.keras", out / "history.csv", TrainOptions(**dict(TINY, epochs=1, max_steps=1,
      adversarial=adversarial)), RunSettings(deterministic={deterministic}), name="probe")
threading = tf.config.threading
print("threads", threading.get_intra_op_parallelism_threads(), threading.get_inter_op_parallelism_threads())
"""


@pytest.mark.parametrize("adversarial, deterministic, serial", [
    (ADVERSARIAL, True, True), (None, True, False), (ADVERSARIAL, False, False)],
    ids=["deterministic-adversarial", "deterministic-content", "adversarial-not-deterministic"])
def test_a_deterministic_adversarial_run_makes_tensorflow_serial(tmp_path, adversarial, deterministic, serial):
    """Op determinism alone leaves the joint step's weights differing in the last bits from run to run
    (benchmarks/adversarial_determinism.py: 4 distinct results in 12 runs); one op at a time on one
    thread makes it bit-reproducible. Only a deterministic adversarial run pays that price, in a
    fresh process (as each workflow job is)."""
    tests = Path(__file__).parent
    script = tmp_path / "probe.py"
    script.write_text(SERIAL_PROBE.format(adversarial=adversarial, deterministic=deterministic))
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2",
           "PYTHONPATH": os.pathsep.join([str(tests), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, env=env,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert ("threads 1 1" in result.stdout) == serial, result.stdout
    assert ("TensorFlow runs one op at a time on one thread" in result.stderr) == serial


def test_an_adversarial_run_in_a_process_with_tensorflow_running_says_it_may_not_be_bit_reproducible(tmp_path, caplog):
    keras.ops.ones(1)  # TensorFlow initialised with its own thread counts, as in a notebook
    with caplog.at_level(logging.WARNING, logger="sketchback"):
        run(write_pairs(tmp_path, counts=(8,)), [], tmp_path / "m", adversarial=ADVERSARIAL, epochs=1, max_steps=1)
    assert "can then differ in the last bits from run to run" in caplog.text
