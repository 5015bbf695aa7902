"""Grade many submissions: a worker pool of isolated processes, resumable, into one class folder."""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import dill
import psutil
from otter.test_files import GradingResults

from .. import REPO_ROOT, usable_cpus
from .. import datasets
from ..assignments import Assignment
from . import feedback, manual, outputs, run_one, safe_io, sandbox, stopping, submissions
from .outcome import GraderCrash, Outcome, RunReport, SubmissionTimeout
from .run_one import EXECUTED_NAME
from .store import ResultStore
from .worker import Worker, Workers

DEFAULT_TIMEOUT = 600.0  # Gradescope's default limit, in seconds
DEFAULT_CELL_TIMEOUT = 300.0
KILL_GRACE = 20.0  # seconds past --timeout before a run_one that did not finish in time is killed
#: What the kernel keeps of the grader's environment (it starts from a clean one).


@dataclass(frozen=True)
class Options:
    """How each submission is run (the parts of the command line that reach ``run_one``)."""

    timeout: float = DEFAULT_TIMEOUT  # the whole submission, wall clock
    cell_timeout: float = DEFAULT_CELL_TIMEOUT  # each notebook cell
    memory_gb: float = sandbox.DEFAULT_MEMORY_GB
    disk_gb: float = sandbox.DEFAULT_DISK_GB  # the work folder in total
    max_files: int = sandbox.DEFAULT_MAX_FILES  # files and folders in the work folder
    sandbox: bool = True  # False: run kernels without bubblewrap (still under rlimits)
    gpu: bool = field(default_factory=lambda: Path("/dev/nvidiactl").exists())  # bind the NVIDIA devices

    def run_one_args(self, a: Assignment, deadline_unix: float) -> list[str]:
        """``run_one``'s options; it plans its cells and recording to finish by ``deadline_unix``."""
        return ["--notebook-name", a.student_notebook.name, "--cell-timeout", f"{self.cell_timeout:g}",
                "--record-timeout", f"{max(self.cell_timeout, 60):g}", "--memory-gb", f"{self.memory_gb:g}",
                "--disk-gb", f"{self.disk_gb:g}", "--max-files", str(self.max_files), "--deadline-unix", f"{deadline_unix:.3f}",
                "--timeout", f"{self.timeout:g}"]


def _failure(label: str, path: Path, exc: Exception, seconds: float) -> Outcome:
    results = GradingResults.without_results(exc)
    results.file = label
    return Outcome(label, path, results, seconds)


def grade_one(a: Assignment, path: Path, label: str, scratch: Path, timeout: float | None = None,
              threads: int = 1, extra_env: dict[str, str] | None = None, runner=None, *,
              options: Options | None = None, slot: int | None = None, keep_executed: Path | None = None,
              children: stopping.Children | None = None, worker: Worker | None = None,
              zip_path: Path | None = None) -> Outcome:
    """Grade one submission in a fresh process under ``scratch``, killed after the overall timeout.

    ``slot``: the sandbox uid's slot (None: one no other grader run holds, for this submission);
    ``keep_executed``: a folder to keep the executed notebook in (what its cells printed);
    ``children``: where the batch keeps track of its running processes (for SIGTERM);
    ``worker``: a long-lived process to run ``run_one`` in (else a new process is started);
    ``zip_path``: the autograder zip to grade with (default: the built one, ``a.autograder_zip``)."""
    if slot is None:
        with sandbox.claimed_slots(1) as (slot,):
            return grade_one(a, path, label, scratch, timeout, threads, extra_env, runner, options=options, slot=slot,
                             keep_executed=keep_executed, children=children, worker=worker, zip_path=zip_path)
    options = options or Options(timeout=timeout or DEFAULT_TIMEOUT)
    timeout = options.timeout if timeout is None else timeout
    zip_path = zip_path or a.autograder_zip
    start = time.monotonic()
    try:
        submissions.validate(path)
    except submissions.InvalidSubmission as exc:
        return _failure(label, path, submissions.InvalidSubmission(f"invalid submission: {exc}"), 0.0)
    scratch.mkdir(parents=True, exist_ok=True)
    data_folders = datasets.kernel_env(a.datasets)  # kernels get a clean environment: passed on explicitly
    kernel_env = {**run_one.kernel_env(threads), **(extra_env or {}), **data_folders}
    env = {**grader_env(a, threads), **(extra_env or {})}
    args = options.run_one_args(a, time.time() + timeout) + ["--slot", str(slot)]  # the sandbox uid, also in containers
    if runner is not None:  # e.g. container.DockerRunner: the same run_one, launched in a container
        cmd = runner(zip_path, path.resolve(), scratch, env, timeout, args)
    else:
        args += (["--gpu"] if options.gpu else []) + ([] if options.sandbox else ["--no-sandbox"])
        for name, value in kernel_env.items():
            args += ["--env", name, value]
        for folder in data_folders.values():
            args += ["--readable", folder]
        cmd = [sys.executable, "-m", "autograder.grading.run_one", str(zip_path), str(path.resolve()),
               str(scratch), *args]
    children = children or stopping.Children()
    if worker is not None and runner is None:
        returncode = _in_worker(worker, cmd[3:], scratch / "grader-log.txt", timeout + KILL_GRACE, children)
    else:
        returncode = _in_process(cmd, env, scratch, timeout + KILL_GRACE, children)
    seconds = time.monotonic() - start
    if returncode is None:  # run_one plans to finish by the deadline; this one could not
        return _failure(label, path, SubmissionTimeout(f"timed out after {timeout:g} s"), seconds)
    out = scratch / "out"
    if returncode != 0 or not (out / "results.pkl").exists():
        lines = (scratch / "grader-log.txt").read_text(errors="replace").strip().splitlines()
        tail = [line for line in lines if line.strip() and not line.startswith(" ")][-1:] or ["no output"]
        return _failure(label, path, GraderCrash(f"grader crashed (exit {returncode}): {tail[0][:300]}"), seconds)
    if keep_executed is not None and (out / EXECUTED_NAME).is_file():  # what the notebook printed
        keep_executed.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(out / EXECUTED_NAME, keep_executed / feedback.executed_name(label))
    with open(out / "results.pkl", "rb") as f:
        results = dill.load(f)
    results.file = label
    report = RunReport.read(out)
    sources = [v["source"] for v in report.verdicts.values()]
    return Outcome(label, path, results, seconds, max(report.peak_rss_mb, report.kernel_peak_rss_mb), report.status,
                   tuple(report.cell_errors), tuple((s, sources.count(s)) for s in sorted(set(sources))),
                   report.kernel_peak_rss_mb)


def threads_per_worker(workers: int) -> int:
    """torch threads for each of ``workers`` kernels: the usable cores shared out, at least 1 (more
    threads than cores makes OpenMP's spinning threads fight: 5x slower here)."""
    return max(1, usable_cpus() // workers)


def grader_env(a: Assignment, threads: int) -> dict[str, str]:
    """The environment of the processes that run ``run_one`` for ``a``."""
    return {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": str(threads),
            **datasets.kernel_env(a.datasets)}


def _in_process(cmd: list[str], env: dict[str, str], scratch: Path, limit: float,
                children: stopping.Children) -> int | None:
    """Run ``cmd`` (one ``run_one``) as its own process; its exit status, or None when killed at ``limit``."""
    with open(scratch / "grader-log.txt", "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=scratch,
                                start_new_session=True, stdin=subprocess.DEVNULL)
        children.add(proc.pid)
        try:
            return proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            return None
        finally:
            stopping.kill_trees([proc.pid])  # a kernel may outlive its parent
            children.discard(proc.pid)


def _in_worker(worker: Worker, argv: list[str], log: Path, limit: float, children: stopping.Children) -> int | None:
    """Run one ``run_one`` in the slot's long-lived worker; a worker that overruns is killed with its tree."""
    worker.start()
    children.add(worker.pid)
    status = worker.run(argv, log, limit)
    pid = worker.pid
    if pid is not None:
        if status is None:
            stopping.kill_trees([pid])
            worker.proc = None
            children.discard(pid)
        else:  # nothing of this submission may outlive it (run_one stops its kernels; this is the backstop)
            try:
                stopping.kill_trees([c.pid for c in psutil.Process(pid).children(recursive=True)])
            except psutil.NoSuchProcess:
                pass
    return status


def summary_line(outcomes: list[Outcome], possible: float) -> str:
    """'graded N, errored E, timed out T, mean score X / Y' for the end of a run."""
    done = [o for o in outcomes if not o.results.has_catastrophic_failure()]
    timed_out = sum(isinstance(o.results.catastrophic_error, SubmissionTimeout) for o in outcomes)
    mean = sum(o.results.total for o in done) / len(done) if done else 0.0
    return (f"graded {len(done)}, errored {len(outcomes) - len(done) - timed_out}, "
            f"timed out {timed_out}, mean score {mean:.2f} / {possible:g}")


def _to_grade(store: ResultStore, paths: list[Path], resume: bool,
              select: Callable[[Path, str], bool] | None = None) -> tuple[list[Outcome], list[tuple[Path, str]]]:
    """Split ``paths`` into results an earlier run already finished and (path, label) pairs to grade.

    Labels come from all of ``paths``; ``select(path, label)`` then keeps a part of them (a shard)."""
    kept: list[Outcome] = []
    todo: list[tuple[Path, str]] = []
    for p, n in zip(paths, submissions.labels(paths)):
        if select is not None and not select(p, n):
            continue
        outcome = store.load(p, n) if resume else None
        if outcome is not None:
            kept.append(outcome)
        else:
            todo.append((p, n))
    return kept, todo


def _warn_if_unsandboxed(runner, options: Options) -> None:
    if runner is None and options.sandbox and sandbox.bwrap_problem():
        print(f"WARNING: {sandbox.bwrap_problem()}; student code runs UNSANDBOXED (network, files), "
              "under memory and process limits only. Install bubblewrap (apt-get install bubblewrap).",
              file=sys.stderr, flush=True)


class _Progress:
    """A tqdm bar on a terminal, one line per finished submission otherwise, nothing when quiet."""

    def __init__(self, a: Assignment, total: int, quiet: bool):
        from tqdm import tqdm

        self.total, self.quiet, self.done = total, quiet, 0
        self.bar = tqdm(total=total, desc=a.id, unit="nb", disable=quiet or not sys.stderr.isatty())

    def step(self, name: str, outcome: Outcome) -> None:
        self.done += 1
        if not self.bar.disable:
            self.bar.update()
            self.bar.set_postfix_str(f"{name}: {feedback.score_line(outcome)}"[-60:])
        elif not self.quiet:
            print(f"[{self.done}/{self.total}] {name}: {feedback.score_line(outcome)}", flush=True)

    def close(self) -> None:
        self.bar.close()


def _run_pool(a: Assignment, todo: list[tuple[Path, str]], options: Options, workers: int, runner,
              quiet: bool, finished, out_dir: Path, pool: Workers | None = None) -> list[Outcome]:
    """Grade ``todo`` on ``workers`` threads, each driving one ``run_one`` process at a time.

    ``finished(outcome)`` is called in this thread as each submission ends, in the order they end.
    ``pool``: worker processes to reuse (and leave running); else this batch starts and stops its own.
    A bug in this grader becomes that submission's ``GraderCrash``; the others go on. SIGTERM or
    SIGINT kills every running submission and raises ``stopping.Stopped``; the executed notebooks
    are kept in ``out_dir/executed``; the scratch folders are always removed.
    """
    with sandbox.claimed_slots(workers) as mine:  # one sandbox uid per worker, held by no other grader run
        slots: queue.SimpleQueue[int] = queue.SimpleQueue()
        for slot in mine:
            slots.put(slot)
        return _run_slots(a, todo, options, workers, runner, quiet, finished, out_dir, pool, slots)


def _run_slots(a: Assignment, todo: list[tuple[Path, str]], options: Options, workers: int, runner,
               quiet: bool, finished, out_dir: Path, pool: Workers | None, slots: queue.SimpleQueue[int]) -> list[Outcome]:
    """``_run_pool`` once its slots are held."""
    threads = threads_per_worker(workers)
    children = stopping.Children()

    scratch_root = Path(tempfile.mkdtemp(prefix="grade-"))
    os.chmod(scratch_root, 0o711)  # sandboxed kernels run as other users and must reach their folder
    procs = Workers(REPO_ROOT) if pool is None else pool  # one long-lived grading process per slot

    def work(p: Path, n: str, scratch: Path) -> Outcome:
        if children.stopping:
            raise stopping.Stopped(children.stopping)
        slot = slots.get()
        try:
            worker = procs.for_slot(slot, grader_env(a, threads))
            return grade_one(a, p, n, scratch, options.timeout, threads, None, runner, options=options, slot=slot,
                             keep_executed=out_dir / "executed", children=children, worker=worker)
        finally:
            slots.put(slot)

    graded: list[Outcome] = []
    progress = _Progress(a, len(todo), quiet)
    with stopping.stop_on_signals(children), ThreadPoolExecutor(max_workers=workers) as executor:
        try:
            futures = {executor.submit(work, p, n, scratch_root / f"{i:05d}"): (p, n) for i, (p, n) in enumerate(todo)}
            for fut in as_completed(futures):
                path, name = futures[fut]
                try:
                    outcome = fut.result()
                except Exception as exc:  # a bug in this grader must not lose the batch
                    outcome = _failure(name, path, GraderCrash(f"grader error: {exc!r}"), 0.0)
                finished(outcome)
                graded.append(outcome)
                progress.step(name, outcome)
        except stopping.Stopped:
            executor.shutdown(wait=True, cancel_futures=True)
            raise
        finally:
            if pool is None:
                procs.close()
            safe_io.remove_tree(scratch_root)
    progress.close()
    return graded


def write_class_outputs(a: Assignment, out_dir: Path, this_run: list[Outcome] | None = None,
                        quiet: bool = False, store: ResultStore | None = None) -> None:
    """Write the CSV, the feedback, the report and the rest over every current result in ``out_dir``'s
    store; say what was left out and what is still to do (``this_run``: what this run graded or kept)."""
    store = store or ResultStore(out_dir / ".results", a, Options())
    listing = store.listing()
    outputs.write(listing.outcomes, a.points, out_dir, title=f"{a.id}: {len(listing.current)} submissions")
    if quiet:
        return
    earlier = len({r.label for r in listing.current} - {o.label for o in this_run or []})
    if earlier and this_run is not None:
        print(f"{a.id}: {outputs.CSV} and report.html cover {len(listing.current)} submission(s), "
              f"{earlier} of them graded into {out_dir} by earlier runs", flush=True)
    warnings, remarks = outputs.notes(listing.outcomes, a.points, out_dir)
    for line in listing.notes() + remarks:
        print(f"{a.id}: {line}", flush=True)
    for line in listing.warnings() + warnings:
        print(f"WARNING: {a.id}: {line}", file=sys.stderr, flush=True)


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
    select: Callable[[Path, str], bool] | None = None,
    pool: Workers | None = None,
) -> list[Outcome]:
    """Grade ``paths`` for assignment ``a`` into ``out_dir``; never raises for a bad submission.

    Each finished result is kept in ``out_dir/.results`` (see ``store``), so a second run after a
    crash regrades only what was not finished (``resume=False`` regrades everything). Then
    ``final_grades.csv``, ``feedback/`` and ``report.html`` are written over every current result
    in that store, this run's and earlier runs' alike: one late submission graded into a class
    folder adds its row. ``select(path, label)``, when given, grades only the submissions it keeps
    (labels are still made from all of ``paths``; see ``shards``). ``pool``: the worker processes of a
    run over several assignments, reused here and left running. Shows a tqdm bar on a terminal,
    one line per submission otherwise, nothing when ``quiet``.

    Returns:
        The outcomes of ``paths`` (graded now or kept from an earlier run), sorted by label.
    """
    options = options or Options(timeout=timeout)
    workers = max(1, workers or usable_cpus())
    out_dir.mkdir(parents=True, exist_ok=True)
    store = ResultStore(out_dir / ".results", a, options)
    kept, todo = _to_grade(store, paths, resume, select)
    if not quiet:
        _warn_if_unsandboxed(runner, options)
        if kept:
            print(f"{a.id}: {len(kept)} result(s) kept from an earlier run, {len(todo)} to grade", flush=True)

    hand_graded = manual.questions(a)

    def finished(outcome: Outcome) -> None:
        manual.attach(outcome, hand_graded)  # the answers to grade by hand, read from the submitted file
        store.save(outcome)
        outputs.write_feedback(outcome, out_dir)
        feedback.log(outcome, out_dir / feedback.INSTRUCTOR_LOG)

    graded = _run_pool(a, todo, options, workers, runner, quiet, finished, out_dir, pool)
    outcomes = sorted(kept + graded, key=lambda o: o.label)
    write_class_outputs(a, out_dir, outcomes, quiet, store)
    return outcomes
