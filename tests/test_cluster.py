"""Grading on a cluster for real: a one-node Slurm cluster runs deploy/slurm/grade-array.sbatch,
shards are killed and resubmitted, and the Kubernetes manifests run the command Slurm ran.

The slow tests grade assignment 01: its notebooks run in about 10 s each and need no training or
data set, and nothing in sharding or merging depends on the assignment (the same code path
grades 03; only the per-submission time differs). Its class here is the demo set (solution,
blank, two bugs: the three score 26, 0 and 23) plus four broken files, which exercise the
"invalid submission" rows through the shards.

Each test's reference is one real grade of the same files on this machine (``one_machine``,
done once per module); no shard ever starts from its results.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest
import yaml

from autograder import REPO_ROOT, demos
from autograder.grading import batch, shards
from autograder.grading.store import content_digest

A1 = "01-softmax-cross-entropy"
SBATCH = REPO_ROOT / "deploy" / "slurm" / "grade-array.sbatch"
KUBERNETES = REPO_ROOT / "deploy" / "kubernetes"
CLUSTER_SCRIPT = REPO_ROOT / "scripts" / "slurm-cluster.sh"
SHARDS = 3
BROKEN = {"empty.ipynb": "", "not-json.ipynb": "{ nope", "nbformat3.ipynb": '{"nbformat": 3, "worksheets": []}',
          "latin1.ipynb": "caf\xe9"}


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _feedback(folder: Path) -> dict[str, str]:
    """The feedback files without the one thing two gradings differ in: how many seconds it took."""
    return {name: re.sub(r"\(\d+\.\d s\)", "(… s)", data.decode()) for name, data in _tree(folder / "feedback").items()}


@pytest.fixture(scope="module")
def one_machine(a1, tmp_path_factory):
    """The class (the demo set of 01 and four broken files) graded once on this machine: (subs, out)."""
    root = tmp_path_factory.mktemp("class-01")
    subs = root / "submissions"
    demos.make(a1, subs, a1.points)
    for name, text in BROKEN.items():
        (subs / name).write_bytes(text.encode("latin-1"))
    start = time.monotonic()
    batch.grade(a1, sorted(subs.iterdir()), root / "one", workers=2, quiet=True)
    print(f"\none machine, 2 workers: {len(list(subs.iterdir()))} submissions in {time.monotonic() - start:.1f} s")
    return subs, root / "one"


def _grade_command(subs: Path, out: Path, shard: str, workers: int = 1) -> list[str]:
    return [sys.executable, "-m", "autograder", "grade", "--assignment", A1, "--shard", shard,
            "--workers", str(workers), "--out", str(out), str(subs)]


def _merge(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder", "merge", *map(str, args)], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=300)


# --- the deploy files and the command they share ------------------------------------------------


def _sbatch_command() -> list[str]:
    """The command line the sbatch script execs, split as the shell would (variables left as named)."""
    lines = [line for line in SBATCH.read_text().splitlines() if line.startswith("exec ")]
    assert len(lines) == 1, "the script runs one command"
    return shlex.split(lines[0])[1:]


def test_the_sbatch_script_runs_the_shared_command():
    argv = _sbatch_command()
    assert argv[0] == "$python"
    assert argv[1:] == shards.command(assignment="$assignment", shards="$shards", workers="$workers",
                                      results="$results", submissions="$submissions")
    text = SBATCH.read_text()
    directives = dict(re.findall(r"^#SBATCH --([\w-]+)=(\S+)", text, re.M))
    assert {"job-name", "cpus-per-task", "mem", "time", "output"} <= set(directives)
    assert "--partition=gpu --gres=gpu:1" in text, "the GPU partition option is documented in the script"
    assert "workers=${WORKERS:-${SLURM_CPUS_PER_TASK:-1}}" in text
    check = subprocess.run(["bash", "-n", str(SBATCH)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def _job(name: str) -> dict:
    docs = list(yaml.safe_load_all((KUBERNETES / name).read_text()))
    assert len(docs) == 1
    return docs[0]


def _grader(job: dict) -> dict:
    (container,) = job["spec"]["template"]["spec"]["containers"]
    return container


def _shard_command_values(job: dict) -> dict[str, str]:
    """The values a grade Job fills ``shards.COMMAND`` with, read from the Job itself."""
    c = _grader(job)
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    argv = c["command"]
    return {"assignment": argv[argv.index("--assignment") + 1], "shards": str(job["spec"]["completions"]),
            "workers": str(c["resources"]["limits"]["cpu"]), "results": mounts["results"]["mountPath"],
            "submissions": mounts["submissions"]["mountPath"]}


@pytest.mark.parametrize("name, image, assignment", [("grade-job.yaml", "dl-autograded:cpu", A1),
                                                     ("grade-job-gpu.yaml", "dl-autograded:gpu", "03-fashion-mnist")])
def test_the_kubernetes_job_is_an_indexed_job_running_the_shared_command(name, image, assignment):
    job = _job(name)
    assert (job["apiVersion"], job["kind"]) == ("batch/v1", "Job")
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    assert isinstance(spec["backoffLimitPerIndex"], int) and spec["backoffLimitPerIndex"] >= 1
    assert 1 <= spec["parallelism"] <= spec["completions"]
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never", "podFailurePolicy and backoffLimitPerIndex require it"
    c = _grader(job)
    assert c["image"] == image
    values = _shard_command_values(job)
    assert values["assignment"] == assignment and assignment in job["metadata"]["name"]
    assert c["command"][0] == "python" and c["command"][1:] == shards.command(**values), \
        "the command of the Slurm array (tests/test_cluster.py checks it ran), with the Job's own values"
    # Every shard's index comes from the Job, and N is the Job's completions.
    assert shards.parse(c["command"][c["command"].index("--shard") + 1], {"JOB_COMPLETION_INDEX": "0"}).count \
        == spec["completions"]
    # Crashed grader vs lost node: disruptions are ignored (not counted), exit codes are told apart.
    rules = spec["podFailurePolicy"]["rules"]
    disruption = [r for r in rules if any(cond["type"] == "DisruptionTarget" for cond in r.get("onPodConditions", []))]
    assert [r["action"] for r in disruption] == ["Ignore"]
    by_code = [r for r in rules if "onExitCodes" in r]
    assert all(r["onExitCodes"]["containerName"] == c["name"] for r in by_code)
    fail_job = [r for r in by_code if r["action"] == "FailJob"]
    assert fail_job and fail_job[0]["onExitCodes"] == {"containerName": "grader", "operator": "In", "values": [2]}
    assert rules.index(disruption[0]) < rules.index(fail_job[0]), "a node lost while exiting still is no failure"
    assert {r["action"] for r in rules} <= {"Ignore", "FailJob", "FailIndex", "Count"}
    # The volumes: submissions read-only, results writable, each one folder per assignment.
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    assert set(mounts) == set(volumes) == {"submissions", "results"}
    assert mounts["submissions"]["readOnly"] is True and volumes["submissions"]["persistentVolumeClaim"]["readOnly"]
    assert not mounts["results"].get("readOnly") and "persistentVolumeClaim" in volumes["results"]
    assert mounts["submissions"]["subPath"] == mounts["results"]["subPath"] == assignment
    gpus = c["resources"]["limits"].get("nvidia.com/gpu")
    assert gpus == (1 if "gpu" in name else None)


def test_the_gpu_job_differs_only_in_image_gpu_and_assignment():
    cpu, gpu = _job("grade-job.yaml"), _job("grade-job-gpu.yaml")
    gpu_container = _grader(gpu)
    del gpu_container["resources"]["limits"]["nvidia.com/gpu"]
    del gpu["spec"]["template"]["spec"]["tolerations"]
    text = json.dumps(gpu).replace("03-fashion-mnist-gpu", A1).replace("03-fashion-mnist", A1).replace(
        "dl-autograded:gpu", "dl-autograded:cpu")
    assert json.loads(text) == cpu


def test_the_merge_job_merges_every_shard_against_the_submissions():
    job, grade = _job("merge-job.yaml"), _job("grade-job.yaml")
    (c,) = job["spec"]["template"]["spec"]["containers"]
    values = _shard_command_values(grade)
    assert c["command"] == ["python", "-m", "autograder", "merge", values["results"], "--out",
                            f"{values['results']}/final", "--expect", values["submissions"]]
    assert job["spec"]["template"]["spec"]["volumes"] == grade["spec"]["template"]["spec"]["volumes"]
    assert c["volumeMounts"] == _grader(grade)["volumeMounts"]


# --- a real Slurm cluster ----------------------------------------------------------------------


def _leftovers(folder: Path) -> list[psutil.Process]:
    """Processes whose command line names ``folder``: the cluster's daemons and the jobs it ran."""
    return [p for p in psutil.process_iter(["pid", "cmdline"])
            if p.info["pid"] != os.getpid() and str(folder) in " ".join(p.info["cmdline"] or [])]


@pytest.fixture
def slurm(tmp_path):
    """A one-node Slurm cluster for this test, stopped afterwards whatever happened: its environment."""
    if os.geteuid() != 0:
        pytest.skip("the one-node Slurm cluster runs its daemons as root (CI runs as root)")
    folder = tmp_path / "slurm"
    started = subprocess.run(["bash", str(CLUSTER_SCRIPT), "start", str(folder)], capture_output=True, text=True,
                             timeout=900)
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        yield {**os.environ, "SLURM_CONF": str(folder / "slurm.conf"), "PYTHON": sys.executable}
    finally:
        subprocess.run(["bash", str(CLUSTER_SCRIPT), "stop", str(folder)], capture_output=True, timeout=120)
        left = _leftovers(tmp_path)  # the daemons (DIR/slurm.conf ...) and any grader of DIR/results
        assert not left, f"daemons still running after stop: {[p.info['cmdline'] for p in left]}"


def _sbatch(env: dict, array: str, subs: Path, results: Path, logs: Path) -> str:
    cmd = ["sbatch", "--parsable", f"--array={array}", "--cpus-per-task=1", "--mem=3G",
           f"--output={logs}/grade-%A_%a.out", str(SBATCH), A1, str(subs), str(results), str(SHARDS)]
    done = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60, check=True)
    return done.stdout.strip().split(";")[0]


def _wait(env: dict, job: str, limit: float = 900) -> dict[str, tuple[str, str]]:
    """Wait for every task of ``job``; return task id -> (state, exit code)."""
    deadline = time.monotonic() + limit
    while subprocess.run(["squeue", "-h", "-j", job], env=env, capture_output=True, text=True).stdout.strip():
        assert time.monotonic() < deadline, f"job {job} still running after {limit} s"
        time.sleep(1)
    shown = subprocess.run(["scontrol", "-o", "show", "job", job], env=env, capture_output=True, text=True).stdout
    return {re.search(r"ArrayTaskId=(\S+)", line).group(1): (re.search(r"JobState=(\S+)", line).group(1),
                                                            re.search(r" ExitCode=(\S+)", line).group(1))
            for line in shown.splitlines() if line.strip()}


@pytest.mark.slow
def test_a_slurm_array_grades_the_class_like_one_machine(one_machine, slurm, tmp_path, capsys):
    subs, one = one_machine
    results, logs, final = tmp_path / "results", tmp_path / "logs", tmp_path / "final"
    logs.mkdir()
    owner = {p.name: shards.shard_of(content_digest(p), SHARDS) for p in sorted(subs.iterdir())}
    held_back = owner["solution.ipynb"]  # this shard "never ran" at first; it owns a real notebook
    first = ",".join(str(i) for i in range(SHARDS) if i != held_back)

    start = time.monotonic()
    job = _sbatch(slurm, first, subs, results, logs)
    tasks = _wait(slurm, job)
    first_wall = time.monotonic() - start
    assert sorted(tasks) == first.split(",") and set(tasks.values()) == {("COMPLETED", "0:0")}, tasks

    missing = _merge(results, "--out", final, "--expect", subs)
    assert missing.returncode == 1, missing.stdout + missing.stderr
    owed = sorted(n for n, i in owner.items() if i == held_back)
    for name in owed:
        assert f"  {name}: shard {held_back}/{SHARDS} never ran or its folder was not given" in missing.stderr
    assert f"{len(owed)} submission(s) were graded by no shard" in missing.stderr and not final.exists()

    start = time.monotonic()
    again = _sbatch(slurm, str(held_back), subs, results, logs)
    assert _wait(slurm, again) == {str(held_back): ("COMPLETED", "0:0")}
    second_wall = time.monotonic() - start

    merged = _merge(results, "--out", final, "--expect", subs)
    assert merged.returncode == 0, merged.stdout + merged.stderr
    assert (final / "final_grades.csv").read_bytes() == (one / "final_grades.csv").read_bytes()
    assert _feedback(final) == _feedback(one)
    assert sorted(p.name for p in (final / "executed").iterdir()) == sorted(p.name for p in (one / "executed").iterdir())
    before = _tree(final)
    assert _merge(results, "--out", final, "--expect", subs).returncode == 0
    assert _tree(final) == before, "merging again changes no byte (report and plots included)"
    # Every task ran the command the Kubernetes Jobs run (test_the_kubernetes_job_...), with its own values.
    for index in range(SHARDS):
        manifest = shards.Manifest.read(results / shards.folder_name(index, SHARDS))
        assert manifest.finished and sorted(manifest.share) == sorted(n for n, i in owner.items() if i == index)
        assert manifest.argv[1:] == shards.command(assignment=A1, shards=SHARDS, workers=1, results=results,
                                                   submissions=subs)[2:]
        log = (logs / f"grade-{again if index == held_back else job}_{index}.out").read_text()
        assert f"shard {index}/{SHARDS} (index from SLURM_ARRAY_TASK_ID)" in log
    spans = [shards.Manifest.read(results / shards.folder_name(i, SHARDS)) for i in range(SHARDS)]
    with capsys.disabled():
        print("\nshard runs (manifest finished - started): "
              + ", ".join(f"{m.shard}: {len(m.share)} in {m.finished - m.started:.1f} s" for m in spans))
        print(f"slurm: {SHARDS} shards of {len(owner)} submissions, shares "
              f"{[sum(i == k for i in owner.values()) for k in range(SHARDS)]}; tasks {first} in {first_wall:.1f} s, "
              f"the held-back task {held_back} in {second_wall:.1f} s; final_grades.csv byte-identical to one machine "
              f"({len((final / 'final_grades.csv').read_bytes())} bytes)")


# --- a shard killed mid-way and submitted again -----------------------------------------------


def _results(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in (folder / ".results").glob("*.pkl")}


@pytest.fixture
def scratch():
    """A TMPDIR for the grader, so that the test sees its scratch folders; removed afterwards (a lost
    node leaves them behind)."""
    folder = Path(tempfile.mkdtemp(prefix="cluster-test-", dir="/tmp"))
    os.chmod(folder, 0o711)  # sandboxed kernels run as other users and must pass through it
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_a_shard_killed_mid_way_grades_only_the_rest_when_run_again(one_machine, scratch, tmp_path, how):
    subs, one = one_machine
    out = tmp_path / "out"
    folder = out / "shard-0-of-1"
    total = len(list(subs.iterdir()))
    env = {**os.environ, "TMPDIR": str(scratch)}
    proc = subprocess.Popen(_grade_command(subs, out, "0/1", workers=2), cwd=REPO_ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True, env=env)
    try:
        deadline = time.monotonic() + 300
        while len(_results(folder)) < len(BROKEN) + 1:  # the broken files and one notebook are done
            assert proc.poll() is None and time.monotonic() < deadline, "the shard ended before it was killed"
            time.sleep(0.2)
        tree = psutil.Process(proc.pid).children(recursive=True)
        assert list(scratch.glob("grade-*")), "the batch's scratch folder"
        if how == "SIGKILL":  # the node is lost: every process of the job dies at once
            for p in [psutil.Process(proc.pid), *tree]:
                p.kill()
        else:  # Slurm's scancel or Kubernetes' pod deletion: SIGTERM, then the grader stops itself
            proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    printed = proc.stdout.read()
    if how == "SIGTERM":
        assert proc.returncode == 143, printed
        assert "stopped by SIGTERM" in printed
        assert psutil.wait_procs(tree, timeout=10)[1] == [], "every submission's process is gone"
        assert not list(scratch.glob("grade-*")), "its scratch folder is removed"
    else:
        assert proc.returncode == -signal.SIGKILL
        psutil.wait_procs(tree, timeout=10)
    assert shards.Manifest.read(folder).finished is None
    done = _results(folder)
    assert len(BROKEN) + 1 <= len(done) < total, "killed mid-way"

    rerun = subprocess.run(_grade_command(subs, out, "0/1", workers=2), cwd=REPO_ROOT, capture_output=True, text=True, env=env,
                           timeout=600)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert f"{len(done)} result(s) kept from an earlier run, {total - len(done)} to grade" in rerun.stdout
    after = _results(folder)
    assert {k: after[k] for k in done} == done, "finished results are neither regraded nor rewritten"
    assert len(after) == total and shards.Manifest.read(folder).finished
    merged = _merge(out, "--out", tmp_path / "final")
    assert merged.returncode == 0, merged.stderr
    assert (tmp_path / "final" / "final_grades.csv").read_bytes() == (one / "final_grades.csv").read_bytes()
