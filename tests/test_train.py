"""Training: seeded streaming input, checkpoints that survive SIGTERM/SIGKILL, clear failures."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

from sketchback.data.shards import batches, epoch_order, open_pairs, photo_to_target, sketch_to_input
from sketchback.io import load_npz, save_npz
from sketchback.models.options import RunSettings, TrainOptions
from sketchback.models.train import (CHECKPOINT_FILE, learning_rate_schedule, read_checkpoint_state, save_checkpoint,
                              train)


def write_pairs(folder: Path, counts=(20, 13), size=16, seed=0):
    """Shards of random photos and sketches with a recognisable pattern per image."""
    rng = np.random.default_rng(seed)
    pairs = []
    for i, n in enumerate(counts):
        photos = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
        sketches = rng.integers(0, 256, (n, size, size), dtype=np.uint8)
        save_npz(folder / f"photo{i}.npz", images=photos, names=np.array([f"{i}-{j}" for j in range(n)]))
        save_npz(folder / f"sketch{i}.npz", sketches=sketches)
        pairs.append((str(folder / f"photo{i}.npz"), str(folder / f"sketch{i}.npz")))
    return pairs


def shard_arrays(pairs):
    """The shards' uint8 sketches and photos, concatenated in order."""
    return (np.concatenate([load_npz(s)["sketches"] for _, s in pairs]),
            np.concatenate([load_npz(p)["images"] for p, _ in pairs]))


def test_the_shards_are_read_as_one_array_without_a_copy(tmp_path):
    pairs = write_pairs(tmp_path)
    sketches, photos = open_pairs(pairs)
    expected_sketches, expected_photos = shard_arrays(pairs)
    assert sketches.shape == (33, 16, 16) and photos.shape == (33, 16, 16, 3) and len(sketches) == 33
    assert all(isinstance(part, np.memmap) for part in sketches.parts + photos.parts)
    np.testing.assert_array_equal(sketches[np.arange(33)], expected_sketches)
    np.testing.assert_array_equal(photos[np.arange(33)], expected_photos)
    rows = np.array([32, 0, 19, 20, 7])  # across the shard boundary, in any order
    np.testing.assert_array_equal(photos[rows], expected_photos[rows])
    np.testing.assert_array_equal(sketches[5:25], expected_sketches[5:25])
    assert not list(tmp_path.glob("**/*.npy")), "nothing is copied"


def test_mismatched_shards_are_refused_naming_them(tmp_path):
    pairs = write_pairs(tmp_path)
    save_npz(pairs[0][1], sketches=np.zeros((19, 16, 16), np.uint8))
    with pytest.raises(ValueError, match=r"sketch0\.npz.*rerun the sketch rule"):
        open_pairs(pairs)
    save_npz(pairs[0][1], sketches=np.zeros((20, 16, 16), np.uint8))
    save_npz(pairs[1][0], images=np.zeros((13, 8, 8, 3), np.uint8))
    save_npz(pairs[1][1], sketches=np.zeros((13, 8, 8), np.uint8))
    with pytest.raises(ValueError, match=r"photo1\.npz holds \(8, 8, 3\) images.*rerun prepare"):
        open_pairs(pairs)


def test_batches_cover_the_epoch_in_seeded_order_and_resume_mid_epoch(tmp_path):
    pairs = write_pairs(tmp_path)
    sketches, photos = open_pairs(pairs)
    expected_sketches, expected_photos = shard_arrays(pairs)
    x, y = sketch_to_input(expected_sketches), photo_to_target(expected_photos)
    full = list(batches(sketches, photos, 8, seed=3, epoch=1))
    assert [step for step, _, _ in full] == [0, 1, 2, 3, 4]
    assert [len(b) for _, b, _ in full] == [8, 8, 8, 8, 1]
    order = epoch_order(33, 3, 1)
    np.testing.assert_array_equal(np.concatenate([b for _, b, _ in full]), x[order])
    np.testing.assert_array_equal(np.concatenate([p for _, _, p in full]), y[order])
    assert sorted(order) == list(range(33))
    assert not np.array_equal(order, epoch_order(33, 3, 2)), "each epoch needs its own shuffle"
    assert not np.array_equal(order, epoch_order(33, 4, 1)), "the seed must change the shuffle"

    resumed = list(batches(sketches, photos, 8, seed=3, epoch=1, start_step=3, prefetch=0))
    assert [step for step, _, _ in resumed] == [3, 4]
    np.testing.assert_array_equal(resumed[0][1], full[3][1])


def test_cosine_schedule_decays_to_one_percent():
    schedule = learning_rate_schedule(0.01, "cosine", 100)
    assert float(schedule(0)) == pytest.approx(0.01)
    assert float(schedule(100)) == pytest.approx(1e-4)
    assert learning_rate_schedule(0.01, "constant", 100) == 0.01
    with pytest.raises(ValueError, match="cosine"):
        learning_rate_schedule(0.01, "linear", 100)


# Every option a run needs; tests override what they are about.
BASE = dict(image_size=16, architecture="scribbler", base_filters=4, residual_blocks=1, pixel_weight=1.0,
            feature_weight=1e-3, tv_weight=1e-5, vgg_weights="random", vgg_md5=None, batch_size=8, devices=1,
            mixed_precision=False, lr_schedule="constant", max_steps=None, epochs=2, learning_rate=1e-3, seed=1)
# No feature loss (no VGG to build and trace) where the test is about the loop, not the loss.
TINY = dict(BASE, feature_weight=0.0)


def run(pairs, val_pairs, out_dir, name="tiny", settings=RunSettings(), init_model=None, **options):
    """Train into out_dir/generator.keras and out_dir/history.csv with TINY overridden by ``options``."""
    return train(pairs, val_pairs, out_dir / "generator.keras", out_dir / "history.csv",
                 TrainOptions(**{**TINY, **options}), settings, name=name, init_model=init_model)


def test_training_writes_model_history_and_tensorboard_and_cleans_up(tmp_path):
    pairs = write_pairs(tmp_path)
    history = run(pairs, pairs[1:], tmp_path / "m", settings=RunSettings(tensorboard_dir=tmp_path / "m" / "tb",
                                                                         log_every=2), feature_weight=1e-3)
    assert list(history["epoch"]) == [1, 2]
    assert {"loss", "pixel", "tv", "feature", "val_loss", "val_pixel", "val_tv", "val_feature"} <= set(history)
    assert np.allclose(history["loss"], history["pixel"] + 1e-3 * history["feature"] + 1e-5 * history["tv"])
    saved = pd.read_csv(tmp_path / "m" / "history.csv")
    pd.testing.assert_frame_equal(saved, history, check_dtype=False)
    generator = keras.models.load_model(tmp_path / "m" / "generator.keras", compile=False)
    assert generator(np.zeros((1, 16, 16, 1), "float32")).shape == (1, 16, 16, 3)
    assert list((tmp_path / "m" / "tb").glob("events.out.tfevents.*"))
    assert not (tmp_path / "m" / "work").exists(), "the checkpoint is removed after success"


def test_max_steps_stops_a_smoke_test_early_without_validation(tmp_path, caplog):
    pairs = write_pairs(tmp_path)  # 33 pairs: 5 steps of 8 per epoch
    caplog.set_level("INFO")
    history = run(pairs, pairs[1:], tmp_path / "m", settings=RunSettings(log_every=1), max_steps=3)
    assert list(history["epoch"]) == [1] and "val_loss" not in history
    assert caplog.text.count("step ") >= 3 and "step 3/5" in caplog.text and "step 4/5" not in caplog.text
    assert "stopped after training.max_steps = 3 steps" in caplog.text
    assert (tmp_path / "m" / "generator.keras").exists() and not (tmp_path / "m" / "work").exists()


def test_a_checkpoint_from_other_options_is_not_resumed(tmp_path, caplog):
    pairs = write_pairs(tmp_path)
    work = tmp_path / "m" / "work"
    # A checkpoint as a run with another learning rate would have left it, half-way through.
    generator = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    optimizer = keras.optimizers.Adam()
    optimizer.build(generator.trainable_variables)
    save_checkpoint(work / CHECKPOINT_FILE, generator, optimizer,
                    {"fingerprint": "other", "epoch": 1, "step": 0, "global_step": 5, "sums": {}, "seen": 0, "history": []})
    caplog.set_level("INFO")
    history = run(pairs, [], tmp_path / "m", settings=RunSettings(work_dir=work))
    assert "starting afresh" in caplog.text
    assert list(history["epoch"]) == [1, 2]


def test_a_diverging_loss_stops_with_a_clear_message(tmp_path):
    pairs = write_pairs(tmp_path)
    out = tmp_path / "m" / "generator.keras"
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        run(pairs, [], tmp_path / "m", name="diverging", tv_weight=1e38)
    assert not out.exists()


def test_mixed_precision_trains_and_saves_a_float32_output_model(tmp_path):
    pairs = write_pairs(tmp_path)
    out = tmp_path / "m" / "generator.keras"
    run(pairs, [], tmp_path / "m", mixed_precision=True, epochs=1)
    assert keras.mixed_precision.global_policy().name == "float32", "the global policy is restored"
    generator = keras.models.load_model(out, compile=False)
    assert generator.get_layer("photo").compute_dtype == "float32"
    assert "float32" in str(generator(np.zeros((1, 16, 16, 1), "float32")).dtype)


GPU_SETTINGS = textwrap.dedent("""
    import sys, warnings
    import numpy as np
    from sketchback.models.options import RunSettings, TrainOptions
    from sketchback.models.train import train
    warnings.simplefilter("error", UserWarning)  # Keras warns, then drops XLA, when a model cannot be compiled
    pairs = [("{photos}", "{sketches}")]
    history = train(pairs, [], sys.argv[1] + "/generator.keras", sys.argv[1] + "/history.csv",
                    TrainOptions(**{options}), RunSettings(jit_compile=True, deterministic=False), name="gpu")
    print("finite", bool(np.isfinite(history["loss"]).all()))
""")


def test_the_full_studys_gpu_settings_train_xla_with_mixed_precision(tmp_path):
    """config/config.yaml's cluster settings: XLA, no op determinism, float16 compute.

    In a process of its own: op determinism, once another test turns it on, stays on for the whole
    process, and Keras then quietly trains without XLA."""
    (photos, sketches), = write_pairs(tmp_path, counts=(16,))
    options = dict(TINY, mixed_precision=True, feature_weight=1e-3, epochs=1, max_steps=2)
    script = tmp_path / "gpu_settings.py"
    script.write_text(GPU_SETTINGS.format(photos=photos, sketches=sketches, options=options))
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, env=env,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "finite True" in result.stdout


# --- Resume after the cluster kills the job -------------------------------------------------------

DRIVER = textwrap.dedent("""
    import logging, sys
    from pathlib import Path
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    from sketchback.models.options import RunSettings, TrainOptions
    from sketchback.models.train import serial_tensorflow, train
    assert serial_tensorflow()  # every run of both models as the deterministic adversarial one runs in a fresh process
    pairs = [("{p0}", "{s0}"), ("{p1}", "{s1}")]
    out = Path(sys.argv[1])
    for name, options in {models}.items():  # in turn, each until its model is saved
        if not (out / name / "generator.keras").exists():
            train(pairs, pairs[1:], out / name / "generator.keras", out / name / "history.csv",
                  TrainOptions(**options), RunSettings(checkpoint_every=3, log_every=1), name=name)
""")


def start(driver: Path, out: Path, log: Path) -> subprocess.Popen:
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.Popen([sys.executable, str(driver), str(out)], stderr=open(log, "w"),
                            stdout=subprocess.DEVNULL, env=env)


def wait_for(predicate, process, what, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        assert process.poll() is None, f"training ended before {what}"
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


# The adversarial run's SIGKILL lands in its content-only first epoch and its SIGTERM in the
# adversarial second: the resumed run must restore the discriminator and both optimizers.
ADVERSARIAL = dict(weight=0.05, start_epoch=1, learning_rate=1e-3, filters=8, layers=2)
RESUMED = {"content": None, "adversarial": ADVERSARIAL}  # by the name each trains under


def test_killed_training_resumes_and_matches_an_uninterrupted_run(tmp_path):
    """Both models, the content-loss one and the adversarial one, each killed (SIGKILL), stopped
    (SIGTERM) and finished, against their uninterrupted runs. One driver trains them in turn, so
    the run that finishes the content model goes on to the adversarial one, whose kill ends it:
    five interrupted processes and one reference for the two models."""
    paths = write_pairs(tmp_path, counts=(24, 16), size=32)
    driver = tmp_path / "driver.py"
    models = {name: dict(BASE, image_size=32, base_filters=4, residual_blocks=1, epochs=2, batch_size=4, seed=5,
                         adversarial=adversarial) for name, adversarial in RESUMED.items()}
    driver.write_text(DRIVER.format(p0=paths[0][0], s0=paths[0][1], p1=paths[1][0], s1=paths[1][1], models=models))

    reference = tmp_path / "reference"  # the uninterrupted run, beside the interrupted ones (its own folder)
    uninterrupted = start(driver, reference, tmp_path / "reference.log")

    out, logs = tmp_path / "interrupted", iter(tmp_path / f"run{i}.log" for i in range(1, 6))
    log = next(logs)
    process = start(driver, out, log)
    finishing = None  # (name, checkpoint, step): the model the running process resumes after its SIGTERM
    for name in RESUMED:
        work = out / name / "work"
        checkpoint = work / CHECKPOINT_FILE
        # 1. SIGKILL (no chance to save) once the first periodic checkpoint exists: the rerun goes back to it.
        wait_for(checkpoint.exists, process, f"{name}'s first periodic checkpoint")
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
        if finishing:  # 3. (the content model) this run finished it from there before it was killed
            assert "{}: resuming from {} at epoch 2 step {}/10".format(*finishing) in log.read_text()
            assert (out / finishing[0] / "generator.keras").exists() and not (out / finishing[0] / "work").exists()
        assert not (out / name / "generator.keras").exists()
        killed_at = read_checkpoint_state(checkpoint)
        assert killed_at["global_step"] % 3 == 0 and killed_at["global_step"] < 20

        # 2. SIGTERM in the middle of the second epoch (10 steps per epoch): a checkpoint, a clear exit.
        log = next(logs)
        second = start(driver, out, log)
        wait_for(lambda: f"{name} epoch 2/2 step 4/10" in log.read_text(), second, f"{name}'s epoch 2 step 4")
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=60) != 0
        text = log.read_text()
        assert (f"{name}: resuming from {checkpoint} at epoch {killed_at['epoch'] + 1} step {killed_at['step']}/10"
                in text)
        assert f"{name}: stopped by SIGTERM at epoch 2" in text and "run the same command again to resume" in text
        stopped_at = read_checkpoint_state(checkpoint)
        assert stopped_at["epoch"] == 1 and 4 <= stopped_at["step"] < 10
        assert not (out / name / "generator.keras").exists()

        # 3. The next run finishes it from there (and goes on to the next model).
        log = next(logs)
        process, finishing = start(driver, out, log), (name, checkpoint, stopped_at["step"])
    assert process.wait(timeout=300) == 0
    assert "{}: resuming from {} at epoch 2 step {}/10".format(*finishing) in log.read_text()
    assert uninterrupted.wait(timeout=600) == 0, (tmp_path / "reference.log").read_text()[-3000:]

    for name, adversarial in RESUMED.items():
        assert not (out / name / "work").exists()
        expected = keras.models.load_model(reference / name / "generator.keras", compile=False).get_weights()
        resumed = keras.models.load_model(out / name / "generator.keras", compile=False).get_weights()
        for a, b in zip(expected, resumed):
            np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
        history = pd.read_csv(out / name / "history.csv")
        pd.testing.assert_frame_equal(history, pd.read_csv(reference / name / "history.csv"), rtol=1e-5)
        if adversarial:  # the second epoch trained against the discriminator, the first did not
            assert history["adversarial"].isna().tolist() == [True, False]
            assert history["discriminator_state"].tolist()[1] == "ok"
        else:
            assert "adversarial" not in history


# --- Several devices: Keras' DataParallel on the JAX backend, two CPU devices standing in for GPUs --

DATA_PARALLEL = textwrap.dedent("""
    import logging, sys
    import numpy as np, keras
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    from sketchback.models.options import RunSettings, TrainOptions
    from sketchback.models.train import train
    pairs = [("{photos}", "{sketches}")]
    weights = []
    for devices in (1, 2):
        options = TrainOptions(**{{**{options}, "devices": devices}})
        train(pairs, [], f"{out}/{{devices}}/generator.keras", f"{out}/{{devices}}/history.csv", options,
              RunSettings(log_every=0), name="dp")
        weights.append(keras.models.load_model(f"{out}/{{devices}}/generator.keras", compile=False).get_weights())
    print("max difference", max(float(np.abs(a - b).max()) for a, b in zip(*weights)))
""")


def test_two_devices_train_the_same_weights_as_one(tmp_path):
    pytest.importorskip("jax", reason="the data-parallel path runs on Keras' JAX backend; pip install jax")
    (photos, sketches), = write_pairs(tmp_path, counts=(16,))
    script = tmp_path / "data_parallel.py"
    options = dict(TINY, residual_blocks=0, epochs=1, batch_size=8)
    script.write_text(DATA_PARALLEL.format(photos=photos, sketches=sketches, out=tmp_path, options=options))
    env = {**os.environ, "KERAS_BACKEND": "jax", "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
           "JAX_PLATFORMS": "cpu"}
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "each batch of 8 split across 2 devices" in result.stderr
    # jit_compile defaults to false, but on JAX the step is compiled anyway (uncompiled JAX is a slow debug mode)
    assert result.stderr.count("training step is compiled with XLA") == 2
    difference = float(result.stdout.split("max difference")[1])
    assert difference < 1e-5


def test_several_devices_on_tensorflow_say_what_to_do(tmp_path):
    pairs = write_pairs(tmp_path)
    with pytest.raises(ValueError, match="KERAS_BACKEND=jax"):
        run(pairs, [], tmp_path, devices=2)


def test_every_training_key_is_either_an_option_or_a_run_setting_with_the_schema_default():
    import yaml
    schema = yaml.safe_load((Path(__file__).parents[1] / "workflow/schemas/config.schema.yaml").read_text())
    training = schema["properties"]["training"]["properties"]
    from sketchback.models.options import RUN_SETTING_KEYS, training_keys
    assert set(training) == training_keys()
    defaults = RunSettings()
    assert {key: training[key]["default"] for key in RUN_SETTING_KEYS} == {key: getattr(defaults, key) for key in RUN_SETTING_KEYS}
