"""What a student function reached at run time (course_checks/reached.py): library routes the source
scan misses are found, switching the watch off is flagged, a bad record fails, from-scratch code passes."""

from __future__ import annotations

import io
import linecache
import sys
import threading

import pytest
import torch

from autograder import course_checks as cc
from autograder import notebooks
from autograder.assignments import get
from autograder.course_checks import reached
from autograder.grading import seal
from autograder.strength import load_catalogue

#: (assignment, banned set, the from-scratch functions of its no-library questions)
SCOPE = [
    ("01-softmax-cross-entropy", cc.BANNED_CLASSIFICATION_CALLS,
     ("softmax", "log_softmax", "one_hot", "nll_loss", "cross_entropy")),
    ("02-gradient-descent-autograd", cc.BANNED_CLASSIFICATION_CALLS, ("softmax", "cross_entropy_loss")),
    ("04-choosing-the-loss", cc.BANNED_BINARY_LOSS_CALLS, ("sigmoid", "binary_cross_entropy", "bce_with_logits")),
]


def _namespace(assignment_id: str, replacements: dict[str, str] | None = None) -> dict:
    """The master's definitions (imports included), with some functions replaced, run as __main__."""
    a = get(assignment_id)
    nb = notebooks.read(a.master)
    for name, source in (replacements or {}).items():
        nb = notebooks.replace_function(nb, name, source)
    code, filename = notebooks.definitions(nb), f"<{assignment_id} {sorted(replacements or {})}>"
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)  # for the source scan
    namespace: dict = {"__name__": "__main__"}
    exec(compile(code, filename, "exec"), namespace)
    return namespace


def _inputs(assignment_id: str, fn_name: str) -> list[tuple]:
    a = get(assignment_id)
    spec_globals: dict = {"__name__": "cases"}
    exec(compile(a.cases.read_text(), str(a.cases), "exec"), spec_globals)
    return [args for _, args in spec_globals["make_cases"]()[fn_name]]


def judged(fn, inputs, banned, name="f", mute=()) -> str | None:
    """The judge's sentence on what ``fn`` reached (None when it passes)."""
    data = reached.trace_reached(fn, inputs, mute=mute)
    try:
        reached.judge_reached(data, banned, name=name)
    except cc.CheckFailure as exc:
        return str(exc)
    return None


@pytest.mark.parametrize("assignment_id, banned, functions", SCOPE, ids=[s[0] for s in SCOPE])
def test_the_reference_solutions_pass(assignment_id, banned, functions):
    namespace = _namespace(assignment_id)
    graded = set(functions) | {"predict", "accuracy"}
    for name in functions:
        verdict = judged(namespace[name], _inputs(assignment_id, name), banned, name=name, mute=graded - {name})
        assert verdict is None, verdict


@pytest.mark.parametrize("assignment_id, banned, functions", SCOPE, ids=[s[0] for s in SCOPE])
def test_every_catalogued_evasion_escapes_the_source_scan_and_is_caught_at_run_time(assignment_id, banned, functions):
    evasions = load_catalogue(get(assignment_id)).EVASIONS
    assert len(evasions) >= (6 if assignment_id.startswith("01") else 3)
    for label, (_, replacements) in evasions.items():
        (name, _), = replacements.items()
        fn = _namespace(assignment_id, replacements)[name]
        assert cc.find_banned_calls(fn, banned) == [], f"{label}: the source scan already sees it"
        verdict = judged(fn, _inputs(assignment_id, name), banned, name=name)
        assert verdict and f"{name} reached" in verdict and "(via aten." in verdict, (label, verdict)


def test_feedback_names_the_function_and_the_aten_operator():
    def softmax(logits):
        from torch.nn.functional import softmax as row_probs
        return row_probs(logits, dim=1)

    verdict = judged(softmax, [(torch.randn(3, 4),)], cc.BANNED_CLASSIFICATION_CALLS, name="softmax")
    assert "softmax reached torch.nn.functional.softmax (via aten._softmax)" in verdict


def test_a_library_outside_torch_is_found_by_the_profile():
    def softmax(logits):
        from scipy.special import softmax as s
        return torch.from_numpy(s(logits.numpy(), axis=1))

    verdict = judged(softmax, [(torch.randn(3, 4),)], cc.BANNED_CLASSIFICATION_CALLS, name="softmax")
    assert "scipy.special" in verdict and "softmax" in verdict


def _disables_torch_function(logits):
    with torch._C.DisableTorchFunction():
        return torch.softmax(logits, 1)


def _pops_the_mode(logits):
    mode = torch._C._pop_torch_function_stack()
    try:
        return torch.softmax(logits, 1)
    finally:
        torch._C._push_on_torch_function_stack(mode)


def _both_watches_off(logits):
    with torch._C.DisableTorchFunction(), torch._C._DisableTorchDispatch():
        return torch.softmax(logits, 1)


def _looks_at_the_watch(logits):
    if torch._C._len_torch_function_stack():
        return logits.exp() / logits.exp().sum(1, keepdim=True)
    return torch.softmax(logits, 1)


def _in_a_thread(logits):
    out = {}
    worker = threading.Thread(target=lambda: out.setdefault("p", torch.softmax(logits, 1)))
    worker.start()
    worker.join()
    return out["p"]


def _stops_the_profile(logits):
    sys.setprofile(None)
    return torch.softmax(logits, 1)


@pytest.mark.parametrize("fn, fragment", [
    (_disables_torch_function, "torch-function modes were switched off"),
    (_pops_the_mode, "_pop_torch_function_stack"),
    (_both_watches_off, "switched off"),
    (_looks_at_the_watch, "_len_torch_function_stack"),
    (_in_a_thread, "start_new_thread"),
    (_stops_the_profile, "sys.setprofile"),
])
def test_switching_the_watch_off_from_the_function_is_flagged(fn, fragment):
    verdict = judged(fn, [(torch.randn(3, 4),)], cc.BANNED_CLASSIFICATION_CALLS, name="softmax")
    assert verdict and "tampered with" in verdict and fragment in verdict and "void" in verdict, verdict
    assert sys.getprofile() is None and torch._C._len_torch_function_stack() == 0


def _library_softmax(logits):
    return torch.softmax(logits, 1)


class _Inert:
    def __init__(self, *args, **kwargs):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.parametrize("owner, attribute, fake, fragment", [
    (torch.overrides, "TorchFunctionMode", _Inert, "is not torch's own"),
    (torch.overrides.TorchFunctionMode, "__enter__", lambda self: self, "is not torch's own"),
    (torch._C, "_len_torch_function_stack", lambda: 1, "_len_torch_function_stack was replaced"),
    (sys, "setprofile", lambda fn: None, "sys.setprofile was replaced"),
])
def test_patching_the_machinery_before_the_watch_starts_is_flagged(monkeypatch, owner, attribute, fake, fragment):
    monkeypatch.setattr(owner, attribute, fake)
    data = reached.trace_reached(_library_softmax, [(torch.randn(3, 4),)])
    monkeypatch.undo()
    with pytest.raises(cc.CheckFailure) as info:
        reached.judge_reached(data, cc.BANNED_CLASSIFICATION_CALLS, name="softmax")
    assert fragment in str(info.value) and "void" in str(info.value)


def test_torch_function_disabled_for_the_whole_notebook_is_flagged():
    guard = torch._C.DisableTorchFunction()
    guard.__enter__()
    try:
        data = reached.trace_reached(_library_softmax, [(torch.randn(3, 4),)])
    finally:
        guard.__exit__(None, None, None)
    assert data["problems"] and not data["canary"]


def test_a_cache_filled_by_earlier_tests_does_not_hide_the_library():
    cache = {}

    def softmax(logits):
        key = logits.numpy().tobytes()
        if key not in cache:
            cache[key] = torch.softmax(logits, 1)
        return cache[key]

    x = torch.randn(3, 4)
    softmax(x)  # what the value tests would have done with the very same inputs
    assert "torch.softmax" in judged(softmax, [(x,)], cc.BANNED_CLASSIFICATION_CALLS, name="softmax")


@pytest.mark.parametrize("record, fragment", [
    (None, "missing or malformed"),
    ({"version": reached.REACHED_VERSION}, "missing or malformed"),
    ({"version": 99, "cases": 1, "completed": 1, "operations": 3, "blocked": 0, "errors": [], "calls": [], "ops": [],
      "library": [], "problems": [], "canary": True}, "missing or malformed"),
    ({"version": reached.REACHED_VERSION, "cases": 1, "completed": 1, "operations": 0, "blocked": 0, "errors": [], "calls": [],
      "ops": [], "library": [], "problems": [], "canary": True}, "no tensor operation"),
    ({"version": reached.REACHED_VERSION, "cases": 2, "completed": 0, "operations": 5, "blocked": 0, "errors": ["ValueError: x"],
      "calls": [], "ops": [], "library": [], "problems": [], "canary": True}, "raised on every one"),
    ({"version": reached.REACHED_VERSION, "cases": 1, "completed": 1, "operations": 5, "blocked": 0, "errors": [], "calls": [],
      "ops": ["aten.exp"], "library": [], "problems": [], "canary": False}, "did not see a test operation"),
])
def test_a_missing_forged_or_empty_record_fails(record, fragment):
    with pytest.raises(cc.CheckFailure) as info:
        reached.judge_reached(record, cc.BANNED_CLASSIFICATION_CALLS, name="softmax")
    assert fragment in str(info.value)


def test_the_record_is_plain_data_that_survives_the_sealed_log():
    data = reached.trace_reached(_library_softmax, [(torch.randn(3, 4),)])
    buffer = io.BytesIO()
    torch.save({"value": seal.encode(data)}, buffer)
    buffer.seek(0)
    back = seal.decode(torch.load(buffer, weights_only=True)["value"])
    assert back == data
    assert reached.banned_reached(back, cc.BANNED_CLASSIFICATION_CALLS) == ["torch.softmax (via aten._softmax)"]


def softmax(logits):
    return torch.softmax(logits, 1)  # wrong, but graded by its own question


def cross_entropy(logits, targets):
    p = softmax(logits)
    return -torch.log(p[torch.arange(len(targets)), targets]).mean()


def test_other_graded_functions_are_not_held_against_the_caller():
    inputs = [(torch.randn(4, 3), torch.tensor([0, 2, 1, 0]))]
    assert judged(cross_entropy, inputs, cc.BANNED_CLASSIFICATION_CALLS, mute={"softmax"}) is None
    assert "torch.softmax" in judged(cross_entropy, inputs, cc.BANNED_CLASSIFICATION_CALLS)
