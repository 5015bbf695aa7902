"""Grading benchmark: this project's grader against `otter run`, every figure beside its goal.

    .venv/bin/python benchmarks/grading.py [--count 20] [--workers 2] [--repeat 5]

In one run, on the same files:

* **per submission** (assignment 01's solution, median of --repeat): a bare `otter run`, and the
  project's grader per submission in a warm batch (one worker grading --repeat copies), so the
  figure is what each further submission costs; goal <= 0.5x; beside it, the same for a notebook
  with no cells (the fixed cost of a fresh sandbox and kernel) and a bare `import torch`;
* **batch**: --count mixed submissions (solutions, blanks and buggy demos of every assignment),
  graded by the project's grader with --workers, against a sequential `otter run` loop (goal
  <= 0.3x) and against --workers concurrent `otter run`s with the same thread settings, which is
  what parallelism alone gives (goal <= 0.6x). Before any ratio is printed, every submission's
  total must agree between the tools;
* **assignment 03's solution** graded on its own, median of 3 (goal <= 30 s on CPU);
* **memory**: the peak RSS of each sandboxed kernel, the largest single process the watchdog saw
  (summing a tree's RSS would count torch's shared pages twice); goal for 03 <= 1.5 GB.

It prints figures and asserts nothing; the machine's load changes them, ratios measured in the same
run much less.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from autograder import REPO_ROOT, assignments, demos  # noqa: E402
from autograder.build import build, is_current  # noqa: E402
from autograder.grading import batch  # noqa: E402
from autograder.grading.worker import Workers  # noqa: E402

OTTER = str(Path(sys.executable).with_name("otter"))


def collect(count: int, folder: Path) -> list[tuple[assignments.Assignment, Path]]:
    """``count`` submissions cycled over every assignment's demos."""
    pool = []
    for a in assignments.all_assignments():
        if not is_current(a):
            build(a)
        pool += [(a, d.path) for d in demos.make(a, folder / "demos" / a.id, a.points)]
    chosen = []
    for i, (a, path) in zip(range(count), itertools.cycle(pool)):
        copy = folder / "subs" / a.id / f"{i:02d}-{path.name}"
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, copy)
        chosen.append((a, copy))
    return chosen


def otter_run(a: assignments.Assignment, path: Path, out: Path, threads: int) -> tuple[float, float]:
    """(seconds, total score) of a bare `otter run` of ``path``."""
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    start = time.perf_counter()
    subprocess.run([OTTER, "run", "-a", str(a.autograder_zip), "-o", str(out), "--no-logo", str(path)],
                   check=True, capture_output=True, env=env)
    seconds = time.perf_counter() - start
    results = json.loads((out / "results.json").read_text())
    return seconds, sum(t.get("score", 0) for t in results["tests"] if "max_score" in t)


def import_seconds(module: str, threads: int) -> float:
    """Seconds a fresh interpreter of this venv takes to import ``module``."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", f"import {module}"], check=True,
                   env={**os.environ, "OMP_NUM_THREADS": str(threads)})
    return time.perf_counter() - start


def ours(a: assignments.Assignment, paths: list[Path], out: Path, workers: int, pool: Workers | None = None):
    start = time.perf_counter()
    outcomes = batch.grade(a, paths, out, workers=workers, quiet=True, resume=False, pool=pool)
    return time.perf_counter() - start, outcomes


def line(what: str, value: str, goal: str = "") -> None:
    print(f"{what:<62} {value:>12}   {goal}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    threads = batch.threads_per_worker(args.workers)
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        tmp = Path(tmp)
        chosen = collect(args.count, tmp)
        by_assignment: dict[str, list[Path]] = {}
        for a, path in chosen:
            by_assignment.setdefault(a.id, []).append(path)

        # the batch, three ways
        grader_wall, totals, kernel_rss, per_assignment = 0.0, {}, {}, {}
        with Workers(REPO_ROOT) as pool:  # as `grade` does: one worker per slot for every assignment
            runs = [(aid, ours(assignments.get(aid), paths, tmp / "ours" / aid, args.workers, pool))
                    for aid, paths in by_assignment.items()]
        for aid, (seconds, outcomes) in runs:
            grader_wall += seconds
            per_assignment[aid] = seconds
            for o in outcomes:
                totals[o.path.name] = None if o.results.has_catastrophic_failure() else o.results.total
            kernel_rss[aid] = [o.kernel_peak_rss_mb for o in outcomes if o.kernel_peak_rss_mb]
        loop_runs = [otter_run(a, p, tmp / "loop" / p.stem, threads) for a, p in chosen]
        start = time.perf_counter()
        with ThreadPoolExecutor(args.workers) as pool:
            list(pool.map(lambda ap: otter_run(ap[0], ap[1], tmp / "par" / ap[1].stem, threads), chosen))
        parallel_wall = time.perf_counter() - start
        loop_wall = sum(s for s, _ in loop_runs)
        loop_by_assignment = {aid: sum(s for (a, _), (s, _) in zip(chosen, loop_runs) if a.id == aid)
                              for aid in by_assignment}
        disagree = [(p.name, totals[p.name], score) for (a, p), (_, score) in zip(chosen, loop_runs)
                    if totals[p.name] != score]

        # one more submission of 01, warm
        a1 = assignments.get("01-softmax-cross-entropy")
        copies = []
        for i in range(args.repeat):
            copies.append(tmp / "single" / f"{i}-solution.ipynb")
            copies[-1].parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(a1.solution_notebook, copies[-1])
        bare = [otter_run(a1, p, tmp / "bare" / p.stem, threads)[0] for p in copies]
        warm_outcomes = ours(a1, copies, tmp / "warm", 1)[1]
        warm = [o.seconds for o in warm_outcomes[1:]]  # the first one starts the worker
        # the same with no code at all: what a fresh sandbox and kernel cost before any notebook code
        empty = [tmp / "empty" / f"{i}-empty.ipynb" for i in range(args.repeat)]
        for path in empty:
            path.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(nbformat.v4.new_notebook(), path)
        fixed = [o.seconds for o in ours(a1, empty, tmp / "empty-out", 1)[1][1:]]
        torch_import = [import_seconds("torch", threads) for _ in range(args.repeat)]

        a3 = assignments.get("03-fashion-mnist")
        three = [ours(a3, [a3.solution_notebook], tmp / "a3" / str(i), 1)[1][0] for i in range(3)]

    print(f"submissions: {len(chosen)} ({', '.join(f'{k}: {len(v)}' for k, v in by_assignment.items())}), "
          f"{args.workers} workers, {threads} thread(s) each")
    if disagree:
        print(f"NO RATIOS: the tools disagree on {len(disagree)} submission(s): {disagree[:5]}")
        return
    print("every submission's total agrees between the project's grader and `otter run`")
    line("project grader, batch", f"{grader_wall:.1f} s")
    line("sequential `otter run` loop", f"{loop_wall:.1f} s")
    line(f"{args.workers} concurrent `otter run`s", f"{parallel_wall:.1f} s")
    for aid in by_assignment:
        line(f"  {aid}: grader batch / otter loop", f"{per_assignment[aid]:.1f} / {loop_by_assignment[aid]:.1f} s")
    line("ratio grader / sequential loop", f"{grader_wall / loop_wall:.2f}", "goal <= 0.30")
    line(f"ratio grader / {args.workers} concurrent otter runs", f"{grader_wall / parallel_wall:.2f}", "goal <= 0.60")
    b, w = statistics.median(bare), statistics.median(warm) if warm else float("nan")
    line(f"01 per submission: bare otter run (median of {len(bare)})", f"{b:.2f} s")
    line(f"01 per submission: project grader, warm (median of {len(warm)})", f"{w:.2f} s")
    line("ratio", f"{w / b:.2f}", "goal <= 0.50")
    f = statistics.median(fixed)
    line(f"  of which a notebook with no cells, warm (median of {len(fixed)})", f"{f:.2f} s",
         f"{f / w:.0%}: sandbox, fresh kernel, its imports, recording, judging")
    line(f"  `python -c 'import torch'` alone (median of {len(torch_import)})", f"{statistics.median(torch_import):.2f} s")
    line("03 solution graded alone (median of 3)", f"{statistics.median(o.seconds for o in three):.1f} s",
         "goal <= 30 s")
    for aid, values in kernel_rss.items():
        if values:
            line(f"kernel peak RSS (largest process), {aid}", f"{max(values):.0f} MB",
                 "goal <= 1536 MB" if aid.startswith("03") else "")
    line("kernel peak RSS of the 03 solution alone", f"{max(o.kernel_peak_rss_mb for o in three):.0f} MB",
         "goal <= 1536 MB")


if __name__ == "__main__":
    main()
