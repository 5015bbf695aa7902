"""Turn a submission's data log into Otter ``GradingResults``, in a process that never ran student code.

Each hidden test gets one verdict:

* *sealed* (most tests): the test's replay on the logged data, against the pristine expected values;
* *kernel* (the tests ``build`` found it cannot replay, listed in ``build-info.json``, and tests that
  meet something replay cannot reproduce, such as a call to a model class the notebook defines,
  provided they need no expected values): the verdict the test reached inside the sandbox. Such
  verdicts, and sealed ones that rest on data course_checks computed in the kernel, are voided
  when tampering was detected.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from otter.test_files import GradingResults
from otter.test_files.abstract_test import TestCaseResult
from otter.test_files.exception_test import ExceptionTestFile

from . import seal

FAILED = "❌ Test case failed\n"


def test_files(folder: Path) -> list[tuple[str, str]]:
    """[(path, source)] of the test files in ``folder``, in name order."""
    return [(str(p), p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.py"))]




def judge(log: dict | None, files: list[tuple[str, str]], files_dir: Path, *, kernel_tests: set[str],
          tampering: list[str], not_run: str = "") -> tuple[GradingResults, dict[str, dict]]:
    """Grade the logged run. Also returns, per test, where its verdict came from ("sealed", "kernel"
    or "void") and both raw verdicts, which ``build`` uses to find the tests that need the kernel's."""
    verdicts: dict[str, tuple[bool, str]] = {}
    sources: dict[str, dict] = {}
    if log is not None:
        with contextlib.chdir(files_dir):  # expected.pt
            replayed = seal.replay(log, files)
        for file_name, rows in replayed.items():
            for name, passed, message, replayable, observed in rows:
                key = f"{file_name}::{name}"
                kernel = log["tests"].get(key, {}).get("kernel")
                uses_expected = bool(log["tests"].get(key, {}).get("uses_expected"))
                info = {"source": "sealed", "sealed": passed, "kernel": kernel["passed"] if kernel else None,
                        "uses_expected": uses_expected}
                if not replayable and kernel and not uses_expected and key not in kernel_tests:
                    passed, message = kernel["passed"], kernel["message"]  # e.g. a model class of the notebook's own
                    info["source"] = "kernel"
                    observed = True
                if key in kernel_tests:
                    passed, message = (kernel["passed"], kernel["message"]) if kernel else \
                        (False, FAILED + "The sandboxed run never reached this test.")
                    info["source"] = "kernel"
                if tampering and (key in kernel_tests or observed) and passed:
                    passed, message = False, FAILED + "Voided: this verdict relies on the notebook's own kernel, " \
                        "and tampering was detected (see the status)."
                    info["source"] = "void"
                verdicts[key], sources[key] = (passed, message), info
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
