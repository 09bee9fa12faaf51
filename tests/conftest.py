import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import sketchback  # noqa: E402,F401  -- its TensorFlow CPU settings, before any test module imports keras

# The files that take longest, first (seconds of one worker in a CI-like run on 2 cores, 2026-12-07:
# test_workflow ~520, test_slurm ~250 (mostly waiting for SLURM), test_released_workflow ~130,
# test_train ~200, test_export ~140, test_superres ~90, test_reproducible ~60). With `--dist loadfile`
# and `--no-loadscope-reorder` (pyproject.toml) xdist hands files out in this order, so no worker is
# left alone with a long file at the end while the other core idles; the rest keep their file order.
LONGEST_FIRST = ["test_workflow.py", "test_slurm.py", "test_train.py", "test_released_workflow.py",
                 "test_export.py", "test_superres.py", "test_reproducible.py", "test_adversarial.py"]


def pytest_xdist_auto_num_workers(config):
    """``-n auto``: one worker per core and one more, at most 4 (``--maxprocesses``). A worker spends
    about a third of its time waiting on a subprocess (Snakemake studies, SLURM's queue, a served page):
    two workers on 2 cores kept them busy 159-169% of the time (2026-12-07), a third fills that gap."""
    return min((os.cpu_count() or 1) + 1, 4)


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(LONGEST_FIRST)))  # stable: tests keep their order
