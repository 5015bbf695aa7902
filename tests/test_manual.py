"""Questions graded by hand: found in the master, answers read from submissions, sheets, CSV columns, import.

The fast tests read the real masters and student notebooks and grade files the grader rejects
before running anything; ``graded_02`` grades real assignment-02 notebooks once (slow).
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import sys
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

from autograder import REPO_ROOT, assignments, notebooks
from autograder.assignments import Assignment
from autograder.grading import batch, manual, manual_sheet

A2 = assignments.get("02-gradient-descent-autograd")
A1 = assignments.get("01-softmax-cross-entropy")
HOSTILE_ANSWER = ("Too small: slow. Too large: **diverges**. <script>document.title='pwned'</script>\n\n"
                  "![tracker](https://example.com/pixel.png) [click](javascript:alert(1))")


def _with_answer(text: str, path: Path, source: Path = A2.student_notebook) -> Path:
    """The student notebook with its q8 answer cell replaced by ``text``, as a student would save it."""
    nb = notebooks.read(source)
    cell = next(c for c in nb.cells if "otter_answer_cell" in c.metadata.get("tags", []) and c.cell_type == "markdown")
    cell.source = text
    notebooks.write(nb, path)
    return path


def test_the_master_names_each_question_graded_by_hand():
    qs = manual.questions_from_master(A2.master)
    assert [(q.name, q.points, q.by_hand) for q in qs] == [("q8", 2, True)]
    assert qs[0].heading == "## Question 8 (graded by hand): too small, too large"
    assert "learning rate" in qs[0].prompt and "Example answer" not in qs[0].prompt, "the solution is not the prompt"
    assert manual.questions_from_master(A1.master) == []
    q9 = manual.questions_from_master(assignments.get("03-fashion-mnist").master)
    assert [(q.name, q.points) for q in q9] == [("q9", 2)]


def test_answers_are_read_from_the_notebook_the_student_submitted(tmp_path):
    qs = manual.questions_from_master(A2.master)
    blank, = manual.read_answers(A2.student_notebook, qs)
    assert not blank.answered and not blank.problem, "Otter's placeholder is no answer"
    mine, = manual.read_answers(_with_answer("A tiny rate crawls; a huge one overshoots.", tmp_path / "s.ipynb"), qs)
    assert mine.answered and [c.source for c in mine.cells] == ["A tiny rate crawls; a huge one overshoots."]
    # an Otter export zip holds the same notebook
    with zipfile.ZipFile(tmp_path / "s.zip", "w") as zf:
        zf.write(tmp_path / "s.ipynb", "gradient_descent_autograd.ipynb")
    zipped, = manual.read_answers(tmp_path / "s.zip", qs)
    assert zipped.cells == mine.cells and zipped.digest() == mine.digest() != blank.digest()


def test_an_edited_heading_falls_back_to_the_filtered_region_and_a_deleted_prompt_is_named(tmp_path):
    qs = manual.questions_from_master(A2.master)
    nb = notebooks.read(_with_answer("my answer", tmp_path / "s.ipynb"))
    prompt = next(c for c in nb.cells if c.cell_type == "markdown" and qs[0].heading in c.source)
    prompt.source = prompt.source.replace("too small, too large", "edited by a student")
    notebooks.write(nb, tmp_path / "edited.ipynb")
    answer, = manual.read_answers(tmp_path / "edited.ipynb", qs)
    assert [c.source for c in answer.cells] == ["my answer"]
    nb.cells.remove(prompt)
    notebooks.write(nb, tmp_path / "deleted.ipynb")
    gone, = manual.read_answers(tmp_path / "deleted.ipynb", qs)
    assert not gone.answered and "is not in the notebook" in gone.problem and "Question 8" in gone.problem
    broken, = manual.read_answers(tmp_path / "missing.ipynb", qs)
    assert "could not be read" in broken.problem


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.sources = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        attrs = dict(attrs)
        if tag in ("img", "script", "link", "iframe"):
            self.sources.append(attrs.get("src") or attrs.get("href") or "")


def test_an_answer_is_rendered_as_text_never_as_the_students_html(tmp_path):
    qs = manual.questions_from_master(A2.master)
    answer, = manual.read_answers(_with_answer(HOSTILE_ANSWER, tmp_path / "s.ipynb"), qs)
    page = manual_sheet.render_answer(answer)
    parsed = _Page()
    parsed.feed(page)
    assert "<strong>diverges</strong>" in page, "markdown is rendered"
    assert "script" not in parsed.tags and "&lt;script&gt;" in page, "a student's script is shown, not run"
    assert parsed.sources == [] and "image not shown: https://example.com/pixel.png" in page, "no remote image"
    assert "javascript:" not in page


@pytest.fixture
def course_02(tmp_path) -> Assignment:
    """Assignment 02's id with a build-info.json whose hand-graded question we know (rejected files never run)."""
    a = Assignment(A2.id, tmp_path / "course")
    a.dist_dir.mkdir(parents=True)
    (a.dist_dir / "build-info.json").write_text(json.dumps({
        "digest": "x", "points": {"q1": 2, "q2": 3},
        "manual": manual.to_json(manual.questions_from_master(A2.master))}))
    return a


def test_the_csv_has_a_column_per_question_graded_by_hand_even_when_nothing_was_graded(course_02, tmp_path):
    (tmp_path / "empty.ipynb").write_text("")
    batch.grade(course_02, [tmp_path / "empty.ipynb"], tmp_path / "out", workers=1, quiet=True)
    with open(tmp_path / "out" / "final_grades.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["file", "q1", "q2", "q8", "total_points_earned", "percent_correct", "grading_status"]
    assert rows[1] == ["points-per-question", "2", "3", "2", "7", "1", "--"]
    assert rows[2][:4] == ["empty.ipynb", "0", "0", ""], "not graded: autograded 0 as Otter writes it, q8 blank"
    sheet = (tmp_path / "out" / "manual" / "q8.html").read_text()
    assert "No answer to grade: not graded: invalid submission" in sheet and "too small, too large" in sheet


def test_importing_scores_for_what_was_not_graded_is_refused_naming_file_row_and_reason(course_02, tmp_path):
    (tmp_path / "empty.ipynb").write_text("")
    out = tmp_path / "out"
    batch.grade(course_02, [tmp_path / "empty.ipynb"], out, workers=1, quiet=True)
    before = (out / "final_grades.csv").read_bytes()
    scores = tmp_path / "scores.csv"
    scores.write_text("file,q8,q2,q9\nempty.ipynb,1,,\nnobody.ipynb,1,,\n")
    from autograder.grading import manual_import
    from autograder.grading.gradebook import Gradebook
    from autograder.grading.store import ResultStore

    book = Gradebook.of(ResultStore(out / ".results", course_02, batch.Options()).listing().outcomes,
                        {"q1": 2, "q2": 3}, out)
    with pytest.raises(manual_import.ImportProblem) as info:
        manual_import.apply(scores, book, out)
    lines = str(info.value).splitlines()
    assert any("column q2 is an autograded question" in line for line in lines)
    assert any("column 'q9' is not a question graded by hand (those are: q8)" in line for line in lines)
    scores.write_text("file,q8\nempty.ipynb,1\nnobody.ipynb,1\n")
    with pytest.raises(manual_import.ImportProblem) as info:
        manual_import.apply(scores, book, out)
    assert str(info.value).splitlines() == [
        "scores.csv row 2 (empty.ipynb), q8: the submission was not graded (invalid submission: empty.ipynb is "
        "empty), so it has no answer to score",
        "scores.csv row 3: no submission 'nobody.ipynb' in the class folder"]
    assert not (out / "manual_scores.json").exists() and (out / "final_grades.csv").read_bytes() == before


# --- assignment 02 graded for real (slow) ---------------------------------------------------------

def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=600)


def _grades(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "final_grades.csv", newline="") as f:
        return {r["file"]: r for r in csv.DictReader(f)}


@pytest.fixture(scope="module")
def graded_02(tmp_path_factory):
    """The solution, the blank notebook, a student's essay (blank code) and a broken file of 02, graded once."""
    from conftest import ensure_built

    ensure_built(A2)
    subs = tmp_path_factory.mktemp("subs-02")
    shutil.copy(A2.solution_notebook, subs / "solution.ipynb")
    shutil.copy(A2.student_notebook, subs / "blank.ipynb")
    _with_answer("A tiny rate *crawls*; a huge one overshoots and diverges.", subs / "essay.ipynb")
    (subs / "broken.ipynb").write_text("{")
    out = tmp_path_factory.mktemp("class-02")
    batch.grade(A2, sorted(subs.iterdir()), out, workers=2, quiet=True)
    return subs, out





@pytest.mark.slow
def test_a_question_graded_by_hand_is_a_csv_column_and_a_sheet(graded_02):
    _, out = graded_02
    with open(out / "final_grades.csv", newline="") as f:
        header = next(csv.reader(f))
    assert header == ["file", "q1", "q2", "q3", "q4", "q5", "q6", "q7", "q8",
                      "total_points_earned", "percent_correct", "grading_status"]
    rows = _grades(out)
    assert rows["points-per-question"]["q8"] == "2" and rows["points-per-question"]["total_points_earned"] == "31"
    assert [rows[f]["q8"] for f in ("blank.ipynb", "broken.ipynb", "essay.ipynb", "solution.ipynb")] == ["", "", "", ""]
    assert rows["solution.ipynb"]["total_points_earned"] == "29" and rows["solution.ipynb"]["percent_correct"] == "0.9355"
    assert rows["broken.ipynb"]["total_points_earned"] == "0" and rows["broken.ipynb"]["q1"] == "0"
    sheet = (out / "manual" / "q8.html").read_text()
    assert sheet.count("<h1>") == 1 and "too small, too large" in sheet and "the tolerance <code>tol</code>" in sheet
    sections = re.findall(r"<section class='answer' id='([^']+)'", sheet)
    assert sections == ["blank.ipynb", "broken.ipynb", "essay.ipynb", "solution.ipynb"]
    assert "A tiny rate <em>crawls</em>; a huge one overshoots" in sheet and "Example answer" in sheet
    assert "No answer: the answer cell was left empty" in sheet and "No answer to grade: not graded" in sheet
    assert "q8 (graded by hand): not graded yet (2 pt)" in (out / "feedback" / "essay.ipynb.txt").read_text()
    page = (out / "report.html").read_text()
    assert "<a href='manual/q8.html'>answers</a>" in page and "still lack a hand-graded score" in page


@pytest.mark.slow
def test_hand_graded_scores_import_idempotently_and_survive_later_runs(graded_02, tmp_path):
    subs, class_out = graded_02
    out = tmp_path / "class"
    shutil.copytree(class_out, out)
    scores = tmp_path / "scores.csv"
    scores.write_text("file,q8\nsolution.ipynb,2\nessay,1.5\n\n")
    first = _cli("manual", "import", str(scores), "--out", str(out))
    assert first.returncode == 0, first.stdout + first.stderr
    assert "essay.ipynb: q8 (blank) → 1.5" in first.stdout and "2 score(s) changed, 0 unchanged" in first.stdout
    rows = _grades(out)
    assert (rows["solution.ipynb"]["q8"], rows["solution.ipynb"]["total_points_earned"],
            rows["solution.ipynb"]["percent_correct"]) == ("2", "31", "1.0")
    assert rows["essay.ipynb"]["q8"] == "1.5" and rows["blank.ipynb"]["q8"] == ""
    assert float(rows["essay.ipynb"]["total_points_earned"]) == pytest.approx(
        float(_grades(class_out)["essay.ipynb"]["total_points_earned"]) + 1.5)
    assert "q8 (graded by hand): 1.5 / 2" in (out / "feedback" / "essay.ipynb.txt").read_text()
    assert "<span class='score'>1.5 / 2</span>essay.ipynb" in (out / "manual" / "q8.html").read_text()
    before = (out / "final_grades.csv").read_bytes()
    again = _cli("manual", "import", str(scores), "--out", str(out))
    assert again.returncode == 0 and "0 score(s) changed, 2 unchanged" in again.stdout
    assert (out / "final_grades.csv").read_bytes() == before, "importing the same file twice changes nothing"

    scores.write_text("file,q8,q9\nessay.ipynb,3,\nghost.ipynb,1,\nbroken.ipynb,1,\nblank.ipynb,two,\n")
    bad = _cli("manual", "import", str(scores), "--out", str(out))
    assert bad.returncode == 1 and "nothing was imported" in bad.stderr
    assert "scores.csv: column 'q9' is not a question graded by hand (those are: q8)" in bad.stderr
    scores.write_text("file,q8\nessay.ipynb,3\nghost.ipynb,1\nbroken.ipynb,1\nblank.ipynb,two\nsolution.ipynb,-1\n")
    bad = _cli("manual", "import", str(scores), "--out", str(out))
    problems = bad.stderr.splitlines()[1:]
    assert problems == [
        "scores.csv row 2 (essay.ipynb), q8: 3 is above the question's 2 points",
        "scores.csv row 3: no submission 'ghost.ipynb' in the class folder",
        "scores.csv row 4 (broken.ipynb), q8: the submission was not graded (invalid submission: broken.ipynb is "
        "not valid JSON (Expecting property name enclosed in double quotes at line 1)), so it has no answer to score",
        "scores.csv row 5 (blank.ipynb), q8: 'two' is not a number",
        "scores.csv row 6 (solution.ipynb), q8: -1 is not a score from 0 to 2"], bad.stderr
    assert (out / "final_grades.csv").read_bytes() == before

    # with a roster, scores can name students by id, and the LMS files count them
    (tmp_path / "roster.csv").write_text("file,student_id,name\nsolution.ipynb,7,Sol Ution\nessay.ipynb,8,Es Say\n"
                                         "blank.ipynb,9,Bl Ank\nabsent.ipynb,10,Ab Sent\n")
    from autograder.grading import roster

    roster.keep(tmp_path / "roster.csv", out)
    scores.write_text("student_id,q8\n8,1\n10,2\n")
    by_id = _cli("manual", "import", str(scores), "--out", str(out))
    assert by_id.returncode == 1 and "scores.csv row 3: student id '10' (Ab Sent (id 10)) has no submission" in by_id.stderr
    scores.write_text("student_id,q8\n8,1\n")
    assert _cli("manual", "import", str(scores), "--out", str(out)).returncode == 0
    assert _grades(out)["essay.ipynb"]["q8"] == "1"
    with open(out / "gradescope_grades.csv", newline="") as f:
        lms = {r["SID"]: r for r in csv.DictReader(f)}
    assert (lms["7"]["Total Score"], lms["7"]["Max Points"], lms["7"]["Status"]) == ("31", "31", "Graded")
    assert lms["9"]["Status"] == "Ungraded", "q8 of the blank notebook has no score yet"
    assert (lms["10"]["Total Score"], lms["10"]["Status"]) == ("", "Missing")

    # a late submission keeps every imported score; a resubmitted answer is named, its score kept
    late = subs / "late"
    late.mkdir()
    _with_answer("A different answer, written after the first was scored.", late / "essay.ipynb")
    shutil.copy(A2.student_notebook, late / "newcomer.ipynb")
    (late / "notes.txt").write_text("not a submission")
    graded = _cli("grade", "-a", A2.id, "--out", str(out), "--workers", "2", "--diff", str(out), str(late))
    assert graded.returncode == 0, graded.stdout + graded.stderr
    assert f"WARNING: {late}: 1 entry not graded (only .ipynb and .zip files directly in the folder are): notes.txt" \
        in graded.stderr
    audit = graded.stdout[graded.stdout.index(f"changes since {out}:"):].splitlines()
    assert any(line.startswith("  newcomer.ipynb: submission (blank) → added: 0 points, Completed") for line in audit)
    assert not any(line.startswith("  solution.ipynb") for line in audit), "what did not change is not listed"
    rows = _grades(out)
    assert rows["solution.ipynb"]["q8"] == "2" and rows["essay.ipynb"]["q8"] == "1" and rows["newcomer.ipynb"]["q8"] == ""
    assert "essay.ipynb: q8 was scored (1, scores.csv row 2) on an answer that has changed since" in graded.stderr
    assert "q8 is graded by hand (2 pt): 2 graded submission(s) have no score yet" in graded.stdout
