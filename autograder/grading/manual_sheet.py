"""The grading sheets of questions graded by hand: ``OUT/manual/<question>.html`` and ``template.csv``.

One self-contained HTML page per question (no network: no scripts, no fonts, no remote images)
shows the prompt once, then every submission's answer, rendered: markdown as HTML (raw HTML a
student typed is shown as text, links to scripts are dropped, only embedded images are shown),
code as text with its printed output and embedded plots. Each answer carries its current score,
or says it has none yet, or why there is nothing to grade.

``template.csv`` has one row per submission (``file``, the roster's ``student_id`` and ``name``
when there is one, a column per hand-graded question holding the current score or a blank): fill
it in and give it to ``python -m autograder manual import``. It is rewritten on every run, so
copy it before filling it in.
"""

from __future__ import annotations

import base64
import binascii
import csv
import html
import re
from pathlib import Path

import mistune

from .gradebook import Gradebook
from .manual import ManualAnswer

FOLDER = "manual"
TEMPLATE = "template.csv"
MAX_OUTPUT_CHARS = 20_000  # printed output shown per cell


class _SafeRenderer(mistune.HTMLRenderer):
    """Escapes raw HTML; shows embedded images only (a remote image would reach the network)."""

    def image(self, text: str, url: str, title: str | None = None) -> str:
        if url.startswith("data:image/"):
            return super().image(text, url, title)
        return f"<span class='noimg'>[image not shown: {html.escape(url)}]</span>"


_markdown = mistune.create_markdown(renderer=_SafeRenderer(escape=True), plugins=["strikethrough", "table"])


def sheet_name(q: str) -> str:
    """The file name of question ``q``'s sheet, under ``manual/``."""
    return re.sub(r"[^\w.-]+", "_", q) + ".html"


def markdown(text: str) -> str:
    """Markdown as safe HTML."""
    return str(_markdown(text))


def _png(b64: str) -> str:
    try:
        base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        return "<p class='noimg'>[an image output that is not valid base64]</p>"
    return f"<img alt='cell output' src='data:image/png;base64,{b64}'>"


def render_answer(answer: ManualAnswer) -> str:
    """One submission's answer as HTML."""
    e = html.escape
    if answer.problem:
        return f"<p class='problem'>No answer to grade: {e(answer.problem)}.</p>"
    if not answer.answered:
        return "<p class='problem'>No answer: the answer cell was left empty or as Otter's placeholder.</p>"
    parts = []
    for cell in answer.cells:
        if cell.cell_type == "markdown":
            parts.append(f"<div class='md'>{markdown(cell.source)}</div>")
        elif cell.cell_type == "code":
            parts.append(f"<pre class='code'>{e(cell.source)}</pre>")
            text = "".join(cell.text_outputs)
            if text:
                cut = text[:MAX_OUTPUT_CHARS] + ("\n[… output cut]" if len(text) > MAX_OUTPUT_CHARS else "")
                parts.append(f"<pre class='out'>{e(cut)}</pre>")
            parts += [_png(p) for p in cell.png_outputs]
        else:
            parts.append(f"<pre class='raw'>{e(cell.source)}</pre>")
    return "\n".join(parts)


STYLE = ("body{font-family:system-ui,sans-serif;margin:2em auto;max-width:60em;color:#222}"
         ".prompt{background:#f4f6fa;border-left:4px solid #4c72b0;padding:.5em 1em}"
         "section.answer{border-top:1px solid #ccc;margin-top:1.5em;padding-top:.5em}"
         "h2 small{font-weight:normal;color:#555}.score{float:right;font-weight:bold}"
         ".pending{color:#b36b00}.problem,.noimg{color:#b00}pre{background:#f7f7f7;padding:.5em;"
         "overflow-x:auto;white-space:pre-wrap}pre.out{background:#fff;border:1px dashed #ccc}img{max-width:100%}"
         "nav a{margin-right:1em}@media print{section.answer{break-inside:avoid}}")


def render(book: Gradebook, q: str) -> str:
    """The grading sheet of hand-graded question ``q``."""
    e = html.escape
    question = book.hand[q]
    students = book.students()
    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'>",
             f"<title>{e(q)}: answers to grade by hand</title><style>{STYLE}</style></head><body>",
             f"<h1>{e(q)}, graded by hand ({question.points:g} points)</h1>",
             f"<div class='prompt'>{markdown(question.prompt)}</div>",
             f"<p id='count'>{len(book.outcomes)} submission(s). Import scores with "
             f"<code>python -m autograder manual import SCORES.csv --out OUT</code> "
             f"(columns <code>file</code> or <code>student_id</code>, and <code>{e(q)}</code>); "
             f"<a href='{TEMPLATE}'>{TEMPLATE}</a> is one to fill in.</p>"]
    if len(book.hand) > 1:
        parts.append("<nav>" + "".join(f"<a href='{e(sheet_name(other))}'>{e(other)}</a>" for other in book.hand) + "</nav>")
    for o in book.outcomes:
        answer = next((a for a in o.manual if a.question.name == q), None)
        score = book.hand_score(o, q)
        mark = (f"<span class='score'>{score:g} / {question.points:g}</span>" if score is not None else
                "<span class='score pending'>not graded yet</span>" if book.graded(o) else "")
        who = f" <small>{e(students[o.label].describe())}</small>" if o.label in students else ""
        body = render_answer(answer) if answer else "<p class='problem'>No answer was recorded.</p>"
        parts.append(f"<section class='answer' id='{e(o.label)}' data-file='{e(o.label)}'>"
                     f"<h2>{mark}{e(o.label)}{who}</h2>{body}</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _template_rows(book: Gradebook) -> list[list[str]]:
    students = book.students()
    head = ["file"] + (["student_id", "name"] if book.roster else []) + list(book.hand)
    rows = [head]
    for o in book.outcomes:
        if not book.graded(o):
            continue
        s = students.get(o.label)
        who = [s.student_id, s.name] if s else ["", ""]
        scores = [f"{v:g}" if (v := book.hand_score(o, q)) is not None else "" for q in book.hand]
        rows.append([o.label] + (who if book.roster else []) + scores)
    return rows


def write(book: Gradebook, out_dir: Path) -> list[Path]:
    """Write one sheet per hand-graded question and ``template.csv`` under ``out_dir/manual``."""
    if not book.hand:
        return []
    folder = out_dir / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for q in book.hand:
        path = folder / sheet_name(q)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(render(book, q), encoding="utf-8")
        tmp.replace(path)
        written.append(path)
    with open(folder / TEMPLATE, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(_template_rows(book))
    return written + [folder / TEMPLATE]
