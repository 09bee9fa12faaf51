"""What a workflow job sets in its process before TensorFlow starts.

* ``start_tensorflow_job``: the reproducible mode (:func:`sketchback.models.reproducible.use_portable_cpu`)
  and :func:`skip_unused_imports`; every workflow script that can reach TensorFlow calls it first
  (tests/test_structure.py checks this).
* ``skip_unused_imports``: TensorFlow imports JAX when it is installed (TF Lite's optional JAX path) and
  Keras imports IPython (its notebook file editor). A job on Keras' TensorFlow backend uses neither, and
  the two are 1.3 CPU-s (95% interval 0.8 to 1.8) of the 7.3 that ``import keras`` takes on the project's
  2-core machine (benchmarks/tensorflow_startup.py, benchmarks/measured/tensorflow_startup-2026-12-07.txt).

Imports nothing heavy.
"""

from __future__ import annotations

import logging
import os
import sys

from sketchback.models.reproducible import use_portable_cpu

log = logging.getLogger(__name__)

# Imported by TensorFlow or Keras when installed, inside try/except ImportError, and used by no job here.
UNUSED_BY_JOBS = ("jax", "IPython")


def skip_unused_imports(backend: str | None = None) -> list[str]:
    """Mark UNUSED_BY_JOBS as absent in this process (``import jax`` then raises ImportError, which TensorFlow
    and Keras catch) when Keras' backend is TensorFlow (``backend``, default $KERAS_BACKEND or tensorflow);
    nothing for another backend, or for a module already imported. Returns the names marked."""
    backend = backend or os.environ.get("KERAS_BACKEND") or "tensorflow"
    if backend != "tensorflow":
        return []
    skipped = [name for name in UNUSED_BY_JOBS if name not in sys.modules]
    for name in skipped:
        sys.modules[name] = None
    return skipped


def start_tensorflow_job(deterministic: bool, threads: int) -> dict[str, str]:
    """Before TensorFlow starts in a job: :func:`use_portable_cpu` (returned: the variables it set) and
    :func:`skip_unused_imports`."""
    wanted = use_portable_cpu(deterministic, threads)
    skipped = skip_unused_imports()
    if skipped:
        log.debug("not importing %s (unused by this job)", ", ".join(skipped))
    return wanted
