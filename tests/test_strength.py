"""Issue 6: wrong answers lose points, right answers get full marks, nothing leaks to students."""

from __future__ import annotations

import pytest

from autograder import strength
from autograder.assignments import all_assignments
from leaks import find_leaks, student_texts

MIN_BUGS, MIN_VARIANTS, MAX_ERROR_RATIO = 12, 6, 0.1
ALL = all_assignments()


@pytest.mark.parametrize("a", ALL, ids=[a.id for a in ALL])
def test_every_assignment_has_a_catalogue(a):
    assert (a.source_dir / "mutants.py").exists(), f"{a.id} has no mutants.py"
    catalogue = strength.load_catalogue(a)
    bugs = len(catalogue.BUGS) + len(getattr(catalogue, "NOTEBOOK_BUGS", {}))
    assert bugs >= MIN_BUGS and len(catalogue.VARIANTS) >= MIN_VARIANTS


@pytest.mark.slow
def test_mutation_suite_catches_every_bug_and_accepts_every_variant(built, capsys):
    report = strength.run(built)
    with capsys.disabled():
        print("\n" + strength.table([report]))
        print(f"{built.id}: largest |error| / tolerance over the correct variants: {report.max_error_ratio:.3g}")
    assert report.perfect, strength.table([report])
    assert report.max_error_ratio <= MAX_ERROR_RATIO, "right answers must pass with a 10x margin"


def test_student_folder_leaks_nothing(built):
    leaks = find_leaks(built, student_texts(built.student_dir))
    assert not leaks, "\n".join(leaks)


def test_leak_guard_can_fail(built, tmp_path):
    """The guard itself finds a planted hidden test, solution block and expected value."""
    from leaks import expected_value_strings, hidden_test_functions

    planted = {
        "hidden.txt": "@test_case(points=1, hidden=True)",
        "solution.txt": "# BEGIN SOLUTION",
    }
    values = sorted(expected_value_strings(built))
    if values:
        planted["value.txt"] = f"x = {values[0]}"
    leaks = find_leaks(built, planted)
    assert len(leaks) >= len(planted), leaks
    assert hidden_test_functions(built), "the autograder zip must carry hidden tests"
