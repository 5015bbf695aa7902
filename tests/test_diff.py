"""``grade --diff``: every changed score and status since an earlier run, and nothing else."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from autograder.assignments import Assignment
from autograder.grading import batch, diff


def _csv(path: Path, rows: list[list[str]]) -> Path:
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    return path


HEAD = ["file", "q1", "q2", "q8", "total_points_earned", "percent_correct", "grading_status"]


def test_changes_name_submission_question_old_and_new(tmp_path):
    old = _csv(tmp_path / "old.csv", [HEAD, ["points-per-question", "2", "3", "2", "7", "1", "--"],
                                       ["ann.ipynb", "2", "0", "", "2", "0.2857", "Completed"],
                                       ["bob.ipynb", "2", "3", "1", "6", "0.8571", "Completed"],
                                       ["gone.ipynb", "0", "0", "", "0", "0", "timed out after 600 s"]])
    new = _csv(tmp_path / "new.csv", [HEAD, ["points-per-question", "2", "4", "2", "8", "1", "--"],
                                       ["ann.ipynb", "2.0", "3", "2", "7", "0.875", "Completed"],
                                       ["bob.ipynb", "2", "3", "1", "6", "0.75", "Completed (unsandboxed)"],
                                       ["new.ipynb", "1", "1", "", "2", "0.25", "Completed"]])
    lines = [c.line() for c in diff.changes(diff.read(old), diff.read(new))]
    assert lines == [
        "points-per-question: points of q2 3 → 4",
        "points-per-question: points of total_points_earned 7 → 8",
        "ann.ipynb: q2 0 → 3",
        "ann.ipynb: q8 (blank) → 2",
        "ann.ipynb: total_points_earned 2 → 7",
        "bob.ipynb: grading_status Completed → Completed (unsandboxed)",
        "gone.ipynb: submission 0 points → gone",
        "new.ipynb: submission (blank) → added: 2 points, Completed",
    ], "2.0 equals 2, and percent_correct follows the total"
    assert diff.changes(diff.read(old), diff.read(old)) == []


def test_a_resubmission_graded_into_the_same_folder_is_audited(tmp_path):
    a = Assignment("01-softmax-cross-entropy", tmp_path / "course")
    a.dist_dir.mkdir(parents=True)
    (a.dist_dir / "build-info.json").write_text(json.dumps({"digest": "d", "points": {"q1": 2}}))
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "ann.ipynb").write_text("")
    out = tmp_path / "class"
    batch.grade(a, [subs / "ann.ipynb"], out, workers=1, quiet=True)
    before = diff.read(out)  # what `grade --diff OUT --out OUT` reads before grading
    (subs / "ann.ipynb").write_text("{")
    (subs / "bob.ipynb").write_text("")
    batch.grade(a, sorted(subs.iterdir()), out, workers=1, quiet=True)
    lines = diff.report(before, out, out)
    assert lines[0] == f"changes since {out}: 2 in 2 submission(s) -> {out / 'changes.csv'}"
    assert lines[1].startswith("  ann.ipynb: grading_status invalid submission: ann.ipynb is empty → "
                               "invalid submission: ann.ipynb is not valid JSON")
    assert lines[2].startswith("  bob.ipynb: submission (blank) → added: 0 points, invalid submission")
    with open(out / "changes.csv", newline="") as f:
        assert [r["file"] for r in csv.DictReader(f)] == ["ann.ipynb", "bob.ipynb"]


def test_an_unreadable_previous_run_is_named(tmp_path):
    with pytest.raises(diff.DiffError, match="cannot read .*final_grades.csv"):
        diff.read(tmp_path)
    with pytest.raises(diff.DiffError, match="is not a final_grades.csv"):
        diff.read(_csv(tmp_path / "x.csv", [["a", "b"], ["1", "2"]]))
