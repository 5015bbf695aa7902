"""The catalogue of broken and hostile submissions (tests/hostile/cases.py), graded as one batch.

Every case must get one CSV row and a feedback file with its expected score and a status that says
why; the batch must finish; nothing outside the scratch folders may change (a checksum of the
repository and a canary file); tampering must not raise a score and must be flagged.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder import REPO_ROOT
from autograder.grading import batch, feedback, sandbox

pytestmark = pytest.mark.slow

_spec = importlib.util.spec_from_file_location("hostile_cases", Path(__file__).parent / "hostile" / "cases.py")
cases = importlib.util.module_from_spec(_spec)
sys.modules["hostile_cases"] = cases  # dataclasses look their module up
_spec.loader.exec_module(cases)

CANARY_DIR = Path("/tmp/hostile-canary")
OPTIONS = batch.Options(timeout=240, cell_timeout=10, memory_gb=1.5)
FULL = 26

# case -> (total score, words the status must contain). q1 is worth 5 points, q3 3, q4 4, q5 5, q6 2, q7 2.
EXPECTED: dict[str, tuple[float | None, tuple[str, ...]]] = {
    "solution": (FULL, ("Completed",)),
    "blank": (0, ("Completed",)),
    "wrong_softmax": (FULL - 4, ("Completed",)),  # q1's no-library-calls test still passes
    "not_json": (0, ("invalid submission", "not valid JSON")),
    "empty": (0, ("invalid submission", "is empty")),
    "json_not_notebook": (0, ("invalid submission", "not a Jupyter notebook")),
    "nbformat3": (0, ("invalid submission", "notebook format 3")),
    "not_utf8": (0, ("invalid submission", "not UTF-8")),
    "huge_50mb": (FULL, ("Completed",)),
    "no_init_cell": (FULL, ("Completed",)),
    "check_cell_deleted": (FULL, ("Completed",)),
    "renamed_functions": (FULL - 5, ("Completed",)),
    "syntax_error": (FULL - 5, ("Completed",)),  # q4, and q5's public test (hidden ones use reference helpers)
    "raise_first_cell": (FULL, ("Completed",)),
    "raise_in_question": (FULL - 2, ("Completed",)),  # q7's hidden tests use a reference predict
    "infinite_loop_q4": (FULL, ("timed out after 10 s",)),
    "sleep_forever": (FULL, ("timed out after 10 s",)),
    "memory_bomb": (FULL, ("Completed",)),
    "fork_bomb": (FULL, ("q7, the cell starting", "went over the sandbox's limits")),
    "sys_exit": (FULL, ("Completed",)),
    "os_exit": (FULL, ("q5, the cell starting", "stopped the kernel")),
    "kill_kernel": (FULL, ("q6, the cell starting", "stopped the kernel")),
    "segfault": (FULL, ("q2, the cell starting", "stopped the kernel")),
    "print_flood": (FULL, ("output over",)),
    "write_outside": (FULL, ("Completed",)),
    "network": (FULL, ("Completed",)),
    "read_hidden_tests": (FULL, ("Completed",)),
    "patch_allclose": (FULL - 4, ("tampering suspected", "numpy.testing.assert_allclose")),
    "patch_course_checks": (FULL - 4, ("tampering suspected", "course_checks")),
    "patch_otter": (FULL - 4, ("tampering suspected", "otter")),
    "overwrite_grader": (FULL - 4, ("tampering suspected", "rebinds grader", "results file")),
    "patch_builtins": (FULL - 4, ("tampering suspected", "builtins.isinstance")),
    "zip_extra_files": (FULL, ("Completed",)),
    "zip_traversal": (0, ("invalid submission", "unsafe paths")),
    "zip_two_notebooks": (0, ("invalid submission", "exactly one notebook")),
}


def _repo_manifest() -> dict[str, str]:
    """sha256 of every file of the repository that git does not ignore, and of the build outputs."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=REPO_ROOT, capture_output=True, check=True).stdout.decode().split("\0")
    dist = [str(p.relative_to(REPO_ROOT)) for p in (REPO_ROOT / "autograder" / "dist").rglob("*") if p.is_file()]
    out = {}
    for rel in sorted(set(filter(None, listed)) | set(dist)):
        path = REPO_ROOT / rel
        out[rel] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "missing"
    return out


@pytest.fixture(scope="module")
def catalogue(a1, tmp_path_factory):
    """The whole catalogue graded once: (paths, outcomes by case, CSV rows by label, out dir, seconds)."""
    folder = tmp_path_factory.mktemp("hostile")
    paths = cases.build_all(folder / "submissions")
    CANARY_DIR.mkdir(exist_ok=True)
    canary = CANARY_DIR / "canary.txt"
    canary.write_text("untouched\n")
    for stray in (CANARY_DIR / "pwned.txt", Path("/tmp/pwned.txt")):
        stray.unlink(missing_ok=True)
    before = _repo_manifest()
    start = time.monotonic()
    outcomes, _ = batch.grade(a1, list(paths.values()), folder / "out", workers=2, options=OPTIONS, quiet=True)
    seconds = time.monotonic() - start
    after = _repo_manifest()
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    assert not changed, f"files of the repository changed while grading: {changed[:10]}"
    assert canary.read_text() == "untouched\n"
    by_case = {o.path.stem: o for o in outcomes}
    with open(folder / "out" / "final_grades.csv", newline="") as f:
        rows = {r["file"]: r for r in csv.DictReader(f)}
    print(f"\ncatalogue: {len(paths)} submissions graded in {seconds:.1f} s")
    for name in paths:
        o = by_case[name]
        total = "-" if o.results.has_catastrophic_failure() else f"{o.results.total:g}"
        print(f"  {name:22s} {total:>3s}  {o.seconds:5.1f} s  {o.status}")
    return paths, by_case, rows, folder / "out", seconds


def test_catalogue_is_large_and_covers_every_category():
    assert len(cases.CASES) >= 24
    assert {c.category for c in cases.CASES} >= {"broken file", "broken notebook", "never finishes",
                                                  "resource abuse", "attack"}
    assert set(EXPECTED) == set(cases.BY_NAME), "every case needs an expected outcome"


def test_every_case_gets_its_expected_outcome(catalogue):
    paths, by_case, rows, out, _ = catalogue
    wrong = []
    for name, (total, words) in EXPECTED.items():
        o = by_case[name]
        got = 0 if o.results.has_catastrophic_failure() else o.results.total
        if got != total or not all(w in o.status for w in words):
            wrong.append(f"{name}: expected {total} and {words}, got {got} and {o.status!r}")
    assert not wrong, "\n".join(wrong)


def test_one_csv_row_and_one_feedback_file_per_submission(catalogue):
    paths, by_case, rows, out, _ = catalogue
    assert set(rows) == {"points-per-question"} | {p.name for p in paths.values()}
    for name, path in paths.items():
        text = (out / "feedback" / feedback.file_name(path.name)).read_text()
        assert f"Status: {by_case[name].status}" in text
        assert rows[path.name]["grading_status"] == by_case[name].status


def test_tampering_never_raises_a_score_and_is_flagged(catalogue):
    _, by_case, _, _, _ = catalogue
    untampered = by_case["wrong_softmax"].results
    value_tests = [r.test_case.name for r in untampered.results["q1"].test_case_results
                   if r.test_case.hidden and not r.passed]
    assert value_tests, "the zeros softmax must fail q1's hidden value tests"
    for name in ("patch_allclose", "patch_course_checks", "patch_otter", "patch_builtins", "overwrite_grader"):
        r = by_case[name].results
        assert r.total == untampered.total, f"{name} scored {r.total}, the same bug untampered {untampered.total}"
        passed = {t.test_case.name for t in r.results["q1"].test_case_results if t.passed}
        assert not passed & set(value_tests), f"{name} passed q1 value tests {passed & set(value_tests)}"
    for name in ("patch_allclose", "patch_course_checks", "patch_otter", "patch_builtins", "overwrite_grader"):
        assert "tampering suspected" in by_case[name].status


@pytest.mark.skipif(sandbox.bwrap_problem() is not None, reason="needs bubblewrap")
def test_sandbox_blocks_network_hidden_files_and_writes(catalogue):
    _, by_case, _, _, _ = catalogue
    for name in ("network", "read_hidden_tests", "write_outside"):
        assert "unsandboxed" not in by_case[name].status
    assert not (CANARY_DIR / "pwned.txt").exists() and not Path("/tmp/pwned.txt").exists()


def test_timeouts_name_the_cell_and_keep_other_questions(catalogue):
    _, by_case, _, _, _ = catalogue
    assert 'q4, the cell starting "while True' in by_case["infinite_loop_q4"].status
    assert "timed out" in by_case["infinite_loop_q4"].status
    assert "q1, the cell starting" in by_case["sleep_forever"].status


def test_grading_the_same_batch_three_times_gives_identical_csvs(a1, catalogue, tmp_path):
    paths, _, _, _, _ = catalogue
    chosen = [paths[n] for n in ("solution", "blank", "patch_allclose", "empty")]
    first = (catalogue[3] / "final_grades.csv").read_text()
    csvs = []
    for k in range(3):
        batch.grade(a1, chosen, tmp_path / f"run{k}", workers=2, options=OPTIONS, quiet=True)
        csvs.append((tmp_path / f"run{k}" / "final_grades.csv").read_bytes())
    assert csvs[0] == csvs[1] == csvs[2]
    rows = {line.split(",")[0]: line for line in first.splitlines()}
    for line in csvs[0].decode().splitlines():  # and the same rows as inside the big batch
        assert rows[line.split(",")[0]] == line


def test_without_bubblewrap_grading_warns_and_the_status_says_unsandboxed(a1, catalogue, tmp_path):
    paths = catalogue[0]
    out = tmp_path / "out"
    env = {**os.environ, "PATH": str(Path(sys.executable).parent)}  # no bwrap on the PATH
    done = subprocess.run([sys.executable, "-m", "autograder", "grade", "-a", a1.id, "--out", str(out),
                           str(paths["solution"])], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARNING" in done.stderr and "UNSANDBOXED" in done.stderr
    with open(out / "final_grades.csv", newline="") as f:
        row = {r["file"]: r for r in csv.DictReader(f)}["solution.ipynb"]
    assert row["grading_status"] == "Completed (unsandboxed)" and float(row["total_points_earned"]) == FULL


def test_a_killed_batch_resumes_without_regrading(a1, catalogue, tmp_path):
    paths, _, _, _, _ = catalogue
    chosen = [str(paths[n]) for n in ("solution", "blank", "syntax_error")]
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "autograder", "grade", "-a", a1.id, "--out", str(out), "--workers", "1",
           "--cell-timeout", "10", *chosen]
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not list((out / ".results").glob("*.pkl")):
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)  # the grader dies mid-batch, its kernels with it
    proc.wait()
    kept = list((out / ".results").glob("*.pkl"))
    assert 1 <= len(kept) < 3, "the grader should have been killed with work left"
    again = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"{len(kept)} result(s) kept from an earlier run, {3 - len(kept)} to grade" in again.stdout
    with open(out / "final_grades.csv", newline="") as f:
        rows = {r["file"]: r for r in csv.DictReader(f)}
    assert {Path(p).name for p in chosen} <= set(rows)
    assert float(rows["solution.ipynb"]["total_points_earned"]) == FULL
