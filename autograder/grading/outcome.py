"""What grading one submission produced (an ``Outcome``, from ``run_one``'s ``RunReport``), and the two ways
it can end without test results.

Every stage after the worker pool (the result store, the CSV, the feedback files, the report)
reads these types and nothing else from the pool, so this module imports no other part of the
grader.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
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
        verdicts: (where verdicts came from, how many) pairs: sealed, unreplayable, void.
        kernel_peak_rss_mb: the sandboxed kernel's largest process, from the watchdog's samples.
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
    kernel_peak_rss_mb: float = float("nan")
    manual: tuple = ()

    @property
    def status(self) -> str:
        """The ``grading_status`` cell: why it was not graded, or ``Completed`` with the grader's notes."""
        if self.results.has_catastrophic_failure():
            return str(self.results.catastrophic_error)
        return self.note or "Completed"


REPORT_NAME = "report.json"


@dataclass
class RunReport:
    """What grading one submission found besides its scores; ``run_one`` writes it, the batch reads it."""

    status: str = ""  # "Completed" or "Completed (...)": the CSV's grading_status
    sandboxed: bool = False  # the kernel ran in bubblewrap (or a container isolated the run)
    isolation: str = ""  # Sandbox.isolation: "bubblewrap", "user" (an unprivileged uid only) or "none"
    problems: list[str] = field(default_factory=list)  # cells that timed out, were cut or killed the kernel
    cell_errors: list[str] = field(default_factory=list)  # exceptions the notebook's cells raised
    tampering: list[str] = field(default_factory=list)
    verdicts: dict[str, dict] = field(default_factory=dict)  # per test: how its verdict was reached
    not_run: str = ""  # why the hidden tests were not judged ("" when they were)
    kernel_starts: int = 0
    seconds: float = 0.0
    peak_rss_mb: float = 0.0  # the grading process when it finished (a worker lives on)
    kernel_peak_rss_mb: float = 0.0  # the sandboxed kernel's largest process, from the watchdog's samples

    def write(self, folder: Path) -> None:
        (folder / REPORT_NAME).write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def read(cls, folder: Path) -> "RunReport":
        data = json.loads((folder / REPORT_NAME).read_text())
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})
