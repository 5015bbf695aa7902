"""``python -m autograder manual import SCORES.csv --out OUT``: hand-graded scores into the class folder.

SCORES.csv is a UTF-8 CSV with a header. One column names the submission: ``file`` (its label in
``final_grades.csv``; ``ann`` also matches ``ann.ipynb``) or ``student_id`` (through the class's
roster); the other columns are hand-graded questions (``q8``) holding points. ``name``,
``email`` and ``section`` columns are allowed and ignored, so ``manual/template.csv`` can be
filled in and imported as it is. A blank cell changes nothing.

The import is all or nothing: every problem is reported (the file, the row, the reason: an unknown
submission or student, a question that is not graded by hand, a score that is not a number,
below 0 or above the question's points, a row given twice, a submission that was not graded) and
nothing is kept unless the whole file is right. Importing the same file again changes nothing.
Scores are kept in ``OUT/manual_scores.json`` and merged into every later ``final_grades.csv``.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path

from . import roster as rosters
from .gradebook import Gradebook, HandScore, now, read_scores, write_scores
from .manual import answer_of

IGNORED = ("name", "email", "section", "login")


class ImportProblem(ValueError):
    """The scores file cannot be imported; the message has one line per problem."""


@dataclass
class ImportResult:
    """What an import changed: (label, question, old score or None, new score) per cell, and the unchanged count."""

    changed: list[tuple[str, str, float | None, float]] = field(default_factory=list)
    unchanged: int = 0


def _lookup(book: Gradebook, key_column: str, key: str) -> tuple[object | None, str]:
    """The outcome a row names, or None and the reason."""
    labels = {o.label: o for o in book.outcomes}
    if key_column == "file":
        if key in labels:
            return labels[key], ""
        stems = [o for o in book.outcomes if rosters.stem(o.label) == rosters.stem(key)]
        if len(stems) == 1:
            return stems[0], ""
        return None, f"no submission {key!r} in the class folder"
    if book.roster is None:
        return None, "the file names students by student_id, but the class folder has no roster (grade --roster)"
    student = book.roster.by_id(key)
    if student is None:
        return None, f"student id {key!r} is not on the roster"
    matched = [label for label, s in book.students().items() if s is student]
    if not matched:
        return None, f"student id {key!r} ({student.describe()}) has no submission"
    return labels[matched[0]], ""


def parse(text: str, source: str, book: Gradebook) -> dict[str, dict[str, tuple[float, str]]]:
    """Check a scores file against the class; return label -> question -> (score, "file row N").

    Raises:
        ImportProblem: every problem found, one per line, each naming ``source`` and the row.
    """
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    if not rows or not any(c.strip() for c in rows[0]):
        raise ImportProblem(f"{source} is empty; it needs a header such as file,{next(iter(book.hand), 'q1')}")
    header = [h.strip() for h in rows[0]]
    lower = [h.lower() for h in header]
    key_column = "file" if "file" in lower else "student_id" if "student_id" in lower else None
    problems = []
    if not book.hand:
        raise ImportProblem(f"{source}: this assignment has no question graded by hand, so there is nothing to import")
    if key_column is None:
        problems.append(f"{source}: no file or student_id column to name the submission (the header is "
                        f"{', '.join(header)})")
    columns = {}
    for i, (h, low) in enumerate(zip(header, lower)):
        if low in ("file", "student_id") or low in IGNORED:
            continue
        if h in book.hand:
            columns[i] = h
        elif h in book.points:
            problems.append(f"{source}: column {h} is an autograded question; its score comes from the tests "
                            f"(questions graded by hand: {', '.join(book.hand)})")
        else:
            problems.append(f"{source}: column {h!r} is not a question graded by hand "
                            f"(those are: {', '.join(book.hand)})")
    if not columns and not problems:
        problems.append(f"{source}: no question column; add one of {', '.join(book.hand)}")
    if problems:
        raise ImportProblem("\n".join(problems))
    key_at = lower.index(key_column)
    found: dict[str, dict[str, tuple[float, str]]] = {}
    seen: dict[str, int] = {}
    for n, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        where = f"{source} row {n}"
        if len(row) < len(header):
            row = row + [""] * (len(header) - len(row))
        key = row[key_at].strip()
        if key == "points-per-question":
            continue  # the points row of a final_grades.csv
        if not key:
            problems.append(f"{where}: the {key_column} cell is empty")
            continue
        o, why = _lookup(book, key_column, key)
        if o is None:
            problems.append(f"{where}: {why}")
            continue
        if o.label in seen:
            problems.append(f"{where}: {o.label} is already on row {seen[o.label]}")
            continue
        seen[o.label] = n
        for i, q in columns.items():
            cell = row[i].strip()
            if not cell:
                continue
            limit = book.hand[q].points
            try:
                value = float(cell)
            except ValueError:
                problems.append(f"{where} ({o.label}), {q}: {cell!r} is not a number")
                continue
            if not math.isfinite(value) or value < 0:
                problems.append(f"{where} ({o.label}), {q}: {cell} is not a score from 0 to {limit:g}")
            elif value > limit:
                problems.append(f"{where} ({o.label}), {q}: {cell} is above the question's {limit:g} points")
            elif not book.graded(o):
                problems.append(f"{where} ({o.label}), {q}: the submission was not graded ({o.status}), "
                                "so it has no answer to score")
            else:
                found.setdefault(o.label, {})[q] = (value, where)
    if problems:
        raise ImportProblem("\n".join(problems))
    return found


def apply(path: Path, book: Gradebook, out_dir: Path) -> ImportResult:
    """Check ``path`` against the class and keep its scores in ``out_dir``; nothing is kept on a problem."""
    found = parse(rosters.csv_text(path, ImportProblem), path.name, book)
    scores = read_scores(out_dir)
    by_label = {o.label: o for o in book.outcomes}
    result = ImportResult()
    for label, qs in sorted(found.items()):
        for q, (value, where) in sorted(qs.items()):
            answer = answer_of(by_label[label], q)
            digest = answer.digest() if answer else ""
            old = scores.get(label, {}).get(q)
            if old is not None and old.score == value and old.answer == digest:
                result.unchanged += 1
                continue
            scores.setdefault(label, {})[q] = HandScore(value, digest, where, now())
            result.changed.append((label, q, None if old is None else old.score, value))
    if result.changed:
        write_scores(out_dir, scores)
    return result
