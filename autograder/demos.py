"""The embedded demo submissions: the solution, the blank student notebook and buggy notebooks.

``solutions/<id>/demo_bugs.py`` defines ``DEMOS = {demo name: (catalogue entries, points lost)}``:
each buggy demo names entries of the assignment's mutation catalogue (``mutants.py``: ``BUGS``,
``NOTEBOOK_BUGS`` or ``SEED_CODE``) and says how many points each question must lose. The bugs'
code lives in the catalogue only.
"""

from __future__ import annotations

import importlib.util
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from nbformat import NotebookNode

from . import notebooks, strength
from .assignments import Assignment


class UnknownCatalogueEntry(LookupError):
    """A demo names a bug that the assignment's catalogue does not hold."""


@dataclass(frozen=True)
class Demo:
    path: Path
    expected_total: float
    points_lost: dict[str, float] = field(default_factory=dict)


def declared(a: Assignment) -> dict[str, tuple[tuple[str, ...], dict[str, float]]]:
    """``DEMOS`` of ``a``'s ``demo_bugs.py`` (empty when it has none)."""
    if not a.demo_bugs.exists():
        return {}
    spec = importlib.util.spec_from_file_location(f"demo_bugs_{a.id.replace('-', '_')}", a.demo_bugs)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {name: (tuple(entries), dict(lost)) for name, (entries, lost) in module.DEMOS.items()}


def with_bugs(a: Assignment, entries: tuple[str, ...], nb: NotebookNode | None = None) -> NotebookNode:
    """``nb`` (the solution by default) with the catalogue entries ``entries`` applied, in order."""
    catalogue = strength.load_catalogue(a)
    nb = notebooks.read(a.solution_notebook) if nb is None else nb
    functions = {**getattr(catalogue, "SEED_CODE", {}), **catalogue.BUGS}
    for entry in entries:
        if entry in functions:
            nb = strength.mutate(nb, functions[entry][1])
        elif entry in getattr(catalogue, "NOTEBOOK_BUGS", {}):
            nb = strength.replace_text(nb, catalogue.NOTEBOOK_BUGS[entry][1])
        else:
            raise UnknownCatalogueEntry(
                f"{a.demo_bugs}: {entry!r} is not an entry of {a.source_dir / 'mutants.py'} "
                "(BUGS, NOTEBOOK_BUGS or SEED_CODE)")
    return nb


def make(a: Assignment, folder: Path, points: dict[str, float]) -> list[Demo]:
    """Write the demo notebooks of ``a`` into ``folder`` with the total each should score."""
    folder.mkdir(parents=True, exist_ok=True)
    full = sum(points.values())
    solution = folder / "solution.ipynb"
    shutil.copy(a.solution_notebook, solution)
    blank = folder / "blank.ipynb"
    shutil.copy(a.student_notebook, blank)
    demos = [Demo(solution, full), Demo(blank, 0.0)]
    for demo_name, (entries, lost) in declared(a).items():
        path = folder / f"{demo_name}.ipynb"
        notebooks.write(with_bugs(a, entries), path)
        demos.append(Demo(path, full - sum(lost.values()), dict(lost)))
    return demos
