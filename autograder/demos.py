"""The embedded demo submissions: the solution, the blank student notebook and buggy notebooks.

``solutions/<id>/demo_bugs.py`` defines ``BUGS`` ({function: replacement source}) and
``POINTS_LOST`` ({question: points}) for the ``two-bugs`` demo, and optionally ``EXTRA_DEMOS``
({demo name: (BUGS, POINTS_LOST)}) for more buggy demos.
"""

from __future__ import annotations

import importlib.util
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from . import notebooks
from .assignments import Assignment


@dataclass(frozen=True)
class Demo:
    path: Path
    expected_total: float
    points_lost: dict[str, float] = field(default_factory=dict)


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
    if not a.demo_bugs.exists():
        return demos
    module = _bugs(a)
    variants = {"two-bugs": (module.BUGS, module.POINTS_LOST), **getattr(module, "EXTRA_DEMOS", {})}
    for demo_name, (bugs, lost) in variants.items():
        nb = notebooks.read(a.solution_notebook)
        for name, source in bugs.items():
            nb = notebooks.replace_function(nb, name, source)
        path = folder / f"{demo_name}.ipynb"
        notebooks.write(nb, path)
        demos.append(Demo(path, full - sum(lost.values()), dict(lost)))
    return demos
