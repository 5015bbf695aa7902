"""``merge``: the class's CSV, feedback and report from the folders of every shard.

    python -m autograder merge SHARD_OUT... --out FINAL [--expect SUBMISSION...] [--allow-missing]

Each ``SHARD_OUT`` is a shard folder (``shard-I-of-N/`` with its ``shard.json``) or a folder that
holds such folders. What the class is: the submissions named by ``--expect`` (labelled exactly as
``grade`` labels them), or else every submission the shards' manifests list; each manifest holds
the whole set it was given, so the share of a shard that never ran is known from the others.

For every submission of the class, merge takes the result some shard holds for exactly those
bytes under the manifests' build. It refuses (exit 2, nothing written) shards of different builds
or assignments, and two shards whose results for one submission differ (score or status). When a
submission has no result it names each one and the shard that owed it (never ran, did not finish,
was not given the file) and exits 1 without writing, unless ``--allow-missing``: then those rows
say ``not graded: …``. Otherwise ``FINAL`` gets what ``grade`` writes on one machine, through
``outputs.write``: the same CSV, byte for byte, the feedback, the report and the executed
notebooks. Merging again writes the same bytes.
"""

from __future__ import annotations

import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from otter.test_files import GradingResults

from . import feedback, outputs, roster, submissions
from .outcome import GraderCrash, Outcome
from .shards import MANIFEST, Manifest, ShardError, folder_name, shard_of
from .store import ResultStore, StoredResult, content_digest

EXECUTED = "executed"


class MergeError(Exception):
    """Shard folders that cannot be merged; nothing was written. The message says why."""


class NotGraded(GraderCrash):
    """No shard holds a result for this submission (the row ``--allow-missing`` writes)."""


@dataclass
class ShardRun:
    """One shard folder: its manifest and the current results of its store, by label."""

    folder: Path
    manifest: Manifest
    results: dict[str, StoredResult]
    warnings: list[str]

    @property
    def name(self) -> str:
        return f"shard {self.manifest.shard}/{self.manifest.count}"


@dataclass
class Merged:
    """What the outputs cover, what is missing and why, and what was left out."""

    assignment: str
    points: dict[str, float]
    chosen: dict[str, tuple[StoredResult, ShardRun]]  # label -> the result used and where it lies
    missing: dict[str, str] = field(default_factory=dict)  # label -> why no shard graded it
    notes: list[str] = field(default_factory=list)  # warnings: what was left out


def shard_folders(paths: list[Path]) -> list[Path]:
    """The shard folders among ``paths``: each path itself, or the ``shard-*-of-*`` folders inside it."""
    found: list[Path] = []
    for p in paths:
        if (p / MANIFEST).is_file():
            found.append(p)
            continue
        inner = sorted(q.parent for q in p.glob(f"shard-*-of-*/{MANIFEST}")) if p.is_dir() else []
        if not inner:
            raise MergeError(f"{p} is neither a shard folder (no {MANIFEST}) nor a folder of shard-I-of-N folders; "
                             "grade with --shard I/N (a folder graded without it: grade it again into the same "
                             "--out with --shard 0/1, which reuses every result)")
        found += inner
    unique: dict[Path, Path] = {}
    for f in found:
        unique.setdefault(f.resolve(), f)
    return list(unique.values())


def load(paths: list[Path]) -> list[ShardRun]:
    """Read every shard folder's manifest and store; ``MergeError`` when they do not belong together."""
    runs = []
    for folder in shard_folders(paths):
        try:
            manifest = Manifest.read(folder)
        except ShardError as exc:
            raise MergeError(str(exc)) from None
        listing = ResultStore.reader(folder / ".results", manifest.assignment, manifest.build).listing()
        runs.append(ShardRun(folder, manifest, {r.label: r for r in listing.current},
                             [f"{folder}: {line}" for line in listing.warnings()]))
    if not runs:
        raise MergeError("no shard folders were given")
    runs.sort(key=lambda r: (r.manifest.count, r.manifest.shard, str(r.folder)))
    kinds: dict[tuple[str, str], list[str]] = {}
    for r in runs:
        kinds.setdefault((r.manifest.assignment, r.manifest.build), []).append(str(r.folder))
    if len(kinds) > 1:
        groups = "; ".join(f"{aid} build {build[:12]}: {', '.join(folders)}" for (aid, build), folders in kinds.items())
        raise MergeError(f"the shard folders were graded for different assignments or builds, whose scores do not "
                         f"mix ({groups}); grade every shard under one build")
    return runs


def expected_set(runs: list[ShardRun], expect: list[Path] | None) -> dict[str, str]:
    """label -> sha256 of every submission of the class: from ``expect`` or from the manifests."""
    if expect:
        absent = [str(p) for p in expect if not p.exists()]
        if absent:
            raise MergeError(f"--expect names what does not exist: {', '.join(absent)}")
        paths = submissions.expand(expect)
        return {label: content_digest(p) for p, label in zip(paths, submissions.labels(paths))}
    seen: dict[str, tuple[str, Path]] = {}
    clashes = []
    for r in runs:
        for label, digest in r.manifest.submissions.items():
            first = seen.setdefault(label, (digest, r.folder))
            if first[0] != digest:
                clashes.append(f"{label} ({first[1]}: {first[0][:12]}, {r.folder}: {digest[:12]})")
    if clashes:
        raise MergeError(f"the shards were given different files under the same name: {'; '.join(clashes[:5])}"
                         f"{' …' if len(clashes) > 5 else ''}; grade every shard from the same submissions, or "
                         "name the class's files with --expect")
    return {label: digest for label, (digest, _) in sorted(seen.items())}


def _row(o: Outcome) -> tuple:
    """What the CSV shows of a result: its status and every question's score."""
    r = o.results
    scores = () if r.has_catastrophic_failure() else tuple((q, r.get_score(q)) for q in sorted(r.results))
    return o.status, scores


def _summary(o: Outcome) -> str:
    r = o.results
    return o.status if r.has_catastrophic_failure() else f"{r.total:g}/{r.possible:g}, {o.status}"


def _why_missing(label: str, digest: str, runs: list[ShardRun], other_bytes: list[ShardRun]) -> str:
    """A sentence per shard count: which shard owed this submission and what became of it."""
    reasons = []
    for count in sorted({r.manifest.count for r in runs}):
        index = shard_of(digest, count)
        owner = next((r for r in runs if (r.manifest.shard, r.manifest.count) == (index, count)), None)
        if owner is None:
            reasons.append(f"shard {index}/{count} never ran or its folder was not given (no {folder_name(index, count)})")
        elif owner.manifest.submissions.get(label) != digest:
            reasons.append(f"shard {index}/{count} ({owner.folder}) was not given this file")
        elif owner.manifest.finished is None:
            started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(owner.manifest.started))
            reasons.append(f"shard {index}/{count} ({owner.folder}) started {started} and did not finish: "
                           "run it again, it grades only what is missing")
        else:
            reasons.append(f"shard {index}/{count} ({owner.folder}) finished without a current result for it")
    if other_bytes:
        reasons.append("results for other contents under this name are in " + ", ".join(str(r.folder) for r in other_bytes))
    return "; ".join(reasons)


def combine(runs: list[ShardRun], expected: dict[str, str]) -> Merged:
    """Pick one result per expected submission; ``MergeError`` when two shards disagree about one."""
    m = runs[0].manifest
    merged = Merged(m.assignment, m.points, {})
    conflicts, other_contents = [], []
    for label, digest in expected.items():
        found = [(r.results[label], r) for r in runs if label in r.results and r.results[label].content == digest]
        if found and any(label in r.results and r.results[label].content != digest for r in runs):
            other_contents.append(label)
        rows = {_row(s.outcome) for s, _ in found}
        if len(rows) > 1:
            conflicts.append(f"{label}: " + " vs ".join(f"{r.folder} ({_summary(s.outcome)})" for s, r in found))
        elif found:  # equal rows: the newest, as in one class folder
            merged.chosen[label] = max(found, key=lambda sr: (sr[0].stored_at, str(sr[1].folder)))
        else:
            others = [r for r in runs if label in r.results]
            merged.missing[label] = _why_missing(label, digest, runs, others)
    if conflicts:
        raise MergeError(f"{len(conflicts)} submission(s) have different results under the same build in two shard "
                         f"folders: {'; '.join(conflicts)}. Remove the folder that is wrong, or grade the file again "
                         "with --no-resume into one of them")
    if other_contents:
        merged.notes.append(f"{len(other_contents)} submission(s) also have results for other file contents under "
                            f"the same name, left out (the class's files decide): {', '.join(other_contents)}")
    extra = sorted({label for r in runs for label in r.results} - set(expected))
    if extra:
        merged.notes.append(f"{len(extra)} stored result(s) are not in the class's submissions and are left out: "
                            + ", ".join(extra))
    options = {r.folder: {s.options for label, (s, run) in merged.chosen.items() if run is r} for r in runs}
    if len({o for opts in options.values() for o in opts}) > 1:
        merged.notes.append("the shards graded with different options: " + "; ".join(
            f"{folder}: {', '.join(sorted(opts))}" for folder, opts in options.items() if opts))
    merged.notes += [w for r in runs for w in r.warnings]
    return merged


def _not_graded(label: str, reason: str) -> Outcome:
    results = GradingResults.without_results(NotGraded(f"not graded: {reason}"))
    results.file = label
    return Outcome(label, Path(label), results, 0.0)


def kept_roster(paths: list[Path], runs: list[ShardRun]) -> Path | None:
    """The roster ``grade --roster`` kept beside the shards (in a folder given, or above a shard
    folder), when there is exactly one; ``MergeError`` when they differ."""
    places = {q / roster.FILE for q in [*paths, *(r.folder.parent for r in runs)]}
    found = {f.read_bytes(): f for f in sorted(places) if f.is_file()}
    if len(found) > 1:
        raise MergeError(f"the shards keep different rosters ({', '.join(str(f) for f in found.values())}); "
                         f"copy the right one to --out as {roster.FILE}")
    return next(iter(found.values()), None)


def write(merged: Merged, out: Path, allow_missing: bool = False) -> list[Outcome]:
    """Write ``final_grades.csv``, the feedback, ``report.html`` and the rest (``outputs.write``: with
    the roster and hand-graded scores kept in ``out``), and the executed notebooks, into ``out``."""
    outcomes = [s.outcome for s, _ in merged.chosen.values()]
    if allow_missing:
        outcomes += [_not_graded(label, reason) for label, reason in merged.missing.items()]
    outcomes.sort(key=lambda o: o.label)
    outputs.write(outcomes, merged.points, out, title=f"{merged.assignment}: {len(outcomes)} submissions")
    for label, (_, run) in merged.chosen.items():
        name = feedback.executed_name(label)
        source, target = run.folder / EXECUTED / name, out / EXECUTED / name
        if source.is_file() and (not target.is_file() or target.read_bytes() != source.read_bytes()):
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
    return outcomes


def add_arguments(p) -> None:
    p.add_argument("shard_outs", nargs="+", metavar="SHARD_OUT",
                   help="shard folders (shard-I-of-N), or folders that hold them")
    p.add_argument("--out", required=True, help="where final_grades.csv, feedback/ and report.html go")
    p.add_argument("--expect", nargs="+", metavar="SUBMISSION",
                   help="the class's submissions (files or folders, as given to grade); default: the shards' manifests")
    p.add_argument("--allow-missing", action="store_true",
                   help="write the outputs even when some submission has no result (its row says not graded)")


def run(args) -> int:
    """The ``merge`` command: 0 merged, 1 submissions missing (nothing written), 2 cannot merge."""
    out, given = Path(args.out), [Path(p) for p in args.shard_outs]
    try:
        runs = load(given)
        if any(out.resolve() == r.folder.resolve() for r in runs):
            raise MergeError(f"--out {out} is one of the shard folders; merge into a folder of its own")
        merged = combine(runs, expected_set(runs, [Path(p) for p in args.expect] if args.expect else None))
        beside = kept_roster(given, runs) if not (out / roster.FILE).exists() else None
    except MergeError as exc:
        print(f"merge: {exc}", file=sys.stderr)
        return 2
    for line in merged.notes:
        print(f"WARNING: {merged.assignment}: {line}", file=sys.stderr)
    if merged.missing:
        print(f"{merged.assignment}: {len(merged.missing)} submission(s) were graded by no shard:", file=sys.stderr)
        for label, reason in merged.missing.items():
            print(f"  {label}: {reason}", file=sys.stderr)
        if not args.allow_missing:
            print(f"merge: nothing written to {out}; run the shards named above, or pass --allow-missing "
                  "to write the outputs with those rows marked not graded", file=sys.stderr)
            return 1
    if beside is not None:
        try:
            roster.keep(beside, out)
        except roster.RosterError as exc:
            print(f"merge: {exc}", file=sys.stderr)
            return 2
        print(f"{merged.assignment}: roster {beside} kept as {out / roster.FILE}")
    outcomes = write(merged, out, args.allow_missing)
    warnings, remarks = outputs.notes(outcomes, merged.points, out)  # hand-graded scores, the roster
    for line in remarks:
        print(f"{merged.assignment}: {line}")
    for line in warnings:
        print(f"WARNING: {merged.assignment}: {line}", file=sys.stderr)
    counts = ", ".join(f"{r.name}: {sum(run is r for _, run in merged.chosen.values())}" for r in runs)
    print(f"{merged.assignment}: merged {len(runs)} shard folder(s) ({counts}) -> {out / outputs.CSV}: "
          f"{len(outcomes)} submission(s), {len(merged.missing)} not graded")
    return 0
