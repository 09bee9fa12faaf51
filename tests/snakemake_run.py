"""Running the real Snakemake on the repository's workflow in a test folder, and reading its plans.

Used by tests/test_workflow.py, test_download_workflow.py and test_slurm.py.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import snakemake_forks
import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "workflow" / "Snakefile"


def snakemake_command(workdir: Path, config: dict | str | Path | None, *args: str) -> list[str]:
    """The Snakemake command line for the workflow in ``workdir``.

    config: a dict, written first to a file of its own under ``workdir/.test-configs/`` (named by its
    content, so a dry run with a changed config never replaces the config another test's call on the
    same folder reads); a path to a config file; or None for the ``workdir/config.yaml`` already there.
    """
    if isinstance(config, dict):
        text = yaml.safe_dump(config)
        configfile = workdir / ".test-configs" / f"{hashlib.sha256(text.encode()).hexdigest()[:16]}.yaml"
        configfile.parent.mkdir(exist_ok=True)
        configfile.write_text(text)
    else:
        configfile = workdir / "config.yaml" if config is None else Path(config)
    return [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "-d", str(workdir),
            "--configfile", str(configfile), *args]


def snakemake(workdir: Path, config: dict | str | Path | None, *args: str, timeout: int = 900,
              env: dict | None = None) -> subprocess.CompletedProcess:
    """Run Snakemake (from the repository root) with ``args``; see ``snakemake_command`` for
    ``config``. env: variables added to the environment. A dry run (``-n``) is forked from a process
    that has imported Snakemake already (tests/snakemake_forks.py); any other run is a process of its own."""
    command = snakemake_command(workdir, config, *args)
    environment = {**os.environ, **(env or {})}
    if "-n" in args or "--dry-run" in args:
        return snakemake_forks.run(command[3:], REPO, environment, timeout)
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=timeout, env=environment)


def planned(result: subprocess.CompletedProcess) -> dict[str, int]:
    """Rule name -> number of jobs a dry run would execute, from its "Job stats" table."""
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    text = result.stdout + result.stderr
    if "Nothing to be done" in text:
        return {}
    table = text.split("Job stats:")[1].split("total")[0]
    return {line.split()[0]: int(line.split()[1]) for line in table.splitlines()[3:] if line.strip()}


def planned_jobs(result: subprocess.CompletedProcess) -> dict[str, list[str]]:
    """Rule name -> output paths of the jobs a dry run would execute (one string per job, its
    outputs joined by ", " as Snakemake prints them)."""
    assert result.returncode == 0, result.stdout + result.stderr
    jobs: dict[str, list[str]] = {}
    for block in re.split(r"\n(?=rule \w+:)", result.stdout + result.stderr):
        match = re.match(r"rule (\w+):", block)
        if match:
            outputs = re.search(r"^\s+output: (.*)$", block, re.M)
            jobs.setdefault(match.group(1), []).append(outputs.group(1) if outputs else "")
    return jobs


def planned_outputs(result: subprocess.CompletedProcess) -> list[str]:
    """Every output path of a dry run's jobs, in the order Snakemake lists the jobs (a job after
    the jobs that make its inputs)."""
    assert result.returncode == 0, result.stdout + result.stderr
    outputs = re.findall(r"^rule \w+:\n(?:\s+.*\n)*?\s+output: (.*)$", result.stdout + result.stderr, re.M)
    return [path for job in outputs for path in job.split(", ") if path]


def planned_evaluations(jobs: dict[str, list[str]]) -> list[str]:
    """"model/test set/style" of each evaluation the planned evaluate jobs write (their metrics.csv), sorted:
    one per job with evaluation.one_job_per: style, every style of a test set per job with test_set."""
    return sorted(path.removeprefix("results/evaluation/").removesuffix("/metrics.csv")
                  for rule in ("evaluate", "evaluate_handdrawn") for job in jobs.get(rule, [])
                  for path in job.split(", ") if path.endswith("/metrics.csv"))
