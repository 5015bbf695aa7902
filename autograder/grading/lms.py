"""Grades for a learning management system, next to ``final_grades.csv`` (written only with a roster).

``canvas_grades.csv`` follows the Canvas Gradebook import: the columns ``Student``, ``ID``,
``SIS User ID``, ``SIS Login ID`` and ``Section``, then one column of total points named after the
assignment (rename it to an existing assignment's column, e.g. ``HW 2 (123456)``, to fill that
one; a new name makes Canvas create an assignment). ``ID`` (Canvas's own user id) is left empty:
Canvas then matches students by ``SIS User ID`` (the roster's ``student_id``) or ``SIS Login ID``
(the roster's ``login``).

``gradescope_grades.csv`` uses the identity columns of a Gradescope roster (``Name``, ``Email``,
``SID``, ``Section``) and the score columns of Gradescope's own grade export (``Total Score``,
``Max Points``, ``Status``: ``Graded``, ``Ungraded`` while a question graded by hand has no score
or the file could not be graded, ``Missing`` without a submission).

In both, a student whose submission was not graded (invalid file, timeout, crash) or who has no
submission gets an empty score, never 0, so that an import records nothing rather than a zero.
Every roster student has a row, in roster order; submissions the roster does not name are left
out (and named by ``grade``).
"""

from __future__ import annotations

import csv
from pathlib import Path

from .gradebook import Gradebook

CANVAS = "canvas_grades.csv"
GRADESCOPE = "gradescope_grades.csv"


def _points(x: float) -> str:
    return f"{x:g}"


def rows(book: Gradebook, column: str) -> tuple[list[list[str]], list[list[str]]]:
    """The Canvas and the Gradescope tables (header first) for ``book``."""
    by_student = {id(s): o for o in book.outcomes if (s := book.students().get(o.label)) is not None}
    canvas = [["Student", "ID", "SIS User ID", "SIS Login ID", "Section", column]]
    gradescope = [["Name", "Email", "SID", "Section", "Total Score", "Max Points", "Status"]]
    possible = _points(book.possible())
    for s in book.roster.students if book.roster else []:
        o = by_student.get(id(s))
        score = _points(book.total(o)) if o is not None and book.graded(o) else ""
        status = ("Missing" if o is None else "Ungraded" if not book.graded(o) or book.pending(o) else "Graded")
        canvas.append([s.name, "", s.student_id, s.login, s.section, score])
        gradescope.append([s.name, s.email, s.student_id, s.section, score, possible, status])
    return canvas, gradescope


def write(book: Gradebook, out_dir: Path, title: str) -> list[Path]:
    """Write both files into ``out_dir`` when the class has a roster; the column is ``title`` up to its first ': '."""
    if not book.roster:
        return []
    canvas, gradescope = rows(book, title.split(": ")[0])
    written = []
    for name, table in ((CANVAS, canvas), (GRADESCOPE, gradescope)):
        path = out_dir / name
        tmp = path.with_name(name + ".tmp")
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows(table)
        tmp.replace(path)
        written.append(path)
    return written
