"""The reproducible mode (sketchback.models.reproducible): what it sets, and that with it TensorFlow trains the
same weights whatever instruction set oneDNN would pick and however many cores the process sees."""

import json
import logging
import os
import subprocess
import sys
import textwrap
import types

import numpy as np
import pytest

from sketchback.io import save_npz
from sketchback.models import reproducible
from sketchback.models.reproducible import has_avx2, portable_environment, use_portable_cpu

MODE_KEYS = ("ONEDNN_MAX_CPU_ISA", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")


def test_the_mode_pins_the_instruction_set_and_the_thread_counts():
    assert portable_environment(True, 3) == {"ONEDNN_MAX_CPU_ISA": "AVX2", "TF_NUM_INTRAOP_THREADS": "3",
                                             "TF_NUM_INTEROP_THREADS": "1"}
    assert portable_environment(False, 3) == {}, "a run that is not deterministic is left alone"
    for bad in (0, -1, 1.5, "2", True):
        with pytest.raises(ValueError, match="threads must be a whole number"):
            portable_environment(True, bad)


@pytest.fixture
def clean_environment(monkeypatch):
    """No mode variables set and TensorFlow not imported (as in a fresh job), restored afterwards."""
    for key in MODE_KEYS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)
    return monkeypatch


def test_the_mode_sets_its_variables_replacing_other_values_with_a_log_line(clean_environment, caplog):
    clean_environment.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE")
    with caplog.at_level(logging.INFO, logger=reproducible.__name__):
        assert use_portable_cpu(True, 2) == portable_environment(True, 2)
    assert {key: os.environ[key] for key in MODE_KEYS} == portable_environment(True, 2)
    assert "ONEDNN_MAX_CPU_ISA=AVX2 replaces AVX512_CORE" in caplog.text


def test_the_mode_is_refused_once_tensorflow_is_imported(clean_environment):
    clean_environment.setitem(sys.modules, "tensorflow", types.ModuleType("tensorflow"))
    with pytest.raises(RuntimeError, match="before TensorFlow is imported"):
        use_portable_cpu(True, 1)
    assert not any(key in os.environ for key in MODE_KEYS)
    assert use_portable_cpu(False, 1) == {}, "without determinism there is nothing to set, so nothing to refuse"


def test_avx2_is_read_from_the_cpu_flags(tmp_path, monkeypatch):
    with_avx2, without = tmp_path / "with", tmp_path / "without"
    with_avx2.write_text("processor\t: 0\nflags\t\t: fpu sse4_1 avx avx2 fma\n")
    without.write_text("processor\t: 0\nflags\t\t: fpu sse4_1 avx avx2x\n")
    monkeypatch.setattr(reproducible.platform, "machine", lambda: "x86_64")
    assert has_avx2(with_avx2) and not has_avx2(without)
    assert has_avx2(tmp_path / "absent"), "unreadable flags: assume AVX2 (no warning)"
    monkeypatch.setattr(reproducible.platform, "machine", lambda: "aarch64")
    assert not has_avx2(with_avx2), "another architecture runs other kernels"


# --- The promise, with the real TensorFlow in fresh processes ------------------------------------------------

TRAIN = textwrap.dedent("""
    import hashlib, json, sys
    from pathlib import Path
    threads, folder = json.loads(sys.argv[1]), Path(sys.argv[2])
    if threads is not None:
        from sketchback.models.reproducible import use_portable_cpu
        use_portable_cpu(True, threads)
    import keras
    from sketchback.models.options import RunSettings, TrainOptions
    from sketchback.models.train import train
    options = TrainOptions(image_size=32, architecture="scribbler", base_filters=8, residual_blocks=1,
                           pixel_weight=1.0, feature_weight=0.0, tv_weight=1e-5, vgg_weights="random", vgg_md5=None,
                           batch_size=8, devices=1, mixed_precision=False, lr_schedule="constant", max_steps=None,
                           epochs=1, learning_rate=2e-3, seed=0)
    out = folder / sys.argv[3]
    train([(str(folder / "photos.npz"), str(folder / "sketches.npz"))], [], out / "g.keras", out / "h.csv", options,
          RunSettings(deterministic=True, checkpoint_every=0, log_every=0), name="tiny")
    weights = keras.models.load_model(out / "g.keras", compile=False).get_weights()
    print("WEIGHTS", hashlib.sha256(b"".join(w.tobytes() for w in weights)).hexdigest())
""")
# Two machines: this one as it is, and one whose oneDNN stops at AVX2 and whose job sees a single core.
OTHER_MACHINE = {"ONEDNN_MAX_CPU_ISA": "AVX2"}


def one_core():
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def start(folder, name, threads, other_machine):
    """A training process on this machine or the other one, with the mode (``threads``) or without it (None)."""
    env = {key: value for key, value in os.environ.items() if key not in MODE_KEYS + ("ONEDNN_VERBOSE",)}
    env.update(KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="2", TF_ENABLE_ONEDNN_OPTS="1")
    if other_machine:
        env.update(OTHER_MACHINE)
    elif threads:
        env["ONEDNN_VERBOSE"] = "1"  # oneDNN then reports the instruction set it dispatches to
    return subprocess.Popen([sys.executable, "-c", TRAIN, json.dumps(threads), str(folder), name], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=one_core if other_machine else None)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """name -> (sha256 of the weights after 2 steps, stdout): both machines, with the mode (2 threads) and without."""
    folder = tmp_path_factory.mktemp("reproducible")
    rng = np.random.default_rng(0)
    save_npz(folder / "photos.npz", images=rng.integers(0, 256, (16, 32, 32, 3), dtype=np.uint8),
             names=np.array([str(i) for i in range(16)]))
    save_npz(folder / "sketches.npz", sketches=rng.integers(0, 256, (16, 32, 32), dtype=np.uint8))
    runs = {"this machine": (None, False), "other machine": (None, True),
            "this machine, mode": (2, False), "other machine, mode": (2, True)}
    processes = {name: start(folder, name.replace(" ", "_").replace(",", ""), *how) for name, how in runs.items()}
    found = {}
    for name, process in processes.items():
        stdout, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, f"{name}: {stderr[-3000:]}"
        found[name] = (next(line.split()[1] for line in stdout.splitlines() if line.startswith("WEIGHTS")), stdout)
    return found


def avx512() -> bool:
    return os.path.exists("/proc/cpuinfo") and "avx512f" in open("/proc/cpuinfo").read()


def test_with_the_mode_two_machines_train_the_same_weights(trained):
    assert trained["this machine, mode"][0] == trained["other machine, mode"][0]
    if has_avx2():
        assert "isa:Intel AVX2" in trained["this machine, mode"][1], "oneDNN honours the mode's instruction set"


def test_without_the_mode_the_two_machines_differ(trained):
    if len(os.sched_getaffinity(0)) < 2 and not avx512():
        pytest.skip("one core without AVX-512: the two 'machines' are the same here")
    assert trained["this machine"][0] != trained["other machine"][0]
