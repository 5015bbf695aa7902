"""What a batch leaves in its output folder, written from a list of outcomes.

- ``final_grades.csv``: through Otter's own ``merge_scores_to_df``, so exactly ``otter grade``'s
  format; questions graded by hand are added as columns (points in the points row, blank until
  a score is imported; see ``gradebook`` for how they count);
- ``feedback/<submission>.txt``: one per outcome;
- ``report.html``: the class at a glance;
- ``manual/<question>.html`` and ``manual/template.csv``: each hand-graded question's answers,
  and a CSV to fill in for ``manual import`` (only for assignments with such questions);
- ``canvas_grades.csv`` and ``gradescope_grades.csv``: for an LMS (only with a roster).

The hand-graded scores (``manual_scores.json``) and the roster (``roster.csv``) are read from the
output folder itself, so whoever writes the outputs of a class gets them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
from otter.grade.utils import merge_scores_to_df

from .. import report
from . import feedback, lms, manual_sheet
from .gradebook import Gradebook, percent
from .outcome import Outcome

CSV = "final_grades.csv"
FEEDBACK = "feedback"
POINTS_ROW = "points-per-question"
TAIL = ["total_points_earned", "percent_correct", "grading_status"]


def _with_points_row(df: pd.DataFrame, points: dict[str, float]) -> pd.DataFrame:
    """Otter drops the question columns when no submission completed; put them back."""
    if not points or all(q in df.columns for q in points):
        return df
    for q in points:
        df[q] = 0
    head = {"file": POINTS_ROW, **points, "total_points_earned": sum(points.values()),
            "percent_correct": 1, "grading_status": "--"}
    df = pd.concat([pd.DataFrame([head]), df], ignore_index=True)
    return df[["file", *sorted(points), *TAIL]]


def _number(x: float) -> float | int:
    return int(x) if float(x).is_integer() else x


def _with_hand_graded(df: pd.DataFrame, book: Gradebook) -> pd.DataFrame:
    """Add a column per hand-graded question, and count its imported scores in the totals.

    The points row holds each question's points and the total over all of them; a graded row
    holds the imported score or a blank, and ``percent_correct`` over every point possible; a
    row that was not graded keeps Otter's zeros and blanks its hand-graded cells.
    """
    if not book.hand:
        return df
    if POINTS_ROW not in set(df["file"]):  # no submission completed and no autograded points
        head = {"file": POINTS_ROW, "total_points_earned": 0, "percent_correct": 1, "grading_status": "--"}
        df = pd.concat([pd.DataFrame([head]), df], ignore_index=True)
    by_label = {o.label: o for o in book.outcomes}
    possible = book.possible()
    for q, question in book.hand.items():
        cells = [question.points if f == POINTS_ROW else
                 (None if f not in by_label else book.hand_score(by_label[f], q)) for f in df["file"]]
        df[q] = pd.Series([None if v is None else _number(v) for v in cells], index=df.index, dtype=object)
    totals, shares = [], []
    for f, total, share in zip(df["file"], df["total_points_earned"], df["percent_correct"]):
        o = by_label.get(f)
        if f == POINTS_ROW:
            totals.append(possible), shares.append(share)
        elif o is not None and book.graded(o):
            totals.append(book.total(o)), shares.append(percent(book.total(o), possible))
        else:
            totals.append(total), shares.append(share)
    df["total_points_earned"] = pd.Series([_number(t) for t in totals], index=df.index, dtype=object)  # 31, not 31.0
    df["percent_correct"] = shares
    return df[["file", *sorted(c for c in df.columns if c != "file" and c not in TAIL), *TAIL]]


def frame(book: Gradebook) -> pd.DataFrame:
    """``final_grades.csv`` as a frame: Otter's merge, this grader's status column, hand-graded columns."""
    outcomes = book.outcomes
    scores = merge_scores_to_df([o.results for o in outcomes]) if outcomes else pd.DataFrame(columns=["file"])
    df = _with_points_row(scores, book.points)  # no outcomes (an empty shard): the points row alone
    status = {o.label: o.status for o in outcomes}
    df["grading_status"] = [status.get(f, s) for f, s in zip(df["file"], df["grading_status"])]
    return _with_hand_graded(df, book)


def _replace(path: Path, write) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def write_csv(outcomes: list[Outcome] | Gradebook, path: Path, points: dict[str, float] | None = None) -> pd.DataFrame:
    """Write ``final_grades.csv`` atomically and return the frame as written.

    Args:
        outcomes: one per row (sorted by label), or the class's gradebook.
        path: the CSV file to replace.
        points: question -> points, for the points row when no submission completed.
    """
    book = outcomes if isinstance(outcomes, Gradebook) else Gradebook.of(outcomes, points or {})
    df = frame(book)
    _replace(path, lambda tmp: df.to_csv(tmp, index=False))
    return df


def feedback_text(o: Outcome, book: Gradebook | None = None) -> str:
    """One submission's feedback: the student (with a roster), the tests, the hand-graded questions."""
    text = feedback.render(o)
    if book is None:
        return text
    who = book.who(o)
    if who:
        text = f"Student: {who}\n" + text
    lines = []
    for q, question in book.hand.items():
        score = book.hand_score(o, q)
        state = f"{score:g} / {question.points:g}" if score is not None else (
            f"not graded yet ({question.points:g} pt)" if book.graded(o) else "not graded")
        lines.append(f"{q} (graded by hand): {state}")
    return text + ("\n".join(lines) + "\n" if lines else "")


def write_feedback(outcome: Outcome, out_dir: Path, book: Gradebook | None = None, text: str | None = None) -> Path:
    """Write one submission's ``feedback/<file>.txt`` under ``out_dir`` (``text``, or its feedback); return its path."""
    folder = out_dir / FEEDBACK
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / feedback.file_name(outcome.label)
    path.write_text(feedback_text(outcome, book) if text is None else text, encoding="utf-8")
    return path


def write(outcomes: list[Outcome], points: dict[str, float], out_dir: Path, title: str) -> pd.DataFrame:
    """Write the CSV, every feedback file, the report, the answers sheets and the LMS files into ``out_dir``.

    Args:
        outcomes: every result the outputs cover (rows are sorted by label).
        points: autograded question -> points of the assignment's current build.
        out_dir: the output folder (created if needed); its roster and hand-graded scores are used.
        title: the report's title.

    Returns:
        The CSV's frame. ``notes`` says, in sentences, what these outputs left out or still lack.
    """
    (out_dir / FEEDBACK).mkdir(parents=True, exist_ok=True)
    book = Gradebook.of(outcomes, points, out_dir)
    texts = {o.label: feedback_text(o, book) for o in book.outcomes}
    for o in book.outcomes:
        write_feedback(o, out_dir, text=texts[o.label])
    df = write_csv(book, out_dir / CSV)
    manual_sheet.write(book, out_dir)
    lms.write(book, out_dir, title)
    report.write(book, out_dir, title=title, feedback=texts)
    return df


def notes(outcomes: list[Outcome], points: dict[str, float], out_dir: Path) -> tuple[list[str], list[str]]:
    """What ``write`` with the same arguments leaves out (warnings) and still lacks (remarks: hand-graded
    questions without scores, roster students without a submission), in sentences."""
    book = Gradebook.of(outcomes, points, out_dir)
    return book.warnings, book.summary()
