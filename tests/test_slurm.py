"""The cluster command, `snakemake --cores 8 --profile slurm`, against a real SLURM cluster.

Runs the end-to-end test's tiny study through the repository's `slurm` profile (found from the
repository root) and the per-rule resources of workflow/profiles/default, and checks with
`sacct` that every job ran as a SLURM job. The first run meets a damaged VGG16 weights file,
so training fails on the cluster; with the file replaced, the rerun finishes the study without
redoing what the first run finished.

Needs a running cluster: `sudo tests/slurm/bringup.sh` starts a single-node one from Debian's
packages (CI does so before pytest). Without one these tests fail when CI is set, else skip.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from queue import Empty, Queue
from threading import Thread

import pytest
import yaml
from snakemake_run import REPO, SNAKEFILE, snakemake, snakemake_command

from tiny_study import TINY

WEIGHTS = "resources/vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
# Downloads (compute nodes often have no internet) and small report figures run where Snakemake runs.
LOCAL_RULES = {"all", "download", "download_weights", "summarize", "ssim_chart", "loss_curves", "cross_style",
               "data_overview", "ablation_table", "hint_table", "superres_summary", "normalise_effect"}
IN_CI = os.environ.get("CI", "").lower() not in ("", "0", "false", "no")
WORKFLOW_PROFILE = yaml.safe_load((REPO / "workflow" / "profiles" / "default" / "config.yaml").read_text())
TRAIN = WORKFLOW_PROFILE["set-resources"]["train"]  # what a training job asks for
# the TensorFlow jobs, whose threads come from the config (training.threads, evaluation.threads)
EVALUATE_RULES = {"evaluate", "evaluate_handdrawn", "evaluate_hints", "superres_evaluate"}
CONFIG_THREADS = {"train", "superres_train"} | EVALUATE_RULES
FULL_STUDY = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


# --------------------------------------------------------------------------- the cluster


def _command(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


def cluster_problem() -> str | None:
    """Why no usable SLURM cluster answers here, or None when one does."""
    for tool in ("sbatch", "sacct", "sacctmgr", "scontrol", "sinfo"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install slurm-wlm slurmdbd munge mariadb-server)"
    ping = _command("scontrol", "ping")
    if ping.returncode != 0 or "UP" not in ping.stdout:
        return f"slurmctld does not answer ({(ping.stdout + ping.stderr).strip()})"
    clusters = _command("sacctmgr", "-n", "show", "cluster", "format=cluster")
    if clusters.returncode != 0 or not clusters.stdout.strip():
        return f"no accounting (slurmdbd): {clusters.stderr.strip()}; the plugin asks sacct for job states"
    nodes = _command("sinfo", "-h", "-N", "-o", "%T")
    if not re.search(r"^(idle|mixed|allocated)", nodes.stdout, re.M):
        return f"no node is up (node states: {nodes.stdout.split()})"
    return None


@pytest.fixture(scope="module")
def cluster() -> dict:
    problem = cluster_problem()
    if problem is not None:
        message = f"no SLURM cluster: {problem}. Start one with `sudo tests/slurm/bringup.sh`."
        if IN_CI:
            pytest.fail(message + " CI must bring it up before pytest (.ci/run).")
        pytest.skip(message)
    partitions = _command("sinfo", "-h", "-o", "%P").stdout.split()
    partition = next((p.rstrip("*") for p in partitions if p.endswith("*")), partitions[0])
    user = _command("id", "-un").stdout.strip()
    accounts = _command("sacctmgr", "-n", "-P", "show", "association", f"user={user}", "format=account").stdout.split()
    node_mem_mb = min(int(m) for m in _command("sinfo", "-h", "-N", "-o", "%m").stdout.split())
    return {"partition": partition, "account": accounts[0] if accounts else None, "mem_mb": node_mem_mb}


@pytest.fixture(scope="module")
def test_profile(tmp_path_factory, cluster) -> Path:
    """Layered over `slurm` for this small node: quick status checks, one thread per job (the
    node has few cores), no job asking for more memory than the node has."""
    folder = tmp_path_factory.mktemp("profile")
    (folder / "config.yaml").write_text(yaml.safe_dump({
        "slurm-init-seconds-before-status-checks": 2,  # sacct is cheap on a one-node test cluster
        "max-threads": 1,
        "latency-wait": 5,
        "resources": {"mem_mb": cluster["mem_mb"]},
    }))
    return folder


def cluster_env(cluster: dict, **extra: str) -> dict:
    """The environment a user sets for the slurm profile: sbatch's own account and partition."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SBATCH_", "SLURM_", "SKETCHBACK_GPU"))}
    env["SBATCH_PARTITION"] = cluster["partition"]
    if cluster["account"]:
        env["SBATCH_ACCOUNT"] = cluster["account"]
    return {**env, **extra}


def snakemake_slurm(workdir: Path, profiles: list[Path], env: dict, *args: str,
                    timeout: int = 600) -> subprocess.CompletedProcess:
    """The card's command from the repository root, on the tiny study in ``workdir``.

    On a timeout Snakemake gets SIGINT, which cancels its SLURM jobs, before the test fails.
    """
    options = ["--cores", "8", "--profile", "slurm"] + [a for profile in profiles for a in ("--profile", str(profile))]
    cmd = snakemake_command(workdir, None, *options, *args)
    with subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True) as process:
        try:
            out, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGINT)
            out, _ = process.communicate(timeout=120)
            pytest.fail(f"snakemake --profile slurm took over {timeout}s:\n{out[-5000:]}")
    return subprocess.CompletedProcess(cmd, process.returncode, out, "")


# --------------------------------------------------------------------------- what ran where


def run_id(output: str) -> str:
    """The plugin names every SLURM job of one Snakemake run after the run's ID."""
    match = re.search(r"SLURM run ID: (\S+)", output)
    assert match, output[-3000:]
    return match.group(1)


def sacct_jobs(name: str, since: datetime) -> list[dict]:
    """sacct's record of the SLURM jobs named ``name``: one dict per job, with its rule."""
    fields = ["JobID", "Comment", "State", "ExitCode", "Account", "Partition", "AllocTRES", "ReqMem", "Timelimit"]
    result = _command("sacct", "-X", "-n", "-P", "--name", name, "-S", since.strftime("%Y-%m-%dT%H:%M:%S"),
                      "-o", ",".join(fields))
    assert result.returncode == 0, result.stderr
    jobs = []
    for line in result.stdout.splitlines():
        job = dict(zip(fields, line.split("|")))
        # Snakemake's comment: rule_<rule>[_wildcards_<values joined by _>]
        rule, _, wildcards = job["Comment"].removeprefix("rule_").partition("_wildcards_")
        job["key"] = (rule, wildcards)
        jobs.append(job)
    return jobs


def job_blocks(output: str) -> list[tuple[str, str, str]]:
    """(local or remote, rule, wildcard values joined by _) of the jobs a Snakemake run started,
    from its console output, leaving out the job logs it prints for failed jobs."""
    own = re.sub(r"^Logfile [^\n]*:\n={80}\n.*?\n={80}\n", "", output, flags=re.S | re.M)
    jobs = []
    for match in re.finditer(r"^(localrule|rule) (\w+):\n((?:    .*\n)*)", own, re.M):
        wildcards = re.search(r"^    wildcards: (.*)$", match.group(3), re.M)
        values = "_".join(kv.split("=", 1)[1] for kv in wildcards.group(1).split(", ")) if wildcards else ""
        jobs.append(("local" if match.group(1) == "localrule" else "slurm", match.group(2), values))
    return jobs


def planned(workdir: Path) -> set[tuple[str, str]]:
    """(rule, wildcard values) of every job a dry run plans."""
    result = snakemake(workdir, None, "-n", timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return {(rule, values) for _, rule, values in job_blocks(result.stdout + result.stderr)}


def file_times(root: Path) -> dict[str, int]:
    """Modification times of the results, without logs and training's scratch folders (work/)."""
    return {str(p.relative_to(root)): p.stat().st_mtime_ns
            for p in (root / "results").rglob("*") if p.is_file() and not {"logs", "work"} & set(p.parts)}


def print_jobs(title: str, jobs: list[dict]) -> None:
    print(f"\n{title}")
    print(f"  {'JobID':>6}  {'State':<10} {'Account':<11} {'rule and wildcards':<50} AllocTRES")
    for job in jobs:
        print(f"  {job['JobID']:>6}  {job['State']:<10} {job['Account']:<11} {job['Comment']:<50} {job['AllocTRES']}")


# --------------------------------------------------------------------------- the profiles (no cluster needed)


def dry_run_resources(workdir: Path, config: Path, env: dict | None = None) -> list[tuple[str, str, dict]]:
    """(rule, wildcard values, {resource: value}) of every job a dry run of ``config`` plans."""
    result = snakemake(workdir, config, "-n", "--cores", "8", timeout=300, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    jobs = []
    for match in re.finditer(r"^rule (\w+):\n((?:    .*\n)*)", result.stdout + result.stderr, re.M):
        wildcards = re.search(r"^    wildcards: (.*)$", match.group(2), re.M)
        threads = re.search(r"^    threads: (\d+)$", match.group(2), re.M)
        resources = re.search(r"^    resources: (.*)$", match.group(2), re.M)
        values = dict(kv.split("=", 1) for kv in resources.group(1).split(", ")) if resources else {}
        values["threads"] = threads.group(1) if threads else "1"
        jobs.append((match.group(1), wildcards.group(1) if wildcards else "", values))
    return jobs


@pytest.mark.parametrize("config", ["config.yaml", "demo.yaml"])  # one evaluation job per style, per test set
def test_every_rule_has_threads_memory_and_runtime(tmp_path, config):
    cmd = [sys.executable, "-m", "snakemake", "--list-rules", "-s", str(SNAKEFILE), "-d", str(tmp_path),
           "--configfile", str(REPO / "config" / config)]
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    rules = set(re.findall(r"^(\w+)$", result.stdout, re.M)) - {"all"}
    assert {"download", "train", "evaluate"} <= rules
    assert ("evaluate_handdrawn" in rules) == (config == "demo.yaml")
    assert rules - CONFIG_THREADS <= set(WORKFLOW_PROFILE["set-threads"]), "rules without threads in workflow/profiles/default"
    for rule in rules:
        assert {"mem_mb", "runtime"} <= set(WORKFLOW_PROFILE["set-resources"].get(rule, {})), f"{rule}: no mem_mb/runtime"


def test_full_study_jobs_get_cluster_resources(tmp_path):
    """Dry run of the full study: training asks for GPUs (count and model from the
    environment), neural style sketches too, every other job for none; all have memory and time."""
    jobs = dry_run_resources(tmp_path, REPO / "config" / "config.yaml",
                             {"SKETCHBACK_GPUS": "2", "SKETCHBACK_GPU_MODEL": "a100"})
    for rule, wildcards, resources in jobs:
        if rule == "all":
            continue
        assert "runtime" in resources and "mem_mb" in resources, (rule, wildcards, resources)
        wants_gpu = rule in ("train", "superres_train") or (rule == "sketch" and "method=style" in wildcards)
        assert resources.get("gpu", "0") == ("2" if wants_gpu else "0"), (rule, wildcards, resources)
        assert resources.get("gpu_model", "") == ("a100" if wants_gpu else ""), (rule, wildcards, resources)
    train = [resources for rule, _, resources in jobs if rule == "train"]
    # released models are imported; each extra training seed (replicates) is a training job of its own
    assert len(train) == sum(1 + len(m.get("replicates", [])) for m in FULL_STUDY["models"].values() if "released" not in m)
    assert all(r["threads"] == "8" and r["runtime"] == str(TRAIN["runtime"]) for r in train)
    assert {r["threads"] for rule, _, r in jobs if rule in EVALUATE_RULES} == {"4"}
    # Without the variables: one GPU of any model.
    defaults = dry_run_resources(tmp_path, REPO / "config" / "config.yaml")
    assert {(r.get("gpu"), r.get("gpu_model")) for rule, _, r in defaults if rule == "train"} == {("1", None)}
    # The demo's small TensorFlow jobs hold one thread each, so two share a 2-core laptop.
    demo = dry_run_resources(tmp_path / "demo", REPO / "config" / "demo.yaml")
    assert {r["threads"] for rule, _, r in demo if rule in CONFIG_THREADS} == {"1"}


# --------------------------------------------------------------------------- the study


@pytest.fixture(scope="module")
def study(tmp_path_factory, cluster, test_profile) -> dict:
    """Two runs of the tiny study through SLURM: one that meets a damaged weights file, one after
    the file is replaced."""
    workdir = tmp_path_factory.mktemp("slurm_study")
    config = copy.deepcopy(TINY)
    # what a cluster run asks for: the full study's threads (the test profile caps them at the node's)
    config["training"].update(vgg_weights=WEIGHTS, vgg_md5=None, threads=FULL_STUDY["training"]["threads"])
    config["evaluation"]["threads"] = FULL_STUDY["evaluation"]["threads"]
    # The test node's GPU is a stand-in (a gres without a device): its jobs are given a GPU that
    # TensorFlow cannot see, which stops training unless CPU training is allowed on purpose.
    config["training"]["allow_cpu"] = True
    # Fewer jobs, the same stages: one dataset (augmented here, as buildings are in the demo), one
    # training shard, one sketch style.
    config["datasets"] = {"faces": {**config["datasets"]["faces"], "sketch_methods": ["pencil"], "augment": {"copies": 1}}}
    config["datasets"]["faces"]["shards"] = {**config["datasets"]["faces"]["shards"], "train": 1}
    config["evaluation"]["styles"] = ["pencil"]
    # The cluster's part is submission, not the science: one model (the fine-tuned buildings model, the hint
    # model, the ablation and the super-resolution stage run in test_workflow; every rule's sbatch
    # resources are checked by the dry run of test_full_study_jobs_get_cluster_resources).
    config["models"] = {"faces": config["models"]["faces"]}
    config.update(ablation=None, superres={**config["superres"], "enabled": False})
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    weights = workdir / WEIGHTS
    weights.parent.mkdir(parents=True)
    weights.write_text("<html><body>Quota exceeded</body></html>")  # saved under the weights' name
    plan = planned(workdir)
    since = datetime.now() - timedelta(minutes=5)
    env = cluster_env(cluster)

    started = time.monotonic()
    first = snakemake_slurm(workdir, [test_profile], env)
    first_s = time.monotonic() - started
    first_times = file_times(workdir)

    # The fix a user makes: put the real weights file there (here: VGG16's layout, random values).
    import keras
    from test_losses import write_keras_notop_h5

    keras.utils.set_random_seed(0)
    weights.unlink()
    write_keras_notop_h5(keras.applications.VGG16(include_top=False, weights=None, input_shape=(None, None, 3)), weights)

    started = time.monotonic()
    second = snakemake_slurm(workdir, [test_profile], env)
    second_s = time.monotonic() - started
    return {"workdir": workdir, "plan": plan, "since": since, "cluster": cluster, "env": env,
            "first": first, "first_s": first_s, "first_times": first_times,
            "first_jobs": sacct_jobs(run_id(first.stdout), since),
            "second": second, "second_s": second_s,
            "second_jobs": sacct_jobs(run_id(second.stdout), since)}


def test_every_job_ran_as_a_slurm_job(study, capsys):
    first, second = study["first_jobs"], study["second_jobs"]
    with capsys.disabled():
        print_jobs(f"sacct, first run ({study['first_s']:.0f} s, exit {study['first'].returncode}):", first)
        print_jobs(f"sacct, rerun ({study['second_s']:.0f} s, exit {study['second'].returncode}):", second)
    assert second and study["second"].returncode == 0, study["second"].stdout[-5000:]

    # Every job Snakemake started ran either locally (downloads, report figures) or as a SLURM
    # job that sacct knows, and together the two runs did the whole planned study.
    ran_slurm, ran_local = set(), set()
    for run, jobs in (("first", first), ("second", second)):
        for where, rule, values in job_blocks(study[run].stdout):
            (ran_slurm if where == "slurm" else ran_local).add((rule, values))
            if where == "slurm":
                assert (rule, values) in {job["key"] for job in jobs}, f"{rule} {values} is not in sacct"
    assert ran_slurm | ran_local == study["plan"]
    assert {rule for rule, _ in ran_local} <= LOCAL_RULES
    assert {rule for rule, _ in ran_slurm} >= {"split", "prepare", "sketch", "augment", "mean_image", "train", "evaluate"}
    assert all(job["State"] == "COMPLETED" for job in second)
    cluster = study["cluster"]
    for job in first + second:
        assert job["Partition"] == cluster["partition"]
        if cluster["account"]:
            assert job["Account"] == cluster["account"]
    # Training asked for a GPU and got one (the test node's GPU is a stand-in), and its time limit.
    days, minutes = divmod(TRAIN["runtime"], 24 * 60)
    limit = f"{days}-{minutes // 60:02d}:{minutes % 60:02d}:00" if days else f"{minutes // 60:02d}:{minutes % 60:02d}:00"
    trains = [job for job in second if job["key"][0] == "train"]
    assert len(trains) == 1
    for job in trains:
        assert "gres/gpu=1" in job["AllocTRES"] and job["Timelimit"] == limit, job
    # SLURM's variables told the job it holds a GPU; it saw none
    log = (study["workdir"] / "results" / "logs" / "train" / "faces.log").read_text()
    assert "faces: training on the CPU although this job was given a GPU (" in log, log[-2000:]
    assert "allowed by training.allow_cpu" in log
    assert all("gres/gpu" not in job["AllocTRES"] for job in second if job["key"][0] != "train")
    assert (study["workdir"] / "results" / "report" / "metrics_summary.csv").is_file()


def test_failed_job_is_reported_with_its_logs_and_the_run_stops(study):
    out = study["first"].stdout
    assert study["first"].returncode != 0
    failed = [job for job in study["first_jobs"] if job["State"] == "FAILED"]
    assert [job["key"] for job in failed] == [("train", "faces")]
    job_id = failed[0]["JobID"]
    # Snakemake names the rule's log and SLURM's log of the job, and shows the cause from them.
    slurm_log = study["workdir"] / ".snakemake" / "slurm_logs" / "rule_train" / "faces" / f"{job_id}.log"
    assert "Error in rule train:" in out
    assert f"log: results/logs/train/faces.log, {slurm_log}" in out
    assert slurm_log.is_file()
    assert "is not a VGG16 notop weights file Keras can read" in out
    assert "Exiting because a job execution failed" in out
    # It stopped: nothing that needs the model was submitted, no job of the run is left in the
    # queue, and the failed job left no model behind.
    assert not any(job["key"][0] == "evaluate" for job in study["first_jobs"])
    assert _command("squeue", "-h", "--name", run_id(out)).stdout.strip() == ""
    assert not {"results/models/faces/generator.keras", "results/models/faces/history.csv"} & set(study["first_times"])
    assert all(job["State"] == "COMPLETED" for job in study["first_jobs"] if job["JobID"] != job_id)


def test_rerun_resumes_without_redoing_finished_jobs(study):
    finished = {job["key"] for job in study["first_jobs"] if job["State"] == "COMPLETED"}
    redone = finished & {job["key"] for job in study["second_jobs"]}
    # at least what training the face model needs had finished before it failed
    assert {("split", "faces"), ("prepare", "faces_train_000"), ("prepare", "faces_val_000"),
            ("sketch", "faces_pencil_train_000"), ("sketch", "faces_pencil_val_000")} <= finished
    assert not redone, f"the rerun redid {sorted(redone)}"
    assert ("train", "faces") in {job["key"] for job in study["second_jobs"]}
    # What the first run made is untouched.
    now = file_times(study["workdir"])
    assert {name: now[name] for name in study["first_times"]} == study["first_times"]


def test_finished_study_is_up_to_date(study, test_profile):
    result = snakemake_slurm(study["workdir"], [test_profile], study["env"], "-n")
    assert result.returncode == 0 and "Nothing to be done" in result.stdout, result.stdout[-3000:]


def test_training_job_sbatch_arguments(study, tmp_path, capsys):
    """What a training job asks SLURM for on a GPU cluster (8 threads, 2 A100s): the plugin's own
    log of its sbatch call. The test node cannot give that, so the job waits in the queue until
    Ctrl-C (SIGINT) makes Snakemake cancel it."""
    workdir = tmp_path / "study"
    shutil.copytree(study["workdir"], workdir, symlinks=True)
    profile = tmp_path / "profile"  # quick status checks, but none of the small node's caps
    profile.mkdir()
    (profile / "config.yaml").write_text("slurm-init-seconds-before-status-checks: 2\n")
    env = cluster_env(study["cluster"], SKETCHBACK_GPUS="2", SKETCHBACK_GPU_MODEL="a100")
    cmd = [sys.executable, "-m", "snakemake", "--cores", "8", "--profile", "slurm", "--profile", str(profile),
           "-s", str(SNAKEFILE), "-d", str(workdir), "--configfile", str(workdir / "config.yaml"),
           "--verbose", "--forcerun", "train", "--rerun-triggers", "mtime", "--", "results/models/faces/generator.keras"]
    lines = []
    with subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True) as process:
        # Ctrl-C between two status checks once the job is queued (Snakemake does not see its
        # jobs while it checks them, and would then cancel none), or when sbatch refused it.
        deadline, submitted = time.monotonic() + 180, False
        # Read in a thread: Snakemake can print nothing for minutes while its job waits in the
        # queue, and a blocking read would then never reach the deadline (seen: a 15-minute hang).
        queue: Queue = Queue()
        Thread(target=lambda: [queue.put(line) for line in process.stdout] + [queue.put(None)], daemon=True).start()
        ended = False  # Snakemake's output closed (it stopped by itself)
        while time.monotonic() < deadline:
            try:
                line = queue.get(timeout=5)
            except Empty:
                continue
            if line is None:
                ended = True
                break
            lines.append(line)
            submitted = submitted or "has been submitted with SLURM jobid" in line
            if (submitted and "active jobs with external IDs" in line) or "SLURM sbatch failed" in line:
                break
        time.sleep(2)
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            # Seen 3 times before the cause was found: the suite ran with SIGINT ignored (tests/conftest.py
            # now gives it back), so Snakemake never saw the Ctrl-C. Kept so that no run waits for ever.
            process.kill()
            process.wait(timeout=30)
            _command("scancel", "--name", run_id("".join(lines)))
            pytest.fail("snakemake did not stop within 120 s of Ctrl-C (killed; its SLURM jobs cancelled):\n"
                        + "".join(lines)[-5000:])
        while not ended and (line := queue.get(timeout=30)) is not None:
            lines.append(line)
    out = "".join(lines)
    call = next((line.split("sbatch call: ", 1)[1] for line in lines if "sbatch call: " in line), None)
    assert call, out[-5000:]
    request = call.split(" --wrap=", 1)[0]
    with capsys.disabled():
        print(f"\nsbatch call of a training job (SKETCHBACK_GPUS=2 SKETCHBACK_GPU_MODEL=a100):\n  {request}")
    assert "--comment rule_train_wildcards_faces" in request
    assert "--gpus=a100:2" in request and "--cpus-per-task=8" in request
    assert f"-t {TRAIN['runtime']}" in request and f"--mem {TRAIN['mem_mb']}" in request
    assert f"-p {study['cluster']['partition']}" in request
    if study["cluster"]["account"]:
        assert f"-A {study['cluster']['account']}" in request
    # Ctrl-C cancelled the waiting job.
    submitted = re.search(r"has been submitted with SLURM jobid (\d+)", out)
    if submitted:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            state = _command("sacct", "-X", "-n", "-j", submitted.group(1), "-o", "State").stdout.strip()
            if state.startswith("CANCELLED"):
                break
            time.sleep(1)
        assert state.startswith("CANCELLED"), state
