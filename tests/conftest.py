"""Shared fixtures: built assignments and one graded batch of demo submissions per assignment.

Stale assignments are built in parallel (two at a time) before the tests start. Under pytest-xdist
(``make test TEST_JOBS=2``) the tests that share one costly fixture value go to one worker
(``xdist_group``), which computes it once.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from autograder import CPUS_ENV, REPO_ROOT, assignments, demos, usable_cpus
from autograder.build import build_if_stale, build_in_parallel, is_current
from autograder.grading import batch

ALL = assignments.all_assignments()
IDS = [a.id for a in ALL]


#: Fixtures whose value several tests share, and the group their tests run in under xdist
#: (module-scoped ones per module; demo_batch per assignment).
SHARED_FIXTURES = ("demo_batch", "catalogue", "one_machine", "graded_02", "expected", "slurm")


def ensure_built(a: assignments.Assignment) -> assignments.Assignment:
    build_if_stale(a)  # waits for a build of it running elsewhere (another test worker) instead of redoing it
    return a


def _xdist_workers(config) -> int:
    return 0 if hasattr(config, "workerinput") else int(getattr(config.option, "numprocesses", 0) or 0)


def pytest_configure(config):
    """Each pytest-xdist worker counts on its share of the cores, in its kernels and builds and in the
    notebooks it runs as a student: two workers each starting 2-thread kernels on 2 cores ran 5x slower."""
    if hasattr(config, "workerinput"):
        share = str(max(1, usable_cpus() // int(config.workerinput.get("workercount", 1))))
        os.environ.setdefault(CPUS_ENV, share)
        os.environ.setdefault("OMP_NUM_THREADS", os.environ[CPUS_ENV])


#: Fixtures that need built assignments; a module that calls ``ensure_built`` needs them too.
BUILT_FIXTURES = ("built", "a1", "demo_batch")


def _prebuild(session, jobs: int) -> None:
    """Build the stale assignments ``jobs`` at a time (a failed build fails the tests that need it,
    when they build it again)."""
    stale = [a for a in ALL if not is_current(a)]
    if len(stale) < 2 or jobs < 2:
        return
    say = session.config.pluginmanager.get_plugin("terminalreporter").write_line
    say(f"building {', '.join(a.id for a in stale)}, {jobs} at a time, before the tests start")
    build_in_parallel(stale, jobs=jobs, say=say)


def pytest_sessionstart(session):
    """Under xdist, build the stale assignments in parallel before the workers start."""
    if _xdist_workers(session.config) >= 2:
        _prebuild(session, _xdist_workers(session.config))


def pytest_collection_finish(session):
    """In one process, build the stale assignments in parallel when a collected test needs them."""
    if hasattr(session.config, "workerinput") or _xdist_workers(session.config) >= 2:
        return
    calls = {path: "ensure_built(" in Path(path).read_text(encoding="utf-8") for path in {str(i.fspath) for i in session.items}}
    needs = any(set(BUILT_FIXTURES) & set(getattr(item, "fixturenames", ())) or calls[str(item.fspath)]
                for item in session.items)
    if needs:
        _prebuild(session, min(2, usable_cpus()))


def pytest_collection_modifyitems(config, items):
    for item in items:
        names = getattr(item, "fixturenames", ())
        shared = next((n for n in SHARED_FIXTURES if n in names), None)
        if shared == "demo_batch":
            item.add_marker(pytest.mark.xdist_group(f"demo_batch-{item.callspec.params['built'].id}"))
        elif shared:
            item.add_marker(pytest.mark.xdist_group(f"{item.module.__name__}-{shared}"))


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
