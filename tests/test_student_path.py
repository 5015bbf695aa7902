"""A student's path: fill the stubs, run every cell in Jupyter, pass the checks, export, upload."""

from __future__ import annotations

import ast
import shutil

import nbclient
import pytest

from autograder import notebooks
from autograder.grading import batch
from leaks import find_leaks, student_texts

pytestmark = pytest.mark.slow


def fill_with_solution(student, solution):
    """Replace every stubbed function of the student notebook with the solution's version."""
    filled = student
    for cell in solution.cells:
        if cell.cell_type != "code":
            continue
        source = notebooks.code_of(cell)
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                try:
                    filled = notebooks.replace_function(filled, node.name, ast.get_source_segment(source, node))
                except KeyError:
                    pass  # a helper that only the solution defines
    return filled


def outputs_text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        parts.append(out.get("text", ""))
        parts.append(str(out.get("data", {}).get("text/plain", "")))
        parts.append(" ".join(out.get("traceback", [])))
    return "\n".join(parts)


def test_filled_student_notebook_passes_checks_and_exports(built, tmp_path):
    work = tmp_path / built.id
    shutil.copytree(built.student_dir, work)
    student = notebooks.read(built.student_notebook)
    filled = fill_with_solution(student, notebooks.read(built.solution_notebook))
    assert filled is not student, "no stub was filled"
    notebooks.write(filled, work / built.student_notebook.name)  # the student saves, then runs all
    client = nbclient.NotebookClient(filled, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(work)}})
    client.execute()
    notebooks.write(filled, work / built.student_notebook.name)

    checks = [c for c in filled.cells if c.cell_type == "code" and "grader.check(" in notebooks.code_of(c)
              and "check_all" not in notebooks.code_of(c)]
    assert checks, "the student notebook has no grader.check cells"
    for cell in checks:
        text = outputs_text(cell)
        assert "passed" in text and "failed" not in text.lower(), f"{notebooks.code_of(cell)} -> {text}"

    export = [c for c in filled.cells if c.cell_type == "code" and "grader.export(" in notebooks.code_of(c)]
    assert len(export) == 1, "the student notebook has no grader.export() cell"
    printed = outputs_text(export[0])
    assert "Kernel is running over TCP" not in printed and "Warning" not in printed, printed
    assert not [o for o in export[0].get("outputs", []) if o.get("name") == "stderr"], printed

    exports = sorted(work.glob("*.zip"))
    assert len(exports) == 1, f"grader.export() should write one zip, found {exports}"
    leaks = find_leaks(built, student_texts(work, exports[0]), solutions=False)
    assert not leaks, "\n".join(leaks)
    outcome = batch.grade_one(built, exports[0], exports[0].name, tmp_path / "scratch", timeout=300,
                             threads=batch.threads_per_worker(1))
    assert outcome.status == "Completed"
    assert outcome.results.total == outcome.results.possible, outcome.results.summary()
