"""Checks against the solution: the recorded cases of ``cases.py`` and the solution's values.

``build`` runs the solution on the inputs of ``solutions/<id>/cases.py`` and saves inputs and
outputs as ``expected.pt``, which only the autograder carries. Hidden tests call the student's
function on the same inputs and compare.
"""

from __future__ import annotations

import copy
import types
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import torch

from .compare import (NONFINITE_MEANING, CheckFailure, assert_scalar_close, assert_sequence_close, assert_tensor_close,
                      assert_tensor_like, assert_same_structure, describe, nonfinite_kind, plain_structure,
                      tolerances_for)
from .sealing import REWRAP, UNKNOWN, _observation, _recording, _session, _target

EXPECTED_FILE = "expected.pt"


_TABLES: dict[tuple[str, bytes], dict] = {}  # the last cases file loaded: (path, its bytes' digest) -> table


def _cases_table(path: str | Path) -> dict:
    """The recorded cases file, loaded once per content (every test of a run reads the same one).
    Read-only: ``load_expected`` hands out deep copies, so nothing a call does to its cases persists."""
    import hashlib
    import io

    raw = Path(path).read_bytes()
    key = (str(Path(path).resolve()), hashlib.sha256(raw).digest())
    if key not in _TABLES:
        _TABLES.clear()
        _TABLES[key] = torch.load(io.BytesIO(raw), weights_only=True)
    return _TABLES[key]


def graded_functions(path: str | Path = EXPECTED_FILE) -> set[str]:
    """Names of the functions with recorded cases, i.e. graded by questions of their own."""
    return set(_cases_table(path)) if Path(path).exists() else set()

def with_helpers(fn: Callable, **replacements: Callable) -> Callable:
    """Return ``fn`` with some of the global names it uses rebound, so that a bug in one
    question's helper does not cost points again in the question that calls it."""
    wrapper, fn = fn, _target(fn)
    if not isinstance(fn, types.FunctionType):
        return wrapper
    used = {n: r for n, r in replacements.items() if n in fn.__code__.co_names}
    if not used:
        return wrapper
    env = {**fn.__globals__, **used}
    clone = types.FunctionType(fn.__code__, env, fn.__name__, fn.__defaults__, fn.__closure__)
    clone.__kwdefaults__ = fn.__kwdefaults__
    return getattr(wrapper, REWRAP)(clone) if wrapper is not fn else clone


def _clone(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.clone()
    if isinstance(value, (list, tuple)):
        return type(value)(_clone(v) for v in value)
    return value

def load_expected(fn_name: str, path: str | Path = EXPECTED_FILE) -> list[dict]:
    """Load the recorded cases of one function (expected values are ``UNKNOWN`` while recording)."""
    cases = copy.deepcopy(_cases_table(path)[fn_name])  # fresh objects each call, as a fresh load gave
    if _recording():
        _session().note_expected_values()
        cases = [{**case, "expected": UNKNOWN} for case in cases]
    return cases


def _signature(fn_name: str, args: tuple) -> str:
    return f"{fn_name}({', '.join(describe(a) if isinstance(a, torch.Tensor) else repr(a) for a in args)})"


def replay(
    fn: Callable,
    fn_name: str,
    *,
    only: Callable[[str], bool] | None = None,
    helpers: Mapping[str, Callable] | None = None,
    path: str | Path = EXPECTED_FILE,
) -> Iterator[tuple[dict, tuple, str, Any]]:
    """Call ``fn`` on each recorded case of ``fn_name`` whose name passes ``only``.

    Yields ``(case, args, label, actual)``; an exception in the student's code becomes a
    ``CheckFailure`` naming the case, and a missing function fails before any call.
    """
    if fn is None or not callable(fn):
        raise CheckFailure(f"{fn_name} is not defined as a function; run its cell first.")
    fn = with_helpers(fn, **(helpers or {}))
    for case in load_expected(fn_name, path):
        if only is not None and not only(case["name"]):
            continue
        args = _clone(case["args"])
        label = f"{_signature(fn_name, args)} [case '{case['name']}']"
        try:
            actual = fn(*args)
        except Exception as exc:  # the student's code raised: report it as a sentence
            raise CheckFailure(f"{label} raised {type(exc).__name__}: {exc}") from None
        yield case, args, label, actual


def check_against_solution(
    fn: Callable,
    fn_name: str,
    *,
    only: Callable[[str], bool] | None = None,
    helpers: Mapping[str, Callable] | None = None,
    path: str | Path = EXPECTED_FILE,
    causes: Mapping[str, str] | None = None,
    hint: str = "",
) -> int:
    """Call ``fn`` on the recorded cases whose names pass ``only`` and compare with the solution.

    Returns the number of cases checked; fails with the case name and the first difference.
    ``causes`` explains a nan, inf or -inf found where the solution is finite (keyed by that
    kind), ``hint`` ends the message when values differ (see ``assert_tensor_close``).
    """
    checked = 0
    for case, _, label, actual in replay(fn, fn_name, only=only, helpers=helpers, path=path):
        expected = case["expected"]
        if expected is UNKNOWN:
            pass
        elif isinstance(expected, torch.Tensor):
            assert_tensor_close(actual, expected, name=label, causes=causes, hint=hint)
        else:
            assert_scalar_close(actual, float(expected), name=label, causes=causes, hint=hint)
        checked += 1
    if checked == 0:
        raise CheckFailure(f"No recorded cases of {fn_name} matched; the autograder is misconfigured.")
    return checked

def _first_dtype(args: tuple) -> torch.dtype | None:
    return next((a.dtype for a in args if isinstance(a, torch.Tensor) and a.is_floating_point()), None)


def check_tuple_against_solution(
    fn: Callable,
    fn_name: str,
    *,
    parts: tuple[str, ...],
    only: Callable[[str], bool] | None = None,
    helpers: Mapping[str, Callable] | None = None,
    tolerances: Mapping[torch.dtype, tuple[float, float]] | None = None,
    hints: Mapping[str, str] | None = None,
    path: str | Path = EXPECTED_FILE,
) -> int:
    """Like ``check_against_solution`` for a function that returns a tuple, e.g. ``(Theta, losses)``.

    ``parts`` names the tuple's entries for the feedback. Tensors, numbers and lists of numbers
    are compared with the (rtol, atol) of the dtype of the case's first floating-point argument
    (``tolerances`` overrides ``TOLERANCES``); ``hints`` adds a sentence to a part's failures.
    Lists are compared (length, then values) before the other parts, so a loop that stops too
    early is reported as such rather than as a wrong tensor.
    """
    hints = hints or {}
    checked = 0
    for case, args, label, actual in replay(fn, fn_name, only=only, helpers=helpers, path=path):
        if not isinstance(actual, (tuple, list)) or len(actual) != len(parts):
            raise CheckFailure(
                f"{label} should return a tuple ({', '.join(parts)}), but it returned {describe(actual)}."
            )
        dtype = _first_dtype(args)
        rtol, atol = (tolerances or {}).get(dtype, tolerances_for(dtype))
        if case["expected"] is UNKNOWN:
            checked += 1
            continue
        triples = list(zip(parts, actual, case["expected"]))
        triples.sort(key=lambda t: not isinstance(t[2], (list, tuple)))  # lengths first, then tensors
        for part, got, want in triples:
            name = f"{part} returned by {label}"
            hint = hints.get(part, "")
            try:
                if isinstance(want, torch.Tensor):
                    assert_tensor_close(got, want, name=name, rtol=rtol, atol=atol)
                elif isinstance(want, (list, tuple)):
                    assert_sequence_close(got, want, name=name, rtol=rtol, atol=atol, hint=hint)
                else:
                    assert_scalar_close(got, float(want), name=name, rtol=rtol, atol=atol)
            except CheckFailure as exc:
                message = str(exc)
                if hint and hint not in message:
                    message = f"{message} {hint}"
                raise CheckFailure(message) from None
        checked += 1
    if checked == 0:
        raise CheckFailure(f"No recorded cases of {fn_name} matched; the autograder is misconfigured.")
    return checked

def check_structure_against_solution(fn: Callable, fn_name: str, *, path: str | Path = EXPECTED_FILE) -> int:
    """Like ``check_against_solution`` for functions that return dicts, tuples and strings.

    The answer is made plain data where it was computed (an observation: classes, loss instances and
    functions become their names), then compared with ``assert_same_structure``.
    """
    if fn is None or not callable(fn):
        raise CheckFailure(f"{fn_name} is not defined as a function; run its cell first.")
    checked = 0
    for case in load_expected(fn_name, path):
        args = _clone(case["args"])
        label = f"{_signature(fn_name, args)}"

        def answer(args=args, label=label) -> Any:
            try:
                actual = fn(*args)
            except Exception as exc:
                raise CheckFailure(f"{label} raised {type(exc).__name__}: {exc}") from None
            if actual is None:
                raise CheckFailure(f"{label} returned None, but a dict was expected. Did you forget a `return`?")
            return plain_structure(actual)

        actual = _observation(f"{label} as plain data", answer)
        if case["expected"] is not UNKNOWN:
            assert_same_structure(actual, case["expected"], name=label)
        checked += 1
    return checked

def assert_finite_like_solution(
    fn: Callable,
    fn_name: str,
    *,
    hint: str | Mapping[str, str],
    only: Callable[[str], bool] | None = None,
    helpers: Mapping[str, Callable] | None = None,
    path: str | Path = EXPECTED_FILE,
) -> int:
    """Fail, with ``hint``, where ``fn`` gives nan or inf on a recorded case whose solution value is finite.

    Meant to run before ``check_against_solution`` in stability tests, so that the feedback explains the
    overflow in the terms of the question instead of only reporting a wrong value. ``hint`` may map
    'nan', 'inf' and '-inf' to different explanations, by the kind of the first bad value.
    """
    checked = 0
    for case, _, label, actual in replay(fn, fn_name, only=only, helpers=helpers, path=path):
        expected = case["expected"]
        if not isinstance(expected, torch.Tensor):
            continue
        assert_tensor_like(actual, name=label)
        if actual.shape != expected.shape or not actual.is_floating_point():
            continue  # reported by check_against_solution
        actual = actual.detach().cpu()
        bad = ~torch.isfinite(actual) & torch.isfinite(expected)
        if bool(bad.any()):
            index = tuple(int(i) for i in bad.nonzero()[0]) if actual.ndim else ()
            found = actual[index].item()
            why = hint if isinstance(hint, str) else hint.get(nonfinite_kind(found)) or \
                NONFINITE_MEANING[nonfinite_kind(found)] + "."
            raise CheckFailure(
                f"{label} contains {int(bad.sum())} nan or inf value(s) where the reference is finite; at index "
                f"{index} the reference gives {expected[index].item():.6g} and yours {found}. {why}"
            )
        checked += 1
    return checked
