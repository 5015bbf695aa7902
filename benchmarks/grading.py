"""Grading benchmark: this project's grader against a plain sequential loop of `otter run`.

    .venv/bin/python benchmarks/grading.py [--count 20] [--workers 2] [--repeat 3]

Grades the same mix of submissions (solutions, blanks and buggy demos of every built assignment,
cycled to --count) both ways in one run and prints: the ratio of wall times, the wall time per
assignment, the peak RSS per submission, and the per-submission overhead of the project's grader
(sandboxed, sealed checking) over a bare `otter run` of the same notebook, and of bubblewrap
alone (median of --repeat runs each). Prints figures only;
it asserts nothing.
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from autograder import assignments, demos  # noqa: E402
from autograder.build import build, is_current  # noqa: E402
from autograder.grading import batch  # noqa: E402

OTTER = str(Path(sys.executable).with_name("otter"))


def collect(count: int, folder: Path) -> dict[str, list[Path]]:
    """``count`` submissions cycled over every assignment's demos, grouped by assignment id."""
    pool = []
    for a in assignments.all_assignments():
        if not is_current(a):
            build(a)
        points = a.points
        pool += [(a, d.path) for d in demos.make(a, folder / "demos" / a.id, points)]
    chosen: dict[str, list[Path]] = {}
    for i, (a, path) in zip(range(count), itertools.cycle(pool)):
        copy = folder / "subs" / a.id / f"{i:02d}-{path.name}"
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, copy)
        chosen.setdefault(a.id, []).append(copy)
    return chosen


def otter_run(a: assignments.Assignment, path: Path, out: Path) -> float:
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    subprocess.run([OTTER, "run", "-a", str(a.autograder_zip), "-o", str(out), "--no-logo", str(path)],
                   check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        tmp = Path(tmp)
        subs = collect(args.count, tmp)
        n = sum(len(v) for v in subs.values())

        ours, per_assignment, rss = 0.0, {}, []
        for aid, paths in subs.items():
            start = time.perf_counter()
            outcomes = batch.grade(assignments.get(aid), paths, tmp / "ours" / aid,
                                   workers=args.workers, quiet=True)
            per_assignment[aid] = time.perf_counter() - start
            ours += per_assignment[aid]
            rss += [(o.label, o.peak_rss_mb) for o in outcomes]

        loop = 0.0
        for aid, paths in subs.items():
            for path in paths:
                loop += otter_run(assignments.get(aid), path, tmp / "loop" / path.stem)

        a = assignments.get(next(iter(subs)))
        probe = subs[a.id][0]
        bare = [otter_run(a, probe, tmp / "bare" / str(i)) for i in range(args.repeat)]
        mine = [batch.grade_one(a, probe, probe.name, tmp / "single" / str(i), 600, 2).seconds
                for i in range(args.repeat)]
        open_options = batch.Options(sandbox=False)
        unsandboxed = [batch.grade_one(a, probe, probe.name, tmp / "open" / str(i), 600, 2,
                                       options=open_options).seconds for i in range(args.repeat)]

    print(f"submissions: {n} ({', '.join(f'{k}: {len(v)}' for k, v in subs.items())})")
    print(f"project grader, --workers {args.workers}: {ours:7.1f} s")
    print(f"sequential `otter run` loop:       {loop:7.1f} s")
    print(f"ratio (grader / loop):             {ours / loop:7.2f}   (target <= 0.60)")
    for aid, seconds in per_assignment.items():
        print(f"  wall time {aid}: {seconds:.1f} s for {len(subs[aid])} submissions")
    values = [r for _, r in rss]
    print(f"peak RSS per submission: median {statistics.median(values):.0f} MB, max {max(values):.0f} MB")
    for label, r in sorted(rss, key=lambda x: -x[1])[:3]:
        print(f"  {label}: {r:.0f} MB")
    b, m = statistics.median(bare), statistics.median(mine)
    u = statistics.median(unsandboxed)
    print(f"one submission ({probe.name}): bare otter run {b:.2f} s, project grader {m:.2f} s, "
          f"overhead {100 * (m / b - 1):+.1f}%   (target <= 10%)")
    print(f"  the same without bubblewrap (--no-sandbox): {u:.2f} s; the sandbox costs {m - u:+.2f} s")


if __name__ == "__main__":
    main()
