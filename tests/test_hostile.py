"""The catalogue of broken and hostile submissions (tests/hostile/cases.py), graded as one batch.

Every case must get one CSV row and a feedback file with its expected score and a status that says
why; the batch must finish; nothing outside the scratch folders may change (a checksum of the
repository and a canary file); tampering must not raise a score and must be flagged.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import psutil
import pytest

from autograder import REPO_ROOT
from autograder.grading import batch, feedback, sandbox, verdict
from autograder.grading.worker import Workers
from gradescope_attacks import printed_lines

pytestmark = pytest.mark.slow

_spec = importlib.util.spec_from_file_location("hostile_cases", Path(__file__).parent / "hostile" / "cases.py")
cases = importlib.util.module_from_spec(_spec)
sys.modules["hostile_cases"] = cases  # dataclasses look their module up
_spec.loader.exec_module(cases)

CANARY_DIR = Path("/tmp/hostile-canary")
# many_files must reach the entry limit well inside the cell limit, on a loaded machine too
OPTIONS = batch.Options(timeout=240, cell_timeout=10, memory_gb=1.5, disk_gb=1, max_files=10_000)
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
    "renamed_kernel_loop": (FULL, ("timed out after 10 s",)),
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
    # tampering voids the verdicts observed in the kernel: the five no-library tests (1 point each)
    "patch_allclose": (FULL - 9, ("tampering suspected", "numpy.testing.assert_allclose")),
    "patch_course_checks": (FULL - 9, ("tampering suspected", "course_checks")),
    "patch_otter": (FULL - 9, ("tampering suspected", "otter")),
    # the lazy otter of the setup cell: a planted test runner first on otter.__path__ is seen as replaced
    "reroute_otter": (FULL - 9, ("tampering suspected",
                                 "otter.test_files.exception_test.ExceptionTestFile.run was replaced in the kernel")),
    "overwrite_grader": (FULL - 9, ("tampering suspected", "rebinds grader", "results file")),
    "patch_builtins": (FULL - 9, ("tampering suspected", "builtins.isinstance")),
    "zip_extra_files": (FULL, ("Completed",)),
    "zip_traversal": (0, ("invalid submission", "unsafe paths")),
    "zip_two_notebooks": (0, ("invalid submission", "exactly one notebook")),
    # the grader trusts no word of the kernel
    "forge_log_hook": (0, ("tampering suspected", "no fingerprints")),
    "forge_log_thread": (0, ("Completed",)),
    "replace_recorder": (0, ("tampering suspected", "no fingerprints")),
    "pre_import_library": (None, ("tampering suspected", "does not report autograder.course_checks.")),
    "poison_cached_cases": (None, ("Completed",)),  # at most the untampered wrong softmax: see below
    "exfiltrate_tests": (FULL - 5, ("Completed",)),  # its softmax raises in every q1 test
    # the grader follows no link the notebook planted
    "plant_links": (FULL - 5, ("tampering suspected", "results file")),  # flagged: the no-library tests are void
    "log_symlink": (0, ("hidden tests not run", "is not a regular file")),
    "log_fifo": (0, ("hidden tests not run", "is not a regular file")),
    "log_huge": (0, ("hidden tests not run", "larger than 512 MB")),
    "deep_tree": (FULL, ("Completed",)),
    "many_files": (FULL, ("q7, the cell starting", "wrote more than 10,000 files and folders")),
    "many_tmp_files": (FULL, ("q7, the cell starting", "made more than 10,000 files and folders in /tmp")),
    "special_files": (FULL, ("Completed",)),
    "unreadable_dirs": (FULL, ("Completed",)),
    # disk, processes, signals
    "disk_bomb": (FULL, ("q7, the cell starting", "wrote more than 1 GB into the work folder")),
    "sparse_bomb": (FULL, ("Completed",)),
    "kill_all": (FULL, ("Completed",)),
    "proc_peek": (FULL, ("Completed",)),
    "daemon_child": (FULL, ("Completed",)),
    "sigint_ignored": (FULL, ("q3, the cell starting", "timed out after 10 s, and ignored the interrupt")),
    "zip_symlink": (FULL, ("Completed",)),
}

# case -> (fragments the attack cell's printed lines must hold, patterns (re.search) no printed line may match)
OBSERVED: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "write_outside": (("could not write /tmp/hostile-canary",), (r"^wrote /tmp/hostile-canary", r"^wrote /work", r"^wrote .*/\.\.$")),
    "network": (("socket to pypi.org:443 failed", "http://1.1.1.1 failed"), ("worked",)),
    "read_hidden_tests": (("searched",), ("^found",)),
    "forge_log_hook": (("torch.save hooked", "forged the log of"), ()),
    "forge_log_thread": (("thread started",), ()),
    "replace_recorder": (("finder installed", "the fake recorder wrote"), ()),
    "reroute_otter": (("otter.test_files now from", "planted_otter/test_files/exception_test.py"), ()),
    "pre_import_library": (("patched the grader's own checks",), ()),
    "poison_cached_cases": (("poisoned",), ()),  # the count is checked below
    "plant_links": ((*(f"could not plant ../{n}" for n in ("record/tests", "record/expected.pt", "private/files",
                                                           "out/results.pkl", "kernel-1/kernel.json", "kernel-2",
                                                           "record")),), ("planted ../",)),
    "log_symlink": (("replaced the log",), ()),
    "log_fifo": (("replaced the log",), ()),
    "log_huge": (("replaced the log",), ()),
    "deep_tree": (("made a tree 10000 folders deep",), ()),
    "special_files": (("mknod failed", "hardlink failed"), ("worked",)),
    "unreadable_dirs": (("locked",), ()),
    "sparse_bomb": (("could not: File too large",), ("made a 100 GB",)),
    "proc_peek": (("processes: 2",), (r"autograder\.grading\.(run_one|worker)", r"-m autograder grade", r"-m pytest")),
    "daemon_child": (("daemon started",), ()),
    "zip_symlink": (("is a link: False holds: /etc/shadow",), ()),
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


def _venv_manifest() -> dict[str, tuple]:
    """(size, mtime, mode) of every file and link of the virtual environment every sandbox reads."""
    venv = Path(sys.prefix).resolve()
    out = {}
    for root, dirs, files in os.walk(venv):
        for name in dirs + files:
            path = os.path.join(root, name)
            st = os.lstat(path)
            out[path] = (st.st_size, st.st_mtime_ns, st.st_mode)
    return out


def _canary_state() -> dict[str, str]:
    """Every entry of the canary folder (a host folder the grader, not the sandbox, can reach)."""
    return {p.name: p.read_text() if p.is_file() else "folder" for p in CANARY_DIR.iterdir()}


def printed(out: Path, label: str) -> list[str]:
    """The OBSERVED lines the notebook printed while it was graded (the executed notebook the batch kept)."""
    path = out / "executed" / feedback.executed_name(label)
    if not path.exists():
        return []
    return [line.split("OBSERVED: ", 1)[1] for line in printed_lines(path) if "OBSERVED: " in line]


def _free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


@dataclass
class Graded:
    paths: dict[str, Path]
    by_case: dict
    rows: dict[str, dict]
    out: Path
    seconds: float
    scratch: Path  # the folder the batch's scratch folders were made in
    before: dict = field(default_factory=dict)  # what the host looked like before
    after: dict = field(default_factory=dict)


def grade_catalogue(a, paths: dict[str, Path], folder: Path, options: batch.Options) -> Graded:
    """Grade ``paths`` as one batch, with the host's state taken before and after."""
    scratch = folder / "scratch"
    scratch.mkdir()
    CANARY_DIR.mkdir(exist_ok=True)
    (CANARY_DIR / "canary.txt").write_text("untouched\n")
    for stray in (CANARY_DIR / "pwned.txt", Path("/tmp/pwned.txt")):
        stray.unlink(missing_ok=True)
    before = {"repo": _repo_manifest(), "venv": _venv_manifest(), "canary": _canary_state(),
              "free": _free_bytes(folder)}
    start = time.monotonic()
    saved, tempfile.tempdir = tempfile.tempdir, str(scratch)  # the batch's scratch folders go here
    try:
        outcomes = batch.grade(a, list(paths.values()), folder / "out", workers=2, options=options, quiet=True)
    finally:
        tempfile.tempdir = saved
    seconds = time.monotonic() - start
    after = {"repo": _repo_manifest(), "venv": _venv_manifest(), "canary": _canary_state(),
             "free": _free_bytes(folder)}
    by_case = {o.path.stem: o for o in outcomes}
    with open(folder / "out" / "final_grades.csv", newline="") as f:
        rows = {r["file"]: r for r in csv.DictReader(f)}
    print(f"\n{a.id}: {len(paths)} submissions graded in {seconds:.1f} s")
    for name in paths:
        o = by_case[name]
        total = "-" if o.results.has_catastrophic_failure() else f"{o.results.total:g}"
        print(f"  {name:22s} {total:>3s}  {o.seconds:5.1f} s  {o.status}")
    return Graded(paths, by_case, rows, folder / "out", seconds, scratch, before, after)


#: The cases that wait out the cell limit (two of them the interrupt's grace too): graded first, so
#: that one worker is not left with one of them after the other has finished.
WAITING = ("patch_builtins", "sigint_ignored", "sleep_forever", "renamed_kernel_loop", "infinite_loop_q4")


@pytest.fixture(scope="module")
def catalogue(a1, tmp_path_factory):
    """The whole catalogue of assignment 01 graded once, in one sandboxed batch."""
    assert sandbox.bwrap_problem() is None, f"the catalogue needs bubblewrap: {sandbox.bwrap_problem()}"
    folder = tmp_path_factory.mktemp("hostile")
    made = cases.build_all(folder / "submissions")
    ordered = {name: made[name] for name in WAITING} | {n: p for n, p in made.items() if n not in WAITING}
    return grade_catalogue(a1, ordered, folder, OPTIONS)


def test_nothing_outside_the_sandbox_changed(catalogue):
    g = catalogue
    for what in ("repo", "venv"):
        changed = sorted(k for k in set(g.before[what]) | set(g.after[what]) if g.before[what].get(k) != g.after[what].get(k))
        assert not changed, f"{what}: files changed while grading: {changed[:10]}"
    assert g.after["canary"] == g.before["canary"] == {"canary.txt": "untouched\n"}
    assert not (CANARY_DIR / "pwned.txt").exists() and not Path("/tmp/pwned.txt").exists()
    assert list(g.scratch.iterdir()) == [], "scratch folders were left behind"
    assert g.after["free"] > g.before["free"] - (1 << 30), "grading filled the host's disk"


def test_each_attack_saw_what_the_sandbox_allows(catalogue):
    wrong = []
    for name, (wanted, forbidden) in OBSERVED.items():
        lines = printed(catalogue.out, catalogue.paths[name].name)
        missing = [w for w in wanted if not any(w in line for line in lines)]
        found = [line for line in lines if any(re.search(f, line) for f in forbidden)]
        if missing or found:
            wrong.append(f"{name}: missing {missing}, forbidden {found[:3]}; printed {lines[:8]}")
    assert not wrong, "\n".join(wrong)


def test_the_autograders_own_files_never_changed(catalogue):
    assert not [n for n, o in catalogue.by_case.items() if "own files changed" in o.status]


def test_feedback_never_quotes_the_hidden_tests(catalogue, a1):
    with zipfile.ZipFile(a1.autograder_zip) as zf:
        lines = {line.strip() for n in zf.namelist() if n.startswith("tests/")
                 for line in zf.read(n).decode().splitlines() if len(line.strip()) >= 24}
    for path in (catalogue.out / "feedback").iterdir():
        text = path.read_text()
        quoted = [line for line in lines if line in text]
        assert not quoted, f"{path.name} quotes the hidden tests: {quoted[:2]}"
    assert "[text of the hidden tests removed]" in (catalogue.out / "feedback" / "exfiltrate_tests.ipynb.txt").read_text()


def test_no_process_outlives_the_batch(catalogue):
    left = [p.info["cmdline"] for p in psutil.process_iter(["cmdline"])
            if p.info["cmdline"] and any("hostile-daemon-marker" in part for part in p.info["cmdline"])]
    assert not left, left


def test_grading_the_grader_tampering_only_loses_points(catalogue):
    g = catalogue
    assert g.by_case["pre_import_library"].results.total <= g.by_case["wrong_softmax"].results.total
    # the kernel's cached cases zeroed while it records: the replay judges with the grader's own copy
    counts = [int(line.split()[1]) for line in printed(g.out, g.paths["poison_cached_cases"].name)]
    assert max(counts) > 0, f"the attack found no cached cases to poison: {counts}"
    assert g.by_case["poison_cached_cases"].results.total <= g.by_case["wrong_softmax"].results.total


def test_catalogue_is_large_and_covers_every_category():
    assert len(cases.CASES) + sum(map(len, cases.OTHER_CASES.values())) >= 45
    assert {c.category for c in cases.CASES} >= {"broken file", "broken notebook", "never finishes",
                                                  "resource abuse", "attack"}
    assert set(EXPECTED) == set(cases.BY_NAME), "every case needs an expected outcome"


def _print_outcomes(title: str, by_case: dict) -> None:
    """Each case's score and status in the test log: the measured outcomes, for the record."""
    print(f"\n{title}")
    for name, o in by_case.items():
        got = 0 if o.results.has_catastrophic_failure() else o.results.total
        print(f"  {name:<28} {got:>5g}  {o.status}")


def test_every_case_gets_its_expected_outcome(catalogue, capsys):
    with capsys.disabled():
        _print_outcomes("hostile catalogue, assignment 01:", catalogue.by_case)
    wrong = []
    for name, (total, words) in EXPECTED.items():
        o = catalogue.by_case[name]
        got = 0 if o.results.has_catastrophic_failure() else o.results.total
        if (total is not None and got != total) or not all(w in o.status for w in words):
            wrong.append(f"{name}: expected {total} and {words}, got {got} and {o.status!r}")
    assert not wrong, "\n".join(wrong)


def test_a_kernel_that_renames_itself_still_gets_the_interrupt(catalogue):
    """The kernel's process is found once, before any student code runs: a cell that renames it
    (prctl PR_SET_NAME) and then loops is still interrupted at its limit, not taken for a kernel
    that ignored the interrupt (a lookup by name at the limit would miss it)."""
    status = catalogue.by_case["renamed_kernel_loop"].status
    assert "timed out after 10 s" in status and "ignored the interrupt" not in status, status


def test_one_csv_row_and_one_feedback_file_per_submission(catalogue):
    paths, by_case, rows, out = catalogue.paths, catalogue.by_case, catalogue.rows, catalogue.out
    assert set(rows) == {"points-per-question"} | {p.name for p in paths.values()}
    for name, path in paths.items():
        text = (out / "feedback" / feedback.file_name(path.name)).read_text()
        assert f"Status: {by_case[name].status}" in text
        assert rows[path.name]["grading_status"] == by_case[name].status


#: The catalogue's cases that tamper with the checking code in the kernel on top of the zeros softmax.
TAMPERING = ("patch_allclose", "patch_course_checks", "patch_otter", "reroute_otter", "patch_builtins", "overwrite_grader")


def test_tampering_never_raises_a_score_and_is_flagged(catalogue):
    by_case = catalogue.by_case
    untampered = by_case["wrong_softmax"].results
    value_tests = [r.test_case.name for r in untampered.results["q1"].test_case_results
                   if r.test_case.hidden and not r.passed]
    assert value_tests, "the zeros softmax must fail q1's hidden value tests"
    for name in TAMPERING:
        r = by_case[name].results
        assert r.total <= untampered.total, f"{name} scored {r.total}, the same bug untampered {untampered.total}"
        # Tampering may only void verdicts: every test it cost is one the untampered bug passed, failing as void.
        for q, tf in untampered.results.items():
            honest = {t.test_case.name for t in tf.test_case_results if t.passed}
            for t in r.results[q].test_case_results:
                if t.test_case.name in honest and not t.passed:
                    assert t.message == verdict.VOIDED, f"{name}: {t.test_case.name} lost without a void: {t.message}"
                assert not (t.passed and t.test_case.name not in honest), f"{name} passed {t.test_case.name}"
        passed = {t.test_case.name for t in r.results["q1"].test_case_results if t.passed}
        assert not passed & set(value_tests), f"{name} passed q1 value tests {passed & set(value_tests)}"
    for name in TAMPERING:
        assert "tampering suspected" in by_case[name].status


def test_sandbox_blocks_network_hidden_files_and_writes(catalogue):
    by_case = catalogue.by_case
    for name in ("network", "read_hidden_tests", "write_outside"):
        assert "unsandboxed" not in by_case[name].status
    assert not (CANARY_DIR / "pwned.txt").exists() and not Path("/tmp/pwned.txt").exists()


def test_timeouts_name_the_cell_and_keep_other_questions(catalogue):
    by_case = catalogue.by_case
    assert 'q4, the cell starting "while True' in by_case["infinite_loop_q4"].status
    assert "timed out" in by_case["infinite_loop_q4"].status
    assert "q1, the cell starting" in by_case["sleep_forever"].status


def test_grading_the_same_batch_three_times_gives_identical_csvs(a1, catalogue, tmp_path):
    paths = catalogue.paths
    chosen = [paths[n] for n in ("solution", "blank", "patch_allclose", "empty")]
    first = (catalogue.out / "final_grades.csv").read_text()
    csvs = []
    with Workers(REPO_ROOT) as pool:  # the first run starts the workers, the next two reuse them
        for k in range(3):
            batch.grade(a1, chosen, tmp_path / f"run{k}", workers=2, options=OPTIONS, quiet=True, pool=pool)
            csvs.append((tmp_path / f"run{k}" / "final_grades.csv").read_bytes())
    assert csvs[0] == csvs[1] == csvs[2]
    rows = {line.split(",")[0]: line for line in first.splitlines()}
    for line in csvs[0].decode().splitlines():  # and the same rows as inside the big batch
        assert rows[line.split(",")[0]] == line


def test_without_bubblewrap_grading_warns_and_the_status_says_unsandboxed(a1, catalogue, tmp_path):
    paths = catalogue.paths
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
    paths = catalogue.paths
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


# --------------------------------------------------------------------------- assignments 03 and 04
OTHER_OPTIONS = batch.Options(timeout=400, cell_timeout=120, memory_gb=3, disk_gb=1)
# attack -> (its control: the same notebook without the attack, words its status must contain)
OTHER_ATTACKS = {
    "a3_forge_log_hook": (None, ("tampering suspected", "no fingerprints")),
    "a3_zero_grad_patched": ("a3_zero_grad", ("tampering suspected", "does not report autograder.course_checks.probe")),
    "a4_forge_log_thread": (None, ("Completed",)),
    "a4_bad_train_patched": ("a4_bad_train", ("tampering suspected", "does not report autograder.course_checks.training")),
}


@pytest.mark.parametrize("assignment", sorted(cases.OTHER_CASES))
def test_attacks_on_the_checks_that_observe_in_the_kernel_only_lose_points(assignment, tmp_path, capsys):
    from autograder import assignments

    assert sandbox.bwrap_problem() is None, sandbox.bwrap_problem()
    a = assignments.get(assignment)
    from conftest import ensure_built

    ensure_built(a)
    g = grade_catalogue(a, cases.build_other(assignment, tmp_path / "submissions"), tmp_path, OTHER_OPTIONS)
    with capsys.disabled():
        _print_outcomes(f"hostile cases, assignment {assignment}:", g.by_case)
    assert g.after["venv"] == g.before["venv"] and g.after["repo"] == g.before["repo"]
    assert list(g.scratch.iterdir()) == []
    for name, (control, words) in OTHER_ATTACKS.items():
        if name not in g.by_case:
            continue
        o = g.by_case[name]
        assert all(w in o.status for w in words), f"{name}: {o.status}"
        assert printed(g.out, g.paths[name].name), f"{name}: the attack cell printed nothing"
        if control is None:
            assert o.results.total == 0, f"{name} scored {o.results.total} from a blank notebook"
        else:
            honest = g.by_case[control].results.total
            assert honest < o.results.possible, f"{control} should lose points honestly"
            assert o.results.total <= honest, f"{name} scored {o.results.total}, more than {control}'s {honest}"


# --------------------------------------------------------------------------- limits over the whole submission
def test_a_loop_after_the_last_question_keeps_its_points_under_the_overall_limit(a1, tmp_path):
    """``--timeout`` cuts the looping cell and still records the hidden tests in its reserve."""
    nb = cases.insert_cell(cases.solution_notebook(), "accuracy", cases.LOOP_AFTER_LAST)
    path = cases.write(nb, tmp_path, "loop_after_last")
    options = batch.Options(timeout=40, cell_timeout=300, memory_gb=1.5)
    start = time.monotonic()
    outcomes = batch.grade(a1, [path], tmp_path / "out", workers=1, options=options, quiet=True)
    (o,) = outcomes
    assert not o.results.has_catastrophic_failure(), o.status
    assert o.results.total >= 0.9 * FULL, (o.results.total, o.status)
    assert 'q7, the cell starting "while True:" was cut at the submission\'s overall limit of 40 s' in o.status
    assert time.monotonic() - start < 40 + batch.KILL_GRACE


def test_a_kernel_the_notebook_broke_is_stopped_without_waiting_out_the_cell_limit(a1, tmp_path):
    """Replacing ``builtins.isinstance`` breaks ipykernel: the cell never gets its reply. With a 300 s
    cell limit the kernel is stopped once its control channel stays silent while it idles, and the
    notebook is re-run without that cell. A cell that sleeps and then holds the GIL for about 27 s
    (the channel is silent too, but the kernel works) is left alone."""
    broken = cases.write(cases.with_cell("softmax", cases.PATCH_BUILTINS, wrong_softmax=True)(), tmp_path, "broken")
    # the GIL is held for about 27 s on any machine: the sum's length is timed on this one first
    hold = ("import time\nstart = time.perf_counter()\n_ = sum(range(10**7))\n"
            "per_item = (time.perf_counter() - start) / 10**7\ntime.sleep(8)\n"
            "_ = sum(range(int(27 / per_item)))  # one C call: the GIL is never released")
    busy = cases.write(cases.insert_cell(cases.solution_notebook(), "softmax", hold), tmp_path, "busy")
    options = batch.Options(timeout=600, cell_timeout=300, memory_gb=1.5)
    outcomes = {o.label: o for o in batch.grade(a1, [broken, busy], tmp_path / "out", workers=2, options=options,
                                                quiet=True)}
    o = outcomes["broken.ipynb"]
    assert 'the cell starting "import builtins" left the kernel broken (it answered nothing for' in o.status, o.status
    assert "timed out" not in o.status and o.results.total == FULL - 9, (o.results.total, o.status)
    o = outcomes["busy.ipynb"]
    assert o.results.total == FULL and o.status == "Completed", o.status


def test_sigterm_stops_every_sandbox_and_keeps_finished_results(a1, tmp_path):
    folder = tmp_path / "subs"
    folder.mkdir()
    cases.write(cases.solution_notebook(), folder, "a_solution")
    for k in range(3):
        cases.write(cases.insert_cell(cases.solution_notebook(), "softmax", cases.INFINITE_LOOP), folder, f"loop{k}")
    out = tmp_path / "out"
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "autograder", "grade", "-a", a1.id, "--out", str(out),
                             "--workers", "2", "--cell-timeout", "200", str(folder)], cwd=REPO_ROOT,
                            env={**os.environ, "TMPDIR": str(scratch)}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 240
    tree: list[psutil.Process] = []
    while time.monotonic() < deadline:  # wait until the solution is graded and two sandboxes loop
        tree = psutil.Process(proc.pid).children(recursive=True)
        if list((out / ".results").glob("*.pkl")) and sum("bwrap" in p.name() for p in tree if p.is_running()) >= 1:
            break
        time.sleep(0.5)
    assert any(p.name() == "bwrap" for p in tree), "no sandbox was running when the signal was sent"
    tree = psutil.Process(proc.pid).children(recursive=True)
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    output = proc.communicate(timeout=30)[0].decode()
    took = time.monotonic() - sent
    assert proc.returncode == 143, output
    assert took < 10, f"took {took:.1f} s"
    alive = [p for p in tree if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not alive, [p.cmdline() for p in alive]
    assert list(scratch.iterdir()) == [], "scratch folders were left behind"
    assert "running the same command again grades only the rest" in output
    kept = list((out / ".results").glob("*.pkl"))
    assert len(kept) == 1, "the finished solution's result must be kept (and nothing unfinished)"


# --------------------------------------------------------------------------- the build's unpublished zip
ZIP_HUNT = '''import json, os, shutil
_target = {zip!r}
_seen = {{"exists": os.path.exists(_target), "folder": None, "read": None, "written": None}}
try:
    _seen["folder"] = sorted(os.listdir(os.path.dirname(_target)))
except OSError as exc:
    _seen["folder"] = type(exc).__name__
try:
    with open(_target, "rb") as f:
        _seen["read"] = len(f.read())
except OSError as exc:
    _seen["read"] = type(exc).__name__
try:
    with open(_target, "wb") as f:
        f.write(b"PK lenient")
    _seen["written"] = True
except OSError as exc:
    _seen["written"] = type(exc).__name__
print("OBSERVED: " + json.dumps(_seen))
'''


def test_a_notebook_that_knows_where_the_build_keeps_its_zip_cannot_read_or_replace_it(a1, tmp_path):
    """The build grades its solution with a zip in its own scratch folder (``grade_one(zip_path=...)``),
    before publishing. A notebook given that exact path can neither list, read nor overwrite it; the
    hidden tests in that zip still grade it, and a missing zip there is a crash, not a silent fallback
    to the published one."""
    hidden = tmp_path / "build-scratch"
    hidden.mkdir()
    zip_path = hidden / a1.autograder_zip.name
    zip_path.write_bytes(a1.autograder_zip.read_bytes())
    before = hashlib.sha256(zip_path.read_bytes()).hexdigest()
    path = cases.write(cases.insert_cell(cases.solution_notebook(), "softmax", ZIP_HUNT.format(zip=str(zip_path))),
                       tmp_path, "zip_hunt")
    out = tmp_path / "out"
    o = batch.grade_one(a1, path, path.name, tmp_path / "scratch", options=OPTIONS, zip_path=zip_path,
                        keep_executed=out / "executed")
    (seen,) = [json.loads(line) for line in printed(out, path.name)]
    assert seen["exists"] is False and seen["read"] in ("FileNotFoundError", "PermissionError"), seen
    assert seen["written"] is not True and not isinstance(seen["folder"], list), seen
    assert hashlib.sha256(zip_path.read_bytes()).hexdigest() == before, "the notebook changed the zip"
    assert not o.results.has_catastrophic_failure() and o.results.total == FULL, (o.results.total, o.status)
    missing = batch.grade_one(a1, path, path.name, tmp_path / "scratch2", options=OPTIONS,
                              zip_path=hidden / "missing.zip")
    assert missing.results.has_catastrophic_failure(), missing.status



#: Finds the kernel's own folder (its connection file's) and tries to plant a link in it, to rename it,
#: and to put a link to HOSTILE_CANARY_DIR in its place, so that the grader's clean-up would work there.
KERNEL_DIR_SWAP = """import os
from ipykernel import get_connection_file
canary, folder = os.environ["HOSTILE_CANARY_DIR"], os.path.dirname(get_connection_file())
print("KERNEL DIR", folder)
for what, act in [("plant", lambda: os.symlink(canary, os.path.join(folder, "link"))),
                  ("rename", lambda: os.rename(folder, folder + "-gone")),
                  ("swap", lambda: (os.rmdir(folder), os.symlink(canary, folder)))]:
    try:
        act()
        print("SWAP", what, "worked")
    except Exception as e:
        print("SWAP", what, "failed", type(e).__name__)"""


def test_a_notebook_cannot_swap_its_short_kernel_folder_for_a_link(a1, tmp_path):
    """Under a scratch folder too deep for a socket, the kernel's folder is made in /tmp
    (``Sandbox.new_kernel_dir``). The notebook finds it from its connection file and tries to plant a
    link there, to rename it and to replace it with a link to another folder: each fails, the clean-up
    changes nothing in that folder, and nothing is left in /tmp. A link given to ``remove_tree`` goes
    without its target changing (``chmod -R`` follows a link named as its argument)."""
    from gradescope_attacks import printed_lines
    from autograder.grading import safe_io

    canary = tmp_path / "canary"
    (canary / "inner").mkdir(parents=True)
    (canary / "inner" / "kept.txt").write_text("kept")
    os.chmod(canary / "inner", 0o500)
    modes = {p: p.stat().st_mode for p in [canary, canary / "inner", canary / "inner" / "kept.txt"]}
    path = tmp_path / "swap.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(KERNEL_DIR_SWAP)]), path)
    before = set(os.listdir("/tmp"))
    outcome = batch.grade_one(a1, path, path.name, tmp_path / ("d" * 60) / ("e" * 60) / "scratch",
                              options=OPTIONS, extra_env={"HOSTILE_CANARY_DIR": str(canary)},
                              keep_executed=tmp_path / "executed")
    assert outcome.status.startswith("Completed"), outcome.status
    (executed,) = (tmp_path / "executed").glob("*.ipynb")
    lines = printed_lines(executed)
    assert any(line.startswith("KERNEL DIR /tmp/dl-kernel-") for line in lines), lines
    assert [line for line in lines if line.startswith("SWAP")] == [
        "SWAP plant failed PermissionError", "SWAP rename failed PermissionError",
        "SWAP swap failed PermissionError"], lines
    assert {p: p.stat().st_mode for p in modes} == modes and (canary / "inner" / "kept.txt").read_text() == "kept"
    left = [n for n in set(os.listdir("/tmp")) - before if n.startswith("dl-kernel-")]
    assert left == [], f"kernel folders left in /tmp: {left}"

    link = tmp_path / "link"
    link.symlink_to(canary)
    safe_io.remove_tree(link)
    assert not os.path.lexists(link) and {p: p.stat().st_mode for p in modes} == modes
