"""Cluster estimate: wall time for 1,000 submissions on 1, 10 and 50 nodes, from times measured here.

    .venv/bin/python benchmarks/cluster.py [--copies 4] [--workers 2] [--class-size 1000]
                                           [--gpu-seconds 47] [--skip-measure ID=SECONDS ...]

Measures on this machine, in one run:

* per assignment, the node-seconds per submission: ``--copies`` copies of the solution notebook
  (each made distinct by one markdown cell, so each is graded) graded as one batch with
  ``--workers`` workers; wall time / copies is what one node of this size spends per submission
  with its workers busy. The solution is a full-effort notebook (blank and broken ones are faster);
* the start of one array task: ``grade --shard 0/1`` as a process on an empty folder;
* ``merge`` of ``--class-size`` results (rejected files, so small results: a lower bound);
* the expected largest shard when ``--class-size`` submissions are hashed into N shards
  (sha256 of random contents, 200 draws).

Then prints, per assignment and node count, task start + largest shard x node-seconds per
submission + merge. The GPU row uses ``--gpu-seconds`` per submission, one at a time per GPU node
(not measured here: no GPU). Prints figures only; it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from autograder import REPO_ROOT, assignments, notebooks  # noqa: E402
from autograder.build import build, is_current  # noqa: E402
from autograder.grading import batch, merge, shards  # noqa: E402

NODES = (1, 10, 50)


def copies_of_solution(a: assignments.Assignment, count: int, folder: Path) -> list[Path]:
    import nbformat

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(count):
        nb = notebooks.read(a.solution_notebook)
        nb.cells.append(nbformat.v4.new_markdown_cell(f"Submitted by student {k}."))
        path = folder / f"student{k:03d}.ipynb"
        notebooks.write(nb, path)
        paths.append(path)
    return paths


def node_seconds(a: assignments.Assignment, copies: int, workers: int, folder: Path) -> tuple[float, list[float]]:
    """(wall / copies, each submission's own seconds) for ``copies`` solutions graded as one batch."""
    paths = copies_of_solution(a, copies, folder / "subs")
    start = time.monotonic()
    outcomes = batch.grade(a, paths, folder / "out", workers=workers, quiet=True)
    wall = time.monotonic() - start
    bad = [o.label for o in outcomes if o.results.has_catastrophic_failure() or o.results.total != o.results.possible]
    if bad:
        print(f"  WARNING: {a.id}: {bad} did not score full marks")
    return wall / copies, [o.seconds for o in outcomes]


def task_start(folder: Path) -> float:
    """Seconds for one array task that has nothing to grade: interpreter, imports, build check, manifest."""
    empty = folder / "empty"
    empty.mkdir(parents=True)
    start = time.monotonic()
    subprocess.run([sys.executable, "-m", "autograder", "grade", "--assignment", "01-softmax-cross-entropy",
                    "--shard", "0/1", "--out", str(folder / "out"), str(empty)], cwd=REPO_ROOT, check=True,
                   capture_output=True)
    return time.monotonic() - start


def merge_seconds(size: int, folder: Path) -> float:
    """Seconds to merge ``size`` small results held by 10 shard folders."""
    a = assignments.get("01-softmax-cross-entropy")
    subs = folder / "subs"
    subs.mkdir(parents=True)
    paths = []
    for k in range(size):
        (subs / f"s{k:04d}.ipynb").write_text("x" * k)  # rejected (not JSON): a result without running
        paths.append(subs / f"s{k:04d}.ipynb")
    for index in range(10):
        shards.grade(a, paths, folder / "shards", shards.Shard(index, 10), quiet=True, workers=2)
    start = time.monotonic()
    runs = merge.load([folder / "shards"])
    merge.write(merge.combine(runs, merge.expected_set(runs, None)), folder / "final")
    return time.monotonic() - start


def largest_shard(size: int, count: int, draws: int = 200, seed: int = 14) -> float:
    """Expected size of the largest of ``count`` shards for ``size`` submissions of random contents."""
    import hashlib

    rng = random.Random(seed)
    largest = []
    for _ in range(draws):
        sizes = [0] * count
        for _ in range(size):
            sizes[shards.shard_of(hashlib.sha256(rng.randbytes(16)).hexdigest(), count)] += 1
        largest.append(max(sizes))
    return statistics.mean(largest)


def duration(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--copies", type=int, default=4)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--class-size", type=int, default=1000)
    p.add_argument("--gpu-seconds", type=float, default=47.0,
                   help="seconds per 03 submission on a GPU node (README: 47 s sandboxed on an H100)")
    p.add_argument("--skip-measure", nargs="*", default=[], metavar="ID=SECONDS",
                   help="use these node-seconds per submission instead of measuring")
    args = p.parse_args()

    given = {k: float(v) for k, v in (item.split("=") for item in args.skip_measure)}
    root = Path(tempfile.mkdtemp(prefix="cluster-bench-"))
    try:
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start; "
              f"{args.copies} solution copies per assignment, {args.workers} workers")
        per_sub = {}
        for a in assignments.all_assignments():
            if a.id in given:
                per_sub[a.id] = given[a.id]
                print(f"{a.id}: {given[a.id]:.1f} node-s per submission (given)")
                continue
            if not is_current(a):
                build(a)
            per_sub[a.id], each = node_seconds(a, args.copies, args.workers, root / a.id)
            print(f"{a.id}: {per_sub[a.id]:.1f} node-s per submission (each took "
                  f"{min(each):.1f}-{max(each):.1f} s, {args.workers} at a time)")
        start_s = task_start(root / "start")
        merge_s = merge_seconds(args.class_size, root / "merge")
        largest = {n: (largest_shard(args.class_size, n) if n > 1 else args.class_size) for n in NODES}
        print(f"array task start (nothing to grade): {start_s:.1f} s; merge of {args.class_size} results: "
              f"{merge_s:.1f} s; load average now {os.getloadavg()[0]:.1f}")
        print("expected largest shard of " + str(args.class_size) + ": "
              + ", ".join(f"{n} shards: {largest[n]:.1f} (mean {args.class_size / n:g})" for n in NODES))
        print(f"\nwall time for {args.class_size} submissions, one shard per node "
              f"({os.cpu_count()}-core nodes, {args.workers} workers each):")
        print("| assignment | node-s per submission | " + " | ".join(f"{n} node{'s' * (n > 1)}" for n in NODES) + " |")
        print("|---|---|" + "---|" * len(NODES))
        rows = [(a_id, s, 1) for a_id, s in per_sub.items()]
        rows.append(("03-fashion-mnist on GPU nodes (estimate)", args.gpu_seconds, 1))
        for name, s, _ in rows:
            cells = [duration(start_s + largest[n] * s + merge_s) for n in NODES]
            print(f"| {name} | {s:.1f} | " + " | ".join(cells) + " |")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
