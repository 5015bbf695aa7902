"""Test strength: wrong answers must lose points, right answers must get full marks.

Each assignment's ``solutions/<id>/mutants.py`` lists

* ``BUGS = {name: (question, {function: replacement source})}``: realistic mistakes;
* ``VARIANTS = {name: {function: replacement source}}``: other correct implementations;
* optionally ``NOTEBOOK_BUGS = {name: (question, {old text: new text})}`` for mistakes outside a
  function (a training cell, say), graded as whole notebooks by the real grader;
* ``CAUSES = {bug name: words}``: for every bug, a word or a tuple of words (case-insensitive, all
  required) that its feedback must contain, naming the bug's actual cause.

Function-level cases are fast: the mutated solution's definitions run in this process and the
autograder zip's own test files are run on them by Otter's test runner, question by question.
A bug is *caught* when its question loses points against the solution graded the same way (a
public test that needs notebook state may fail for both), no other question changes, the
failure message names the function it broke, and it contains the bug's ``CAUSES`` words. A variant is *accepted* when every question keeps full marks.

For every bug the suite also notes whether the *public* checks alone catch it (a public test case
of its question fails that passes for the solution): that is what a student sees with
``grader.check`` before submitting. ``public_table`` sums it up per question.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import linecache
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import torch

from . import notebooks
from .assignments import Assignment

#: question -> (score, possible, failure messages, names of the failing public test cases)
Scores = dict[str, tuple[float, float, str, frozenset[str]]]


@dataclass
class CaseResult:
    name: str
    kind: str  # "bug" or "variant"
    ok: bool
    detail: str
    question: str = ""
    public: bool | None = None  # bugs: a public test of its question fails (None: not judged)


@dataclass
class StrengthReport:
    assignment: str
    cases: list[CaseResult] = field(default_factory=list)
    max_error_ratio: float = 0.0  # largest |error| / tolerance seen while grading the variants
    seconds: float = 0.0

    def count(self, kind: str) -> tuple[int, int]:
        mine = [c for c in self.cases if c.kind == kind]
        return sum(c.ok for c in mine), len(mine)

    @property
    def perfect(self) -> bool:
        return all(c.ok for c in self.cases)


def load_catalogue(a: Assignment):
    path = a.source_dir / "mutants.py"
    spec = importlib.util.spec_from_file_location(f"mutants_{a.id.replace('-', '_')}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Harness:
    """The autograder zip of one assignment, unpacked, ready to grade many notebooks' definitions."""

    def __init__(self, a: Assignment, workdir: Path):
        self.a, self.dir = a, workdir
        with zipfile.ZipFile(a.autograder_zip) as zf:
            zf.extractall(workdir)
        self.tests = sorted((workdir / "tests").glob("*.py"))
        self._counter = 0

    def grade_definitions(self, nb, *, record_ratios: bool = False) -> tuple[Scores, list[float]]:
        """Run the notebook's definitions, then every shipped test file on them."""
        from otter.test_files.exception_test import ExceptionTestFile

        self._counter += 1
        filename = f"<{self.a.id} case {self._counter}>"
        code = notebooks.definitions(nb)
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)  # for inspect
        files = self.dir / "files"
        sys.path.insert(0, str(files))
        deterministic = torch.are_deterministic_algorithms_enabled()
        try:
            with contextlib.chdir(files):
                checks = __import__("course_checks")
                checks.AUDIT.ratios = [] if record_ratios else None
                torch.use_deterministic_algorithms(True)
                namespace: dict = {"__name__": "__main__"}
                exec(compile(code, filename, "exec"), namespace)
                scores: Scores = {}
                for path in self.tests:
                    tf = ExceptionTestFile.from_file(str(path))
                    tf.run(namespace)
                    failures = "\n".join(r.message for r in tf.test_case_results if not r.passed)
                    scores[tf.name] = (tf.score, tf.possible, failures, public_failures(tf.test_case_results))
                ratios = list(checks.AUDIT.ratios or [])
                checks.AUDIT.ratios = None
                return scores, ratios
        finally:
            torch.use_deterministic_algorithms(deterministic)
            sys.path.remove(str(files))
            sys.modules.pop("course_checks", None)


def public_failures(test_case_results) -> frozenset[str]:
    """Names of the public (not hidden) test cases among Otter's ``TestCaseResult``s that failed."""
    return frozenset(r.test_case.name for r in test_case_results if not r.passed and not r.test_case.hidden)


def _mutate(nb, replacements: dict[str, str]):
    for name, source in replacements.items():
        nb = notebooks.replace_function(nb, name, source)
    return nb


def _replace_text(nb, edits: dict[str, str]):
    nb = copy.deepcopy(nb)
    for old, new in edits.items():
        hits = [c for c in nb.cells if c.cell_type == "code" and old in notebooks.code_of(c)]
        if len(hits) != 1:
            raise ValueError(f"notebook edit must match exactly one code cell, matched {len(hits)}: {old[:60]!r}")
        hits[0].source = notebooks.code_of(hits[0]).replace(old, new)
    return nb


def judge_bug(name: str, question: str, functions: list[str], scores: Scores, baseline: Scores,
              cause: str | tuple[str, ...] | None = ()) -> CaseResult:
    """Caught = its question lost points, others kept their baseline, feedback names the function
    and contains every word of ``cause`` (None: the catalogue lists no cause for this bug)."""
    if question not in scores:
        return CaseResult(name, "bug", False, f"unknown question {question}")
    score, possible, failures, public = scores[question]
    public_caught = bool(public - baseline[question][3])
    if baseline[question][0] == 0:
        return CaseResult(name, "bug", False, f"{question} scores 0 from definitions alone (it grades "
                          "notebook state); list this bug under NOTEBOOK_BUGS")
    changed = [q for q in scores if q != question and scores[q][0] != baseline[q][0]]
    named = not functions or any(f in failures for f in functions)
    words = (cause,) if isinstance(cause, str) else tuple(cause or ())
    missing = [w for w in words if w.lower() not in failures.lower()]
    ok = score < baseline[question][0] and not changed and named and not missing and cause is not None
    detail = f"{question}: {score:g}/{possible:g}"
    if changed:
        detail += f"; also changed {', '.join(changed)}"
    if not named:
        detail += f"; feedback does not name {', '.join(functions)}"
    if cause is None:
        detail += "; CAUSES lists no cause for it"
    elif missing:
        detail += f"; feedback does not name the cause ({', '.join(repr(w) for w in missing)})"
    return CaseResult(name, "bug", ok, detail, question, public_caught)


def judge_variant(name: str, scores: Scores, baseline: Scores) -> CaseResult:
    lost = [f"{q} {s:g}/{p:g}" for q, (s, p, *_) in scores.items() if s != baseline[q][0]]
    first = next((scores[q][2] for q in scores if scores[q][0] != baseline[q][0]), "")
    detail = "full marks" if not lost else f"lost points: {', '.join(lost)}: {first.strip().splitlines()[-1:]}"
    return CaseResult(name, "variant", not lost, detail)


def run(a: Assignment, *, notebook_level: bool = True) -> StrengthReport:
    """Run one assignment's catalogue; ``notebook_level=False`` skips the whole-notebook bugs."""
    from .grading import batch

    start = time.monotonic()
    catalogue = load_catalogue(a)
    solution = notebooks.read(a.solution_notebook)
    report = StrengthReport(a.id)
    with tempfile.TemporaryDirectory(prefix=f"strength-{a.id}-") as tmp:
        harness = Harness(a, Path(tmp) / "zip")
        baseline, _ = harness.grade_definitions(solution)
        causes = getattr(catalogue, "CAUSES", {})
        for name, (question, replacements) in catalogue.BUGS.items():
            scores, _ = harness.grade_definitions(_mutate(solution, replacements))
            report.cases.append(judge_bug(name, question, list(replacements), scores, baseline, causes.get(name)))
        for name, replacements in catalogue.VARIANTS.items():
            scores, ratios = harness.grade_definitions(_mutate(solution, replacements), record_ratios=True)
            report.cases.append(judge_variant(name, scores, baseline))
            report.max_error_ratio = max([report.max_error_ratio, *ratios])
        if notebook_level:
            full = {q: (p, p, "", frozenset()) for q, (_, p, *_) in baseline.items()}
            for name, (question, edits) in getattr(catalogue, "NOTEBOOK_BUGS", {}).items():
                path = Path(tmp) / f"notebook-bug-{len(report.cases)}.ipynb"
                notebooks.write(_replace_text(solution, edits), path)
                outcome = batch.grade_one(a, path, path.name, Path(tmp) / path.stem, timeout=600, threads=2)
                if outcome.results.has_catastrophic_failure():
                    report.cases.append(CaseResult(name, "bug", False, outcome.status))
                    continue
                r = outcome.results
                scores = {q: (r.get_score(q), tf.possible, tf.summary(), public_failures(tf.test_case_results))
                          for q, tf in r.results.items()}
                report.cases.append(judge_bug(name, question, [], scores, full, causes.get(name)))
    report.seconds = time.monotonic() - start
    return report


def table(reports: list[StrengthReport]) -> str:
    rows = [("assignment", "bugs caught", "variants accepted", "max error/tol", "seconds")]
    for r in reports:
        (cb, tb), (cv, tv) = r.count("bug"), r.count("variant")
        rows.append((r.assignment, f"{cb}/{tb}", f"{cv}/{tv}", f"{r.max_error_ratio:.3g}", f"{r.seconds:.1f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for r in reports:
        lines += [f"  {r.assignment} {c.kind} '{c.name}': {c.detail}" for c in r.cases if not c.ok]
    return "\n".join(lines)



def public_counts(reports: list[StrengthReport]) -> dict[tuple[str, str], tuple[int, int]]:
    """(assignment, question) -> (bugs a public check catches, bugs catalogued)."""
    counts: dict[tuple[str, str], list[int]] = {}
    for r in reports:
        for c in r.cases:
            if c.kind == "bug" and c.public is not None:
                entry = counts.setdefault((r.assignment, c.question), [0, 0])
                entry[0] += c.public
                entry[1] += 1
    return {k: (v[0], v[1]) for k, v in counts.items()}


def public_table(reports: list[StrengthReport]) -> str:
    """Per question: how many catalogued bugs fail a public check, and which ones do not."""
    counts = public_counts(reports)
    lines = ["bugs caught by the public checks alone (grader.check, before submitting):"]
    for r in reports:
        questions = sorted({q for a, q in counts if a == r.assignment}, key=lambda q: (len(q), q))
        cells = [f"{q} {counts[r.assignment, q][0]}/{counts[r.assignment, q][1]}" for q in questions]
        caught = sum(counts[r.assignment, q][0] for q in questions)
        total = sum(counts[r.assignment, q][1] for q in questions)
        lines.append(f"  {r.assignment}: {caught}/{total}  ({', '.join(cells)})")
        lines += [f"    not public: {c.question} '{c.name}'" for c in r.cases if c.kind == "bug" and c.public is False]
    caught = sum(c for c, _ in counts.values())
    total = sum(t for _, t in counts.values())
    if total:
        lines.append(f"  all: {caught}/{total} = {caught / total:.0%}")
    return "\n".join(lines)
