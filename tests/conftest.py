"""Shared fixtures: built assignments and one graded batch of demo submissions per assignment."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from autograder import REPO_ROOT, assignments, demos
from autograder.build import build, is_current
from autograder.grading import batch

ALL = assignments.all_assignments()
IDS = [a.id for a in ALL]


def ensure_built(a: assignments.Assignment) -> assignments.Assignment:
    if not is_current(a):
        build(a)
    return a


def points_of(a: assignments.Assignment) -> dict[str, float]:
    return a.points


@pytest.fixture(scope="session", params=ALL, ids=IDS)
def built(request) -> assignments.Assignment:
    """Each assignment, built from its current master."""
    return ensure_built(request.param)


@pytest.fixture(scope="session")
def demo_batch(built, tmp_path_factory):
    """The demo submissions of one assignment, graded once: (assignment, demos, outcomes, csv frame, out dir)."""
    out = tmp_path_factory.mktemp(f"demo-{built.id}")
    made = demos.make(built, out / "submissions", points_of(built))
    outcomes = batch.grade(built, [d.path for d in made], out, workers=2, timeout=300, quiet=True)
    return built, made, {o.label: o for o in outcomes}, pd.read_csv(out / "final_grades.csv"), out


@pytest.fixture(scope="session")
def a1() -> assignments.Assignment:
    return ensure_built(assignments.get("01-softmax-cross-entropy"))


@pytest.fixture
def repo() -> Path:
    return REPO_ROOT
