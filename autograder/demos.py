"""The embedded demo submissions: the solution, the blank student notebook and a two-bug notebook."""

from __future__ import annotations

import importlib.util
import shutil
from dataclasses import dataclass
from pathlib import Path

from . import notebooks
from .assignments import Assignment


@dataclass(frozen=True)
class Demo:
    path: Path
    expected_total: float


def _bugs(a: Assignment):
    spec = importlib.util.spec_from_file_location(f"demo_bugs_{a.id.replace('-', '_')}", a.demo_bugs)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make(a: Assignment, folder: Path, points: dict[str, float]) -> list[Demo]:
    """Write the demo notebooks of ``a`` into ``folder`` with the total each should score."""
    folder.mkdir(parents=True, exist_ok=True)
    full = sum(points.values())
    solution = folder / "solution.ipynb"
    shutil.copy(a.solution_notebook, solution)
    blank = folder / "blank.ipynb"
    shutil.copy(a.student_notebook, blank)
    demos = [Demo(solution, full), Demo(blank, 0.0)]
    if a.demo_bugs.exists():
        bugs = _bugs(a)
        nb = notebooks.read(a.solution_notebook)
        for name, source in bugs.BUGS.items():
            nb = notebooks.replace_function(nb, name, source)
        buggy = folder / "two-bugs.ipynb"
        notebooks.write(nb, buggy)
        demos.append(Demo(buggy, full - sum(bugs.POINTS_LOST.values())))
    return demos
