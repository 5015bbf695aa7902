"""Rosters and LMS files: students by id, empty scores (never 0) for what was not graded, missing students.

Fast: the submissions here are files the grader rejects before running anything, graded through
the real pool, store and writers; ``test_grade.py`` has the same with executed notebooks.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from autograder.assignments import Assignment
from autograder.grading import batch, lms, roster

POINTS = {"q1": 2, "q2": 3}
ROSTER = ("file,student_id,name,email,section\n"
          "ann.ipynb,1001,Ann Lee,ann@uni.edu,A\n"
          "bob,1002,Bob Ray,bob@uni.edu,A\n"
          "cat.ipynb,1003,Cat Poe,cat@uni.edu,B\n")


def _course(root: Path) -> Assignment:
    a = Assignment("01-softmax-cross-entropy", root)
    a.dist_dir.mkdir(parents=True, exist_ok=True)
    (a.dist_dir / "build-info.json").write_text(json.dumps({"digest": "d", "points": POINTS}))
    return a


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("text, message", [
    ("", "is empty"),
    ("file,name\nann.ipynb,Ann\n", "no student_id column"),
    ("file,student_id,mail\nann.ipynb,1\n", "unknown column(s) 'mail'"),
    ("file,student_id\nann.ipynb,1\nbob.ipynb,1\n", "row 3: student id 1 is already on row 2"),
    ("file,student_id\nann.ipynb,1\nann,2\n", "row 3: the file ann is already on row 2"),
    ("file,student_id\nann.ipynb,\n", "row 2: the student_id is empty"),
    ("file,student_id\nann.ipynb,1,extra\n", "row 2: 3 cells where the header has 2"),
])
def test_a_bad_roster_is_refused_naming_the_file_the_row_and_the_reason(tmp_path, text, message):
    path = tmp_path / "roster.csv"
    path.write_text(text)
    with pytest.raises(roster.RosterError) as info:
        roster.read(path)
    assert message in str(info.value) and str(path) in str(info.value)


def test_an_excel_roster_with_a_byte_order_mark_reads():
    r = roster.parse("\ufeffFile,Student_ID\nann.ipynb,1001\n", "r.csv")
    assert [(s.file, s.student_id) for s in r.students] == [("ann.ipynb", "1001")]


def test_lms_files_leave_what_was_not_graded_empty_and_list_missing_students(tmp_path, capsys):
    a = _course(tmp_path / "course")
    subs = tmp_path / "subs"
    subs.mkdir()
    for name in ("ann.ipynb", "bob.ipynb", "zed.ipynb"):
        (subs / name).write_text("")  # rejected: empty
    (tmp_path / "roster.csv").write_text(ROSTER)
    out = tmp_path / "class"
    roster.keep(tmp_path / "roster.csv", out)
    batch.grade(a, sorted(subs.iterdir()), out, workers=2)
    printed = capsys.readouterr()
    canvas, gradescope = _rows(out / lms.CANVAS), _rows(out / lms.GRADESCOPE)
    assert list(canvas[0]) == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "01-softmax-cross-entropy"]
    assert [(r["Student"], r["SIS User ID"], r["01-softmax-cross-entropy"]) for r in canvas] == [
        ("Ann Lee", "1001", ""), ("Bob Ray", "1002", ""), ("Cat Poe", "1003", "")], "no zeros for an LMS to record"
    assert [(r["Name"], r["Email"], r["SID"], r["Total Score"], r["Max Points"], r["Status"]) for r in gradescope] == [
        ("Ann Lee", "ann@uni.edu", "1001", "", "5", "Ungraded"), ("Bob Ray", "bob@uni.edu", "1002", "", "5", "Ungraded"),
        ("Cat Poe", "cat@uni.edu", "1003", "", "5", "Missing")]
    assert "1 roster student(s) have no submission" in printed.out and "Cat Poe (id 1003)" in printed.out
    assert "1 submission(s) are not on the roster" in printed.out and "zed.ipynb" in printed.out
    page = (out / "report.html").read_text()
    assert "<span class='missing'>Cat Poe (id 1003)</span>" in page and "<span class='unrostered'>zed.ipynb</span>" in page
    assert "Student: Bob Ray (id 1002)" in (out / "feedback" / "bob.ipynb.txt").read_text(), "matched by file stem"
    grades = _rows(out / "final_grades.csv")
    assert [r["file"] for r in grades] == ["points-per-question", "ann.ipynb", "bob.ipynb", "zed.ipynb"], \
        "final_grades.csv keeps Otter's rows: files, not students"
    # a later run into the class folder keeps using the roster without --roster
    (subs / "cat.ipynb").write_text("{")
    batch.grade(a, [subs / "cat.ipynb"], out, workers=1, quiet=True)
    assert [r["Status"] for r in _rows(out / lms.GRADESCOPE)] == ["Ungraded", "Ungraded", "Ungraded"]


def test_without_a_roster_no_lms_file_is_written(tmp_path):
    a = _course(tmp_path / "course")
    (tmp_path / "ann.ipynb").write_text("")
    batch.grade(a, [tmp_path / "ann.ipynb"], tmp_path / "out", workers=1, quiet=True)
    assert not (tmp_path / "out" / lms.CANVAS).exists() and not (tmp_path / "out" / lms.GRADESCOPE).exists()
