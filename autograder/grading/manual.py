"""Questions graded by hand (Otter Assign ``manual: true``): which they are, and each student's answer.

Otter records a manual question in three places, and only one of them names it:

- the master: a ``# BEGIN QUESTION`` raw cell whose config says ``manual: true`` and ``points: N``
  (this module reads it with Otter Assign's own cell helpers, and ``build`` stores the result in
  ``build-info.json`` as ``"manual"``);
- the student notebook: no name, no points; the prompt cell starts with the PDF filter comment
  ``<!-- BEGIN QUESTION -->``, the answer cells follow (tagged ``otter_answer_cell``) and the next
  markdown cell starts with ``<!-- END QUESTION -->``;
- the autograder zip: nothing at all (no test file, nothing in ``otter_config.json``), because on
  Gradescope these questions are graded from the PDF of those filtered cells.

So a submission's answer is found by the prompt's first line (its heading), falling back to the
k-th filtered region of the notebook for the k-th filtered question of the master.
"""

from __future__ import annotations

import hashlib
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import nbformat

from ..assignments import Assignment
from .outcome import Outcome

BEGIN_MARK = "<!-- BEGIN QUESTION -->"
END_MARK = "<!-- END QUESTION -->"
PLACEHOLDER = "_Type your answer here, replacing this text._"  # Otter Assign's markdown answer stub


@dataclass(frozen=True)
class ManualQuestion:
    """One question graded by hand.

    Attributes:
        name: the question's name in the master (``q8``), the CSV column.
        points: what it is worth.
        prompt: the prompt's markdown, as students see it (without Otter's filter comments).
        by_hand: ``manual: true``; False for an ``export: true`` question, which Otter also puts in
            the PDF (so it owns a filtered region of the notebook) but which is autograded.
    """

    name: str
    points: float
    prompt: str
    by_hand: bool = True

    @property
    def heading(self) -> str:
        """The prompt's first non-empty line, which a student cannot edit (Otter locks the cell)."""
        return next((line.strip() for line in self.prompt.splitlines() if line.strip()), "")


@dataclass(frozen=True)
class AnswerCell:
    """One cell of an answer: its type, its source and (for code) its text and image outputs."""

    cell_type: str
    source: str
    text_outputs: tuple[str, ...] = ()
    png_outputs: tuple[str, ...] = ()  # base64, as in the notebook


@dataclass(frozen=True)
class ManualAnswer:
    """What one submission answered to one manual question.

    Attributes:
        question: the question (name, points, prompt).
        cells: the answer's cells; empty when the student left Otter's placeholder or nothing.
        problem: why no answer could be read ("" when it was read, even if empty).
    """

    question: ManualQuestion
    cells: tuple[AnswerCell, ...] = ()
    problem: str = ""

    @property
    def answered(self) -> bool:
        return not self.problem and any(c.source.strip() for c in self.cells)

    def digest(self) -> str:
        """A short hash of the answer's sources: tells whether a score was given to this very answer."""
        h = hashlib.sha256()
        for c in self.cells:
            h.update(c.cell_type.encode() + b"\0" + c.source.encode() + b"\0")
        return h.hexdigest()[:16]


def _number(value) -> float:
    """Points as Otter writes them: 2, not 2.0."""
    value = float(value or 0)
    return int(value) if value.is_integer() else value


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def _without_marks(text: str) -> str:
    return text.replace(BEGIN_MARK, "").replace(END_MARK, "").strip()


def questions_from_master(master: Path) -> list[ManualQuestion]:
    """Every question of an Otter Assign master that Otter filters into the PDF, in notebook order:
    the ``manual: true`` ones and the ``export: true`` ones (``by_hand`` False), since the k-th of
    them owns the k-th filtered region of a student notebook."""
    from otter.assign.blocks import BlockType, get_cell_config, is_block_boundary_cell
    from otter.assign.question_config import QuestionConfig

    nb = nbformat.read(str(master), as_version=4)
    found: list[ManualQuestion] = []
    config, prompt, depth = None, [], 0
    for cell in nb.cells:
        if is_block_boundary_cell(cell, BlockType.QUESTION):
            config, prompt, depth = QuestionConfig(get_cell_config(cell)), [], 0
            continue
        if config is None:
            continue
        if is_block_boundary_cell(cell, BlockType.QUESTION, end=True):
            if config.manual or config.export:
                points = _number(config.points) if config.manual else 0
                found.append(ManualQuestion(config.name, points, "\n\n".join(prompt), by_hand=bool(config.manual)))
            config = None
            continue
        if any(is_block_boundary_cell(cell, b) for b in BlockType):
            depth += 1
        elif any(is_block_boundary_cell(cell, b, end=True) for b in BlockType):
            depth -= 1
        elif depth == 0 and cell.cell_type == "markdown":
            prompt.append(_source(cell).strip())
    return found


def to_json(questions: list[ManualQuestion]) -> list[dict]:
    """The ``"manual"`` entry of ``build-info.json``: the filtered questions, in notebook order."""
    return [{"name": q.name, "points": q.points, "prompt": q.prompt, "by_hand": q.by_hand} for q in questions]


def questions(a: Assignment) -> list[ManualQuestion]:
    """The filtered questions of ``a``'s current build (manual ones and ``export: true`` ones), in order."""
    try:
        info = a.build_info()
    except (OSError, ValueError):
        return []
    return [ManualQuestion(d["name"], _number(d["points"]), d.get("prompt", ""), bool(d.get("by_hand", True)))
            for d in (info.manual if info else [])]


def graded_by_hand(qs: list[ManualQuestion]) -> list[ManualQuestion]:
    """The questions of ``qs`` that are scored by hand (not merely exported)."""
    return [q for q in qs if q.by_hand]


def _notebook_of(path: Path):
    """The submitted notebook (an .ipynb, or the one top-level notebook of an Otter export zip)."""
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as zf:
            top = [n for n in zf.namelist() if n.endswith(".ipynb") and "/" not in n]
            raw = zf.read(top[0])
    else:
        raw = path.read_bytes()
    return nbformat.reads(raw.decode("utf-8"), as_version=4)


def _answer_cell(cell) -> AnswerCell:
    texts, pngs = [], []
    for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
        data = out.get("data", {})
        if out.get("output_type") == "stream":
            texts.append(_source({"source": out.get("text", "")}))
        elif "image/png" in data:
            pngs.append(re.sub(r"\s+", "", _source({"source": data["image/png"]})))
        elif "text/plain" in data:
            texts.append(_source({"source": data["text/plain"]}))
    return AnswerCell(cell.cell_type, _source(cell), tuple(texts), tuple(pngs))


def _region_after(cells: list, start: int) -> list:
    """The cells after the prompt at ``start`` up to the end mark, the next question or a locked cell."""
    region = []
    for cell in cells[start + 1:]:
        text = _source(cell)
        locked = cell.get("metadata", {}).get("editable") is False
        if END_MARK in text or BEGIN_MARK in text or locked:
            break
        region.append(cell)
    return region


def _starts(cells: list) -> list[int]:
    return [i for i, c in enumerate(cells) if c.cell_type == "markdown" and _source(c).lstrip().startswith(BEGIN_MARK)]


def read_answers(path: Path, qs: list[ManualQuestion]) -> tuple[ManualAnswer, ...]:
    """Each hand-graded question's answer in the notebook at ``path``; never raises.

    Cells that are only Otter's placeholder are dropped, so an untouched answer has no cells.
    """
    hand = graded_by_hand(qs)
    if not hand:
        return ()
    try:
        cells = list(_notebook_of(path).cells)
    except Exception as exc:  # the grader rejects such files; the answers sheet says why
        return tuple(ManualAnswer(q, problem=f"the notebook could not be read ({type(exc).__name__})") for q in hand)
    starts = _starts(cells)
    answers = []
    for k, q in enumerate(qs):
        if not q.by_hand:
            continue
        marked = [i for i in starts if q.heading and q.heading in _source(cells[i])]
        anywhere = [i for i, c in enumerate(cells) if c.cell_type == "markdown" and q.heading
                    and q.heading in _source(c)]
        at = (marked or anywhere or [None])[0]
        if at is None and len(starts) == len(qs):  # headings edited: the k-th filtered region is this question's
            at = starts[k]
        if at is None:
            answers.append(ManualAnswer(q, problem=f"the prompt of {q.name} ({q.heading!r}) is not in the notebook"))
            continue
        region = [_answer_cell(c) for c in _region_after(cells, at)]
        answers.append(ManualAnswer(q, tuple(c for c in region if c.source.strip() != PLACEHOLDER)))
    return tuple(answers)


def attach(outcome: Outcome, qs: list[ManualQuestion]) -> Outcome:
    """Put the submission's manual answers on ``outcome`` (in place) and return it.

    A submission that was not graded (invalid file, timeout, crash) still lists every manual
    question, with the reason, so the CSV keeps its columns and the answers sheet its row.
    """
    if outcome.results.has_catastrophic_failure():
        outcome.manual = tuple(ManualAnswer(q, problem=f"not graded: {outcome.status}") for q in graded_by_hand(qs))
    else:
        outcome.manual = read_answers(outcome.path, qs)
    return outcome


def columns(outcomes: list[Outcome]) -> dict[str, ManualQuestion]:
    """The manual questions the outcomes carry, by name, sorted by name (the CSV's columns)."""
    found: dict[str, ManualQuestion] = {}
    for o in outcomes:
        for ans in getattr(o, "manual", ()):
            found.setdefault(ans.question.name, ans.question)
    return dict(sorted(found.items()))


def answer_of(outcome: Outcome, question: str) -> ManualAnswer | None:
    return next((a for a in getattr(outcome, "manual", ()) if a.question.name == question), None)
