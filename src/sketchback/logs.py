"""Send a job's output to its log file: a whole process (script rules: Python logging, print, and the
C++ logs of TensorFlow) or one thread's log records (run: rules inside Snakemake's process)."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from pathlib import Path


def setup_logging(log_path: str | Path | None = None, level: int = logging.INFO) -> None:
    """Log to stderr with timestamps; when ``log_path`` is given, redirect stdout and stderr there.

    The redirection works on file descriptors, so messages from native libraries land in the
    log file too, not in Snakemake's console.
    """
    if log_path is not None:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handle = open(log_path, "w", buffering=1)
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(handle.fileno(), 1)
        os.dup2(handle.fileno(), 2)
        sys.stdout = handle
        sys.stderr = handle
    logging.basicConfig(level=level, stream=sys.stderr, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")


_job_logs_lock = threading.Lock()
_job_logs = {"active": 0, "level": logging.NOTSET}


@contextlib.contextmanager
def job_log(path: str | os.PathLike, level: int = logging.INFO):
    """Send this thread's ``sketchback`` log records to ``path`` while the block runs.

    For ``run:`` rules, which Snakemake may execute in threads of its own process (with cluster
    executors, several at once): unlike redirecting stderr, this captures only the calling job's
    messages, and leaves Snakemake's own output alone.
    """
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, mode="w")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    thread = threading.get_ident()
    handler.addFilter(lambda record: record.thread == thread)
    logger = logging.getLogger("sketchback")
    with _job_logs_lock:  # the logger's level is shared by concurrent jobs: restore it after the last
        if _job_logs["active"] == 0:
            _job_logs["level"] = logger.level
        _job_logs["active"] += 1
        if logger.getEffectiveLevel() > level:
            logger.setLevel(level)
    logger.addHandler(handler)
    try:
        yield
    except Exception:
        logger.exception("job failed")
        raise
    finally:
        logger.removeHandler(handler)
        handler.close()
        with _job_logs_lock:
            _job_logs["active"] -= 1
            if _job_logs["active"] == 0:
                logger.setLevel(_job_logs["level"])
