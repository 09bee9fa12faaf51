"""The GPU check: a training job that was given a GPU its backend cannot see stops at once, naming
the cause and the fix, instead of training on the CPU for days; the opt-out trains on the CPU."""

import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sketchback.models import devices
from sketchback.models.devices import GPUNotVisible, check_training_device, gpu_request
from sketchback.models.options import RunSettings
from test_train import run, write_pairs


@pytest.mark.parametrize("environ, request_", [
    ({}, None),
    ({"CUDA_VISIBLE_DEVICES": "0"}, "CUDA_VISIBLE_DEVICES=0"),
    ({"CUDA_VISIBLE_DEVICES": "GPU-5c1b6f0e,1"}, "CUDA_VISIBLE_DEVICES=GPU-5c1b6f0e,1"),
    ({"CUDA_VISIBLE_DEVICES": ""}, None),
    ({"CUDA_VISIBLE_DEVICES": "-1"}, None),
    ({"CUDA_VISIBLE_DEVICES": "-1,0"}, None),  # CUDA stops reading at the first invalid id
    ({"CUDA_VISIBLE_DEVICES": "NoDevFiles"}, None),
    ({"CUDA_VISIBLE_DEVICES": "-1", "SLURM_GPUS_ON_NODE": "1"}, None),  # hidden on purpose wins
    ({"SLURM_GPUS_ON_NODE": "2"}, "SLURM_GPUS_ON_NODE=2"),
    ({"SLURM_GPUS_ON_NODE": "0"}, None),
    ({"SLURM_GPUS": "a100:1"}, "SLURM_GPUS=a100:1"),
    ({"SLURM_GPUS_PER_NODE": "a100:0,v100:0"}, None),
    ({"SLURM_JOB_GPUS": "3"}, "SLURM_JOB_GPUS=3"),
    ({"SKETCHBACK_REQUIRE_GPU": "yes"}, "SKETCHBACK_REQUIRE_GPU=yes"),
    ({"SKETCHBACK_REQUIRE_GPU": "0"}, None),
])
def test_a_gpu_is_read_from_cudas_and_slurms_variables(environ, request_):
    assert gpu_request(environ) == request_


def test_without_a_gpu_request_training_runs_on_the_cpu_and_says_so(caplog):
    with caplog.at_level(logging.INFO, logger="sketchback.models.devices"):
        assert check_training_device("faces", environ={}) == "CPU"
    assert "faces: training on the CPU (no GPU was given" in caplog.text


# A process that is told it has a GPU (as SLURM tells a job given --gres=gpu:1) on this CPU-only
# TensorFlow: both training entry points must stop before reading any data (the shards do not exist).
REFUSED = textwrap.dedent("""
    import sys
    from sketchback.models.devices import GPUNotVisible
    from sketchback.models.options import TrainOptions
    from sketchback.models.superres import SuperresOptions, train_upsampler
    from sketchback.models.train import train
    from test_train import TINY
    for name, start in [
        ("faces", lambda: train([("missing-photo.npz", "missing-sketch.npz")], [], "out/faces.keras",
                                "out/faces.csv", TrainOptions(**TINY), name="faces")),
        ("upsampler", lambda: train_upsampler({"faces": ["missing.npz"]}, "out/up.keras", "out/up.csv",
                                              SuperresOptions(factor=2, filters=4, blocks=1, patch_size=8,
                                                              batch_size=2, epochs=1, learning_rate=1e-3,
                                                              feature_weight=0.0, vgg_weights="random",
                                                              vgg_md5=None, seed=0))),
    ]:
        try:
            start()
        except GPUNotVisible as error:
            print(f"=== {name}\\n{error}")
        else:
            sys.exit(f"{name} did not stop")
""")


def test_a_job_given_a_gpu_it_cannot_see_stops_with_the_cause_and_the_fix(tmp_path):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "0", "SLURM_GPUS_ON_NODE": "1",
           "PYTHONPATH": str(Path(__file__).parent)}
    env.pop(devices.ALLOW_CPU, None)
    result = subprocess.run([sys.executable, "-c", REFUSED], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    faces, upsampler = result.stdout.split("=== ")[1:]
    for message in (faces, upsampler):
        assert "this job was given a GPU (CUDA_VISIBLE_DEVICES=0) but tensorflow sees none" in message
        assert "tensorflow-cpu" in message and "built without CUDA" in message  # the cause on this install
        assert 'pip uninstall -y tensorflow-cpu && pip install "tensorflow[and-cuda]' in message  # pip alone
        assert "mamba env create -f environment.yml" in message  # the conda route
        assert "SKETCHBACK_ALLOW_CPU=1" in message and "training.allow_cpu: true" in message  # the opt-out
    assert faces.startswith("faces\nfaces: ") and upsampler.startswith("upsampler\nupsampler x2: ")
    assert not (tmp_path / "out").exists(), "nothing is written by a refused job"


@pytest.mark.parametrize("how", ["config", "environment"])
def test_the_opt_out_trains_on_the_cpu_with_a_warning(tmp_path, monkeypatch, caplog, how):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")  # as SLURM sets it for a job given one GPU
    monkeypatch.delenv(devices.ALLOW_CPU, raising=False)
    pairs = write_pairs(tmp_path, counts=(8,))
    with pytest.raises(GPUNotVisible, match="faces: this job was given a GPU"):
        run(pairs, [], tmp_path / "refused", name="faces", epochs=1)
    assert not (tmp_path / "refused").exists()
    if how == "environment":
        monkeypatch.setenv(devices.ALLOW_CPU, "1")
    with caplog.at_level(logging.WARNING, logger="sketchback.models.devices"):
        history = run(pairs, [], tmp_path / "out", name="faces", epochs=1,
                      settings=RunSettings(allow_cpu=how == "config"))
    assert len(history) == 1 and (tmp_path / "out" / "generator.keras").exists()
    allowed_by = "training.allow_cpu" if how == "config" else "SKETCHBACK_ALLOW_CPU=1"
    assert f"faces: training on the CPU although this job was given a GPU (CUDA_VISIBLE_DEVICES=0) that " \
           f"tensorflow cannot see; allowed by {allowed_by}" in caplog.text
