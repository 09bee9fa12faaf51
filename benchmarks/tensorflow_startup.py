"""CPU seconds a workflow job spends starting Keras on TensorFlow, with and without skip_unused_imports.

Each round starts two fresh processes, in alternating order: ``import keras`` as a job did before
(``plain``), and after ``sketchback.models.startup.skip_unused_imports()`` (``skipped``). Prints each
process's user + system CPU seconds, the means and the paired difference with a 95% interval (t).

Usage: python benchmarks/tensorflow_startup.py [rounds, default 10]   (run on idle cores)
"""

import resource
import statistics
import subprocess
import sys

CODE = {"plain": "import keras",
        "skipped": "from sketchback.models.startup import skip_unused_imports; skip_unused_imports(); import keras"}
T95 = {4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228, 14: 2.145, 19: 2.093}


def cpu_seconds(code: str) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-c", code], check=True, stderr=subprocess.DEVNULL,
                   env={"KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2", "PATH": ""})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
times = {"plain": [], "skipped": []}
for k in range(rounds):
    for mode in (("plain", "skipped") if k % 2 == 0 else ("skipped", "plain")):
        times[mode].append(cpu_seconds(CODE[mode]))
    print(f"round {k + 1}: plain {times['plain'][-1]:.2f} CPU-s, skipped {times['skipped'][-1]:.2f} CPU-s", flush=True)
diffs = [a - b for a, b in zip(times["plain"], times["skipped"])]
half = T95.get(rounds - 1, 1.96) * statistics.stdev(diffs) / rounds ** 0.5 if rounds > 1 else float("nan")
for mode, values in times.items():
    print(f"{mode}: mean {statistics.mean(values):.2f} CPU-s (min {min(values):.2f}, max {max(values):.2f})")
print(f"saved per job: {statistics.mean(diffs):.2f} CPU-s, 95% interval [{statistics.mean(diffs) - half:.2f}, "
      f"{statistics.mean(diffs) + half:.2f}] ({100 * statistics.mean(diffs) / statistics.mean(times['plain']):.0f}% "
      f"of the plain start), {rounds} rounds")
