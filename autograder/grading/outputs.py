"""What a batch leaves in its output folder, written from a list of outcomes.

``final_grades.csv`` (through Otter's own ``merge_scores_to_df``, so exactly ``otter grade``'s
format), one ``feedback/<submission>.txt`` per outcome and ``report.html``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
from otter.grade.utils import merge_scores_to_df

from .. import report
from . import feedback
from .outcome import Outcome

CSV = "final_grades.csv"
FEEDBACK = "feedback"


def _with_points_row(df: pd.DataFrame, points: dict[str, float]) -> pd.DataFrame:
    """Otter drops the question columns when no submission completed; put them back."""
    if not points or all(q in df.columns for q in points):
        return df
    for q in points:
        df[q] = 0
    head = {"file": "points-per-question", **points, "total_points_earned": sum(points.values()),
            "percent_correct": 1, "grading_status": "--"}
    df = pd.concat([pd.DataFrame([head]), df], ignore_index=True)
    return df[["file", *sorted(points), "total_points_earned", "percent_correct", "grading_status"]]


def write_csv(outcomes: list[Outcome], path: Path, points: dict[str, float]) -> pd.DataFrame:
    """Write ``final_grades.csv`` with Otter's own merge and this grader's status column, atomically.

    Args:
        outcomes: one per row, in row order.
        path: the CSV file to replace.
        points: question -> points, for the points row when no submission completed.

    Returns:
        The frame as written.
    """
    scores = merge_scores_to_df([o.results for o in outcomes]) if outcomes else pd.DataFrame(columns=["file"])
    df = _with_points_row(scores, points)  # no outcomes (an empty shard): the points row alone
    status = {o.label: o.status for o in outcomes}
    df["grading_status"] = [status.get(f, s) for f, s in zip(df["file"], df["grading_status"])]
    tmp = path.with_suffix(".csv.tmp")
    df.to_csv(tmp, index=False)
    os.replace(tmp, path)
    return df


def write_feedback(outcome: Outcome, out_dir: Path) -> Path:
    """Write one submission's ``feedback/<file>.txt`` under ``out_dir``; return its path."""
    folder = out_dir / FEEDBACK
    folder.mkdir(parents=True, exist_ok=True)
    return feedback.write(outcome, folder)


def write(outcomes: list[Outcome], points: dict[str, float], out_dir: Path, title: str) -> pd.DataFrame:
    """Write the CSV, every feedback file and the report for ``outcomes`` into ``out_dir``.

    Args:
        outcomes: every result the outputs cover (rows are sorted by label).
        points: question -> points of the assignment's current build.
        out_dir: the output folder (created if needed).
        title: the report's title.

    Returns:
        The CSV's frame.
    """
    (out_dir / FEEDBACK).mkdir(parents=True, exist_ok=True)
    outcomes = sorted(outcomes, key=lambda o: o.label)
    for o in outcomes:
        write_feedback(o, out_dir)
    frame = write_csv(outcomes, out_dir / CSV, points)
    report.write(outcomes, points, out_dir, title=title)
    return frame
