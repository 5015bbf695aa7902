"""Command line: ``python -m autograder build|grade|data``.

    python -m autograder build [--check] [ID ...]
    python -m autograder grade [--assignment ID] [--out DIR] [--workers N] [--timeout S] [--cell-timeout S]
                               [--memory-gb G] [--no-sandbox] [--no-resume] [--docker [--gpus]] [SUBMISSION ...]
    python -m autograder strength [--functions-only] [ID ...]
    python -m autograder data
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from . import REPO_ROOT, assignments
from .grading import batch, container, sandbox


def _selected(ids: list[str]) -> list[assignments.Assignment]:
    return [assignments.get(i) for i in ids] if ids else assignments.all_assignments()


def cmd_build(args) -> int:
    from .build import BuildError, build, stale_files

    status = 0
    for a in _selected(args.ids):
        start = time.monotonic()
        try:
            if args.check:
                stale = stale_files(a)
                if stale:
                    print(f"{a.id}: STALE, assignments/{a.id}/ differs from the master in: {', '.join(stale)}."
                          " Run `python -m autograder build` and commit the result.")
                    status = 1
                else:
                    print(f"{a.id}: up to date ({time.monotonic() - start:.1f} s)")
                continue
            r = build(a)
            print(f"{a.id}: built; solution scores {r.score:g}/{r.possible:g}, "
                  f"{r.expected_cases} recorded cases ({time.monotonic() - start:.1f} s)")
        except BuildError as exc:
            print(f"BUILD FAILED: {exc}", file=sys.stderr)
            status = 1
    return status


def _ensure_built(a: assignments.Assignment) -> None:
    from .build import build, is_current

    if not is_current(a):
        print(f"{a.id}: building (sources changed or never built) ...")
        build(a)


def _print_table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for k, row in enumerate(rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
        if k == 0:
            print("  ".join("-" * w for w in widths))


def cmd_grade(args) -> int:
    from . import demos
    from .grading import submissions

    if args.submissions and not args.assignment:
        sys.exit("grade: --assignment ID is required when submissions are given")
    try:
        runner = container.runner_from_args(args)  # None: grade in local processes
    except container.DockerUnavailable as exc:
        print(f"grade: {exc}", file=sys.stderr)
        return 2
    selected = _selected([args.assignment] if args.assignment else [])
    status = 0
    for a in selected:
        _ensure_built(a)
        out = Path(args.out) if args.out else REPO_ROOT / "graded" / (a.id if args.submissions else f"demo-{a.id}")
        if len(selected) > 1 and args.out:
            out = out / a.id
        expected = {}
        if args.submissions:
            paths = submissions.expand([Path(p) for p in args.submissions])
        else:
            points = json.loads((a.dist_dir / "build-info.json").read_text())["points"]
            made = demos.make(a, out / "submissions", points)
            paths = [d.path for d in made]
            expected = {d.path.name: d.expected_total for d in made}
        start = time.monotonic()
        options = batch.Options(timeout=args.timeout, cell_timeout=args.cell_timeout, memory_gb=args.memory_gb,
                                sandbox=not args.no_sandbox)
        outcomes, frame = batch.grade(a, paths, out, workers=args.workers, runner=runner, options=options,
                                      resume=not args.no_resume)
        wall = time.monotonic() - start
        rows = [("file", "score", "expected" if expected else "", "seconds", "grading_status")]
        for o in outcomes:
            score = f"{o.results.total:g}/{o.results.possible:g}" if not o.results.has_catastrophic_failure() else "-"
            want = f"{expected[o.label]:g}" if o.label in expected else ""
            if expected and (o.results.has_catastrophic_failure() or o.results.total != expected.get(o.label)):
                want += "  MISMATCH"
                status = 1
            rows.append((o.label, score, want, f"{o.seconds:.1f}", o.status))
        print(f"\n{a.id}: {len(outcomes)} submission(s) in {wall:.1f} s -> {out / 'final_grades.csv'}, "
              f"{out / 'report.html'}")
        _print_table(rows)
        print(batch.summary_line(outcomes, float(frame.iloc[0].total_points_earned)))
    return status


def cmd_data(args) -> int:
    from .data import FashionMNISTNotFound, fashion_mnist

    try:
        train, test = fashion_mnist(train=True), fashion_mnist(train=False)
    except FashionMNISTNotFound as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"Fashion-MNIST at {train.root}: {len(train)} train, {len(test)} test images")
    return 0


def cmd_strength(args) -> int:
    from . import strength

    reports = []
    chosen = _selected(args.ids) if args.ids else [
        a for a in assignments.all_assignments() if (a.source_dir / "mutants.py").exists()]
    for a in chosen:
        _ensure_built(a)
        reports.append(strength.run(a, notebook_level=not args.functions_only))
    print(strength.table(reports))
    print(strength.public_table(reports))
    return 0 if all(r.perfect for r in reports) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("build", help="build student notebooks and autograder zips from the masters")
    p.add_argument("ids", nargs="*", help="assignment ids (default: all)")
    p.add_argument("--check", action="store_true", help="exit 1 if assignments/ is stale against solutions/")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("grade", help="grade submissions (default: the demo submissions of every assignment)")
    p.add_argument("submissions", nargs="*", help=".ipynb or Otter .zip files, or folders of them")
    p.add_argument("--assignment", "-a", help="assignment id")
    p.add_argument("--out", help="output folder (default: graded/<id>)")
    p.add_argument("--workers", type=int, default=None, help="parallel submissions (default: core count)")
    p.add_argument("--timeout", type=float, default=600.0, help="wall-clock limit per submission in seconds")
    p.add_argument("--cell-timeout", type=float, default=batch.DEFAULT_CELL_TIMEOUT,
                   help="limit per notebook cell in seconds; a cell past it is interrupted and grading goes on")
    p.add_argument("--memory-gb", type=float, default=sandbox.DEFAULT_MEMORY_GB,
                   help="memory limit of each sandboxed kernel")
    p.add_argument("--no-sandbox", action="store_true", help="run kernels without bubblewrap (status says so)")
    p.add_argument("--no-resume", action="store_true", help="regrade submissions already graded into --out")
    container.add_arguments(p)
    p.set_defaults(func=cmd_grade)

    p = sub.add_parser("strength", help="mutation suite: every bug loses points, every variant gets full marks")
    p.add_argument("ids", nargs="*", help="assignment ids (default: every assignment with a mutants.py)")
    p.add_argument("--functions-only", action="store_true", help="skip the whole-notebook bugs")
    p.set_defaults(func=cmd_strength)

    p = sub.add_parser("data", help="locate or prepare the real Fashion-MNIST")
    p.set_defaults(func=cmd_data)

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except assignments.UnknownAssignment as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
