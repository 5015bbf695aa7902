"""Issue 6: wrong answers lose points, right answers get full marks, nothing leaks to students."""

from __future__ import annotations

import pytest

from autograder import strength
from autograder.assignments import all_assignments
from leaks import find_leaks, student_texts

MIN_BUGS, MIN_VARIANTS, MAX_ERROR_RATIO = 12, 6, 0.1
MIN_PUBLIC_SHARE = 0.7  # of the catalogued bugs, those a public check catches
ALL = all_assignments()


#: Evasions of the no-library rule each from-scratch assignment must catalogue (assignment 03 has none).
MIN_EVASIONS = {"01-softmax-cross-entropy": 6, "02-gradient-descent-autograd": 3, "04-choosing-the-loss": 3}
#: The seeds' functions each catalogue must port (issue 18), by a word of the case's name.
SEED_PORTS = {"01-softmax-cross-entropy": ["seed 004: NumPy softmax without keepdims", "seed 003: cross-entropy as the log",
                                           "seed 001: NLLLoss"],
              "02-gradient-descent-autograd": ["seed 002 add_intercept", "seed 002 softmax", "seed 002 loss",
                                               "seed 002 derivadas", "seed 002 gd"],
              "04-choosing-the-loss": ["seed 001 BCE:", "seed 001 BCEWithLogitsLoss"]}


@pytest.mark.parametrize("a", ALL, ids=[a.id for a in ALL])
def test_every_assignment_has_a_catalogue(a):
    assert (a.source_dir / "mutants.py").exists(), f"{a.id} has no mutants.py"
    catalogue = strength.load_catalogue(a)
    bugs = len(catalogue.BUGS) + len(getattr(catalogue, "NOTEBOOK_BUGS", {}))
    assert bugs >= MIN_BUGS and len(catalogue.VARIANTS) >= MIN_VARIANTS
    assert len(getattr(catalogue, "EVASIONS", {})) >= MIN_EVASIONS.get(a.id, 0)
    seed_code = getattr(catalogue, "SEED_CODE", {})
    for port in SEED_PORTS.get(a.id, []):
        assert any(name.startswith(port) for name in seed_code), f"{a.id}: SEED_CODE lacks {port!r}"
    assert all(q is None or q in {f"q{i}" for i in range(1, 10)} for q, _ in seed_code.values())


def test_the_quoted_test_line_does_not_count_as_naming_the_function():
    failure = ("❌ Test case failed\nError at line 4 in test q1:\n  cc.check_against_solution(softmax, 'softmax')\n"
               "CheckFailure: the values are off by 0.5.")
    assert "softmax" not in strength.explanation(failure)
    assert "off by 0.5" in strength.explanation(failure)


@pytest.mark.parametrize("a", ALL, ids=[a.id for a in ALL])
def test_every_bug_lists_the_cause_its_feedback_must_name(a):
    catalogue = strength.load_catalogue(a)
    bugs = set(catalogue.BUGS) | set(getattr(catalogue, "NOTEBOOK_BUGS", {}))
    causes = getattr(catalogue, "CAUSES", {})
    assert bugs - set(causes) == set(), f"{a.id}: bugs without a CAUSES entry"
    assert set(causes) - bugs == set(), f"{a.id}: CAUSES entries for bugs that are not catalogued"
    assert all(words for words in causes.values())


def test_a_bug_whose_feedback_misses_its_cause_is_not_caught():
    from autograder.strength_paths import Question

    def q(score, failures="", failed=(), public=()):
        return Question(score, 2.0, failures, frozenset(failed), {"q1 - 1": 1.0, "q1 - 2": 1.0}, {},
                        frozenset(public))

    baseline = {"q1": q(2.0), "q2": q(2.0)}
    message = "softmax of the rows contains nan: subtract each row's maximum"
    scores = {"q1": q(1.0, message, {"q1 - 1"}, {"q1 - 1"}), "q2": q(2.0)}
    assert strength.judge_bug("q1", ["softmax"], scores, baseline, cause="row's maximum")[0]
    ok, detail = strength.judge_bug("q1", ["softmax"], scores, baseline, cause=("log space",))
    assert not ok and "'log space'" in detail
    assert not strength.judge_bug("q1", ["softmax"], scores, baseline, cause=None)[0]
    assert strength.caught_in_public("q1", scores, baseline) is True
    hidden_only = {"q1": q(1.0, message, {"q1 - 2"}), "q2": q(2.0)}
    assert strength.caught_in_public("q1", hidden_only, baseline) is False


_REPORTS: dict[str, strength.StrengthReport] = {}


def report_of(a) -> strength.StrengthReport:
    """The whole suite of ``a`` on the parallel path (at least two worker processes), run once per
    session: the mutation suite judges it, and the parallel-path test compares it with one process."""
    if a.id not in _REPORTS:
        _REPORTS[a.id] = strength.run(a, jobs=max(2, strength.default_jobs()))
    return _REPORTS[a.id]


@pytest.mark.slow
def test_mutation_suite_catches_every_bug_and_accepts_every_variant(built, capsys):
    report = report_of(built)
    with capsys.disabled():
        print("\n" + strength.table([report]))
        print(strength.public_table([report]))
        print(f"{built.id}: largest |error| / tolerance over the correct variants: {report.max_error_ratio:.3g}")
    assert report.perfect, strength.table([report])
    assert {g for c in report.cases for g in c.ok} == set(strength.GRADERS), "both graders judge every case"
    assert report.max_error_ratio <= MAX_ERROR_RATIO, "right answers must pass with a 10x margin"
    assert report.max_margin_used < 1, "right answers must stay inside the training margins"
    # Students see most mistakes before submitting: at least 70% fail a public check, and every
    # question with catalogued bugs has a public check that one of them fails.
    counts = strength.public_counts([report])
    caught, total = sum(c for c, _ in counts.values()), sum(t for _, t in counts.values())
    assert caught >= MIN_PUBLIC_SHARE * total, strength.public_table([report])
    assert all(c > 0 for c, _ in counts.values()), strength.public_table([report])


@pytest.mark.slow
def test_worker_processes_judge_every_case_as_one_process_does(a1):
    """The parallel path (cases spread over worker processes, one torch thread each) reports the same
    cases, in catalogue order, with the same verdicts and details as grading them all in this process."""
    def summary(report):
        return [(c.kind, c.name, c.question, c.ok, c.detail, c.public) for c in report.cases]

    alone = strength.run(a1, notebook_level=False, jobs=1)
    spread = report_of(a1)
    catalogue = strength.load_catalogue(a1)
    assert [c.name for c in alone.cases] == [case[1] for case in strength._cases(catalogue)]
    assert summary(spread)[:len(alone.cases)] == summary(alone)
    assert [c.name for c in spread.cases[len(alone.cases):]] == list(getattr(catalogue, "NOTEBOOK_BUGS", {}))
    assert spread.max_error_ratio == pytest.approx(alone.max_error_ratio, rel=0.5, abs=1e-6)


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
