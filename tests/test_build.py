"""Build: masters are clean, the student folder is current, and a broken solution stops the build."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile

import nbformat
import pytest

from autograder import REPO_ROOT, course_checks, notebooks, ship
from autograder.assignments import Assignment, all_assignments
from autograder.build import BuildError, build, why_not_current
from conftest import ensure_built

ALL = all_assignments()


@pytest.mark.parametrize("a", ALL, ids=[a.id for a in ALL])
def test_master_is_committed_clean(a):
    raw = json.loads(a.master.read_text())
    assert (raw["nbformat"], raw["nbformat_minor"]) == (4, 5), "masters are nbformat 4.5"
    nbformat.validate(nbformat.reads(a.master.read_text(), as_version=4))
    for i, cell in enumerate(raw["cells"]):
        assert cell.get("id"), f"cell {i} of {a.master.name} has no id"
        if cell["cell_type"] == "code":
            assert not cell["outputs"] and cell["execution_count"] is None, f"cell {i} of {a.master.name} has outputs"


def test_build_check_passes():
    for a in ALL:  # the check covers autograder/dist too, which a fresh clone builds first
        ensure_built(a)
    proc = subprocess.run([sys.executable, "-m", "autograder", "build", "--check"], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for a in ALL:
        assert f"{a.id}: up to date" in proc.stdout


def test_student_folder_hides_solutions_and_hidden_tests(built):
    student = notebooks.read(built.student_notebook)
    otter_tests = student.metadata["otter"]["tests"]
    assert otter_tests, "public tests live in the student notebook's metadata"
    assert all("hidden=True" not in src for src in otter_tests.values()), "hidden tests leaked to students"
    assert "# BEGIN SOLUTION" not in json.dumps(student.cells)
    assert not (built.student_dir / course_checks.EXPECTED_FILE).exists(), "expected values leaked to students"
    assert (built.student_dir / "course_checks.py").read_text() == ship.checks_source()


def test_autograder_zip_carries_hidden_tests_and_expected_values(built):
    with zipfile.ZipFile(built.autograder_zip) as zf:
        names = set(zf.namelist())
        assert f"files/{course_checks.EXPECTED_FILE}" in names and "files/course_checks.py" in names
        tests = [n for n in names if n.startswith("tests/")]
        assert tests and any("hidden=True" in zf.read(n).decode() for n in tests)


def _copy_assignment(a: Assignment, root):
    shutil.copytree(a.source_dir, root / "solutions" / a.id)
    return Assignment(a.id, root)


def test_build_fails_naming_the_question_when_the_solution_is_wrong(tmp_path):
    a = _copy_assignment(Assignment("01-softmax-cross-entropy"), tmp_path)
    nb = notebooks.read(a.master)
    for cell in nb.cells:
        src = notebooks.code_of(cell)
        if src.startswith("def one_hot"):
            cell.source = src.replace("rows[torch.arange(targets.shape[0]), targets] = 1.0",
                                      "rows[torch.arange(targets.shape[0]), targets] = 2.0")
    notebooks.write(nb, a.master)
    with pytest.raises(BuildError) as info:
        build(a)
    assert "q3" in str(info.value) and "01-softmax-cross-entropy" in str(info.value)
    assert "q1" not in str(info.value).split("question(s)")[1].split(":")[0]
    assert not a.student_dir.exists(), "a failed build must not publish a student notebook"
    assert not a.autograder_zip.exists(), "a failed build must not publish an autograder zip"


def test_build_check_detects_a_stale_student_notebook(tmp_path):
    a = _copy_assignment(Assignment("01-softmax-cross-entropy"), tmp_path)
    shutil.copytree(Assignment("01-softmax-cross-entropy").student_dir, a.student_dir)
    from autograder.build import stale_files

    assert stale_files(a) == []
    nb = notebooks.read(a.master)
    nb.cells[1].source += "\n\nA new sentence in the introduction."
    notebooks.write(nb, a.master)
    assert stale_files(a) == [a.student_notebook.name]


def test_definitions_skip_training_and_keep_functions():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import torch\nLR = 0.1\nmodel = train_forever()\ndef f(x):\n    return x + 1"),
        nbformat.v4.new_code_cell("%matplotlib inline"),
        nbformat.v4.new_code_cell("class M:\n    pass\nprint(f(1))"),
    ])
    code = notebooks.definitions(nb)
    assert "train_forever" not in code and "print" not in code
    namespace = {}
    exec(code, namespace)
    assert namespace["f"](1) == 2 and namespace["LR"] == 0.1 and "M" in namespace


def test_replace_function_swaps_only_that_function():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import torch\n\ndef f(x):\n    return 1\n\ny = f(0)")])
    out = notebooks.replace_function(nb, "f", "def f(x):\n    return 2")
    assert notebooks.code_of(out.cells[0]) == "import torch\n\ndef f(x):\n    return 2\n\ny = f(0)"
    assert notebooks.code_of(nb.cells[0]).count("return 1") == 1, "the input notebook is left unchanged"
    with pytest.raises(KeyError):
        notebooks.replace_function(nb, "g", "def g(): pass")


def test_build_check_reports_a_missing_or_stale_dist_folder(tmp_path, monkeypatch, capsys):
    import autograder.__main__ as cli

    a = _copy_assignment(Assignment("01-softmax-cross-entropy"), tmp_path)
    shutil.copytree(Assignment("01-softmax-cross-entropy").student_dir, a.student_dir)
    assert why_not_current(a) == "autograder/dist/01-softmax-cross-entropy/ is missing (never built here)"
    monkeypatch.setattr(cli, "_selected", lambda ids: [a])
    assert cli.main(["build", "--check"]) == 1
    printed = capsys.readouterr().out
    assert "01-softmax-cross-entropy: STALE, autograder/dist/01-softmax-cross-entropy/ is missing" in printed
    assert "up to date" not in printed
    a.dist_dir.mkdir(parents=True)
    (a.dist_dir / "build-info.json").write_text(json.dumps({"digest": "old", "points": {}}))
    assert "lacks 01-softmax-cross-entropy-autograder.zip, softmax_cross_entropy-solution.ipynb" in why_not_current(a)
    a.autograder_zip.write_bytes(b"")
    a.solution_notebook.write_text("{}")
    assert "was built from other sources" in why_not_current(a)


@pytest.mark.slow
def test_grade_says_it_builds_and_why(tmp_path, capsys):
    from autograder.__main__ import _ensure_built

    a = _copy_assignment(Assignment("01-softmax-cross-entropy"), tmp_path)
    _ensure_built([a])
    printed = capsys.readouterr().out
    assert ("01-softmax-cross-entropy: building first, because autograder/dist/01-softmax-cross-entropy/ is missing "
            "(never built here) ...") in printed
    assert "01-softmax-cross-entropy: built; solution scores 26/26" in printed and why_not_current(a) is None
    _ensure_built([a])
    assert "building" not in capsys.readouterr().out, "a current build is not redone"


def test_grade_takes_each_assignment_as_its_build_ends(monkeypatch):
    """`grade` gets the current assignments at once and the stale ones as each build ends, while the
    others still build (the slow build here ends only once the fast one is being graded); builds of
    those that train on a data set start first; a failed build is named, not graded, and the rest
    still are. A crash of the build loop fails what it left."""
    import threading
    from types import SimpleNamespace

    from autograder import __main__ as cli

    current, fast, broken = (SimpleNamespace(id=name, datasets=()) for name in ("current", "fast", "broken"))
    slow = SimpleNamespace(id="slow", datasets=("fashion-mnist",))  # trains: its build is started first
    monkeypatch.setattr("autograder.build.why_not_current", lambda a: None if a is current else "it is stale")
    graded_fast, waited = threading.Event(), []

    def builds(chosen, jobs=None, say=print, done=None):
        assert [a.id for a in chosen] == ["slow", "fast", "broken"]
        done(fast, True)
        done(broken, False)
        waited.append(graded_fast.wait(20))
        done(slow, True)
        return ["broken"]

    monkeypatch.setattr("autograder.build.build_in_parallel", builds)
    failed, order = [], []
    for a in cli._built_in_turn([current, fast, broken, slow], failed):
        order.append(a.id)
        if a is fast:
            graded_fast.set()
    assert order == ["current", "fast", "slow"] and failed == ["broken"] and waited == [True]

    def crash(chosen, jobs=None, say=print, done=None):
        done(fast, True)
        raise RuntimeError("the build loop broke")

    monkeypatch.setattr("autograder.build.build_in_parallel", crash)
    failed = []
    assert [a.id for a in cli._built_in_turn([slow, fast], failed)] == ["fast"] and failed == ["slow"]


def test_grade_help_shows_the_defaults(capsys):
    import autograder.__main__ as cli

    with pytest.raises(SystemExit):
        cli.main(["grade", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for shown in ("(default: 600.0)", "(default: 300.0)", "(default: 4.0)", "(default: the core count)",
                  "(default: graded/<id>", "--max-files MAX_FILES files and folders one notebook may make in its "
                  "work folder (default: 100000)"):
        assert shown in text, shown
    assert "(default: None)" not in text and "(default: False)" not in text


@pytest.mark.parametrize("given, said", [("0", "expected 1 or more, got 0"), ("many", "expected a whole number, got 'many'")])
def test_grade_refuses_a_file_limit_below_one(capsys, given, said):
    import autograder.__main__ as cli

    with pytest.raises(SystemExit) as stopped:
        cli.main(["grade", "--max-files", given])
    assert stopped.value.code == 2
    assert f"argument --max-files: {said}" in capsys.readouterr().err
