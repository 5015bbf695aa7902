"""Command line: ``python -m autograder build|grade|data``.

    python -m autograder build [--check] [ID ...]
    python -m autograder grade [--assignment ID] [--out DIR] [--workers N] [--timeout S] [--cell-timeout S]
                               [--memory-gb G] [--disk-gb G] [--max-files N] [--no-sandbox] [--no-resume]
                               [--docker [--gpus]]
                               [--roster ROSTER.csv] [--diff PREVIOUS_OUT] [--shard I/N|auto/N] [SUBMISSION ...]
    python -m autograder merge SHARD_OUT ... --out FINAL [--expect SUBMISSION ...] [--allow-missing]
    python -m autograder manual import SCORES.csv --out DIR [--assignment ID]
    python -m autograder strength [--functions-only] [--jobs N] [ID ...]
    python -m autograder data
"""

from __future__ import annotations

import argparse
import queue
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from . import REPO_ROOT, assignments
from .grading import batch, container, merge, sandbox, shards, stopping


def _selected(ids: list[str]) -> list[assignments.Assignment]:
    return [assignments.get(i) for i in ids] if ids else assignments.all_assignments()


def cmd_build(args) -> int:
    from .build import BuildError, build_in_parallel, stale_files, why_not_current

    status = 0
    for a in _selected(args.ids) if args.check else []:
        start = time.monotonic()
        try:
            if args.check:
                stale, dist = stale_files(a), why_not_current(a)
                if stale:
                    print(f"{a.id}: STALE, assignments/{a.id}/ differs from the master in: {', '.join(stale)}."
                          " Run `python -m autograder build` and commit the result.")
                if dist:
                    print(f"{a.id}: STALE, {dist}: `grade` would build it first. "
                          f"Run `python -m autograder build {a.id}` (the zip is git-ignored, nothing to commit).")
                if stale or dist:
                    status = 1
                else:
                    print(f"{a.id}: up to date ({time.monotonic() - start:.1f} s)")
                continue
        except BuildError as exc:
            print(f"BUILD FAILED: {exc}", file=sys.stderr)
            status = 1
    if not args.check:
        start = time.monotonic()
        chosen = _selected(args.ids)
        failed = build_in_parallel(chosen, args.jobs, say=lambda text: print(text, flush=True))
        print(f"built {len(chosen) - len(failed)} of {len(chosen)} assignment(s) in {time.monotonic() - start:.1f} s")
        status = 1 if failed else status
    return status


def _built_in_turn(chosen: list[assignments.Assignment], failed: list[str]) -> Iterator[assignments.Assignment]:
    """``chosen`` in the order they can be graded: the current ones at once, then the stale ones as
    each build ends. Those are built in parallel in the background (saying so and why), so grading
    one overlaps the builds still running. Ids whose build failed go to ``failed``, not to grading."""
    from .build import build_in_parallel, why_not_current

    reasons = {a.id: why for a in chosen if (why := why_not_current(a))}
    for aid, why in reasons.items():
        print(f"{aid}: building first, because {why} ...", flush=True)
    yield from (a for a in chosen if a.id not in reasons)
    # those that train on a data set build longest: started first, their grading does not wait at the end
    stale = sorted((a for a in chosen if a.id in reasons), key=lambda a: not a.datasets)
    if not stale:
        return
    ended: queue.SimpleQueue = queue.SimpleQueue()

    def build_all() -> None:
        reported = set()

        def done(a, ok):
            reported.add(a.id)
            ended.put((a, ok))
        try:
            build_in_parallel(stale, say=lambda text: print(text, flush=True), done=done)
        finally:  # a crash of the build loop itself fails what it did not report
            for a in stale:
                if a.id not in reported:
                    ended.put((a, False))

    threading.Thread(target=build_all, name="builds", daemon=True).start()
    for _ in stale:
        a, ok = ended.get()
        if ok:
            yield a
        else:
            failed.append(a.id)


def _ensure_built(chosen: list[assignments.Assignment]) -> None:
    """Build, in parallel, those of ``chosen`` whose dist folder is missing or stale, saying so and why."""
    failed: list[str] = []
    for _ in _built_in_turn(chosen, failed):
        pass
    if failed:
        raise SystemExit(f"the build of {', '.join(failed)} failed (see above); nothing was graded")


def _print_table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for k, row in enumerate(rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
        if k == 0:
            print("  ".join("-" * w for w in widths))


def cmd_grade(args) -> int:
    from .grading import roster
    from .grading.worker import Workers

    if args.submissions and not args.assignment:
        sys.exit("grade: --assignment ID is required when submissions are given")
    try:
        runner = container.runner_from_args(args)  # None: grade in local processes
        if args.roster:
            roster.read(Path(args.roster))  # a bad roster stops the run before anything is graded
    except (container.DockerUnavailable, roster.RosterError) as exc:
        print(f"grade: {exc}", file=sys.stderr)
        return 2
    try:
        shard = shards.parse(args.shard) if args.shard else None
    except shards.ShardError as exc:
        print(f"grade: {exc}", file=sys.stderr)
        return 2
    selected = _selected([args.assignment] if args.assignment else [])
    failed: list[str] = []
    with Workers(REPO_ROOT) as pool:  # each worker process starts once for every assignment graded
        status = _grade_each(args, _built_in_turn(selected, failed), len(selected) > 1, runner, shard, pool)
    if failed:
        print(f"grade: the build of {', '.join(failed)} failed (see above); "
              f"{'it was' if len(failed) == 1 else 'they were'} not graded", file=sys.stderr)
        return 1
    return status


def _grade_each(args, in_turn: Iterable[assignments.Assignment], several: bool, runner, shard, pool) -> int:
    """``grade``'s loop over the selected assignments (``several``: more than one), in the order given; its exit status."""
    from . import demos
    from .grading import diff, roster, submissions

    status = 0
    for a in in_turn:
        out = Path(args.out) if args.out else REPO_ROOT / "graded" / (a.id if args.submissions else f"demo-{a.id}")
        if several and args.out:
            out = out / a.id
        previous, before = None, None
        if args.diff:
            previous = Path(args.diff) / a.id if several and Path(args.diff).is_dir() else Path(args.diff)
            try:
                before = diff.read(previous)  # read first: PREVIOUS may be --out itself
            except diff.DiffError as exc:
                print(f"grade: {exc}", file=sys.stderr)
                return 2
        if args.roster:
            roster.keep(Path(args.roster), out)
            print(f"{a.id}: roster {args.roster} kept as {out / roster.FILE} (later runs into {out} use it)")
        expected = {}
        if args.submissions:
            paths = submissions.expand([Path(p) for p in args.submissions])
            for line in submissions.not_expanded([Path(p) for p in args.submissions]):
                print(f"WARNING: {line}", file=sys.stderr, flush=True)
        else:
            points = a.points
            made = demos.make(a, (shard.folder(out) if shard else out) / "submissions", points)
            paths = [d.path for d in made]
            expected = {d.path.name: d.expected_total for d in made}
        start = time.monotonic()
        options = batch.Options(timeout=args.timeout, cell_timeout=args.cell_timeout, memory_gb=args.memory_gb,
                                disk_gb=args.disk_gb, max_files=args.max_files,
                                sandbox=not args.no_sandbox)
        kwargs = dict(workers=args.workers, runner=runner, options=options, resume=not args.no_resume, pool=pool)
        if shard:  # only this shard's part, into out/shard-I-of-N
            outcomes, out = shards.grade(a, paths, out, shard, **kwargs)
        else:
            outcomes = batch.grade(a, paths, out, **kwargs)
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
        possible = sum(a.points.values())
        print(batch.summary_line(outcomes, float(possible)))
        if before is not None:
            print("\n".join(diff.report(before, out, previous)))
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
    _ensure_built(chosen)
    for a in chosen:
        reports.append(strength.run(a, notebook_level=not args.functions_only, jobs=args.jobs,
                                    progress=lambda line: print(line, file=sys.stderr, flush=True)))
    print(strength.table(reports))
    print(strength.public_table(reports))
    return 0 if all(r.perfect for r in reports) else 1


def _assignment_of(out: Path, given: str | None) -> assignments.Assignment:
    """The assignment of a class folder: ``given``, or the one its stored results were graded for."""
    if given:
        return assignments.get(given)
    from .grading.store import ResultStore

    ids = set()
    for file in sorted((out / ".results").glob("*.pkl")):
        try:
            ids.add(ResultStore._read(file).assignment)
        except Exception:
            continue
    ids.discard("")
    if len(ids) != 1:
        raise assignments.UnknownAssignment(
            f"{out} holds results of {', '.join(sorted(ids)) or 'no assignment'}; name one with --assignment ID"
            if ids else f"{out} holds no graded results (grade into it first, or name --assignment ID)")
    return assignments.get(ids.pop())


def cmd_manual(args) -> int:
    from .grading import manual_import, outputs, store
    from .grading.gradebook import Gradebook

    out = Path(args.out)
    a = _assignment_of(out, args.assignment)
    listing = store.ResultStore(out / ".results", a, batch.Options()).listing()
    book = Gradebook.of(listing.outcomes, a.points, out)
    try:
        result = manual_import.apply(Path(args.scores), book, out)
    except manual_import.ImportProblem as exc:
        print(f"manual import: nothing was imported:\n{exc}", file=sys.stderr)
        return 1
    for label, q, old, new in result.changed:
        print(f"  {label}: {q} {'(blank)' if old is None else format(old, 'g')} → {new:g}")
    print(f"{a.id}: imported {args.scores}: {len(result.changed)} score(s) changed, {result.unchanged} unchanged")
    batch.write_class_outputs(a, out)
    print(f"{a.id}: rewrote {out / outputs.CSV}, report.html and manual/")
    return 0


class _HelpWithDefaults(argparse.ArgumentDefaultsHelpFormatter):
    """Shows an option's default unless its help already says it or there is none to show."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text or action.default in (None, False, argparse.SUPPRESS):
            return text
        return super()._get_help_string(action)


def _at_least_one(text: str) -> int:
    """An argparse type: a whole number of 1 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected 1 or more, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("build", help="build student notebooks and autograder zips from the masters")
    p.add_argument("ids", nargs="*", help="assignment ids (default: all)")
    p.add_argument("--check", action="store_true", help="exit 1 if assignments/ is stale against solutions/ "
                   "or autograder/dist is missing or stale (builds nothing)")
    p.add_argument("--jobs", type=int, default=None, help="assignments built at once (default: the core count)")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("grade", help="grade submissions (default: the demo submissions of every assignment)",
                       formatter_class=_HelpWithDefaults)
    p.add_argument("submissions", nargs="*", help=".ipynb or Otter .zip files, or folders of them "
                   "(default: the demo submissions)")
    p.add_argument("--assignment", "-a", help="assignment id (default: every assignment, demo submissions only)")
    p.add_argument("--out", help="output folder (default: graded/<id>, or graded/demo-<id> for the demos)")
    p.add_argument("--workers", type=int, default=None, help="parallel submissions (default: the core count)")
    p.add_argument("--timeout", type=float, default=600.0, help="wall-clock limit per submission in seconds")
    p.add_argument("--cell-timeout", type=float, default=batch.DEFAULT_CELL_TIMEOUT,
                   help="limit per notebook cell in seconds; a cell past it is interrupted and grading goes on")
    p.add_argument("--memory-gb", type=float, default=sandbox.DEFAULT_MEMORY_GB,
                   help="memory limit of each sandboxed kernel")
    p.add_argument("--disk-gb", type=float, default=sandbox.DEFAULT_DISK_GB,
                   help="limit of what one notebook may write into its work folder, in total")
    p.add_argument("--max-files", type=_at_least_one, default=sandbox.DEFAULT_MAX_FILES,
                   help="files and folders one notebook may make in its work folder")
    p.add_argument("--no-sandbox", action="store_true", help="run kernels without bubblewrap (status says so)")
    p.add_argument("--no-resume", action="store_true", help="regrade submissions already graded into --out")
    p.add_argument("--roster", metavar="ROSTER.csv", help="CSV mapping files to students (file,student_id and "
                   "optionally name,email,section,login); kept in --out for later runs, enables the LMS files "
                   "(default: the roster kept in --out, if any)")
    p.add_argument("--diff", metavar="PREVIOUS_OUT", help="list what changed since an earlier run: an output folder "
                   "or its final_grades.csv (may be --out itself); also written to OUT/changes.csv")
    p.add_argument("--shard", metavar="I/N", help="grade only shard I of N (chosen by each file's content) into "
                   "OUT/shard-I-of-N; auto/N takes I from SLURM_ARRAY_TASK_ID, JOB_COMPLETION_INDEX or "
                   "AWS_BATCH_JOB_ARRAY_INDEX")
    container.add_arguments(p)
    p.set_defaults(func=cmd_grade)

    p = sub.add_parser("merge", help="write the class's CSV, feedback and report from the folders of every shard")
    merge.add_arguments(p)
    p.set_defaults(func=merge.run)

    p = sub.add_parser("manual", help="questions graded by hand: import their scores into a class folder")
    msub = p.add_subparsers(dest="action", required=True)
    m = msub.add_parser("import", help="merge a CSV of hand-graded scores (file or student_id, then question "
                        "columns) into OUT's final_grades.csv; all or nothing, idempotent")
    m.add_argument("scores", metavar="SCORES.csv")
    m.add_argument("--out", required=True, help="the class folder that was graded into")
    m.add_argument("--assignment", "-a", help="assignment id (default: the one the folder was graded for)")
    m.set_defaults(func=cmd_manual)

    p = sub.add_parser("strength", help="mutation suite: every bug loses points, every variant gets full marks")
    p.add_argument("ids", nargs="*", help="assignment ids (default: every assignment with a mutants.py)")
    p.add_argument("--functions-only", action="store_true", help="skip the whole-notebook bugs")
    p.add_argument("--jobs", "-j", type=int, help="worker processes for the function-level cases "
                   "(default: the cores, at most 4; 1: all in this process)")
    p.set_defaults(func=cmd_strength)

    p = sub.add_parser("data", help="locate or prepare the real Fashion-MNIST")
    p.set_defaults(func=cmd_data)

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except assignments.UnknownAssignment as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except stopping.Stopped as exc:
        print(f"\n{exc}: every running submission was stopped; the results finished so far are kept, "
              "and running the same command again grades only the rest.", file=sys.stderr)
        return exc.exit_status


if __name__ == "__main__":
    sys.exit(main())
