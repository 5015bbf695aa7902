"""Issue 16: cells are named by the question they are really in and their first line of code."""

from __future__ import annotations

import nbformat

from autograder import assignments, notebooks
from autograder.grading import cells, execute


def _student(aid: str) -> nbformat.NotebookNode:
    return notebooks.read(assignments.get(aid).student_notebook)


def _named(nb: nbformat.NotebookNode) -> dict[str, str]:
    code = [c for c in nb.cells if c.cell_type == "code"]
    return {c.source: str(p) for c, p in zip(code, cells.places(nb))}


def test_a_cell_between_two_questions_is_after_the_first_not_in_the_next():
    named = _named(_student("03-fashion-mnist"))
    device_cell = next(s for s in named if s.startswith("device = get_device()"))
    # Its grader.check("q2") comes next, but the cell sits before Question 2's prompt.
    assert named[device_cell] == 'the cell starting "device = get_device()" (after q1)'


def test_a_cell_inside_a_question_is_named_by_its_question_and_first_line():
    named = _named(_student("03-fashion-mnist"))
    answer = next(s for s in named if s.startswith("def build_mlp("))
    assert named[answer] == 'q4, the cell starting "def build_mlp(hidden=256):"'
    training = next(s for s in named if s.startswith("mlp_model, mlp_history"))
    assert named[training].startswith('q8, the cell starting "mlp_model, mlp_history = train_mlp(')


def test_cells_before_the_first_question_and_after_the_last_one():
    named = _named(_student("01-softmax-cross-entropy"))
    assert named["import torch\ntorch.manual_seed(0)"] == 'the cell starting "import torch" (before the first question)'
    last = next(s for s in named if s.startswith("batch_logits ="))
    assert named[last] == 'the cell starting "batch_logits = torch.randn(8, 4, dtype=t…" (after q7)'


def test_first_line_skips_comments_and_blank_lines():
    assert cells.first_line("\n# a comment\n\nfor epoch in range(10):\n    pass") == "for epoch in range(10):"
    assert cells.first_line("# only a comment") == "# only a comment"
    assert cells.first_line("x = " + "1" * 60).endswith("…")


def test_a_manual_question_without_a_check_is_named_from_its_heading():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("## Question 1: code"),
        nbformat.v4.new_code_cell("def f():\n    return 1"),
        nbformat.v4.new_code_cell('grader.check("q1")'),
        nbformat.v4.new_markdown_cell("<!-- BEGIN QUESTION -->\n\n## Question 2 (graded by hand)"),
        nbformat.v4.new_code_cell("plot()"),
    ])
    assert [str(p) for p in cells.places(nb)] == [
        'q1, the cell starting "def f():"', 'q1, the cell starting "grader.check("q1")"',
        'q2, the cell starting "plot()"']


def test_without_prompt_headings_the_next_check_names_the_cell():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("a = 1"), nbformat.v4.new_code_cell('grader.check("q3")'),
        nbformat.v4.new_code_cell("b = 2")])
    assert [str(p) for p in cells.places(nb)] == [
        'q3, the cell starting "a = 1"', 'q3, the cell starting "grader.check("q3")"',
        'the cell starting "b = 2" (after q3)']


def test_the_grader_labels_cells_this_way_and_skips_ignored_ones():
    nb = _student("02-gradient-descent-autograd")
    nb.cells[1] = nbformat.v4.new_code_cell("while True:\n    pass", metadata={"tags": ["otter_ignore"]})
    labelled = execute.code_cells(nb, seed=None, seed_variable=None)
    sources = [s for s, _ in labelled]
    assert "while True:\n    pass" not in sources
    where = dict(labelled)
    demo = next(s for s in sources if s.startswith("# .clone() keeps"))
    assert where[demo] == 'the cell starting "g1 = gradient(X_ones, Theta_random, Y).c…" (after q4)'
    problem = execute.CellProblem(7, where[demo], "timed out after 300 s")
    assert str(problem) == f"{where[demo]} timed out after 300 s" and "code cell" not in str(problem)
