"""Time how long Snakemake takes to build the full study's DAG (config/config.yaml) with no data.

Usage: python benchmarks/dag_build.py   (prints seconds and the job count per rule)
"""

import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

with tempfile.TemporaryDirectory() as workdir:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "workflow" / "Snakefile"), "-d", workdir,
           "--configfile", str(REPO / "config" / "config.yaml"), "-n", "--quiet", "rules"]
    start = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
if result.returncode:
    sys.exit(result.stderr)
table = re.search(r"job\s+count\n[-\s]+\n(.*?)\n\s*total\s+(\d+)", result.stdout + result.stderr, re.S)
print(table.group(1) if table else result.stdout)
print(f"total jobs: {table.group(2) if table else '?'}")
print(f"dry run of the full study (DAG build + scheduling, incl. Python start-up): {seconds:.2f} s")
