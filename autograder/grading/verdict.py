"""Turn a submission's data log into Otter ``GradingResults``, in a process that never ran student code.

Every hidden and public test gets its verdict from its replay on the logged data, against the
pristine expected values (see ``seal``). Nothing else the kernel wrote counts: a test whose replay
cannot complete (the log stops early, holds something that is not data, or was never written)
fails; there is no verdict "as the kernel saw it" to fall back on. The kernel's log is treated as
the student's answers, nothing more: forging it can only change what those answers are.

A passing verdict that rests on an *observation* (data course_checks computed inside the kernel,
such as a training run's losses) is voided when tampering was detected, since tampering could
have changed how that data was computed.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from otter.test_files import GradingResults
from otter.test_files.abstract_test import TestCaseResult
from otter.test_files.exception_test import ExceptionTestFile

from . import seal

FAILED = "❌ Test case failed\n"
MIN_QUOTE = 24  # characters
VOIDED = FAILED + ("Voided: this verdict rests on data computed inside your notebook's kernel, and "
                   "tampering was detected (see the status).")


def test_files(folder: Path) -> list[tuple[str, str]]:
    """[(path, source)] of the test files in ``folder``, in name order."""
    return [(str(p), p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.py"))]


def _test_lines(files: list[tuple[str, str]]) -> set[str]:
    """The lines of the test files long enough to identify them (quoted, they would reveal the tests)."""
    return {line.strip() for _, source in files for line in source.splitlines() if len(line.strip()) >= MIN_QUOTE}


def redact(message: str, lines: set[str]) -> str:
    """``message`` without any line of the tests in it: a student's code can read the hidden tests while
    they are recorded and could raise them as an exception message, which the feedback would show."""
    for line in lines:
        if line in message:
            message = message.replace(line, "[text of the hidden tests removed]")
    return message


def judge(log: dict | None, files: list[tuple[str, str]], files_dir: Path, *, tampering: list[str],
          functions: dict[str, dict] | None = None, not_run: str = "") -> tuple[GradingResults, dict[str, dict]]:
    """Grade the logged run. ``functions`` describes the student's functions as the submitted
    notebook defines them (``seal.notebook_functions``). Also returns, per test, how its verdict was
    reached: ``{"source": "sealed" | "unreplayable" | "void", "observed": bool}``."""
    verdicts: dict[str, tuple[bool, str]] = {}
    sources: dict[str, dict] = {}
    lines = _test_lines(files)
    if log is not None:
        with contextlib.chdir(files_dir):  # expected.pt
            replayed = seal.replay(log, files, functions or {})
        for file_name, rows in replayed.items():
            for name, passed, message, replayable, observed in rows:
                key = f"{file_name}::{name}"
                info = {"source": "sealed" if replayable else "unreplayable", "observed": observed}
                if tampering and observed and passed:
                    passed, message, info["source"] = False, VOIDED, "void"
                verdicts[key], sources[key] = (passed, redact(message, lines)), info
    results = []
    for path, source in files:
        tf = ExceptionTestFile.from_string(source, path=path)
        tf.test_case_results = []
        for tc in tf.test_cases:
            passed, message = verdicts.get(f"{tf.name}::{tc.name}",
                                           (False, FAILED + f"Not graded: {not_run or 'no log of the run'}."))
            tf.test_case_results.append(TestCaseResult(test_case=tc, message=message, passed=passed))
        results.append(tf)
    return GradingResults(results), sources
