"""Sealed grading without a kernel: the data log, replay, and the tamper scan (fast)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from autograder.grading import seal, tamper

TEST_FILE = '''
from otter.test_files import test_case
OK_FORMAT = False
name = "q1"
points = [1, 1]

@test_case(points=None, hidden=False)
def test_shape(double):
    import torch
    out = double(torch.ones(2, 3))
    assert out.shape == (2, 3), f"shape {tuple(out.shape)}"

@test_case(points=None, hidden=True)
def test_values(double):
    import torch
    import numpy as np
    np.testing.assert_allclose(double(torch.arange(4.0)).numpy(), [0.0, 2.0, 4.0, 6.0])
'''


def _roundtrip(value, tmp_path):
    torch.save(seal.encode(value), tmp_path / "v.pt")
    return seal.decode(torch.load(tmp_path / "v.pt", weights_only=True))


def test_data_survives_the_trip_through_weights_only_loading(tmp_path):
    value = {"t": torch.arange(6.0).reshape(2, 3).requires_grad_(), "n": np.arange(3), "s": "text",
             "tuple": (1, 2.5, None, True), "device": torch.device("cpu"), "dtype": torch.float64,
             "size": torch.Size([2, 3]), "np_float": np.float32(1.5)}
    back = _roundtrip(value, tmp_path)
    assert torch.equal(back["t"].detach(), value["t"].detach()) and back["t"].requires_grad
    assert np.array_equal(back["n"], value["n"]) and back["tuple"] == value["tuple"]
    assert back["device"] == value["device"] and back["dtype"] is torch.float64 and back["size"] == (2, 3)
    assert back["np_float"] == np.float32(1.5) and back["s"] == "text"


def test_torch_modules_come_back_as_real_modules_and_notebook_classes_as_shells(tmp_path):
    linear = torch.nn.Linear(3, 2, bias=False)
    back = _roundtrip(linear, tmp_path)
    assert type(back) is torch.nn.Linear and back.in_features == 3
    x = torch.randn(4, 3)
    assert torch.equal(back(x), linear(x))

    class Mine(torch.nn.Module):  # a class the notebook defines: its code must not travel
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(2, 2)

        def forward(self, x):
            return self.fc(x) * 2

    shell = _roundtrip(Mine(), tmp_path)
    assert isinstance(shell, torch.nn.Module) and sum(p.numel() for p in shell.parameters()) == 6
    with pytest.raises(seal.NotReplayable):
        shell(torch.zeros(1, 2))


def test_other_objects_are_opaque_and_refuse_use(tmp_path):
    back = _roundtrip(object(), tmp_path)
    assert isinstance(back, seal.Opaque) and "object" in repr(back)
    with pytest.raises(seal.NotReplayable):
        back.anything


def test_replay_gives_the_recorded_verdicts_without_calling_the_student(tmp_path):
    files = [("q1.py", TEST_FILE)]
    calls = []

    def double(x):
        calls.append(x)
        return x * 3  # wrong: the hidden test must fail on replay

    session = seal.Session("record")
    session.log["snapshot"] = seal.snapshot({"double": double})
    seal.run_tests(session, files, seal.record_arguments(session, {"double": double}))
    torch.save(session.log, tmp_path / "log.pt")
    n_calls = len(calls)
    log = torch.load(tmp_path / "log.pt", weights_only=True)
    verdicts = seal.replay(log, files)["q1"]
    assert len(calls) == n_calls, "replay must not run student code"
    assert [(name, passed) for name, passed, *_ in verdicts] == [("q1 - 1", True), ("q1 - 2", False)]
    assert "Not equal to tolerance" in verdicts[1][2]


def test_a_log_from_a_run_that_stopped_early_cannot_pass(tmp_path):
    files = [("q1.py", TEST_FILE)]
    session = seal.Session("record")
    seal.run_tests(session, files, seal.record_arguments(session, {"double": lambda x: x * 2}))
    for entry in session.log["tests"].values():
        entry["events"].clear()  # as if the kernel never called the student's function
    verdicts = seal.replay(session.log, files)["q1"]
    assert not any(passed for _, passed, *_ in verdicts)
    assert all(replayable is False for *_, replayable, _ in verdicts)


@pytest.mark.parametrize("source, found", [
    ("import numpy as np\nnp.testing.assert_allclose = lambda *a, **k: None", "numpy.testing.assert_allclose"),
    ("import torch\nsetattr(torch, 'allclose', print)", "torch.allclose"),
    ("from numpy import testing as t\nt.assert_allclose = None", "numpy.testing.assert_allclose"),
    ("import builtins\nbuiltins.isinstance = lambda *a: True", "builtins.isinstance"),
    ("import course_checks as cc\ncc.check_against_solution = print", "course_checks.check_against_solution"),
    ("import sys\nsys.modules['torch'] = None", "sys.modules"),
    ("grader = None", "rebinds grader"),
    ("open('/autograder/results/results.json', 'w').write('{}')", "results file"),
])
def test_the_scan_finds_rebinding_of_watched_modules(source, found):
    assert any(found in line for line in tamper.scan_source(source)), tamper.scan_source(source)


def test_the_scan_leaves_ordinary_code_alone():
    ordinary = ("import torch\nimport otter\ngrader = otter.Notebook('hw.ipynb')\nmodel = torch.nn.Linear(2, 2)\n"
                "model.weight.data = torch.zeros(2, 2)\ntorch.manual_seed(0)\nx = torch.ones(3)\n"
                "x.requires_grad = True\nmodel.fc = None\nresults = {'loss': 1.0}")
    assert tamper.scan_source(ordinary) == []


def test_fingerprints_tell_a_replaced_function_from_the_original():
    pristine = seal.fingerprints(("numpy.testing.assert_allclose",), ())
    saved = np.testing.assert_allclose
    try:
        np.testing.assert_allclose = lambda *a, **k: None
        changed = seal.fingerprints(("numpy.testing.assert_allclose",), ())
    finally:
        np.testing.assert_allclose = saved
    assert tamper.compare_fingerprints(changed, pristine)
    assert not tamper.compare_fingerprints(pristine, pristine)


# --------------------------------------------------------------------------- forged and malformed logs
def _honest_log(double) -> dict:
    files = [("q1.py", TEST_FILE)]
    session = seal.Session("record")
    session.log["snapshot"] = seal.snapshot({"double": double})
    seal.run_tests(session, files, seal.record_arguments(session, {"double": double}))
    return session.log


def _verdicts(log, files=(("q1.py", TEST_FILE),)):
    return [(name, passed) for name, passed, *_ in seal.replay(log, list(files))["q1"]]


def test_a_forged_log_with_no_events_and_passing_kernel_verdicts_scores_nothing():
    log = _honest_log(lambda x: x * 0)  # a blank-ish notebook
    for entry in log["tests"].values():  # what the 26/26 attack wrote: no events, "passed", no flags
        entry.clear()
        entry.update({"events": [], "kernel": {"passed": True, "message": "✅ Test case passed"}})
    log.pop("fingerprints", None)
    assert _verdicts(log) == [("q1 - 1", False), ("q1 - 2", False)]


def test_what_the_kernel_says_about_its_verdicts_changes_nothing():
    wrong = _honest_log(lambda x: x * 3)
    before = _verdicts(wrong)
    for entry in wrong["tests"].values():
        entry["kernel"] = {"passed": True, "message": "✅ Test case passed"}
        entry.pop("uses_expected", None)
    assert _verdicts(wrong) == before == [("q1 - 1", True), ("q1 - 2", False)]


@pytest.mark.parametrize("mangle, still_passing", [
    (lambda log: log.update(tests=["not", "a", "dict"]), False),
    (lambda log: log["tests"].update({k: "junk" for k in log["tests"]}), False),
    (lambda log: [e.update(events=[1, None, "x"]) for e in log["tests"].values()], False),
    (lambda log: [e.update(events=[{"kind": "value"}] * 3) for e in log["tests"].values()], False),
    (lambda log: log.update(snapshot={"double": {"kind": "data", "value": {"__nope__": 1}}, "x": 5}), True),
], ids=["tests-not-a-dict", "entries-not-dicts", "events-not-dicts", "events-of-the-wrong-kind", "bad-snapshot"])
def test_a_malformed_log_can_only_lose_points(mangle, still_passing):
    log = _honest_log(lambda x: x * 2)  # correct: both tests pass honestly
    assert _verdicts(log) == [("q1 - 1", True), ("q1 - 2", True)]
    mangle(log)
    assert _verdicts(log) == [("q1 - 1", still_passing), ("q1 - 2", still_passing)]


def test_fingerprints_that_the_kernel_left_out_are_flagged_not_ignored():
    pristine = seal.fingerprints(("numpy.testing.assert_allclose", "torch.allclose"), ())
    assert not tamper.compare_fingerprints(dict(pristine), pristine)
    partial = dict(pristine)
    partial.pop("torch.allclose")
    assert any("does not report torch.allclose" in f for f in tamper.compare_fingerprints(partial, pristine))
    assert tamper.compare_fingerprints({}, pristine) and tamper.compare_fingerprints(None, pristine)


def test_function_code_comes_from_the_submitted_notebook():
    cells = ["import torch\ndef softmax(z):\n    return torch.softmax(z, dim=1)",
             "%time x = 1\ndef softmax(z):\n    e = torch.exp(z - z.max(dim=1, keepdim=True).values)\n    return e / e.sum(1, keepdim=True)",
             "scale = lambda z: z * Y"]
    facts = seal.notebook_functions(cells)
    assert "torch.exp" in facts["softmax"]["source"] and "torch.softmax" not in facts["softmax"]["source"]
    assert facts["scale"]["global_loads"] == ["Y"]
    assert "exp" in facts["softmax"]["co_names"]


def test_fingerprints_are_the_same_in_every_fresh_process():
    """The kernel and the grader compute them in different processes (and hash seeds): honest runs must agree."""
    import json
    import os
    import subprocess
    import sys

    code = "import json; from autograder.grading import seal; print(json.dumps(seal.fingerprints()))"
    runs = [json.loads(subprocess.run([sys.executable, "-c", pre + code], capture_output=True, text=True, check=True,
                                      env={**os.environ, "PYTHONHASHSEED": seed}).stdout)
            for pre, seed in (("", "1"), ("import torch, numpy.testing, otter; ", "2"))]
    assert runs[0] == runs[1] and len(runs[0]) > 100
    assert any(k.startswith("autograder.course_checks.") for k in runs[0])
    assert any(k.startswith("autograder.grading.seal.Recorder") for k in runs[0])


def test_a_rebound_or_recompiled_grader_function_is_reported():
    from autograder import course_checks

    pristine = seal.fingerprints()
    saved_fn, saved_code = course_checks.check_against_solution, course_checks.describe.__code__
    try:
        course_checks.check_against_solution = lambda *a, **k: 1  # rebound in the package
        course_checks.describe.__code__ = (lambda value: "x").__code__  # same object, other code
        found = tamper.compare_fingerprints(seal.fingerprints(), pristine)
    finally:
        course_checks.check_against_solution, course_checks.describe.__code__ = saved_fn, saved_code
    assert any("does not report autograder.course_checks.check_against_solution" in f for f in found), found
    assert any("autograder.course_checks.compare.describe was replaced" in f for f in found), found


# --------------------------------------------------------------------------- the protocol with the checks
def test_both_sides_of_the_sealing_protocol_agree():
    """seal's stand-ins carry exactly the attributes the checks read (course_checks.sealing names them),
    and the shipped single-file checks hold the same protocol as the package."""
    import importlib.util
    import types

    from autograder import course_checks, ship
    from autograder.course_checks import sealing

    session = seal.Session("record")
    recorder = seal.Recorder(session, "f", lambda x: x)
    assert sealing._target(recorder) is not recorder and sealing._target(recorder)(3) == 3
    rewrapped = course_checks.with_helpers(recorder, g=lambda: 0)
    assert isinstance(rewrapped, seal.Recorder)
    replay = seal.Session("replay", {"tests": {}})
    stand_in = seal.Replayer(replay, "f", {"source": "def f(x):\n    return x", "global_loads": ["Y"]}, {})
    assert sealing._is_student_function(stand_in) and course_checks.with_helpers(stand_in) is stand_in
    assert {a for a in sealing.ATTRIBUTES if hasattr(recorder, a) or hasattr(stand_in, a)} == set(sealing.ATTRIBUTES)
    assert course_checks.global_data_reads(stand_in) == {} and course_checks.find_banned_calls(stand_in, {"softmax"}) == []

    spec = importlib.util.spec_from_loader("shipped_checks", loader=None)
    shipped = importlib.util.module_from_spec(spec)
    exec(compile(ship.checks_source(), "course_checks.py", "exec"), shipped.__dict__)
    for name in ("TARGET", "FUNCTION", "SOURCE", "GLOBAL_LOADS", "REWRAP", "ATTRIBUTES"):
        assert getattr(shipped, name) == getattr(sealing, name)
    public = lambda m: {n for n, v in vars(m).items() if not n.startswith("_") and not isinstance(v, types.ModuleType)}
    assert public(shipped) - {"annotations"} >= public(course_checks) - {"MODULES"}
def test_failure_messages_show_the_checks_sentence_without_test_lines():
    source = "def test(f):\n    assert f() == 1, 'f() should be 1, but it is 2.'\n"
    try:
        exec(compile(source + "test(lambda: 2)\n", "tests/q1.py", "exec"), {})
    except AssertionError as exc:
        message = seal.failure_message(exc, source, "tests/q1.py", "q1")
    assert message == "❌ Test case failed\nf() should be 1, but it is 2."
    message = seal.failure_message(ValueError("shapes (3,) and (4,) differ"), source, "tests/q1.py", "q1")
    assert message == "❌ Test case failed\nValueError: shapes (3,) and (4,) differ"
    assert "line" not in message and "assert f()" not in message


def test_the_cached_cases_are_handed_out_as_copies_and_follow_the_file(tmp_path):
    """``load_expected`` unpickles a cases file once, but what a caller (or the function under test)
    does to the cases it got never reaches the next caller, and a rewritten file is read anew."""
    from autograder.course_checks import solution

    path = tmp_path / "expected.pt"
    torch.save({"f": [{"name": "a", "args": (torch.ones(3),), "expected": torch.full((3,), 2.0)}]}, path)
    first = solution.load_expected("f", path)
    first[0]["args"][0].zero_()
    first[0]["expected"].zero_()
    first[0]["name"] = "changed"
    again = solution.load_expected("f", path)
    assert again[0]["name"] == "a"
    assert torch.equal(again[0]["args"][0], torch.ones(3)) and torch.equal(again[0]["expected"], torch.full((3,), 2.0))
    assert solution.graded_functions(path) == {"f"}
    torch.save({"g": [{"name": "b", "args": (torch.zeros(1),), "expected": torch.zeros(1)}]}, path)
    assert solution.graded_functions(path) == {"g"} and solution.load_expected("g", path)[0]["name"] == "b"
