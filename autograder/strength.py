"""Test strength: wrong answers must lose points, right answers must get full marks, on both graders.

Each assignment's ``solutions/<id>/mutants.py`` lists

* ``BUGS = {name: (question, {function: replacement source})}``: realistic mistakes;
* ``EVASIONS = {name: (question, {function: source})}``: correct values reached through a library
  call that the no-library rule forbids, by routes the source scan misses; each must lose exactly
  the points of its question's no-library tests;
* ``SEED_CODE = {name: (question or None, {function: source})}``: the seed notebooks' own functions,
  adapted only in name and signature; None means they are right and must get full marks, a question
  means they are wrong and must lose points there;
* ``VARIANTS = {name: {function: replacement source}}``: other correct implementations;
* optionally ``NOTEBOOK_BUGS = {name: (question, {old text: new text})}`` for mistakes outside a
  function (a training cell, say), graded as whole notebooks;
* ``CAUSES = {bug name: words}``: for every bug, a word or a tuple of words (case-insensitive, all
  required) that its feedback must contain, naming the bug's actual cause.

Every function-level case is graded twice (``strength_paths``): through the sealed path that grades
students (record, log, ``torch.load(weights_only=True)``, replay, ``verdict.judge``) and through
Otter's own runner (Gradescope's path). A bug is *caught* when its question loses points against the
solution graded the same way, no other question changes, and the failure text, not counting the
quoted test line, names a function it broke and contains the bug's ``CAUSES`` words. A variant is *accepted* when every question keeps its
score. Passing comparisons of variants record |error| / tolerance (and, for training checks, the
share of the statistical margin used).

For every bug the suite also notes whether the *public* checks alone catch it (a public test case
of its question fails that passes for the solution): that is what a student sees with
``grader.check`` before submitting. ``public_table`` sums it up per question.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import importlib.util
import multiprocessing
import re
import tempfile
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import torch

from . import notebooks, usable_cpus
from .assignments import Assignment
from .strength_paths import Audit, Question, Scores, paths

#: The families of a catalogue, in the order the report lists them.
KINDS = ("bug", "evasion", "seed code", "variant")
GRADERS = ("sealed", "otter")
NO_LIBRARY = "no_library"  # test cases whose name contains this enforce the from-scratch rule


@dataclass
class CaseResult:
    name: str
    kind: str  # one of KINDS
    ok: dict[str, bool]  # grader -> verdict
    detail: dict[str, str]
    question: str = ""
    public: bool | None = None  # bugs: a public test of its question fails (None: not judged)

    @property
    def perfect(self) -> bool:
        return all(self.ok.values())


@dataclass
class StrengthReport:
    assignment: str
    cases: list[CaseResult] = field(default_factory=list)
    max_error_ratio: float = 0.0  # largest |error| / tolerance over passing comparisons of right answers
    max_margin_used: float = 0.0  # largest share of a training margin that a right answer used
    margin_worst: str = ""
    seconds: float = 0.0

    def count(self, kind: str, grader: str = "sealed") -> tuple[int, int]:
        mine = [c for c in self.cases if c.kind == kind and grader in c.ok]
        return sum(c.ok[grader] for c in mine), len(mine)

    @property
    def perfect(self) -> bool:
        return all(c.perfect for c in self.cases)


def load_catalogue(a: Assignment):
    path = a.source_dir / "mutants.py"
    spec = importlib.util.spec_from_file_location(f"mutants_{a.id.replace('-', '_')}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def mutate(nb, replacements: dict[str, str]):
    """``nb`` with each named function replaced by its catalogue source (which must parse)."""
    for name, source in replacements.items():
        try:
            ast.parse(source)
        except SyntaxError as exc:  # a case that does not parse would be "caught" for the wrong reason
            raise ValueError(f"the catalogue's replacement of {name} does not parse: {exc}") from None
        nb = notebooks.replace_function(nb, name, source)
    return nb


def replace_text(nb, edits: dict[str, str]):
    """A copy of ``nb`` with each old text replaced in the one code cell that holds it."""
    nb = copy.deepcopy(nb)
    for old, new in edits.items():
        hits = [c for c in nb.cells if c.cell_type == "code" and old in notebooks.code_of(c)]
        if len(hits) != 1:
            raise ValueError(f"notebook edit must match exactly one code cell, matched {len(hits)}: {old[:60]!r}")
        hits[0].source = notebooks.code_of(hits[0]).replace(old, new)
    return nb


_QUOTED_LINE = re.compile(r"^Error at line \d+ in test [^\n]*:\n[^\n]*\n?", re.MULTILINE)


def explanation(failures: str) -> str:
    """The failure messages without the test line each quotes (which always names the function)."""
    return _QUOTED_LINE.sub("", failures)


def judge_bug(question: str, functions: list[str], scores: Scores, baseline: Scores,
              exact: frozenset[str] | None = None, cause: str | tuple[str, ...] | None = ()) -> tuple[bool, str]:
    """Caught = its question lost points (exactly the tests ``exact``, when given), others kept their
    baseline, and the explanation names one of ``functions`` and contains every word of ``cause``
    (None: the catalogue lists no cause for this bug)."""
    if question not in scores:
        return False, f"unknown question {question}"
    mine, base = scores[question], baseline[question]
    if base.score == 0:
        return False, (f"{question} scores 0 from definitions alone (it grades notebook state); "
                       "list this bug under NOTEBOOK_BUGS")
    changed = [q for q in scores if q != question and scores[q].score != baseline[q].score]
    named = not functions or any(f in explanation(mine.failures) for f in functions)
    lost = mine.failed - base.failed
    words = (cause,) if isinstance(cause, str) else tuple(cause or ())
    missing = [w for w in words if w.lower() not in explanation(mine.failures).lower()]
    ok = (mine.score < base.score and not changed and named and (exact is None or lost == exact)
          and not missing and cause is not None)
    detail = f"{question}: {mine.score:g}/{mine.possible:g}"
    if exact is not None and lost != exact:
        detail += f"; failed {sorted(lost)}, expected exactly {sorted(exact)}"
    if changed:
        detail += f"; also changed {', '.join(changed)}"
    if not named:
        detail += f"; feedback does not name {', '.join(functions)}"
    if cause is None:
        detail += "; CAUSES lists no cause for it"
    elif missing:
        detail += f"; feedback does not name the cause ({', '.join(repr(w) for w in missing)})"
    return ok, detail


def caught_in_public(question: str, scores: Scores, baseline: Scores) -> bool | None:
    """Whether a public test of ``question`` fails that passes for the solution (None: unknown question)."""
    if question not in scores or question not in baseline:
        return None
    return bool(scores[question].public_failed - baseline[question].public_failed)


def judge_variant(scores: Scores, baseline: Scores) -> tuple[bool, str]:
    lost = [f"{q} {r.score:g}/{r.possible:g}" for q, r in scores.items() if r.score != baseline[q].score]
    first = next((r.failures for q, r in scores.items() if r.score != baseline[q].score), "")
    return not lost, "full marks" if not lost else f"lost points: {', '.join(lost)}: {explanation(first).strip()[-400:]}"


def _no_library_tests(question: Question) -> frozenset[str]:
    return frozenset(t for t, function in question.tests.items() if NO_LIBRARY in function)


def _cases(catalogue) -> list[tuple[str, str, str | None, dict]]:
    """(kind, name, question or None, replacements) for every function-level case."""
    out = [("bug", n, q, r) for n, (q, r) in catalogue.BUGS.items()]
    out += [("evasion", n, q, r) for n, (q, r) in getattr(catalogue, "EVASIONS", {}).items()]
    out += [("seed code", n, q, r) for n, (q, r) in getattr(catalogue, "SEED_CODE", {}).items()]
    out += [("variant", n, None, r) for n, r in catalogue.VARIANTS.items()]
    return out


def default_jobs() -> int:
    """Worker processes ``run`` uses unless told: the cores this process may use, at most 4."""
    return min(4, usable_cpus())


def run(a: Assignment, *, notebook_level: bool = True, progress=None, jobs: int | None = None) -> StrengthReport:
    """Run one assignment's catalogue on both graders; ``notebook_level=False`` skips the whole-notebook
    bugs; ``progress(line)`` hears about every case as it finishes, in catalogue order.

    With ``jobs`` > 1 (default: the cores, at most 4) the function-level cases are graded in that many
    worker processes of one torch thread each, every one with its own unpacked zip and baselines,
    while this process grades the whole-notebook bugs."""
    start = time.monotonic()
    jobs = max(1, jobs if jobs is not None else default_jobs())
    report = StrengthReport(a.id)
    audit = Audit()
    with tempfile.TemporaryDirectory(prefix=f"strength-{a.id}-") as tmp, contextlib.ExitStack() as stack:
        if jobs == 1:
            state = _prepare(a, Path(tmp) / "zip")
            baseline = state["baselines"]["sealed"]
            results = (_judge_case(case, state, audit) for case in state["cases"])
        else:
            pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"),
                                       initializer=_start_worker, initargs=(a, Path(tmp)))
            stack.callback(pool.shutdown, cancel_futures=True)
            baseline_task = pool.submit(_sealed_baseline)
            tasks = [pool.submit(_grade_in_worker, i) for i in range(len(_cases(load_catalogue(a))))]
            baseline = baseline_task.result()
            results = (_collect(task, audit) for task in tasks)
        # The whole-notebook bugs first: with workers, they run here while the workers grade.
        notebook_cases = _notebook_bugs(a, baseline, Path(tmp)) if notebook_level else []
        for result in results:
            report.cases.append(result)
            if progress:
                progress(f"{a.id} {result.kind} '{result.name}': "
                         + ", ".join(f"{g} {'ok' if v else 'FAILED'}" for g, v in result.ok.items()))
        report.cases += notebook_cases
    report.max_error_ratio = max(audit.ratios, default=0.0)
    if audit.margins:
        report.margin_worst, report.max_margin_used = max(audit.margins, key=lambda m: m[1])
    report.seconds = time.monotonic() - start
    return report


def _prepare(a: Assignment, folder: Path) -> dict:
    """What grading the function-level cases needs: the cases, the solution, both graders on the zip
    unpacked into ``folder``, their baselines (the solution's scores) and the catalogue's causes."""
    catalogue = load_catalogue(a)
    solution = notebooks.read(a.solution_notebook)
    graders = paths(a, folder)
    return {"cases": _cases(catalogue), "solution": solution, "graders": graders,
            "baselines": {g.name: g.grade(solution) for g in graders}, "causes": getattr(catalogue, "CAUSES", {})}


def _judge_case(case: tuple, state: dict, audit: Audit) -> CaseResult:
    """Grade one function-level case on both graders and judge it against their baselines."""
    kind, name, question, replacements = case
    nb = mutate(state["solution"], replacements)
    result = CaseResult(name, kind, {}, {}, question or "")
    right = kind == "variant" or (kind == "seed code" and question is None)
    for g in state["graders"]:
        with warnings.catch_warnings():  # the catalogue's NumPy ports warn about overflow and wrapping
            warnings.simplefilter("ignore")
            scores = g.grade(nb, audit if right else None)
        base = state["baselines"][g.name]
        if right:
            ok, detail = judge_variant(scores, base)
        else:
            exact = _no_library_tests(base[question]) if kind == "evasion" and question in base else None
            ok, detail = judge_bug(question, list(replacements), scores, base, exact,
                                   state["causes"].get(name) if kind == "bug" else ())
            if kind == "bug" and g.name == "sealed":
                result.public = caught_in_public(question, scores, base)
        result.ok[g.name], result.detail[g.name] = ok, detail
    return result


_WORKER: dict = {}  # a worker process's ``_prepare`` state


def _start_worker(a: Assignment, folder: Path) -> None:
    torch.set_num_threads(1)
    _WORKER.update(_prepare(a, Path(tempfile.mkdtemp(dir=folder))))


def _grade_in_worker(index: int) -> tuple[CaseResult, list, list]:
    audit = Audit()
    return _judge_case(_WORKER["cases"][index], _WORKER, audit), audit.ratios, audit.margins


def _sealed_baseline() -> Scores:
    return _WORKER["baselines"]["sealed"]


def _collect(task, audit: Audit) -> CaseResult:
    result, ratios, margins = task.result()
    audit.ratios += ratios
    audit.margins += margins
    return result


def _notebook_bugs(a: Assignment, baseline: Scores, tmp: Path) -> list[CaseResult]:
    """Whole-notebook bugs: graded by the real grader (sandboxed kernel, sealed) and by ``otter run``."""
    from .grading import batch
    from .strength_paths import scores_of

    catalogue = load_catalogue(a)
    solution = notebooks.read(a.solution_notebook)
    causes = getattr(catalogue, "CAUSES", {})
    out = []
    full = {q: Question(r.possible, r.possible, "", frozenset(), r.points, r.tests) for q, r in baseline.items()}
    for name, (question, edits) in getattr(catalogue, "NOTEBOOK_BUGS", {}).items():
        path = tmp / f"notebook-bug-{len(out)}.ipynb"
        notebooks.write(replace_text(solution, edits), path)
        result = CaseResult(name, "bug", {}, {}, question)
        with ThreadPoolExecutor(1) as pool:  # otter run beside the sealed grader: one core each
            otter = pool.submit(_otter_run, a, path, question, full, causes.get(name))
            outcome = batch.grade_one(a, path, path.name, tmp / path.stem, timeout=600, threads=1)
        if outcome.results.has_catastrophic_failure():
            result.ok["sealed"], result.detail["sealed"] = False, outcome.status
        else:
            scores = scores_of(outcome.results.results.values())
            result.ok["sealed"], result.detail["sealed"] = judge_bug(question, [], scores, full, None, causes.get(name))
            result.public = caught_in_public(question, scores, full)
        result.ok["otter"], result.detail["otter"] = otter.result()
        out.append(result)
    return out


def _otter_run(a: Assignment, path: Path, question: str, full: Scores, cause) -> tuple[bool, str]:
    """Grade ``path`` with ``otter run`` (in a process of its own, so that it can run beside the
    sealed grader) and judge the bug."""
    from .build import BuildError, otter_run
    from .strength_paths import scores_of

    try:
        results = otter_run(path, a.autograder_zip, path.parent, env={"OMP_NUM_THREADS": "1"})
    except BuildError as exc:
        return False, str(exc)
    if results.has_catastrophic_failure():
        return False, f"otter run failed: {results.catastrophic_error}"
    return judge_bug(question, [], scores_of(results.results.values()), full, None, cause)


def table(reports: list[StrengthReport]) -> str:
    """One row per assignment: each family caught (or accepted) through the sealed path and Otter's."""
    head = ["assignment"] + [f"{k}s {'accepted' if k == 'variant' else 'caught'} (sealed | otter)" for k in KINDS]
    rows = [head + ["max error/tol", "max margin used", "seconds"]]
    for r in reports:
        cells = []
        for kind in KINDS:
            (cs, ts), (co, to) = r.count(kind, "sealed"), r.count(kind, "otter")
            cells.append(f"{cs}/{ts} | {co}/{to}" if ts else "-")
        margin = f"{r.max_margin_used:.2f} ({r.margin_worst})" if r.margin_worst else "-"
        rows.append([r.assignment, *cells, f"{r.max_error_ratio:.3g}", margin, f"{r.seconds:.1f}"])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for r in reports:
        for c in r.cases:
            for grader, ok in c.ok.items():
                if not ok:
                    lines.append(f"  {r.assignment} {c.kind} '{c.name}' [{grader}]: {c.detail[grader]}")
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
