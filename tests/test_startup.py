"""A workflow job's start (sketchback.models.startup): TensorFlow and Keras start and work without the
optional imports no job uses, and another Keras backend keeps them."""

import importlib
import json
import os
import subprocess
import sys
import textwrap

import pytest

from sketchback.models.startup import UNUSED_BY_JOBS, skip_unused_imports

JOB = textwrap.dedent("""
    import json, sys
    from sketchback.models.startup import start_tensorflow_job
    start_tensorflow_job(True, 1)
    import keras, numpy as np
    from sketchback.models.generators import build_generator
    out = build_generator("scribbler", base_filters=4, residual_blocks=1)(np.zeros((1, 16, 16, 1), np.float32))
    print(json.dumps({"loaded": sorted(n for n in ("jax", "IPython") if sys.modules.get(n) is not None),
                      "backend": keras.backend.backend(), "shape": list(out.shape)}))
""")


def test_a_job_on_tensorflow_starts_keras_and_runs_a_model_without_jax_or_ipython():
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    result = subprocess.run([sys.executable, "-c", JOB], capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"loaded": [], "backend": "tensorflow", "shape": [1, 16, 16, 3]}


@pytest.fixture
def modules_back():
    """The test process's own entries for UNUSED_BY_JOBS, put back (or removed) afterwards."""
    saved = {name: sys.modules.pop(name) for name in UNUSED_BY_JOBS if name in sys.modules}
    yield
    for name in UNUSED_BY_JOBS:
        sys.modules.pop(name, None)
    sys.modules.update(saved)


def test_another_backend_or_an_imported_module_is_left_alone(modules_back):
    assert skip_unused_imports("jax") == [] and skip_unused_imports("torch") == []
    assert not any(name in sys.modules for name in UNUSED_BY_JOBS)
    for name in UNUSED_BY_JOBS:
        sys.modules[name] = sys  # already imported: kept as it is
    assert skip_unused_imports("tensorflow") == [] and all(sys.modules[n] is sys for n in UNUSED_BY_JOBS)


def test_a_skipped_module_raises_import_error_as_the_libraries_expect(modules_back, monkeypatch):
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    assert skip_unused_imports() == list(UNUSED_BY_JOBS)
    with pytest.raises(ImportError):
        importlib.import_module("jax")
