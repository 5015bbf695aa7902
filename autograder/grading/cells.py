"""Name a notebook's code cells the way a student finds them: by question and first line of code.

A question starts at its prompt, the markdown cell with a heading such as ``## Question 4`` (Otter
keeps the masters' prompts, locked, in the student notebook), and ends with its
``grader.check("q4")`` cell. A cell between the two is *in* that question; a cell after a question's
check and before the next prompt is *after* it (a demo cell, say), not in the next one. The
question's name is the one its ``grader.check`` uses, or ``q<N>`` from the heading of a question
without a check (a manual one). A notebook without any prompt headings falls back to naming each
cell by the question whose check comes next.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import nbformat

HEADING = re.compile(r"^\s{0,3}#{1,6}\s*Question\s+(\w+)", re.IGNORECASE | re.MULTILINE)
CHECK = re.compile(r"grader\.check\(\s*['\"](\w+)['\"]")
FIRST_LINE_CHARS = 40


@dataclass(frozen=True)
class CellPlace:
    """Where a code cell sits: the question it is in, or the last question before it."""

    question: str  # the question the cell is in ("" when it is in none)
    after: str  # the question that ended last before the cell ("" before the first one)
    first_line: str  # its first line of code, shortened

    def __str__(self) -> str:
        cell = f'the cell starting "{self.first_line}"' if self.first_line else "an empty cell"
        if self.question:
            return f"{self.question}, {cell}"
        if self.after:
            return f"{cell} (after {self.after})"
        return f"{cell} (before the first question)"


def first_line(source: str) -> str:
    """The first line that is not blank or a comment (else the first non-blank one), shortened."""
    lines = [line.strip() for line in source.splitlines() if line.strip()]
    code = [line for line in lines if not line.startswith("#")]
    line = (code or lines or [""])[0]
    return line if len(line) <= FIRST_LINE_CHARS else line[:FIRST_LINE_CHARS].rstrip() + "…"


def _check_after(cells: list, start: int) -> str:
    """The question of the first ``grader.check`` after ``start``, before the next prompt heading."""
    for cell in cells[start + 1:]:
        text = cell.source if isinstance(cell.source, str) else "".join(cell.source)
        if cell.cell_type == "markdown" and HEADING.search(text):
            return ""
        match = CHECK.search(text) if cell.cell_type == "code" else None
        if match:
            return match.group(1)
    return ""


def places(nb: nbformat.NotebookNode) -> list[CellPlace]:
    """One ``CellPlace`` for every code cell of ``nb``, in order."""
    cells = list(nb.cells)
    if not any(c.cell_type == "markdown" and HEADING.search(_text(c)) for c in cells):
        return _by_next_check(cells)
    result: list[CellPlace] = []
    current, after = "", ""
    for k, cell in enumerate(cells):
        text = _text(cell)
        heading = HEADING.search(text) if cell.cell_type == "markdown" else None
        if heading:
            current = _check_after(cells, k) or f"q{heading.group(1).lower()}"
            continue
        if cell.cell_type != "code":
            continue
        check = CHECK.search(text)
        if check:
            result.append(CellPlace(check.group(1), after, first_line(text)))
            current, after = "", check.group(1)
        else:
            result.append(CellPlace(current, after, first_line(text)))
    return result


def _text(cell) -> str:
    return cell.source if isinstance(cell.source, str) else "".join(cell.source)


def _by_next_check(cells: list) -> list[CellPlace]:
    """The old rule, for notebooks without prompt headings: the question whose check comes next."""
    code = [c for c in cells if c.cell_type == "code"]
    result: list[CellPlace] = []
    pending: list[int] = []
    after = ""
    for cell in code:
        text = _text(cell)
        result.append(CellPlace("", after, first_line(text)))
        pending.append(len(result) - 1)
        check = CHECK.search(text)
        if check:
            for i in pending:
                result[i] = CellPlace(check.group(1), result[i].after, result[i].first_line)
            pending, after = [], check.group(1)
    return result
