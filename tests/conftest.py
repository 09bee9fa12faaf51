import os
import signal

import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import sketchback  # noqa: E402,F401  -- its TensorFlow CPU settings, before any test module imports keras
import snakemake_run  # noqa: E402
from tiny_study import STUDY_GROUP, TINY  # noqa: E402

# Tests press Ctrl-C on the programs they start (Snakemake cancelling its SLURM jobs, `sketchback serve`). A
# shell without job control starts a background command (`pytest ... &` in a script) with SIGINT ignored, and
# the programs it starts inherit that: they would never see the Ctrl-C (seen: Snakemake and the server waited
# for ever). Python's own handler is reset to the default by exec, so every child gets Ctrl-C back.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    """One pytest-xdist group per test file (`--dist loadgroup` in pyproject.toml), so that a file's module
    fixtures are built once; every file with a test that reads the tiny study joins one group instead,
    so that the study is built once for all of them (see tests/tiny_study.py)."""
    readers = {item.path for item in items if "tiny_study" in getattr(item, "fixturenames", ())}
    for item in items:
        if not any(item.iter_markers("xdist_group")):
            item.add_marker(pytest.mark.xdist_group(STUDY_GROUP if item.path in readers else item.path.name))


@pytest.fixture(scope="session")
def tiny_study(tmp_path_factory):
    """The finished tiny study's folder (results/): the whole DAG on ``TINY``, run once."""
    workdir = tmp_path_factory.mktemp("study")
    result = snakemake_run.snakemake(workdir, TINY, "--cores", "2", timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return workdir
