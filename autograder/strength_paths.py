"""The two graders the strength suite measures, each run in this process on a notebook's definitions.

* ``OtterPath``: Otter's own test runner (``ExceptionTestFile.run``) on the definitions, which is what
  Gradescope does: the tests and the student's code share one namespace.
* ``SealedPath``: what ``python -m autograder grade`` does, without the kernel. The hidden tests run
  once on the definitions while ``seal.record`` logs every student call as data (expected values
  unknown, as in the sandbox); the log goes through ``torch.save`` and ``torch.load(weights_only=True)``;
  the pristine tests replay it and ``verdict.judge`` gives the verdicts. The mutated definitions are
  executed here rather than in a sandboxed kernel: they are our own catalogue, not student code.

Both return ``Scores``: per question, the score and what failed, with each test case's points.
"""

from __future__ import annotations

import contextlib
import linecache
import shutil
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch

from . import notebooks
from .assignments import Assignment


@dataclass(frozen=True)
class Question:
    """One question's result: score, the failing tests' messages and names, every test's points."""

    score: float
    possible: float
    failures: str
    failed: frozenset[str]
    points: dict[str, float]
    tests: dict[str, str]  # test case name ("q1 - 4") -> its test function ("test_softmax_no_library_calls")
    public_failed: frozenset[str] = frozenset()  # the failing test cases a student sees (not hidden)


Scores = dict[str, Question]


def scores_of(test_files) -> Scores:
    """``Scores`` from Otter test files whose ``test_case_results`` are filled in."""
    out: Scores = {}
    for tf in test_files:
        failing = [r for r in tf.test_case_results if not r.passed]
        out[tf.name] = Question(
            score=tf.score, possible=tf.possible, failures="\n".join(r.message for r in failing),
            failed=frozenset(r.test_case.name for r in failing),
            points={tc.name: float(tc.points) for tc in tf.test_cases},
            tests={tc.name: getattr(getattr(tc.body, "test_func", None), "__name__", "") for tc in tf.test_cases},
            public_failed=frozenset(r.test_case.name for r in failing if not r.test_case.hidden))
    return out


class _Definitions:
    """Executes a notebook's definitions as ``__main__`` code that ``inspect.getsource`` can read."""

    def __init__(self, a: Assignment):
        self.a, self.count = a, 0

    def namespace(self, nb) -> dict:
        self.count += 1
        filename = f"<{self.a.id} case {self.count}>"
        code = notebooks.definitions(nb)
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
        namespace: dict = {"__name__": "__main__"}
        exec(compile(code, filename, "exec"), namespace)
        return namespace


@contextlib.contextmanager
def _deterministic():
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)


class Audit:
    """The tolerance audit of one grading: |error| / tolerance of passing comparisons, and the share
    of a statistical margin (a trained model's held-out metrics) that passing checks used."""

    def __init__(self) -> None:
        self.ratios: list[float] = []
        self.margins: list[tuple[str, float]] = []

    @contextlib.contextmanager
    def watching(self, module):
        """Collect from the ``AUDIT`` of the course_checks ``module`` while the block runs."""
        audit = module.AUDIT
        audit.ratios, audit.margins = [], []
        try:
            yield
        finally:
            self.ratios += audit.ratios or []
            self.margins += audit.margins or []
            audit.ratios = audit.margins = None


class OtterPath:
    """Otter's ``ExceptionTestFile.run`` on the definitions, with the zip's own ``course_checks.py``."""

    name = "otter"

    def __init__(self, a: Assignment, unpacked: Path):
        self.files = unpacked / "files"
        self.tests = sorted((unpacked / "tests").glob("*.py"))
        self.defs = _Definitions(a)

    def grade(self, nb, audit: Audit | None = None) -> Scores:
        from otter.test_files.exception_test import ExceptionTestFile

        sys.path.insert(0, str(self.files))
        try:
            with contextlib.chdir(self.files), _deterministic():
                checks = __import__("course_checks")
                namespace = self.defs.namespace(nb)
                results = []
                with audit.watching(checks) if audit else contextlib.nullcontext():
                    for path in self.tests:
                        tf = ExceptionTestFile.from_file(str(path))
                        tf.run(namespace)
                        results.append(tf)
                return scores_of(results)
        finally:
            sys.path.remove(str(self.files))
            sys.modules.pop("course_checks", None)


class SealedPath:
    """Record, log, replay, judge: the grader's own path, in this process."""

    name = "sealed"

    def __init__(self, a: Assignment, unpacked: Path):
        from .grading import run_one, verdict

        self.files = unpacked / "files"
        self.record_dir = unpacked / "record"
        (self.record_dir / "tests").mkdir(parents=True, exist_ok=True)
        for test in (unpacked / "tests").glob("*.py"):
            shutil.copyfile(test, self.record_dir / "tests" / test.name)
        run_one._inputs_only(self.files / "expected.pt", self.record_dir / "expected.pt")  # what the kernel sees
        self.record_files = verdict.test_files(self.record_dir / "tests")
        self.pristine_files = verdict.test_files(unpacked / "tests")
        self.log_path = unpacked / "log.pt"
        self.defs = _Definitions(a)

    def grade(self, nb, audit: Audit | None = None) -> Scores:
        from . import course_checks
        from .grading import seal, verdict

        with _deterministic(), seal.shipped_modules():  # the notebook's own `import course_data` too
            namespace = self.defs.namespace(nb)
            with contextlib.chdir(self.record_dir):
                seal.record(namespace, self.record_files, str(self.log_path))
        with _deterministic():
            log = torch.load(self.log_path, weights_only=True, map_location="cpu")
            with audit.watching(course_checks) if audit else contextlib.nullcontext():
                results, _ = verdict.judge(log, self.pristine_files, self.files, tampering=[],
                                           functions=seal.notebook_functions(
                                               [notebooks.code_of(c) for c in nb.cells if c.cell_type == "code"]))
        return scores_of(results.results.values())


def unpack(a: Assignment, folder: Path) -> Path:
    """The autograder zip of ``a``, unpacked into ``folder``."""
    with zipfile.ZipFile(a.autograder_zip) as zf:
        zf.extractall(folder)
    return folder


def paths(a: Assignment, folder: Path) -> list:
    """Both graders, sealed first, on one unpacked copy of the zip."""
    unpacked = unpack(a, folder)
    return [SealedPath(a, unpacked), OtterPath(a, unpacked)]
