"""A full-size rehearsal of the study: config/config.yaml on stand-ins with the real layouts and counts.

Usage: python benchmarks/full_scale.py [--fraction F] [--steps N] [--cores C] [--workdir DIR] [--lfw]

1. Builds (or reuses) stand-ins of every published file (benchmarks/standins.py) under
   DIR/standins: 202,599 CelebA JPEGs in img_align_celeba.zip and the official partition,
   ZuBuD's 1,005 PNGs, the four CUHK zips, LFW's 13,233 JPEGs.
2. Serves them on 127.0.0.1 (tests/http_fixture.py; CelebA's two files behind the Google Drive
   imitation).
3. Runs config/config.yaml through the real Snakemake in DIR/run-<tag>/ with an overlay config that
   changes only what must change: URLs, the stand-ins' checksums, training.vgg_weights: random and
   training.max_steps. Targets: download -> split -> prepare (+ the mean
   training photo) -> sketch (pencil, XDoG) for celeba, zubud and cuhk, CUHK's hand-drawn sketch
   shards -> augment (zubud, the buildings model's input) -> the faces model's first N steps at
   128 px (training memory-maps the shards where they lie: no copy of the dataset is made).
4. Prints per stage: jobs, wall time, CPU time, peak RSS (max over jobs) against the declared
   mem_mb of workflow/profiles/default/config.yaml, disk written; then a projection of the whole
   study on one node of 8 cores and one GPU; writes the same to DIR/full_scale.md.
5. Checks that a second dry run plans nothing, also after touching CelebA's manifest and index.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "benchmarks"))
from http_fixture import LocalServer, Route  # noqa: E402
from standins import build  # noqa: E402

SNAKEFILE = REPO / "workflow" / "Snakefile"
PROFILE = REPO / "workflow" / "profiles" / "default" / "config.yaml"
STUDY = REPO / "config" / "config.yaml"
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
DATASETS = ("celeba", "zubud", "cuhk")
METHODS = ("pencil", "xdog")
DRIVE_IDS = {"img_align_celeba.zip": "0B7EVK8r0v71pZjFTYXZWM3FlRnM", "list_eval_partition.txt": "0B7EVK8r0v71pY0NSMzRuSXJEVkk"}
# README "Training": the JAX pipeline on one H200 at 128 px, batch 32 (benchmarks/measured/)
GPU_IMG_S = {"float32": 1595, "mixed_float16": 2324}
NODE_CORES = 8


# --- the run ------------------------------------------------------------------------------------

def serve(server: LocalServer, standins: dict) -> dict:
    """Routes for every stand-in file; returns {dataset: {file: url}}."""
    urls = {}
    for dataset, files in standins["files"].items():
        urls[dataset] = {}
        for file, entry in files.items():
            route = Route(path=Path(entry["path"]))
            if dataset == "celeba" and hasattr(server, "drive"):
                urls[dataset][file] = server.drive(DRIVE_IDS[file], route)
            else:
                server.routes[f"/{dataset}/{file}"] = route
                urls[dataset][file] = server.url(f"/{dataset}/{file}")
    return urls


def has_max_steps() -> bool:
    schema = yaml.safe_load(SCHEMA.read_text())
    return "max_steps" in schema["properties"]["training"]["properties"]


def overlay(standins: dict, urls: dict, steps: int | None) -> dict:
    """What must change in config/config.yaml: URLs, checksums, the VGG16 weights, the step limit."""
    datasets = {}
    for dataset, files in standins["files"].items():
        source = {"files": {file: {"urls": [urls[dataset][file]], "md5": entry["md5"], "sha256": None}
                            for file, entry in files.items()}}
        n = standins["counts"][dataset]
        if standins["fraction"] < 1 and dataset in ("celeba", "lfw"):
            source["n_images"] = n
        datasets[dataset] = {"source": source}
    # mixed_precision off: float16 compute is a GPU setting and slow on a CPU. (This rehearsal found that
    # with it and jit_compile, as config/config.yaml sets both, TensorFlow's first step failed under XLA;
    # the generator's upsampling now computes in float32 and tests/test_train.py trains that setting.)
    training = {"vgg_weights": "random", "vgg_md5": None, "mixed_precision": False}
    if steps is not None:
        training["max_steps"] = steps
    return {"datasets": datasets, "training": training}


def shard_ids(config: dict, dataset: str, split: str) -> list[str]:
    return [f"{i:03d}" for i in range(config["datasets"][dataset]["shards"][split])]


def targets(config: dict, train: bool, lfw: bool) -> list[str]:
    out = []
    for dataset in DATASETS + (("lfw",) if lfw else ()):
        out.append(f"results/prepared/{dataset}/mean_train.npy")
        for split in ("train", "val", "test"):
            for shard in shard_ids(config, dataset, split):
                out += [f"results/sketches/{dataset}/{method}/{split}/{shard}.npz" for method in METHODS]
                if dataset == "cuhk":
                    out.append(f"results/sketches/cuhk/handdrawn/{split}/{shard}.npz")
    for method in config["models"]["buildings"]["methods"]:
        out += [f"results/augmented/zubud/{method}/train/{shard}.npz" for shard in shard_ids(config, "zubud", "train")]
    if train:
        out.append("results/models/faces/generator.keras")
    return out


def snakemake(run: Path, configs: list[Path], cores: int, args: list[str], log: Path | None = None):
    cmd = [sys.executable, "-m", "snakemake", *args, "-s", str(SNAKEFILE), "-d", str(run), "--cores", str(cores),
           "--configfile", *map(str, configs)]
    if log is None:
        return subprocess.run(cmd, capture_output=True, text=True)
    with open(log, "w") as handle:
        return subprocess.run(cmd, stdout=handle, stderr=subprocess.STDOUT, text=True)


def planned(result) -> dict:
    text = result.stdout + result.stderr
    if result.returncode != 0:
        raise RuntimeError(f"dry run failed:\n{text[-3000:]}")
    if "Nothing to be done" in text:
        return {}
    table = text.split("Job stats:")[1].split("total")[0]
    return {line.split()[0]: int(line.split()[1]) for line in table.splitlines()[3:] if line.strip()}


# --- measurements -------------------------------------------------------------------------------

def du(*paths: Path) -> int:
    """Bytes on disk under paths (files counted once even if hard-linked)."""
    seen, total = set(), 0
    for path in paths:
        if not path.exists():
            continue
        for p in [path] if path.is_file() else path.rglob("*"):
            if p.is_file() and not p.is_symlink():
                stat = p.stat()
                if (stat.st_dev, stat.st_ino) not in seen:
                    seen.add((stat.st_dev, stat.st_ino))
                    total += stat.st_blocks * 512
    return total


def benchmarks(run: Path) -> list[dict]:
    """One record per Snakemake benchmark file: rule, the stage key, s, cpu_time, max_rss (MB), start, end."""
    records = []
    for tsv in sorted((run / "results" / "benchmarks").rglob("*.tsv")):
        parts = tsv.relative_to(run / "results" / "benchmarks").with_suffix("").parts
        with open(tsv) as handle:
            row = list(csv.DictReader(handle, delimiter="\t"))[-1]
        rule = parts[0]

        def number(key):
            try:
                return float(row[key])
            except (KeyError, ValueError):
                return float("nan")

        key = "/".join(parts[:3] if rule in ("sketch", "augment") else parts[:2])
        end = tsv.stat().st_mtime
        records.append({"rule": rule, "key": key, "s": number("s"), "cpu_time": number("cpu_time"),
                        "max_rss": number("max_rss"), "end": end, "start": end - number("s"),
                        "wildcards": parts[1:]})
    return records


def declared_memory(rule: str) -> str:
    """mem_mb that workflow/profiles/default declares for a rule (an expression is shown as written)."""
    profile = yaml.safe_load(PROFILE.read_text())
    value = (profile.get("set-resources", {}).get(rule) or {}).get("mem_mb")
    return "-" if value is None else str(value)


def log_times(path: Path, pattern: str) -> list[datetime]:
    """HH:MM:SS stamps of the log lines matching pattern."""
    if not path.exists():
        return []
    stamps = []
    for line in path.read_text().splitlines():
        if re.match(r"\d\d:\d\d:\d\d ", line) and re.search(pattern, line):
            stamps.append(datetime.strptime(line[:8], "%H:%M:%S"))
    return stamps


def span(path: Path, first: str, last: str) -> float | None:
    a, b = log_times(path, first), log_times(path, last)
    if not a or not b:
        return None
    return (b[-1] - a[0]).total_seconds() % 86400


def fetch_seconds(log: Path, files) -> float:
    """Seconds spent fetching (and verifying) the given files, from each file's first log line to its 'saved as'."""
    total = 0.0
    for file in files:
        name = re.escape(file)
        seconds = span(log, rf"{name}: (downloading|Google Drive|already present)", rf"{name}: .*saved as")
        total += seconds or 0.0
    return total


def human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)


def minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


STAGE_DIRS = {
    "download": lambda run, key: [run / "resources" / key.split("/")[1]],
    "split": lambda run, key: [run / "results/prepared" / key.split("/")[1] / "index.csv"],
    "prepare": lambda run, key: [run / "results/prepared" / key.split("/")[1] / s for s in ("train", "val", "test")],
    "mean_image": lambda run, key: [run / "results/prepared" / key.split("/")[1] / "mean_train.npy"],
    "handdrawn_sketches": lambda run, key: [run / "results/sketches" / key.split("/")[1] / "handdrawn"],
    "sketch": lambda run, key: [run / "results/sketches" / "/".join(key.split("/")[1:3])],
    "augment": lambda run, key: [run / "results/augmented" / "/".join(key.split("/")[1:3])],
    "train": lambda run, key: [run / "results/models" / key.split("/")[1]],
}
ORDER = list(STAGE_DIRS)


def table(run: Path, records: list[dict], start: float) -> tuple[list[dict], str]:
    rows = {}
    for r in records:
        row = rows.setdefault(r["key"], {"key": r["key"], "rule": r["rule"], "jobs": 0, "cpu": 0.0, "rss": 0.0,
                                         "start": r["start"], "end": r["end"], "job_max": 0.0, "jobsum": 0.0})
        row["jobs"] += 1
        row["jobsum"] += r["s"]
        row["cpu"] += 0 if math.isnan(r["cpu_time"]) else r["cpu_time"]
        row["rss"] = max(row["rss"], 0 if math.isnan(r["max_rss"]) else r["max_rss"])
        row["start"], row["end"] = min(row["start"], r["start"]), max(row["end"], r["end"])
        row["job_max"] = max(row["job_max"], r["s"])
    for row in rows.values():
        row["wall"] = row["end"] - row["start"]
        row["mem_mb"] = declared_memory(row["rule"])
        row["disk"] = du(*STAGE_DIRS[row["rule"]](run, row["key"])) if row["rule"] in STAGE_DIRS else 0
    ordered = sorted(rows.values(), key=lambda r: (ORDER.index(r["rule"]) if r["rule"] in ORDER else 99, r["key"]))
    lines = ["| stage | jobs | first start - last end (from run start) | CPU | longest job | "
             "peak RSS (max job) | declared mem_mb | disk written |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in ordered:
        over = " **over**" if r["mem_mb"].split()[0].isdigit() and r["rss"] > int(r["mem_mb"].split()[0]) else ""
        lines.append(f"| {r['key']} | {r['jobs']} | {r['start'] - start:.0f}-{r['end'] - start:.0f} s | {minutes(r['cpu'])} | "
                     f"{minutes(r['job_max'])} | {r['rss']:,.0f} MB{over} | {r['mem_mb']} | {human(r['disk'])} |")
    return ordered, "\n".join(lines)


def training_pairs(run: Path, config: dict) -> dict:
    """Training pairs per model, read from the shards' headers (augmented shards for the buildings)."""
    from sketchback.data.shards import npz_shape

    out = {}
    for model, spec in config["models"].items():
        dataset, augmented = spec["dataset"], "augment" in config["datasets"][spec["dataset"]]
        n = 0
        for method in spec["methods"]:
            for shard in shard_ids(config, dataset, "train"):
                path = (run / f"results/augmented/{dataset}/{method}/train/{shard}.npz" if augmented
                        else run / f"results/prepared/{dataset}/train/{shard}.npz")
                n += npz_shape(path, "images")[0] if path.exists() else 0
        out[model] = n
    return out


def projection(rows: list[dict], fraction: float, pairs: dict, config: dict) -> str:
    """The whole study on one node of 8 cores and one GPU: CPU stages spread over 8 cores, training at the H200 rate."""
    lines = [f"| stage | measured CPU | on {NODE_CORES} cores (max of CPU/{NODE_CORES} and the longest job) |",
             "|---|---:|---:|"]
    total = 0.0
    scale = 1 / fraction  # CelebA dominates every CPU stage; ZuBuD and CUHK are full-size in any case
    for r in rows:
        if r["rule"] in ("download", "train"):
            continue
        cpu = r["cpu"] * (scale if "celeba" in r["key"] else 1)
        longest = r["job_max"] * (scale if "celeba" in r["key"] else 1)
        node = max(cpu / NODE_CORES, longest)
        total += node
        lines.append(f"| {r['key']} | {minutes(cpu)} | {minutes(node)} |")
    lines.append(f"| **CPU stages (serial sum of the stage rows)** | | **{minutes(total)}** |")
    gpu_lines = []
    gpu_total = {}
    for precision, rate in GPU_IMG_S.items():
        seconds = 0.0
        for model, spec in config["models"].items():
            n = pairs[model] * (scale if config["models"][model]["dataset"] == "celeba" else 1)
            seconds += n * spec["epochs"] / rate
        gpu_total[precision] = seconds
    for model, spec in config["models"].items():
        n = pairs[model] * (scale if spec["dataset"] == "celeba" else 1)
        gpu_lines.append(f"| train {model}: {n:,.0f} pairs x {spec['epochs']} epochs | "
                         f"{minutes(n * spec['epochs'] / GPU_IMG_S['float32'])} float32 | "
                         f"{minutes(n * spec['epochs'] / GPU_IMG_S['mixed_float16'])} mixed |")
    lines += gpu_lines
    lines.append(f"| **whole study without download, style sketches and evaluation** | | "
                 f"**{minutes(total + gpu_total['float32'])} (float32), {minutes(total + gpu_total['mixed_float16'])} "
                 f"(mixed, as config/config.yaml)** |")
    note = ("\nTraining at the README's H200 rates (JAX pipeline, 128 px, batch 32: "
            f"{GPU_IMG_S['float32']:,} img/s float32, {GPU_IMG_S['mixed_float16']:,} img/s mixed), "
            "training steps only (no validation passes, no compilation). "
            + (f"Measured at fraction {fraction:g}: CelebA rows scaled by {scale:.0f}." if fraction < 1 else ""))
    return "\n".join(lines) + "\n" + note


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/work/fullscale"))
    parser.add_argument("--fraction", type=float, default=1.0, help="scale of the CelebA and LFW counts (default 1)")
    parser.add_argument("--steps", type=int, default=20, help="training steps of the faces model (training.max_steps)")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--lfw", action="store_true", help="also download, prepare and sketch LFW (unused by the study)")
    parser.add_argument("--keep", action="store_true", help="keep a previous run folder (default: start afresh)")
    parser.add_argument("--save", type=Path, default=None, help="copy the raw output into this folder")
    parser.add_argument("--report-only", action="store_true", help="only tabulate the last run (run.json)")
    args = parser.parse_args()

    workdir = args.workdir
    tag = "full" if args.fraction >= 1 else f"f{args.fraction:g}"
    run = workdir / f"run-{tag}"
    if run.exists() and not (args.keep or args.report_only):
        shutil.rmtree(run)
    run.mkdir(parents=True, exist_ok=True)
    standins = build(workdir / "standins", args.fraction, lfw=args.lfw)
    if not args.lfw:
        standins["files"].pop("lfw", None)
    train = has_max_steps()
    config = yaml.safe_load(STUDY.read_text())
    if args.report_only:
        state = json.loads((run / "run.json").read_text())
    else:
        state = rehearse(run, standins, config, train, args)
    start, seconds, jobs = state["start"], state["seconds"], state["jobs"]
    again, touched = state["again"], state["touched"]
    report(run, workdir, standins, config, train, args, start, seconds, jobs, again, touched)


def rehearse(run: Path, standins: dict, config: dict, train: bool, args) -> dict:
    """Serve the stand-ins, run Snakemake, then the dry-run checks; the state is kept in run.json."""
    with LocalServer() as server:
        urls = serve(server, standins)
        (run / "overlay.yaml").write_text(yaml.safe_dump(overlay(standins, urls, args.steps if train else None)))
        configs = [STUDY, run / "overlay.yaml"]
        wanted = targets(config, train, args.lfw)
        (run / "targets.txt").write_text("\n".join(wanted) + "\n")
        jobs = planned(snakemake(run, configs, args.cores, ["-n", *wanted]))
        print(f"planned: {jobs}", flush=True)
        start = time.time()
        result = snakemake(run, configs, args.cores, wanted, log=run / "snakemake.log")
        seconds = time.time() - start
        print(f"snakemake: exit {result.returncode} after {minutes(seconds)}; log {run / 'snakemake.log'}", flush=True)
        if result.returncode:
            print((run / "snakemake.log").read_text()[-5000:])
            sys.exit(1)
        again = planned(snakemake(run, configs, args.cores, ["-n", *wanted]))
        for path in ("resources/celeba/manifest.csv", "results/prepared/celeba/index.csv"):
            (run / path).touch()
        touched = planned(snakemake(run, configs, args.cores, ["-n", *wanted]))
    state = {"start": start, "seconds": seconds, "jobs": jobs, "again": again, "touched": touched}
    (run / "run.json").write_text(json.dumps(state))
    return state


def report(run, workdir, standins, config, train, args, start, seconds, jobs, again, touched) -> None:
    report = [f"# Full-size rehearsal, {datetime.fromtimestamp(start):%Y-%m-%d %H:%M}, fraction {args.fraction:g}, "
              f"--cores {args.cores}, {os.cpu_count()} CPUs here", ""]
    rows, text = table(run, benchmarks(run), start)
    report += [f"Snakemake: {sum(jobs.values())} jobs {jobs}, wall {minutes(seconds)} (download included)", "", text, ""]
    # Download: fetch and extraction from the download logs (HH:MM:SS resolution)
    download = []
    for dataset in standins["files"]:
        log = run / f"results/logs/download/{dataset}.log"
        fetch = fetch_seconds(log, standins["files"][dataset])
        unpack = span(log, r"extracting into", r"members extracted into")
        download.append(f"- {dataset}: fetch {fetch if fetch is not None else '?'} s, extraction {unpack if unpack is not None else '?'} s "
                        f"(archives {human(sum(e['bytes'] for e in standins['files'][dataset].values()))}, "
                        f"resources/{dataset} {human(du(run / 'resources' / dataset))})")
    report += ["Download jobs (from their logs):", *download, ""]
    # The 10-minute target: unzip -> prepare -> sketch -> training data ready, download excluded
    celeba_log = run / "results/logs/download/celeba.log"
    fetched = fetch_seconds(celeba_log, standins["files"]["celeba"])
    end = max(r["end"] for r in rows)
    train_log = run / "results/logs/train/faces.log"
    milestones = []
    pack_seconds = None
    if train:  # stop the clock when training has its data: the train log's line after opening the shards
        packed = log_times(train_log, "training pairs")
        began = log_times(train_log, "memory-mapping")
        day = datetime.fromtimestamp(start).date()
        if packed and began:
            end = datetime.combine(day, packed[-1].time()).timestamp()
            end += 86400 if end < start else 0
            pack_seconds = (packed[-1] - began[0]).total_seconds() % 86400
    for key in ("download/celeba", "split/celeba", "prepare/celeba", "mean_image/celeba", "sketch/celeba/pencil",
                "sketch/celeba/xdog", "train/faces"):
        row = next((r for r in rows if r["key"] == key), None)
        if row is not None:
            milestones.append(f"{key} {row['start'] - start:.0f}-{row['end'] - start:.0f} s")
    target = end - start - fetched
    report += [f"unzip -> prepare -> sketch -> training data ready: {minutes(target)} "
               f"(run start to the training log's data line at {end - start:.0f} s, minus CelebA's fetch and md5 of "
               f"{fetched:.0f} s); opening the shards {pack_seconds if pack_seconds is not None else '?'} s; target 10 min: "
               f"{'met' if target <= 600 else 'NOT met'}",
               "CelebA's path, seconds from the run start: " + "; ".join(milestones), ""]
    core_seconds = sum(r["cpu"] for r in rows if r["rule"] != "pack")
    job_seconds = sum(r["jobsum"] for r in rows if r["rule"] != "pack")
    report += [f"Core time of the Snakemake run ({args.cores} cores x {minutes(seconds)}): {minutes(seconds * args.cores)}; "
               f"jobs ran {minutes(job_seconds)} of it (benchmark wall), of which {minutes(core_seconds)} CPU; the rest "
               f"is Snakemake between jobs (start-up, job scripts, bookkeeping) and cores left idle.",
               "Training memory-maps the shards where they lie: no copy of the dataset is made.", ""]
    report += [f"Second dry run: {again or 'nothing planned'}; after touching CelebA's manifest.csv and index.csv: "
               f"{touched or 'nothing planned'}", ""]
    report += ["## Projection: the whole study on one node of 8 cores and one GPU", "",
               projection(rows, args.fraction, training_pairs(run, config), config), ""]
    total_disk = du(run / "resources", run / "results")
    report += [f"Disk: run folder {human(total_disk)} in all (stand-in archives not counted: "
               f"{human(du(Path(standins['folder'])))})", ""]
    text = "\n".join(report)
    print(text)
    (workdir / "full_scale.md").write_text(text)
    if args.save:
        args.save.mkdir(parents=True, exist_ok=True)
        (args.save / "full_scale.md").write_text(text)
        shutil.copy(run / "snakemake.log", args.save / "snakemake.log")
        shutil.copy(run / "overlay.yaml", args.save / "overlay.yaml")
        shutil.copytree(run / "results" / "benchmarks", args.save / "benchmarks", dirs_exist_ok=True)
        shutil.copytree(run / "results" / "logs", args.save / "logs", dirs_exist_ok=True)


if __name__ == "__main__":
    main()
