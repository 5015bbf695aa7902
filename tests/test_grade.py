"""Grading: demo scores, the CSV contract, feedback files, timeouts and broken files."""

from __future__ import annotations

import csv
import os
import subprocess
import sys

import nbformat
import psutil
import pytest

from autograder import CPUS_ENV, REPO_ROOT, demos, notebooks, usable_cpus
from autograder.grading import batch, feedback, outputs
from autograder.grading.worker import Workers

pytestmark = pytest.mark.slow


def test_solution_gets_full_marks(demo_batch):
    a, _, outcomes, _, _ = demo_batch
    r = outcomes["solution.ipynb"].results
    assert outcomes["solution.ipynb"].status == "Completed"
    assert r.total == r.possible > 0, r.summary()


def test_blank_gets_zero_on_every_hidden_test(demo_batch):
    _, _, outcomes, _, _ = demo_batch
    r = outcomes["blank.ipynb"].results
    assert r.total == 0
    hidden = [res for q in r.results.values() for res in q.test_case_results if res.test_case.hidden]
    assert hidden and not any(res.passed for res in hidden)


def test_buggy_demos_lose_exactly_the_predicted_points(demo_batch):
    _, made, outcomes, _, _ = demo_batch
    buggy = [d for d in made if d.points_lost]
    assert buggy, "every assignment needs at least the two-bugs demo"
    for d in buggy:
        r = outcomes[d.path.name].results
        assert not r.has_catastrophic_failure(), f"{d.path.name}: {r.catastrophic_error}"
        for q, test_file in r.results.items():
            want = test_file.possible - d.points_lost.get(q, 0)
            assert r.get_score(q) == want, f"{d.path.name} {q}: {test_file.summary()}"


def test_csv_has_otters_format(demo_batch):
    a, made, _, _, out = demo_batch
    with open(out / "final_grades.csv", newline="") as f:
        rows = list(csv.reader(f))
    header, points = rows[0], rows[1]
    questions = header[1:-3]
    assert header[0] == "file" and header[-3:] == ["total_points_earned", "percent_correct", "grading_status"]
    assert questions == sorted(questions) and questions
    assert points[0] == "points-per-question" and points[-1] == "--"
    assert float(points[-3]) == sum(float(p) for p in points[1:-3])
    assert sorted(r[0] for r in rows[2:]) == sorted(d.path.name for d in made)


def test_the_csv_is_otters_merge_plus_hand_graded_columns(demo_batch):
    """Without questions graded by hand the CSV is, byte for byte, Otter's merge with the status column."""
    from otter.grade.utils import merge_scores_to_df

    from autograder.grading import manual

    a, _, outcomes, _, out = demo_batch
    ordered = [outcomes[k] for k in sorted(outcomes)]
    otter = merge_scores_to_df([o.results for o in ordered])
    status = {o.label: o.status for o in ordered}
    otter["grading_status"] = [status.get(f, s) for f, s in zip(otter["file"], otter["grading_status"])]
    written = (out / "final_grades.csv").read_text()
    hand = [q.name for q in manual.graded_by_hand(manual.questions(a))]
    if not hand:
        assert written == otter.to_csv(index=False)
        return
    with open(out / "final_grades.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    for col in otter.columns:
        if col not in ("total_points_earned", "percent_correct"):
            assert [r[col] for r in rows] == [str(v) for v in otter[col]], col
    assert all(r[q] == "" for r in rows[1:] for q in hand), "blank until scores are imported"


def test_feedback_names_every_test_and_says_why(demo_batch):
    _, made, outcomes, _, out = demo_batch
    for d in made:
        text = (out / "feedback" / feedback.file_name(d.path.name)).read_text()
        for q, test_file in outcomes[d.path.name].results.results.items():
            for tc in test_file.test_cases:
                assert tc.name in text
    blank = (out / "feedback" / feedback.file_name("blank.ipynb")).read_text()
    assert "returned None" in blank and "AssertionError\n" not in blank


def test_feedback_is_for_the_student_and_the_verdict_sources_go_to_the_instructor_log(demo_batch):
    _, made, outcomes, _, out = demo_batch
    for d in made:
        text = (out / "feedback" / feedback.file_name(d.path.name)).read_text()
        assert "Error at line" not in text and "check_against_solution" not in text, text
        assert "Where the verdicts came from" not in text and "sealed" not in text
    log = (out / feedback.INSTRUCTOR_LOG).read_text().splitlines()
    assert sorted(line.split("\t")[0] for line in log) == sorted(d.path.name for d in made)
    assert all("verdicts: " in line for line in log)
    assert any("sealed" in line for line in log)


def _processes_mentioning(text: str) -> list[str]:
    return [" ".join(p.info["cmdline"]) for p in psutil.process_iter(["cmdline"])
            if text in " ".join(p.info["cmdline"] or [])]


def test_cli_grades_a_batch_with_a_loop_and_broken_files(a1, tmp_path):
    nb = notebooks.read(a1.solution_notebook)
    nb.cells.insert(3, nbformat.v4.new_code_cell("while True:\n    pass"))
    notebooks.write(nb, tmp_path / "loops.ipynb")
    (tmp_path / "corrupt.ipynb").write_text('{"cells": [')
    (tmp_path / "empty.ipynb").write_text("")
    (tmp_path / "old.ipynb").write_text('{"nbformat": 3, "nbformat_minor": 0, "worksheets": [], "metadata": {}}')
    scratch = tmp_path / "scratch"  # the grader's temporary folders, kernels' connection files included
    scratch.mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "autograder", "grade", "--assignment", a1.id, "--out", str(tmp_path / "out"),
         "--workers", "2", "--timeout", "40", str(tmp_path / "loops.ipynb"), str(tmp_path / "corrupt.ipynb"),
         str(tmp_path / "empty.ipynb"), str(tmp_path / "old.ipynb"), str(a1.solution_notebook)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, "TMPDIR": str(scratch)},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with open(tmp_path / "out" / "final_grades.csv", newline="") as f:
        rows = {r["file"]: r for r in csv.DictReader(f)}
    # the overall limit cuts the looping cell and skips the rest, but the grader still records and judges
    assert "was cut at the submission's overall limit of 40 s; the cells after it were not run" in \
        rows["loops.ipynb"]["grading_status"]
    assert float(rows["loops.ipynb"]["total_points_earned"]) < float(rows["points-per-question"]["total_points_earned"])
    assert rows["corrupt.ipynb"]["grading_status"].startswith("invalid submission: corrupt.ipynb is not valid JSON")
    assert rows["empty.ipynb"]["grading_status"] == "invalid submission: empty.ipynb is empty"
    assert "notebook format 3" in rows["old.ipynb"]["grading_status"]
    solution = rows[a1.solution_notebook.name]
    assert solution["grading_status"] == "Completed"
    assert solution["total_points_earned"] == rows["points-per-question"]["total_points_earned"]
    for name in rows:
        if name != "points-per-question":
            assert (tmp_path / "out" / "feedback" / feedback.file_name(name)).exists()
    assert not _processes_mentioning(str(scratch)), "a timed-out submission left its kernel running"
    assert not list(scratch.iterdir()), "the grader left temporary files behind"


def test_a_late_submission_joins_the_class_folder(a1, tmp_path):
    """Two submissions, then one late one into the same --out: the class's CSV, not a one-row file."""
    points = a1.points
    paths = [d.path for d in demos.make(a1, tmp_path / "submissions", points)][:3]
    with Workers(REPO_ROOT) as pool:
        batch.grade(a1, paths, tmp_path / "at-once", workers=2, quiet=True, pool=pool)
        batch.grade(a1, paths[:2], tmp_path / "class", workers=2, quiet=True, pool=pool)
    late = subprocess.run([sys.executable, "-m", "autograder", "grade", "-a", a1.id, "--out", str(tmp_path / "class"),
                           "--workers", "1", str(paths[2])], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert late.returncode == 0, late.stdout + late.stderr
    assert "cover 3 submission(s), 2 of them graded" in late.stdout
    class_csv = (tmp_path / "class" / "final_grades.csv").read_bytes()
    assert class_csv == (tmp_path / "at-once" / "final_grades.csv").read_bytes()
    rows = list(csv.reader(class_csv.decode().splitlines()))
    assert [r[0] for r in rows[1:]] == ["points-per-question", *sorted(p.name for p in paths)]
    page = (tmp_path / "class" / "report.html").read_text()
    assert page.count("<tr class='submission'") == 3 and "3 submissions" in page
    for p in paths:
        assert f"<td>{p.name}</td>" in page and (tmp_path / "class" / "feedback" / feedback.file_name(p.name)).exists()


def test_one_worker_process_serves_every_assignment_of_a_run(a1, tmp_path):
    """``grade`` over several assignments hands one ``Workers`` to each batch: the worker started for
    the first grades the next one too, right (no second import of torch and Otter), and closing the pool
    stops it. A batch given no pool still stops the workers it started."""
    from conftest import ensure_built
    from autograder import assignments

    a4 = ensure_built(assignments.get("04-choosing-the-loss"))
    with Workers(REPO_ROOT) as pool:
        (first,) = batch.grade(a1, [a1.student_notebook], tmp_path / "a1", workers=1, pool=pool, quiet=True)
        pids = [w.pid for w in pool._by_key.values()]
        assert len(pids) == 1 and psutil.pid_exists(pids[0]), pids
        (second,) = batch.grade(a4, [a4.solution_notebook], tmp_path / "a4", workers=1, pool=pool, quiet=True)
        assert [w.pid for w in pool._by_key.values()] == pids, "the second assignment started its own worker"
        assert first.results.total == 0, first.status
        assert second.results.total == sum(a4.points.values()), second.status
    assert not psutil.pid_exists(pids[0]) or psutil.Process(pids[0]).status() == psutil.STATUS_ZOMBIE
    before = {p.pid for p in psutil.Process().children()}
    batch.grade(a1, [a1.student_notebook], tmp_path / "alone", workers=1, quiet=True)
    assert {p.pid for p in psutil.Process().children() if p.status() != psutil.STATUS_ZOMBIE} <= before


def test_a_deep_temporary_folder_still_grades(a1, tmp_path):
    """The kernel's sockets live in its scratch folder; under a TMPDIR too deep for a Unix socket's
    107 bytes they go to a short folder of their own in /tmp, removed afterwards."""
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    before = set(os.listdir("/tmp"))
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", "-a", a1.id, "--out", str(tmp_path / "out"),
                           "--workers", "1", str(a1.solution_notebook)], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "TMPDIR": str(deep)})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    with open(tmp_path / "out" / "final_grades.csv") as f:
        (row,) = [r for r in csv.DictReader(f) if r["file"] != outputs.POINTS_ROW]
    assert float(row["total_points_earned"]) == sum(a1.points.values()), proc.stdout[-2000:]
    left = [n for n in set(os.listdir("/tmp")) - before if n.startswith("dl-kernel-")]
    assert left == [], f"kernel folders left in /tmp: {left}"


def test_threads_follow_the_cores_this_process_may_use(monkeypatch):
    """Kernels' torch threads come from the affinity mask (taskset, Slurm, a cpuset) or AUTOGRADER_CPUS,
    not from the machine's core count: more threads than cores made two kernels 5x slower."""
    code = ("import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); "
            "from autograder.grading import batch; print(batch.threads_per_worker(1), batch.threads_per_worker(2))")
    env = {k: v for k, v in os.environ.items() if k != CPUS_ENV}
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    assert proc.stdout.split() == ["1", "1"], proc.stdout + proc.stderr
    monkeypatch.setenv(CPUS_ENV, "4")
    assert [batch.threads_per_worker(n) for n in (1, 2, 3, 8)] == [4, 2, 1, 1]
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv(CPUS_ENV, bad)
        with pytest.raises(SystemExit, match=f"{CPUS_ENV}='{bad}': expected a whole number of cores"):
            usable_cpus()
