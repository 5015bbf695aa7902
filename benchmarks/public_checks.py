"""Print how long each question's public checks take in a student's kernel.

Fills every built student notebook with the solution (as ``tests/test_student_path.py`` does), runs
it in Jupyter with nbclient and reads the timing nbclient records for every ``grader.check`` cell.

    .venv/bin/python benchmarks/public_checks.py [ID ...]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from datetime import datetime
from pathlib import Path

import nbclient

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from autograder import assignments, notebooks  # noqa: E402
from test_student_path import fill_with_solution  # noqa: E402


def _seconds(cell) -> float:
    timing = cell.get("metadata", {}).get("execution", {})
    start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not (start and end):
        return float("nan")
    parse = lambda t: datetime.fromisoformat(t.replace("Z", "+00:00"))  # noqa: E731
    return (parse(end) - parse(start)).total_seconds()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ids", nargs="*")
    args = parser.parse_args(argv)
    chosen = [assignments.get(i) for i in args.ids] if args.ids else assignments.all_assignments()
    for a in chosen:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp) / a.id
            shutil.copytree(a.student_dir, work)
            nb = fill_with_solution(notebooks.read(a.student_notebook), notebooks.read(a.solution_notebook))
            notebooks.write(nb, work / a.student_notebook.name)
            nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                    resources={"metadata": {"path": str(work)}}).execute()
        checks = [(notebooks.code_of(c).strip(), _seconds(c)) for c in nb.cells
                  if c.cell_type == "code" and "grader.check(" in notebooks.code_of(c)]
        print(f"{a.id}: " + ", ".join(f"{src.split(chr(34))[1]} {s:.2f} s" for src, s in checks if '"' in src))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
