"""Grade many submissions: a worker pool of isolated processes -> final_grades.csv + feedback."""

from __future__ import annotations

import hashlib
import json
import os
import queue
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import dill
import pandas as pd
import psutil
from otter.grade.utils import merge_scores_to_df
from otter.test_files import GradingResults

from .. import REPO_ROOT
from ..assignments import Assignment
from . import feedback, sandbox, submissions

DEFAULT_TIMEOUT = 600.0  # Gradescope's default limit, in seconds
DEFAULT_CELL_TIMEOUT = 300.0
DATA_ENV = "FASHION_MNIST_DIR"


class SubmissionTimeout(Exception):
    """The submission ran past its wall-clock limit and was killed."""


class GraderCrash(Exception):
    """The grading process died without results (e.g. the kernel was killed)."""


@dataclass
class Outcome:
    """What grading one submission produced."""

    label: str
    path: Path
    results: GradingResults
    seconds: float
    peak_rss_mb: float = float("nan")  # the larger of the grading process and its kernel
    note: str = ""  # the grader's status for a completed run ("Completed (...)")
    cell_errors: tuple[str, ...] = ()  # exceptions the notebook's cells raised while grading
    verdicts: tuple[tuple[str, int], ...] = ()  # (where verdicts came from, how many): sealed, kernel, void

    @property
    def status(self) -> str:
        if self.results.has_catastrophic_failure():
            return str(self.results.catastrophic_error)
        return self.note or "Completed"


@dataclass(frozen=True)
class Options:
    """How each submission is run (the parts of the command line that reach ``run_one``)."""

    timeout: float = DEFAULT_TIMEOUT  # the whole submission, wall clock
    cell_timeout: float = DEFAULT_CELL_TIMEOUT  # each notebook cell
    memory_gb: float = sandbox.DEFAULT_MEMORY_GB
    sandbox: bool = True  # False: run kernels without bubblewrap (still under rlimits)
    gpu: bool = field(default_factory=lambda: Path("/dev/nvidiactl").exists())  # bind the NVIDIA devices

    def run_one_args(self, a: Assignment) -> list[str]:
        info = json.loads((a.dist_dir / "build-info.json").read_text())
        return ["--notebook-name", a.student_notebook.name, "--cell-timeout", f"{self.cell_timeout:g}",
                "--record-timeout", f"{max(self.cell_timeout, 60):g}", "--memory-gb", f"{self.memory_gb:g}",
                "--kernel-tests", json.dumps(sorted(info.get("kernel_tests", [])))]


def _kill_tree(pid: int) -> None:
    """Kill a process and every descendant (Jupyter kernels start in their own sessions)."""
    try:
        root = psutil.Process(pid)
        procs = root.children(recursive=True) + [root]
    except psutil.NoSuchProcess:
        return
    for proc in procs:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(procs, timeout=10)


def _failure(label: str, path: Path, exc: Exception, seconds: float) -> Outcome:
    results = GradingResults.without_results(exc)
    results.file = label
    return Outcome(label, path, results, seconds)


def grade_one(a: Assignment, path: Path, label: str, scratch: Path, timeout: float | None = None,
              threads: int = 1, extra_env: dict[str, str] | None = None, runner=None, *,
              options: Options | None = None, slot: int = 0) -> Outcome:
    """Grade one submission in a fresh process under ``scratch``, killed after the overall timeout."""
    options = options or Options(timeout=timeout or DEFAULT_TIMEOUT)
    timeout = options.timeout if timeout is None else timeout
    start = time.monotonic()
    try:
        submissions.validate(path)
    except submissions.InvalidSubmission as exc:
        return _failure(label, path, submissions.InvalidSubmission(f"invalid submission: {exc}"), 0.0)
    scratch.mkdir(parents=True, exist_ok=True)
    kernel_env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "LANG": "C.UTF-8", "MPLBACKEND": "Agg",
                  "OMP_NUM_THREADS": str(threads), "USER": "student", "LOGNAME": "student",  # the sandbox uid has
                  **(extra_env or {})}                                   # no passwd entry; getpass needs a name
    for name in ("GRADING_DEVICE", "CUDA_VISIBLE_DEVICES"):
        if os.environ.get(name):
            kernel_env.setdefault(name, os.environ[name])
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": str(threads), **(extra_env or {})}
    args = options.run_one_args(a)
    if runner is not None:  # e.g. container.DockerRunner: the same run_one, launched in a container
        cmd = runner(a.autograder_zip, path.resolve(), scratch, env, timeout, args)
    else:
        args += ["--slot", str(slot)] + (["--gpu"] if options.gpu else []) + ([] if options.sandbox else ["--no-sandbox"])
        for name, value in kernel_env.items():
            args += ["--env", name, value]
        if kernel_env.get(DATA_ENV):
            args += ["--readable", kernel_env[DATA_ENV]]
        cmd = [sys.executable, "-m", "autograder.grading.run_one", str(a.autograder_zip), str(path.resolve()),
               str(scratch), *args]
    with open(scratch / "grader-log.txt", "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=scratch,
                                start_new_session=True, stdin=subprocess.DEVNULL)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_tree(proc.pid)
            return _failure(label, path, SubmissionTimeout(f"timed out after {timeout:g} s"), time.monotonic() - start)
        finally:
            _kill_tree(proc.pid)  # a kernel may outlive its parent
    seconds = time.monotonic() - start
    out = scratch / "out"
    if proc.returncode != 0 or not (out / "results.pkl").exists():
        lines = (scratch / "grader-log.txt").read_text(errors="replace").strip().splitlines()
        tail = [line for line in lines if line.strip() and not line.startswith(" ")][-1:] or ["no output"]
        return _failure(label, path, GraderCrash(f"grader crashed (exit {proc.returncode}): {tail[0][:300]}"), seconds)
    with open(out / "results.pkl", "rb") as f:
        results = dill.load(f)
    results.file = label
    usage = json.loads((out / "usage.json").read_text())
    status = json.loads((out / "status.json").read_text()) if (out / "status.json").exists() else {}
    sources = [v["source"] for v in status.get("verdicts", {}).values()]
    return Outcome(label, path, results, seconds, max(usage.values()), status.get("status", ""),
                   tuple(status.get("cell_errors", ())), tuple((s, sources.count(s)) for s in sorted(set(sources))))


def _with_points_row(df: pd.DataFrame, points: dict[str, float]) -> pd.DataFrame:
    """Otter drops the question columns when no submission completed; put them back."""
    if not points or all(q in df.columns for q in points):
        return df
    for q in points:
        df[q] = 0
    head = {"file": "points-per-question", **points, "total_points_earned": sum(points.values()),
            "percent_correct": 1, "grading_status": "--"}
    df = pd.concat([pd.DataFrame([head]), df], ignore_index=True)
    return df[["file", *sorted(points), "total_points_earned", "percent_correct", "grading_status"]]


def write_csv(outcomes: list[Outcome], path: Path, points: dict[str, float]) -> pd.DataFrame:
    """Write ``final_grades.csv`` with Otter's own merge and this grader's status column, atomically."""
    df = _with_points_row(merge_scores_to_df([o.results for o in outcomes]), points)
    status = {o.label: o.status for o in outcomes}
    df["grading_status"] = [status.get(f, s) for f, s in zip(df["file"], df["grading_status"])]
    tmp = path.with_suffix(".csv.tmp")
    df.to_csv(tmp, index=False)
    os.replace(tmp, path)
    return df


class ResultStore:
    """Finished outcomes on disk, one file each, so that a killed batch resumes where it stopped.

    A result is reused only for the same submission bytes, label, autograder build and options.
    """

    def __init__(self, folder: Path, a: Assignment, options: Options):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        info = (a.dist_dir / "build-info.json").read_bytes()
        self.salt = hashlib.sha256(info + repr(options).encode()).hexdigest()

    def _file(self, path: Path, label: str) -> Path:
        h = hashlib.sha256(self.salt.encode() + label.encode())
        try:
            h.update(path.read_bytes())
        except OSError:
            h.update(b"<unreadable>")
        return self.folder / f"{h.hexdigest()[:32]}.pkl"

    def load(self, path: Path, label: str) -> Outcome | None:
        file = self._file(path, label)
        try:
            with open(file, "rb") as f:
                return dill.load(f)
        except Exception:  # missing or half-written: grade again
            return None

    def save(self, outcome: Outcome) -> None:
        file = self._file(outcome.path, outcome.label)
        tmp = file.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            dill.dump(outcome, f)
        os.replace(tmp, file)


def _data_env() -> dict[str, str]:
    """Point submissions at one unpacked Fashion-MNIST instead of unpacking it per submission."""
    from .. import data

    if os.environ.get(data.ENV_VAR):  # kernels get a clean environment: pass it on explicitly
        return {data.ENV_VAR: os.environ[data.ENV_VAR]}
    try:
        return {data.ENV_VAR: str(data.fashion_mnist_root(download=False))}
    except data.FashionMNISTNotFound:
        return {}


def summary_line(outcomes: list[Outcome], possible: float) -> str:
    """'graded N, errored E, timed out T, mean score X / Y' for the end of a run."""
    done = [o for o in outcomes if not o.results.has_catastrophic_failure()]
    timed_out = sum(isinstance(o.results.catastrophic_error, SubmissionTimeout) for o in outcomes)
    mean = sum(o.results.total for o in done) / len(done) if done else 0.0
    return (f"graded {len(done)}, errored {len(outcomes) - len(done) - timed_out}, "
            f"timed out {timed_out}, mean score {mean:.2f} / {possible:g}")


def grade(
    a: Assignment,
    paths: list[Path],
    out_dir: Path,
    *,
    workers: int | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    quiet: bool = False,
    runner=None,
    options: Options | None = None,
    resume: bool = True,
) -> tuple[list[Outcome], pd.DataFrame]:
    """Grade ``paths`` for assignment ``a`` into ``out_dir``; never raises for a bad submission.

    Writes ``final_grades.csv``, ``feedback/<submission>.txt`` and ``report.html``; each finished
    result is also kept in ``out_dir/.results`` so that a second run after a crash regrades only
    what was not finished (``resume=False`` regrades everything). Shows a tqdm bar on a terminal,
    one line per submission otherwise, nothing when ``quiet``.
    """
    from tqdm import tqdm

    from .. import report

    options = options or Options(timeout=timeout)
    workers = max(1, workers or os.cpu_count() or 1)
    threads = max(1, (os.cpu_count() or 1) // workers)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "feedback").mkdir(exist_ok=True)
    store = ResultStore(out_dir / ".results", a, options)
    names = submissions.labels(paths)
    outcomes: list[Outcome] = []
    todo = []
    for p, n in zip(paths, names):
        kept = store.load(p, n) if resume else None
        if kept is not None:
            outcomes.append(kept)
        else:
            todo.append((p, n))
    if runner is None and options.sandbox and sandbox.bwrap_problem() and not quiet:
        print(f"WARNING: {sandbox.bwrap_problem()}; student code runs UNSANDBOXED (network, files), "
              "under memory and process limits only. Install bubblewrap (apt-get install bubblewrap).",
              file=sys.stderr, flush=True)
    if outcomes and not quiet:
        print(f"{a.id}: {len(outcomes)} result(s) kept from an earlier run, {len(todo)} to grade", flush=True)
    env = _data_env()
    slots: queue.SimpleQueue[int] = queue.SimpleQueue()  # one sandbox uid per worker, and per grader run
    for k in range(workers):
        slots.put((os.getpid() % 4096) * 64 + k % 64)

    def work(p: Path, n: str, scratch: Path) -> Outcome:
        slot = slots.get()
        try:
            return grade_one(a, p, n, scratch, options.timeout, threads, env, runner, options=options, slot=slot)
        finally:
            slots.put(slot)

    bar = tqdm(total=len(todo), desc=a.id, unit="nb", disable=quiet or not sys.stderr.isatty())
    with tempfile.TemporaryDirectory(prefix="grade-") as scratch_root:
        os.chmod(scratch_root, 0o711)  # sandboxed kernels run as other users and must reach their folder
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(work, p, n, Path(scratch_root) / f"{i:05d}"): (p, n)
                       for i, (p, n) in enumerate(todo)}
            for done, fut in enumerate(as_completed(futures), 1):
                path, name = futures[fut]
                try:
                    outcome = fut.result()
                except Exception as exc:  # a bug in this grader must not lose the batch
                    outcome = _failure(name, path, GraderCrash(f"grader error: {exc!r}"), 0.0)
                feedback.write(outcome, out_dir / "feedback")
                feedback.log(outcome, out_dir / feedback.INSTRUCTOR_LOG)
                store.save(outcome)
                outcomes.append(outcome)
                if not bar.disable:
                    bar.update()
                    bar.set_postfix_str(f"{name}: {feedback.score_line(outcome)}"[-60:])
                elif not quiet:
                    print(f"[{done}/{len(todo)}] {name}: {feedback.score_line(outcome)}", flush=True)
    bar.close()
    points = json.loads((a.dist_dir / "build-info.json").read_text()).get("points", {})
    outcomes.sort(key=lambda o: o.label)
    frame = write_csv(outcomes, out_dir / "final_grades.csv", points)
    report.write(outcomes, points, out_dir, title=f"{a.id}: {len(outcomes)} submissions")
    return outcomes, frame
