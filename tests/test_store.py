"""The class folder: the CSV and the report cover every result in OUT/.results, and nothing is dropped silently.

These tests grade files the grader rejects before running anything (empty, not JSON), so they go
through the real worker pool, store and writers in well under a second each. The same story with
executed notebooks is ``test_grade.py::test_a_late_submission_joins_the_class_folder``.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import dill
import pytest

from autograder.assignments import Assignment
from autograder.grading import batch
from autograder.grading.store import ResultStore, StoredResult

POINTS = {"q1": 2, "q2": 3}


def _course(root: Path, digest: str = "first", aid: str = "01-softmax-cross-entropy") -> Assignment:
    """An assignment whose build-info.json we control (rejected files never reach its zip)."""
    a = Assignment(aid, root)
    a.dist_dir.mkdir(parents=True, exist_ok=True)
    (a.dist_dir / "build-info.json").write_text(json.dumps({"digest": digest, "points": POINTS}))
    return a


def _file(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    return folder / name


def _rows(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "final_grades.csv", newline="") as f:
        return {r["file"]: r for r in csv.DictReader(f)}


def _stored(out: Path) -> list[Path]:
    return sorted((out / ".results").glob("*.pkl"))


def test_a_late_submission_adds_its_row_to_the_class_csv(tmp_path):
    a = _course(tmp_path / "course")
    subs = [_file(tmp_path / "subs", "ann.ipynb", ""), _file(tmp_path / "subs", "bob.ipynb", "{"),
            _file(tmp_path / "subs", "cat.ipynb", "")]
    batch.grade(a, subs, tmp_path / "at-once", workers=2, quiet=True)
    batch.grade(a, subs[:2], tmp_path / "class", workers=2, quiet=True)
    late = batch.grade(a, subs[2:], tmp_path / "class", workers=2, quiet=True)
    assert [o.label for o in late] == ["cat.ipynb"], "grade returns what this run was given"
    assert (tmp_path / "class" / "final_grades.csv").read_bytes() == (tmp_path / "at-once" / "final_grades.csv").read_bytes()
    assert list(_rows(tmp_path / "class")) == ["points-per-question", "ann.ipynb", "bob.ipynb", "cat.ipynb"]
    page = (tmp_path / "class" / "report.html").read_text()
    assert page.count("<tr class='submission'") == 3 and "3 submissions" in page
    assert all(f"<td>{name}</td>" in page for name in ("ann.ipynb", "bob.ipynb", "cat.ipynb"))


def test_a_resubmission_under_the_same_name_replaces_the_row_and_is_named(tmp_path, capsys):
    a = _course(tmp_path / "course")
    out = tmp_path / "class"
    first = _file(tmp_path / "first", "ann.ipynb", "")
    batch.grade(a, [first, _file(tmp_path / "first", "bob.ipynb", "")], out, workers=1, quiet=True)
    batch.grade(a, [_file(tmp_path / "second", "ann.ipynb", "not json")], out, workers=1)
    printed = capsys.readouterr().out
    rows = _rows(out)
    assert list(rows) == ["points-per-question", "ann.ipynb", "bob.ipynb"]
    assert "not valid JSON" in rows["ann.ipynb"]["grading_status"], "the newest result wins"
    assert "cover 2 submission(s), 1 of them graded" in printed
    assert "ann.ipynb: the result graded" in printed and "from changed file contents" in printed
    assert len(_stored(out)) == 3, "the older result stays on disk"
    listing = ResultStore(out / ".results", a, batch.Options()).listing()
    assert [r.label for r in listing.superseded] == ["ann.ipynb"]
    assert listing.superseded[0].outcome.status.endswith("is empty")
    # Grading the first folder again reuses its stored results; the newer resubmission still wins.
    again = batch.grade(a, [first], out, workers=1)
    assert again[0].status.endswith("is empty")
    assert "not valid JSON" in _rows(out)["ann.ipynb"]["grading_status"]
    assert "ann.ipynb: the result graded" in capsys.readouterr().out


def test_results_of_an_earlier_build_are_left_out_with_a_warning(tmp_path, capsys):
    root, out = tmp_path / "course", tmp_path / "class"
    a = _course(root, digest="first")
    ann = _file(tmp_path / "subs", "ann.ipynb", "")
    batch.grade(a, [ann], out, workers=1, quiet=True)
    a = _course(root, digest="second")  # the assignment was rebuilt: other tests, maybe other points
    batch.grade(a, [_file(tmp_path / "subs", "bob.ipynb", "")], out, workers=1)
    warning = capsys.readouterr().err
    assert list(_rows(out)) == ["points-per-question", "bob.ipynb"]
    assert "WARNING" in warning and "another build" in warning and "Grade these files again to put them back: ann.ipynb" in warning
    assert len(_stored(out)) == 2
    batch.grade(a, [ann], out, workers=1)
    assert list(_rows(out)) == ["points-per-question", "ann.ipynb", "bob.ipynb"]
    assert "Each of these labels has a result of the current build" in capsys.readouterr().err


def test_another_assignment_and_unreadable_files_are_named(tmp_path, capsys):
    out = tmp_path / "class"
    other = _course(tmp_path / "course", aid="02-gradient-descent-autograd")
    batch.grade(other, [_file(tmp_path / "subs", "zed.ipynb", "")], out, workers=1, quiet=True)
    (out / ".results" / "0123456789abcdef0123456789abcdef.pkl").write_bytes(b"half a pickle")
    a = _course(tmp_path / "course")
    batch.grade(a, [_file(tmp_path / "subs", "ann.ipynb", "")], out, workers=1)
    warning = capsys.readouterr().err
    assert list(_rows(out)) == ["points-per-question", "ann.ipynb"]
    assert "belong to another assignment (02-gradient-descent-autograd)" in warning and "zed.ipynb" in warning
    assert "cannot be read" in warning and "0123456789abcdef0123456789abcdef.pkl" in warning
    listing = ResultStore(out / ".results", a, batch.Options()).listing()
    kinds = len(listing.current) + len(listing.superseded) + len(listing.stale) + len(listing.unreadable)
    assert kinds == len(_stored(out)) == 3, "every stored file is accounted for"


def test_a_store_written_before_results_carried_their_build_still_resumes(tmp_path, capsys):
    a = _course(tmp_path / "course")
    out = tmp_path / "class"
    ann, bob = _file(tmp_path / "subs", "ann.ipynb", ""), _file(tmp_path / "subs", "bob.ipynb", "{")
    batch.grade(a, [ann, bob], out, workers=1, quiet=True)
    for file in _stored(out):
        with open(file, "rb") as f:
            entry = dill.load(f)
        assert isinstance(entry, StoredResult) and entry.assignment == a.id and entry.build
        with open(file, "wb") as f:
            dill.dump(entry.outcome, f)  # what the store held before: the bare Outcome
    batch.grade(a, [ann], out, workers=1)
    printed = capsys.readouterr()
    assert "1 result(s) kept from an earlier run, 0 to grade" in printed.out
    assert "older grader" in printed.err and "Grade these files again into this folder" in printed.err
    assert printed.err.rstrip().endswith(": bob.ipynb."), "the one not vouched for by this run is named"
    assert list(_rows(out)) == ["points-per-question", "ann.ipynb"]
    batch.grade(a, [bob], out, workers=1)
    assert "1 result(s) kept from an earlier run, 0 to grade" in capsys.readouterr().out
    assert list(_rows(out)) == ["points-per-question", "ann.ipynb", "bob.ipynb"]
    for file in _stored(out):
        with open(file, "rb") as f:
            assert isinstance(dill.load(f), StoredResult), "old entries are upgraded in place"


@pytest.mark.parametrize("resume", [True, False])
def test_regrading_the_same_files_changes_no_byte(tmp_path, resume):
    a = _course(tmp_path / "course")
    subs = [_file(tmp_path / "subs", n, "") for n in ("ann.ipynb", "bob.ipynb")]
    out = tmp_path / "class"
    batch.grade(a, subs, out, workers=2, quiet=True)
    before = (out / "final_grades.csv").read_bytes()
    batch.grade(a, subs, out, workers=2, quiet=True, resume=resume)
    assert (out / "final_grades.csv").read_bytes() == before
    assert len(_stored(out)) == 2, "the same file, label, build and options keep one entry"


def test_a_folder_of_submissions_names_what_it_does_not_grade(tmp_path):
    from autograder.grading import submissions

    folder = tmp_path / "subs"
    (folder / "nested").mkdir(parents=True)
    (folder / ".ipynb_checkpoints").mkdir()
    for name in ("ann.ipynb", "bob.zip", "cat.py", "notes.pdf"):
        (folder / name).write_text("")
    assert [p.name for p in submissions.expand([folder])] == ["ann.ipynb", "bob.zip"]
    assert submissions.not_expanded([folder]) == [
        f"{folder}: 4 entries not graded (only .ipynb and .zip files directly in the folder are): "
        "cat.py, nested/, notes.pdf, 1 hidden"]
    assert submissions.not_expanded([folder / "ann.ipynb"]) == []
