"""The class roster: which student each submission file belongs to (``grade --roster ROSTER.csv``).

A roster is a UTF-8 CSV (a byte-order mark, as Excel writes it, is fine) with a header row:

=============  ========  ==========================================================
column         needed    meaning
=============  ========  ==========================================================
``file``       yes       the submission's label in ``final_grades.csv`` (its file name);
                         ``ann`` also matches ``ann.ipynb`` and ``ann.zip``
``student_id`` yes       the id the LMS knows the student by (Canvas: SIS User ID,
                         Gradescope: SID)
``name``       no        the student's name, as the LMS shows it
``email``      no        the student's email (Gradescope matches students by it)
``section``    no        the section (Canvas's import wants the column, even empty)
``login``      no        the Canvas SIS Login ID, where your Canvas matches students by it
=============  ========  ==========================================================

Other columns are refused, so a typo in a header is never ignored. ``grade`` copies the roster
into the output folder (``OUT/roster.csv``), so later runs into that folder and ``manual import``
use it without ``--roster``.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

COLUMNS = ("file", "student_id", "name", "email", "section", "login")
REQUIRED = ("file", "student_id")
FILE = "roster.csv"


class RosterError(ValueError):
    """The roster cannot be used; the message names the file, the row and the reason."""


@dataclass(frozen=True)
class Student:
    """One roster row (``row`` is its line number in the file, the header being line 1)."""

    file: str
    student_id: str
    name: str = ""
    email: str = ""
    section: str = ""
    login: str = ""
    row: int = 0

    def describe(self) -> str:
        """``Ann Lee (id 1001)``, or ``id 1001`` without a name."""
        return f"{self.name} (id {self.student_id})" if self.name else f"id {self.student_id}"


def stem(label: str) -> str:
    """A file name without its folder and its .ipynb or .zip suffix."""
    name = PurePosixPath(label).name
    for suffix in (".ipynb", ".zip"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


@dataclass
class Roster:
    """The students of a class, in roster order."""

    students: list[Student]
    source: str = FILE

    def match(self, labels: list[str]) -> dict[str, Student]:
        """Submission label -> student, for the labels the roster names (exactly, or by file stem)."""
        by_file = {s.file: s for s in self.students}
        by_stem = {stem(s.file): s for s in self.students}
        found = {}
        for label in labels:
            student = by_file.get(label) or by_file.get(PurePosixPath(label).name) or by_stem.get(stem(label))
            if student is not None:
                found[label] = student
        return found

    def by_id(self, student_id: str) -> Student | None:
        return next((s for s in self.students if s.student_id == student_id), None)

    def missing(self, labels: list[str]) -> list[Student]:
        """Roster students without a submission among ``labels``."""
        matched = set(map(id, self.match(labels).values()))
        return [s for s in self.students if id(s) not in matched]


def parse(text: str, source: str) -> Roster:
    """Read a roster from CSV text; ``source`` names it in errors.

    Raises:
        RosterError: naming ``source``, the row and the reason (every problem found, one per line).
    """
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise RosterError(f"{source} is empty; it needs a header row with {', '.join(REQUIRED)}")
    header = [h.strip().lower() for h in rows[0]]
    problems = []
    unknown = [h for h in header if h not in COLUMNS]
    if unknown:
        problems.append(f"{source}: unknown column(s) {', '.join(repr(h) for h in unknown)}; "
                        f"a roster has {', '.join(COLUMNS)} (the first two required)")
    absent = [c for c in REQUIRED if c not in header]
    if absent:
        problems.append(f"{source}: no {' or '.join(absent)} column (the header is {', '.join(header)})")
    if len(set(header)) < len(header):
        problems.append(f"{source}: a column appears twice in the header ({', '.join(header)})")
    if problems:
        raise RosterError("\n".join(problems))
    students, files, ids = [], {}, {}
    for n, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            problems.append(f"{source} row {n}: {len(row)} cells where the header has {len(header)}")
            continue
        values = {h: cell.strip() for h, cell in zip(header, row)}
        s = Student(values["file"], values["student_id"], values.get("name", ""), values.get("email", ""),
                    values.get("section", ""), values.get("login", ""), n)
        if not s.file or not s.student_id:
            problems.append(f"{source} row {n}: the {'file' if not s.file else 'student_id'} is empty")
            continue
        if stem(s.file) in files:
            problems.append(f"{source} row {n}: the file {s.file} is already on row {files[stem(s.file)]}")
        if s.student_id in ids:
            problems.append(f"{source} row {n}: student id {s.student_id} is already on row {ids[s.student_id]}; "
                            "each student maps to one submission file")
        files.setdefault(stem(s.file), n)
        ids.setdefault(s.student_id, n)
        students.append(s)
    if problems:
        raise RosterError("\n".join(problems))
    if not students:
        raise RosterError(f"{source} has a header but no students")
    return Roster(students, source)


def csv_text(path: Path, error: type[Exception]) -> str:
    """The text of a CSV an instructor made, or ``error`` with a sentence naming the file and the reason."""
    try:
        return path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise error(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise error(f"{path} is not UTF-8 text (byte {exc.start} is invalid); save it as CSV UTF-8") from None


def read(path: Path) -> Roster:
    """Read and check the roster at ``path`` (see the module's docstring for the columns)."""
    return parse(csv_text(path, RosterError), str(path))


def keep(roster_path: Path, out_dir: Path) -> Roster:
    """Check the roster and copy it into ``out_dir`` (as ``roster.csv``), where later runs find it."""
    roster = read(roster_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / (FILE + ".tmp")
    tmp.write_bytes(roster_path.read_bytes())
    os.replace(tmp, out_dir / FILE)
    return roster


def of_class(out_dir: Path) -> Roster | None:
    """The roster kept in ``out_dir``, or None when the class has none."""
    path = out_dir / FILE
    return read(path) if path.exists() else None
