"""Per-submission feedback files: every test's result and message, in plain text, for the student;
and one line per submission in the instructor's grading log (``INSTRUCTOR_LOG``), with where the
verdicts came from."""

from __future__ import annotations

import re
from pathlib import Path

from .outcome import Outcome


def score_line(o: Outcome) -> str:
    r = o.results
    if r.has_catastrophic_failure():
        return f"not graded: {o.status} ({o.seconds:.1f} s)"
    return f"{r.total:g} / {r.possible:g} ({o.seconds:.1f} s)"


def file_name(label: str) -> str:
    return re.sub(r"[^\w.-]+", "_", label) + ".txt"


def executed_name(label: str) -> str:
    """Where the batch keeps the notebook as it ran: the label, made safe, as an .ipynb name."""
    safe = re.sub(r"[^\w.-]+", "_", label)
    return safe if safe.endswith(".ipynb") else f"{safe}.ipynb"


def render(o: Outcome) -> str:
    lines = [f"Submission: {o.label}", f"Status: {o.status}", f"Score: {score_line(o)}", ""]
    r = o.results
    if r.has_catastrophic_failure():
        lines.append("No tests were run, so every question scores 0. Reason: " + o.status)
        return "\n".join(lines) + "\n"
    for q in sorted(r.results):
        test_file = r.results[q]
        lines.append(f"{q}: {r.get_score(q):g} / {test_file.possible:g}")
        for res in test_file.test_case_results:
            tc = res.test_case
            tag = "PASS" if res.passed else "FAIL"
            kind = "hidden" if tc.hidden else "public"
            message = res.message.replace("✅ Test case passed", "").replace("❌ Test case failed", "").strip()
            lines.append(f"  [{tag}] {tc.name} ({kind}, {tc.points:g} pt)")
            if not res.passed and message:
                lines += ["      " + m for m in message.splitlines()]
        lines.append("")
    errors = getattr(o, "cell_errors", ())
    if errors:
        lines.append("Errors raised by your notebook's cells while it was graded:")
        lines += [f"  {e}" for e in errors] + [""]
    return "\n".join(lines)


#: The instructor's log in the output folder: one line per submission graded, appended by ``log``.
INSTRUCTOR_LOG = "grading-log.txt"


def log_line(o: "Outcome") -> str:
    """One line for the instructor: the submission, its score and status, and how many verdicts were
    sealed (checked outside the notebook's process), unreplayable or void."""
    verdicts = getattr(o, "verdicts", ())
    sources = ", ".join(f"{n} {s}" for s, n in verdicts) or "none"
    return f"{o.label}\t{score_line(o)}\t{o.status}\tverdicts: {sources}"


def log(o: "Outcome", path: Path) -> None:
    """Append ``log_line(o)`` to the instructor's log at ``path``."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(log_line(o) + "\n")


def write(o: "Outcome", folder: Path) -> Path:
    path = folder / file_name(o.label)
    path.write_text(render(o), encoding="utf-8")
    return path
