"""``grade --diff PREVIOUS``: what changed in ``final_grades.csv`` since an earlier run (a regrade audit).

PREVIOUS is an earlier output folder (its ``final_grades.csv`` is read before this run writes
anything, so it may be the same folder as ``--out``) or a ``final_grades.csv`` itself, from this
grader or from ``otter grade``. Every change is one line: the submission, what changed (a
question, ``total_points_earned`` or ``grading_status``; ``points`` for the points row) and the old
and new values; a submission only in one of the two files is listed as added or gone. The lines are
printed and written to ``OUT/changes.csv`` (``file,what,old,new``).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

POINTS_ROW = "points-per-question"
CHANGES = "changes.csv"
FILE = "final_grades.csv"


class DiffError(ValueError):
    """The earlier grades cannot be read; the message names the path and the reason."""


@dataclass(frozen=True)
class Change:
    file: str
    what: str  # a question, total_points_earned, grading_status, "submission" or "points"
    old: str
    new: str

    def line(self) -> str:
        return f"{self.file}: {self.what} {self.old or '(blank)'} → {self.new or '(blank)'}"


def read(path: Path) -> dict[str, dict[str, str]]:
    """The rows of a ``final_grades.csv`` (or of the one in folder ``path``), by file."""
    csv_path = path / FILE if path.is_dir() else path
    try:
        with open(csv_path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except OSError as exc:
        raise DiffError(f"--diff {path}: cannot read {csv_path} ({exc.strerror or exc})") from None
    if not rows or "file" not in rows[0]:
        raise DiffError(f"--diff {path}: {csv_path} is not a final_grades.csv (no file column)")
    return {r["file"]: r for r in rows}


def _same(a: str, b: str) -> bool:
    if a == b:
        return True
    try:
        x, y = float(a), float(b)
    except ValueError:
        return False
    return x == y or (math.isnan(x) and math.isnan(y))


def _shown(v: str | None) -> str:
    if v is None:
        return ""
    try:
        return f"{float(v):g}"
    except ValueError:
        return v


def changes(old: dict[str, dict[str, str]], new: dict[str, dict[str, str]]) -> list[Change]:
    """Every difference between two sets of grade rows, submissions in name order, the points row first."""
    found = []
    for file in sorted(set(old) | set(new), key=lambda f: (f != POINTS_ROW, f)):
        name = "points" if file == POINTS_ROW else None
        if file not in old:
            r = new[file]
            found.append(Change(file, "submission", "", f"added: {_shown(r.get('total_points_earned'))} points, "
                                                        f"{r.get('grading_status', '')}"))
            continue
        if file not in new:
            found.append(Change(file, "submission", f"{_shown(old[file].get('total_points_earned'))} points", "gone"))
            continue
        a, b = old[file], new[file]
        for col in [c for c in b if c != "file"] + [c for c in a if c not in b and c != "file"]:
            if col == "percent_correct" or (file == POINTS_ROW and col == "grading_status"):
                continue
            va, vb = a.get(col), b.get(col)
            if va is None or vb is None or not _same(va, vb):
                what = f"{name} of {col}" if name else col
                found.append(Change(file, what, _shown(va) if va is not None else "(no column)",
                                    _shown(vb) if vb is not None else "(no column)"))
    return found


def write(found: list[Change], out_dir: Path) -> Path:
    path = out_dir / CHANGES
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["file", "what", "old", "new"])
        w.writerows([c.file, c.what, c.old, c.new] for c in found)
    return path


def report(old: dict[str, dict[str, str]], out_dir: Path, previous: Path) -> list[str]:
    """Compare ``old`` with ``out_dir``'s new CSV, write ``changes.csv``, return the lines to print."""
    found = changes(old, read(out_dir))
    path = write(found, out_dir)
    subs = {c.file for c in found if c.file != POINTS_ROW}
    head = (f"changes since {previous}: {len(found)} in {len(subs)} submission(s) -> {path}" if found
            else f"changes since {previous}: none (every score and status is the same)")
    return [head] + ["  " + c.line() for c in found]
