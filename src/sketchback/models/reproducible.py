"""The same weights on another x86-64 CPU: pin the two things TensorFlow's CPU kernels read from the machine.

Op determinism (``training.deterministic``) makes a run repeat itself on one machine. Across machines
two things still change the weights, both read at run time (benchmarks/reproducibility.py; its output
in benchmarks/measured/reproducibility-2026-12-07.txt): the instruction set oneDNN dispatches to (the
demo's generator after 20 steps differs by up to 3e-3 in a weight between AVX-512 and AVX2; with
``TF_ENABLE_ONEDNN_OPTS=0`` too, presumably because TensorFlow's Eigen matrix products call oneDNN's
sgemm) and the number of intra-op threads (9e-4 between 1 and 2 threads; TensorFlow otherwise takes it
from the cores it sees). The cores a process sees do not matter once the thread count is fixed, nor
does the inter-op count for one training step.

So the mode caps oneDNN at AVX2 (``ONEDNN_MAX_CPU_ISA``; nearly every x86-64 CPU since 2015 has it) and
fixes TensorFlow's thread counts by environment variable (``TF_NUM_INTRAOP_THREADS``, the same as
``tf.config.threading.set_intra_op_parallelism_threads``). Both are read when TensorFlow starts, so
:func:`use_portable_cpu` must run before ``keras`` or ``tensorflow`` is imported. Not covered: a CPU
without AVX2 or a non-x86 one (other kernels, other numbers), kernels that choose their blocking from
cache sizes (untestable on one machine), GPUs, and another TensorFlow version. Imports nothing heavy.
"""

from __future__ import annotations

import logging
import os
import platform
import sys
from pathlib import Path

log = logging.getLogger(__name__)

# The instruction set oneDNN is capped at: the common floor of today's x86-64 machines. SSE41 would
# reach older CPUs too, at ~4x the demo's training time; AVX2 costs ~1.04x (both measured on 2 busy cores).
PORTABLE_ISA = "AVX2"


def portable_environment(deterministic: bool, threads: int) -> dict[str, str]:
    """The environment that makes a deterministic TensorFlow CPU run's weights machine-independent; {} when
    ``deterministic`` is off. ``threads``: TensorFlow's intra-op threads, the same on every machine (pass the
    configured count, e.g. training.threads, not the cores a job was given: those differ between machines)."""
    if not deterministic:
        return {}
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a whole number >= 1 for the reproducible mode, not {threads!r}")
    return {"ONEDNN_MAX_CPU_ISA": PORTABLE_ISA, "TF_NUM_INTRAOP_THREADS": str(threads),
            "TF_NUM_INTEROP_THREADS": "1"}


def use_portable_cpu(deterministic: bool, threads: int) -> dict[str, str]:
    """Set :func:`portable_environment` in this process (replacing other values, which are logged) and return it.

    Raises RuntimeError when TensorFlow is already imported: the settings would then not apply.
    """
    wanted = portable_environment(deterministic, threads)
    if wanted and "tensorflow" in sys.modules:
        raise RuntimeError("the reproducible mode must be set before TensorFlow is imported (it reads "
                           f"{', '.join(wanted)} when it starts): call use_portable_cpu before importing "
                           "keras, tensorflow or sketchback.models.train")
    for key, value in wanted.items():
        if os.environ.get(key, value) != value:
            log.info("reproducible mode: %s=%s replaces %s", key, value, os.environ[key])
        os.environ[key] = value
    if wanted:
        log.info("reproducible mode (deterministic run): oneDNN capped at %s, TensorFlow on %s intra-op thread(s) "
                 "and 1 inter-op thread, so another x86-64 CPU with AVX2 gives the same bytes", PORTABLE_ISA, threads)
    if wanted and not has_avx2():
        log.warning("reproducible mode: this CPU (%s) has no AVX2, so oneDNN runs other kernels: the weights will "
                    "differ from those of an AVX2 machine", platform.machine())
    return wanted


def has_avx2(cpuinfo: str | Path = "/proc/cpuinfo") -> bool:
    """Whether the CPU is x86-64 with AVX2 (Linux's CPU flags; True where they cannot be read)."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return True
    return any(line.startswith("flags") and "avx2" in line.split(":", 1)[-1].split() for line in text.splitlines())
