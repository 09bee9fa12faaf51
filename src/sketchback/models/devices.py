"""Which device a training run uses, and a refusal to train on the CPU by mistake.

`pip install -e .` installs the CPU-only ``tensorflow-cpu`` on x86-64; on a GPU node such a job
would quietly train on the CPU, days instead of hours. A job counts as given a GPU when
CUDA's or SLURM's environment says so (or ``SKETCHBACK_REQUIRE_GPU=1``); when the Keras backend
then sees none, training stops at once with the cause and the fix, unless CPU training is
allowed on purpose (``SKETCHBACK_ALLOW_CPU=1`` or ``training.allow_cpu``).

Importing this module does not start Keras: the backend is asked only when a run starts.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
from collections.abc import Mapping

log = logging.getLogger(__name__)

ALLOW_CPU = "SKETCHBACK_ALLOW_CPU"
REQUIRE_GPU = "SKETCHBACK_REQUIRE_GPU"
# GPU ids (CUDA's own list, and SLURM's global ids of the GPUs a job or step holds): "0" is a GPU
ID_VARIABLES = ("CUDA_VISIBLE_DEVICES", "SLURM_JOB_GPUS", "SLURM_STEP_GPUS")
# GPU counts SLURM sets for a job or step that holds GPUs (sbatch(1), srun(1)), optionally "type:count"
COUNT_VARIABLES = ("SLURM_GPUS_ON_NODE", "SLURM_GPUS", "SLURM_GPUS_PER_NODE", "SLURM_GPUS_PER_TASK")
# Values that list no device: "-1" hides every GPU from CUDA; SLURM writes NoDevFiles for a gres without device files
NO_IDS = ("", "NoDevFiles", "none", "N/A")
TENSORFLOW_CUDA = '"tensorflow[and-cuda]>=2.21,<2.22"'  # pyproject.toml's TensorFlow, with its CUDA libraries
# pip alone, in this order: tensorflow-cpu and tensorflow install the same `tensorflow` module, so removing
# tensorflow-cpu after installing tensorflow would delete the CUDA build's files
PIP_GPU_INSTALL = f"pip uninstall -y tensorflow-cpu && pip install {TENSORFLOW_CUDA}"
CONDA_INSTALL = "mamba env create -f environment.yml && conda activate sketchback && pip install --no-deps -e ."
# libraries tensorflow[and-cuda] brings (TensorFlow loads them from these wheels)
CUDA_WHEELS = ("nvidia-cudnn-cu12", "nvidia-cublas-cu12", "nvidia-cuda-runtime-cu12")


class GPUNotVisible(RuntimeError):
    """The job was given a GPU but the Keras backend sees none (it would train on the CPU)."""


def is_set(value: str | None) -> bool:
    """An on/off environment variable: 1, true, yes or on (any case) is on."""
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def lists_gpus(value: str) -> bool:
    """True when a list of GPU ids (CUDA_VISIBLE_DEVICES, SLURM_JOB_GPUS) names a device.

    CUDA reads the list up to its first invalid entry, so "-1,0" hides every GPU as "-1" does.
    """
    first = value.split(",")[0].strip()
    return first not in NO_IDS and not first.startswith("-")


def counts_gpus(value: str) -> bool:
    """True when a SLURM GPU count ("2", "a100:2", "a100:1,v100:1") is above zero."""
    counts = [part.rsplit(":", 1)[-1].strip() for part in value.split(",")]
    return any(count.isdigit() and int(count) > 0 for count in counts)


def gpu_request(environ: Mapping[str, str] | None = None) -> str | None:
    """What says this process was given a GPU ("CUDA_VISIBLE_DEVICES=0", "SLURM_GPUS_ON_NODE=1"), or None.

    A CUDA_VISIBLE_DEVICES that lists no device ("", "-1", "NoDevFiles") hides the GPUs on purpose:
    then no GPU was given, whatever SLURM's counts say.
    """
    environ = os.environ if environ is None else environ
    if is_set(environ.get(REQUIRE_GPU)):
        return f"{REQUIRE_GPU}={environ[REQUIRE_GPU]}"
    if "CUDA_VISIBLE_DEVICES" in environ and not lists_gpus(environ["CUDA_VISIBLE_DEVICES"]):
        return None
    for name in ID_VARIABLES:
        if name in environ and lists_gpus(environ[name]):
            return f"{name}={environ[name]}"
    for name in COUNT_VARIABLES:
        if name in environ and counts_gpus(environ[name]):
            return f"{name}={environ[name]}"
    return None


def visible_gpus(backend: str) -> list[str]:
    """The GPUs the Keras backend sees, by name (cheap: lists devices, starts no computation)."""
    if backend == "tensorflow":
        import tensorflow as tf

        found = []
        for device in tf.config.list_physical_devices("GPU"):
            try:
                details = tf.config.experimental.get_device_details(device)
            except (RuntimeError, ValueError):
                details = {}
            found.append(f"{device.name} ({details['device_name']})" if "device_name" in details else device.name)
        return found
    if backend == "jax":
        import jax

        return [str(device) for device in jax.devices() if device.platform == "gpu"]
    if backend == "torch":
        import torch

        return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return []


def distributions(module: str) -> list[str]:
    """The installed distributions that provide ``module`` ("tensorflow" -> ["tensorflow-cpu"])."""
    names = importlib.metadata.packages_distributions().get(module, [])
    return sorted({name.lower().replace("_", "-") for name in names})


def _installed(name: str) -> bool:
    try:
        importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def _tensorflow_cause() -> tuple[str, str]:
    """Why TensorFlow sees no GPU, and the pip command that fixes it."""
    import tensorflow as tf

    provided = distributions("tensorflow")
    if len(provided) > 1:
        return (f"{' and '.join(provided)} are installed over the same `tensorflow` module, so its files are a mix",
                f"pip uninstall -y {' '.join(provided)} && pip install {TENSORFLOW_CUDA}")
    dist = provided[0] if provided else "tensorflow"
    installed = f"{dist} {tf.__version__}"
    if not tf.test.is_built_with_cuda():
        return (f"the installed TensorFlow is {installed}, built without CUDA (tf.test.is_built_with_cuda() is "
                f"False){'; `pip install -e .` installs it on x86-64' if dist == 'tensorflow-cpu' else ''}",
                PIP_GPU_INSTALL if dist == "tensorflow-cpu" else f"pip install {TENSORFLOW_CUDA}")
    cuda = tf.sysconfig.get_build_info().get("cuda_version", "?")
    missing = [name for name in CUDA_WHEELS if not _installed(name)]
    if missing:
        return (f"{installed} is built with CUDA {cuda} but the CUDA libraries are missing ({', '.join(missing)} "
                f"not installed)", f"pip install {TENSORFLOW_CUDA}")
    return (f"{installed} is built with CUDA {cuda} and its CUDA libraries are installed, so the NVIDIA driver is "
            f"missing or too old on this node (run nvidia-smi in a job; TensorFlow's log lines above name the "
            f"library it could not load)", f"pip install --force-reinstall {TENSORFLOW_CUDA}")


def _cause(backend: str) -> tuple[str, str]:
    if backend == "tensorflow":
        return _tensorflow_cause()
    if backend == "jax":
        return "Keras runs on JAX, and the installed jax has no CUDA backend", 'pip install -U "jax[cuda12]"'
    return f"Keras runs on {backend}, which has no CUDA device", f"install a CUDA build of {backend}"


def no_gpu_message(name: str, request: str, backend: str) -> str:
    """The error for a job given a GPU (``request``) whose backend sees none: the cause, the fix, the opt-out."""
    cause, command = _cause(backend)
    lines = [f"{name}: this job was given a GPU ({request}) but {backend} sees none, so training would run on the "
             f"CPU (days instead of hours).",
             f"Cause: {cause}.",
             f"Fix with pip: {command}",
             "  (then reinstall Sketchback with `pip install --no-deps -e .`: a plain `pip install -e .` puts "
             "tensorflow-cpu back over the CUDA build)." if backend == "tensorflow" else "",
             f"Or use the conda environment, which has the CUDA build: {CONDA_INSTALL}",
             f"To train on the CPU on purpose: {ALLOW_CPU}=1 (or training.allow_cpu: true in the config)."]
    return "\n".join(line for line in lines if line)


def check_training_device(name: str, allow_cpu: bool = False, environ: Mapping[str, str] | None = None) -> str:
    """Log the device run ``name`` trains on, and return it ("GPU ..." or "CPU").

    Raises :class:`GPUNotVisible` when the process was given a GPU (:func:`gpu_request`) that
    the Keras backend cannot see, unless ``allow_cpu`` or ``SKETCHBACK_ALLOW_CPU`` allows the CPU.
    Call it before loading data, so that a misinstalled node fails in seconds.
    """
    import keras

    environ = os.environ if environ is None else environ
    backend = keras.backend.backend()
    gpus = visible_gpus(backend)
    if gpus:
        log.info("%s: training on the GPU: %s", name, ", ".join(gpus))
        return "GPU " + ", ".join(gpus)
    request = gpu_request(environ)
    if request is None:
        log.info("%s: training on the CPU (no GPU was given: CUDA_VISIBLE_DEVICES and SLURM's GPU variables list "
                 "none)", name)
    elif allow_cpu or is_set(environ.get(ALLOW_CPU)):
        why = "training.allow_cpu" if allow_cpu else f"{ALLOW_CPU}={environ[ALLOW_CPU]}"
        log.warning("%s: training on the CPU although this job was given a GPU (%s) that %s cannot see; allowed "
                    "by %s", name, request, backend, why)
    else:
        raise GPUNotVisible(no_gpu_message(name, request, backend))
    return "CPU"
