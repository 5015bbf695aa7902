"""Grade many submissions: a worker pool of isolated processes -> final_grades.csv + feedback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import dill
import pandas as pd
import psutil
from otter.grade.utils import merge_scores_to_df
from otter.test_files import GradingResults

from .. import REPO_ROOT
from ..assignments import Assignment
from . import feedback, submissions

DEFAULT_TIMEOUT = 600.0  # Gradescope's default limit, in seconds


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

    @property
    def status(self) -> str:
        return str(self.results.catastrophic_error) if self.results.has_catastrophic_failure() else "Completed"


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


def grade_one(a: Assignment, path: Path, label: str, scratch: Path, timeout: float, threads: int,
              extra_env: dict[str, str] | None = None, runner=None) -> Outcome:
    """Grade one submission in a fresh process under ``scratch``, killed after ``timeout`` s."""
    start = time.monotonic()
    try:
        submissions.validate(path)
    except submissions.InvalidSubmission as exc:
        return _failure(label, path, submissions.InvalidSubmission(f"invalid submission: {exc}"), 0.0)
    out, tmp = scratch / "out", scratch / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "TMPDIR": str(tmp),
        "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
        "MPLBACKEND": "Agg",
        "OMP_NUM_THREADS": str(threads),
        "PYTHONPATH": str(REPO_ROOT),
        **(extra_env or {}),
    }
    cmd = [sys.executable, "-m", "autograder.grading.run_one", str(a.autograder_zip), str(path.resolve()), str(out)]
    if runner is not None:  # e.g. container.DockerRunner: the same run_one, launched in a container
        cmd = runner(a.autograder_zip, path.resolve(), out, env, timeout)
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
    if proc.returncode != 0 or not (out / "results.pkl").exists():
        tail = (scratch / "grader-log.txt").read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
        return _failure(label, path, GraderCrash(f"grader crashed (exit {proc.returncode}): {tail[0][:300]}"), seconds)
    with open(out / "results.pkl", "rb") as f:
        results = dill.load(f)
    results.file = label
    usage = json.loads((out / "usage.json").read_text())
    return Outcome(label, path, results, seconds, max(usage.values()))


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
    """Write ``final_grades.csv`` with Otter's own merge, atomically."""
    df = _with_points_row(merge_scores_to_df([o.results for o in outcomes]), points)
    tmp = path.with_suffix(".csv.tmp")
    df.to_csv(tmp, index=False)
    os.replace(tmp, path)
    return df


def _data_env() -> dict[str, str]:
    """Point submissions at one unpacked Fashion-MNIST instead of unpacking it per submission."""
    from .. import data

    if os.environ.get(data.ENV_VAR):
        return {}
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
) -> tuple[list[Outcome], pd.DataFrame]:
    """Grade ``paths`` for assignment ``a`` into ``out_dir``; never raises for a bad submission.

    Writes ``final_grades.csv``, ``feedback/<submission>.txt`` and ``report.html``. Shows a tqdm
    bar on a terminal, one line per submission otherwise, nothing when ``quiet``.
    """
    from tqdm import tqdm

    from .. import report

    workers = max(1, workers or os.cpu_count() or 1)
    threads = max(1, (os.cpu_count() or 1) // workers)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "feedback").mkdir(exist_ok=True)
    names = submissions.labels(paths)
    outcomes: list[Outcome] = []
    env = _data_env()
    bar = tqdm(total=len(paths), desc=a.id, unit="nb", disable=quiet or not sys.stderr.isatty())
    with tempfile.TemporaryDirectory(prefix="grade-") as scratch_root:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {
                pool.submit(grade_one, a, p, n, Path(scratch_root) / f"{i:05d}", timeout, threads, env, runner): (p, n)
                for i, (p, n) in enumerate(zip(paths, names))
            }
            for done, fut in enumerate(as_completed(futures), 1):
                path, name = futures[fut]
                try:
                    outcome = fut.result()
                except Exception as exc:  # a bug in this grader must not lose the batch
                    outcome = _failure(name, path, GraderCrash(f"grader error: {exc!r}"), 0.0)
                feedback.write(outcome, out_dir / "feedback")
                outcomes.append(outcome)
                if not bar.disable:
                    bar.update()
                    bar.set_postfix_str(f"{name}: {feedback.score_line(outcome)}"[-60:])
                elif not quiet:
                    print(f"[{done}/{len(paths)}] {name}: {feedback.score_line(outcome)}", flush=True)
    bar.close()
    points = json.loads((a.dist_dir / "build-info.json").read_text()).get("points", {})
    outcomes.sort(key=lambda o: o.label)
    frame = write_csv(outcomes, out_dir / "final_grades.csv", points)
    report.write(outcomes, points, out_dir, title=f"{a.id}: {len(outcomes)} submissions")
    return outcomes, frame
