"""What grading one submission produced, and the two ways it can end without test results.

Every stage after the worker pool (the result store, the CSV, the feedback files, the report)
reads these types and nothing else from the pool, so this module imports no other part of the
grader.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from otter.test_files import GradingResults


class SubmissionTimeout(Exception):
    """The submission ran past its wall-clock limit and its process tree was killed."""


class GraderCrash(Exception):
    """The grading process died without results (e.g. the kernel was killed)."""


@dataclass
class Outcome:
    """What grading one submission produced.

    Attributes:
        label: the submission's row name in ``final_grades.csv`` (unique within a batch).
        path: the submission file as it was given to the grader.
        results: Otter's results; a catastrophic error when the submission was not graded.
        seconds: wall-clock time of the whole submission.
        peak_rss_mb: the larger peak of the grading process and its kernel (nan when not run).
        note: the grader's status for a completed run, e.g. ``"Completed (unsandboxed)"``.
        cell_errors: the exceptions the notebook's cells raised while it was graded.
        verdicts: (where verdicts came from, how many) pairs: sealed, kernel, void.
        manual: the submission's answers to the questions graded by hand (``manual.ManualAnswer``),
            one per such question, read from the submitted notebook.
    """

    label: str
    path: Path
    results: GradingResults
    seconds: float
    peak_rss_mb: float = float("nan")
    note: str = ""
    cell_errors: tuple[str, ...] = ()
    verdicts: tuple[tuple[str, int], ...] = ()
    manual: tuple = ()

    @property
    def status(self) -> str:
        """The ``grading_status`` cell: why it was not graded, or ``Completed`` with the grader's notes."""
        if self.results.has_catastrophic_failure():
            return str(self.results.catastrophic_error)
        return self.note or "Completed"
