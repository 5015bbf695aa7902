"""The result store of an output folder (``OUT/.results/``): one finished result per file.

It serves two purposes. A killed batch resumes from it: a result is reused only for the same
submission bytes, label, autograder build and options. And it is the class's record: the CSV
and the report cover every result it holds, so grading one late submission into a class folder
adds a row instead of replacing the class.

Which stored results count (``ResultStore.listing``):

- one per label, the newest (the last one saved); older results under that label (a student
  resubmitted a changed file under the same name, or the same file was regraded with other
  options) stay on disk and are listed as *superseded*;
- only results graded under the assignment's current build (``build-info.json``); those of an
  earlier build are listed as *stale* and left out, since their scores were given by other tests;
- files that cannot be read are listed as *unreadable*.

Nothing is removed from the store; whoever writes the outputs reports what was left out.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import dill

from ..assignments import Assignment
from .outcome import Outcome


def _bytes_of(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b"<unreadable>"


def content_digest(path: Path) -> str:
    """sha256 of a submission's bytes, as the store records it (an unreadable file has one fixed digest)."""
    return hashlib.sha256(_bytes_of(path)).hexdigest()


def build_digest(a: Assignment) -> str:
    """sha256 of the assignment's current ``build-info.json``: which build a result was graded under."""
    return hashlib.sha256(a.build_info_file.read_bytes()).hexdigest()


@dataclass(frozen=True)
class StoredResult:
    """One entry of the store.

    Attributes:
        outcome: the result itself.
        assignment: the id of the assignment it was graded for ("" when unknown).
        content: sha256 of the submission's bytes when it was graded.
        build: sha256 of the ``build-info.json`` it was graded under ("" when unknown).
        options: the grading options it ran under, as ``repr(Options)``.
        stored_at: when it was saved, in seconds since the epoch; the newest result of a label wins.
        file: where it lies (set when read, not saved).
    """

    outcome: Outcome
    assignment: str
    content: str
    build: str
    options: str
    stored_at: float
    file: Path | None = field(default=None, compare=False)

    @property
    def label(self) -> str:
        return self.outcome.label

    def when(self) -> str:
        """``stored_at`` as local time, for messages."""
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.stored_at))


@dataclass
class Listing:
    """Every result in a store, sorted into what the outputs cover and what they leave out.

    Attributes:
        assignment: the id of the store's assignment.
        current: the newest result of each label under the current build, sorted by label.
        superseded: older results of a label in ``current`` (same build), kept on disk.
        stale: results graded under another build of the assignment (or for another one), left out.
        unreadable: store files that could not be loaded, left out.
    """

    assignment: str
    current: list[StoredResult]
    superseded: list[StoredResult]
    stale: list[StoredResult]
    unreadable: list[Path]

    @property
    def outcomes(self) -> list[Outcome]:
        """The outcomes the CSV, the feedback and the report cover, sorted by label."""
        return [r.outcome for r in self.current]

    def notes(self) -> list[str]:
        """One sentence per superseded result: which label, graded when, and where it stays."""
        newest = {r.label: r for r in self.current}
        return [f"{r.label}: the result graded {r.when()} is superseded by a newer one graded "
                f"{newest[r.label].when()}" + (" from changed file contents" if r.content != newest[r.label].content
                                               else "") + f"; the older one stays in {r.file}"
                for r in self.superseded]

    def warnings(self) -> list[str]:
        """Sentences about results left out of the outputs: other builds, other assignments, unreadable files."""
        lines = []
        graded = {r.label for r in self.current}
        groups = (
            ([r for r in self.stale if r.assignment == self.assignment],
             f"were graded under another build of {self.assignment} (its tests or points changed since)",
             "Grade these files again to put them back"),
            ([r for r in self.stale if not r.assignment],
             "come from an older grader that did not record their build",
             "Grade these files again into this folder (a result of the current build and options is reused, "
             "not regraded)"),
        )
        for entries, why, advice in groups:
            if entries:
                labels = sorted({r.label for r in entries})
                missing = sorted(set(labels) - graded)
                lines.append(f"{len(entries)} stored result(s) {why} and are left out of final_grades.csv and "
                             f"report.html; they stay in the store: {', '.join(labels)}. "
                             + (f"{advice}: {', '.join(missing)}." if missing
                                else "Each of these labels has a result of the current build."))
        others = [r for r in self.stale if r.assignment not in (self.assignment, "")]
        if others:
            lines.append(f"{len(others)} stored result(s) belong to another assignment "
                         f"({', '.join(sorted({r.assignment for r in others}))}) and are left out: "
                         + ", ".join(sorted({r.label for r in others})) + ". Give each assignment its own --out.")
        if self.unreadable:
            lines.append(f"{len(self.unreadable)} file(s) in the result store cannot be read and are left out: "
                         + ", ".join(str(p) for p in self.unreadable))
        return lines


class ResultStore:
    """Finished outcomes on disk, one file each (see the module's docstring)."""

    def __init__(self, folder: Path, a: Assignment, options: object):
        self.folder = folder
        self.assignment = a.id
        folder.mkdir(parents=True, exist_ok=True)
        info = a.build_info_file.read_bytes()
        self.build = hashlib.sha256(info).hexdigest()
        self.options = repr(options)
        self.salt = hashlib.sha256(info + self.options.encode()).hexdigest()

    @classmethod
    def reader(cls, folder: Path, assignment: str, build: str) -> "ResultStore":
        """A store to list only, for an assignment id and build digest known without its dist folder
        (``merge`` reads shard folders graded on other machines). It creates nothing and cannot save."""
        store = cls.__new__(cls)
        store.folder, store.assignment, store.build, store.options, store.salt = folder, assignment, build, "", ""
        return store

    def _file(self, label: str, data: bytes) -> Path:
        """Where the result for this label and these submission bytes lies (same build and options)."""
        return self.folder / f"{hashlib.sha256(self.salt.encode() + label.encode() + data).hexdigest()[:32]}.pkl"

    @staticmethod
    def _read(file: Path) -> StoredResult:
        """One store file; a bare Outcome (written before results carried their build) has build ""."""
        with open(file, "rb") as f:
            entry = dill.load(f)
        if isinstance(entry, Outcome):
            entry = StoredResult(entry, "", "", "", "", file.stat().st_mtime)
        if not isinstance(entry, StoredResult):
            raise TypeError(f"{file} holds a {type(entry).__name__}, not a stored result")
        return replace(entry, file=file)

    def load(self, path: Path, label: str) -> Outcome | None:
        """The stored result for these bytes, label, build and options, or None (grade it again)."""
        data = _bytes_of(path)
        file = self._file(label, data)
        try:
            entry = self._read(file)
        except Exception:  # missing or half-written
            return None
        if not entry.build:  # a bare Outcome from an older grader: its key vouches for build and options
            entry = replace(entry, assignment=self.assignment, content=hashlib.sha256(data).hexdigest(),
                            build=self.build, options=self.options)
            self._write(file, entry)
        return entry.outcome if self._is_current(entry) else None

    def _is_current(self, entry: StoredResult) -> bool:
        """Graded for this assignment under its current build."""
        return entry.build == self.build and entry.assignment == self.assignment

    def save(self, outcome: Outcome) -> None:
        """Keep one result, atomically; it becomes the newest result of its label."""
        data = _bytes_of(outcome.path)
        if not self.salt:
            raise RuntimeError(f"{self.folder}: a store opened with ResultStore.reader cannot save")
        entry = StoredResult(outcome, self.assignment, hashlib.sha256(data).hexdigest(), self.build, self.options,
                             time.time())
        self._write(self._file(outcome.label, data), entry)

    @staticmethod
    def _write(file: Path, entry: StoredResult) -> None:
        tmp = file.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            dill.dump(replace(entry, file=None), f)
        os.replace(tmp, file)

    def listing(self) -> Listing:
        """Every stored result: the newest per label under this build, and what is left out (and why)."""
        entries, unreadable = [], []
        for file in sorted(self.folder.glob("*.pkl")):
            try:
                entries.append(self._read(file))
            except Exception:
                unreadable.append(file)
        stale = [e for e in entries if not self._is_current(e)]
        newest: dict[str, StoredResult] = {}
        superseded = []
        for e in sorted((e for e in entries if self._is_current(e)), key=lambda e: (e.stored_at, e.file.name)):
            if e.label in newest:
                superseded.append(newest[e.label])
            newest[e.label] = e
        return Listing(self.assignment, [newest[k] for k in sorted(newest)], sorted(superseded, key=lambda e: (e.label, e.stored_at)),
                       sorted(stale, key=lambda e: (e.label, e.stored_at)), unreadable)
