"""Dry runs of the real Snakemake command line without paying for its import each time.

The suite makes many dry runs (`snakemake -n` with a changed config, to read what a change would
rerun). A dry run of the finished demo as its own `python -m snakemake` process takes 3.2 s on an idle
2-core machine, forked from a process that has imported Snakemake 1.0-1.4 s. Here one server process per
pytest worker imports it once and forks a child per run: the child starts from that freshly
imported state (no earlier run's state: it is a copy of a process that has run nothing), takes
the run's folder, environment and output files, and calls Snakemake's own command-line entry point,
`snakemake.cli.main(argv)`, with the argv `python -m snakemake` would get. Only the interpreter
start is shared; the exit code, stdout and stderr are the command's.

Used by snakemake_run.snakemake for dry runs; real runs stay separate processes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

SERVER = r'''
import json, os, signal, sys, time
import snakemake.cli

requests, replies = sys.stdin, sys.stdout
for line in requests:
    job = json.loads(line)
    pid = os.fork()
    if pid == 0:  # the run: its folder, environment and files, then Snakemake's own entry point
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.chdir(job["cwd"])
        os.environ.clear()
        os.environ.update(job["env"])
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        for fd, path in ((1, job["stdout"]), (2, job["stderr"])):
            os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), fd)
        sys.argv = ["snakemake", *job["argv"]]
        code = 0
        try:
            snakemake.cli.main(job["argv"])
        except SystemExit as exit:
            code = exit.code if isinstance(exit.code, int) else (0 if exit.code is None else 1)
            if isinstance(exit.code, str):
                print(exit.code, file=sys.stderr)
        except BaseException:
            import traceback
            traceback.print_exc()
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    deadline = time.monotonic() + job["timeout"]
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            replies.write(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}) + "\n")
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            replies.write(json.dumps({"timeout": True}) + "\n")
            break
        time.sleep(0.02)
    replies.flush()
'''

_server: subprocess.Popen | None = None
_lock = threading.Lock()


def _start() -> subprocess.Popen:
    global _server
    if _server is None or _server.poll() is not None:
        _server = subprocess.Popen([sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   text=True, bufsize=1)
    return _server


def run(argv: list[str], cwd: Path, env: dict, timeout: float) -> subprocess.CompletedProcess:
    """``python -m snakemake *argv`` in ``cwd`` with ``env``, forked from the server: its exit code,
    stdout and stderr (subprocess.TimeoutExpired after ``timeout`` seconds, the run killed)."""
    with _lock, tempfile.TemporaryDirectory(prefix="snakemake-run-") as folder:
        out, err = Path(folder) / "stdout", Path(folder) / "stderr"
        server = _start()
        server.stdin.write(json.dumps({"argv": argv, "cwd": str(cwd), "env": env, "timeout": timeout,
                                       "stdout": str(out), "stderr": str(err)}) + "\n")
        server.stdin.flush()
        reply = server.stdout.readline()
        if not reply:
            raise RuntimeError(f"the Snakemake fork server stopped (exit {server.wait()})")
        result = json.loads(reply)
        command = [sys.executable, "-m", "snakemake", *argv]
        if result.get("timeout"):
            raise subprocess.TimeoutExpired(command, timeout, out.read_text(), err.read_text())
        return subprocess.CompletedProcess(command, result["returncode"], out.read_text(), err.read_text())
