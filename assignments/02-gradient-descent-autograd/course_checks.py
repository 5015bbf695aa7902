# Generated from autograder/course_checks/ by `python -m autograder build`; do not edit.
# Edit the source and rebuild: `build --check` fails when this copy differs from it.

"""Assertions shared by public and hidden tests, with feedback students can act on.

Every check follows the order of PrairieLearn's ``code_feedback``: None, then type, then shape and
dtype, then non-finite values, then the values themselves; each failure is one sentence that says
what was expected and what was found. One module per job:

========== ==========================================================================
sealing    the contract with the sealed grader (``autograder/grading/seal.py``)
compare    tolerances and comparisons of tensors, numbers, sequences and structures
reached    what a function reached at run time: torch functions, ATen operators, library calls
source     checks that read a function's code: banned library calls, global data
solution   checks against the solution's recorded values (``expected.pt``)
behaviour  state kept between calls, arguments changed, input gradients
training   devices, loaders, classifiers, loss modules, training runs, test accuracy
probes     tiny models that observe training and evaluation functions (assignment 03)
tasks      a table of loss choices holds together (assignment 04), without the answers
========== ==========================================================================

Tests import it as ``course_checks``: students and the Gradescope autograder get one generated
file of that name (``autograder/ship.py`` writes it), which needs only numpy and torch.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import inspect
import os
import sys
import sysconfig
import textwrap
import types
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping
import numpy as np
import torch


# ==============================================================================
# sealing.py: The contract between these checks and the sealed grader (``autograder/grading/seal.py``).
# ==============================================================================
#: The real function behind a recording wrapper.
TARGET = "__seal_target__"
#: True on a replay stand-in for a student function.
FUNCTION = "__seal_function__"
#: The student function's source, as the kernel logged it.
SOURCE = "__seal_source__"
#: The global names the student function reads, as the kernel logged them.
GLOBAL_LOADS = "__seal_global_loads__"
#: ``wrapper.__seal_rewrap__(fn)``: ``fn`` wrapped the way ``wrapper`` wraps its target.
REWRAP = "__seal_rewrap__"
ATTRIBUTES = (TARGET, FUNCTION, SOURCE, GLOBAL_LOADS, REWRAP)


class _Seal:
    """Where the grader puts the running test's session (None outside the grader)."""

    session: Any = None


SEAL = _Seal()

UNKNOWN = type("Unknown", (), {"__repr__": lambda self: "<unknown while recording>",
                               "__getitem__": lambda self, key: self})()


def _session() -> Any:
    return SEAL.session


def _recording() -> bool:
    session = _session()
    return session is not None and session.mode == "record"


def _observation(name: str, compute: Callable[[], Any]) -> Any:
    """Compute a data observation in the student's kernel; replay hands back the logged one."""
    session = _session()
    return compute() if session is None else session.observe(name, compute)


def observe(name: str, compute: Callable[[], Any]) -> Any:
    """Run ``compute()`` where the notebook ran and return its result, which must be plain data
    (tensors, numbers, strings, lists, tuples, dicts of those).

    For tests that need the student's own objects (a model class, a data set, a loader): compute the
    facts to check inside ``compute`` and assert on what it returns. Under the grader, ``compute``
    runs in the student's kernel, and only its data result reaches the process that judges it.
    """
    return _observation(name, compute)


def _target(fn: Any) -> Any:
    """The student's function behind a recording wrapper (itself otherwise)."""
    return getattr(fn, TARGET, fn)


def _is_student_function(obj: Any) -> bool:
    return isinstance(obj, types.FunctionType) or getattr(obj, FUNCTION, False) is True


# ==============================================================================
# compare.py: Comparisons: None, then type, then shape and dtype, then non-finite values, then the values.
# ==============================================================================
#: (rtol, atol) per dtype, used by ``numpy.testing.assert_allclose``. Why these values:
TOLERANCES = {
    # half precision has ~3 significant digits; only used when a GPU path returns fp16
    torch.float16: (1e-2, 1e-3),
    torch.bfloat16: (2e-2, 1e-2),
    # float32 eps is 1.2e-7: a different but correct formula (gather vs one-hot, exp(log_softmax)
    # vs softmax) differs by a few hundred eps at most, far inside 1e-4; atol 1e-6 covers values
    # that should be ~0 (tiny probabilities), where a relative bound means nothing
    torch.float32: (1e-4, 1e-6),
    # float64 eps is 2.2e-16: 1e-7 leaves nine orders of magnitude for reordered sums and still
    # catches any float32 round trip (relative error ~1e-8 .. 1e-7 shows up on the larger cases)
    torch.float64: (1e-7, 1e-10),
}

class ToleranceAudit:
    """When ``ratios`` is a list, passing comparisons append their largest |error| / tolerance to it;
    when ``margins`` is a list, passing statistical checks (a trained model's held-out metrics, its
    last loss) append ``(what, share of the allowed shortfall used)``."""

    ratios: list[float] | None = None
    margins: list[tuple[str, float]] | None = None

    def margin(self, what: str, used: float) -> None:
        if self.margins is not None:
            self.margins.append((what, float(used)))


#: The tolerance audit of the strength suite (``strength.py`` switches it on while variants run).
AUDIT = ToleranceAudit()

def _observe(found: np.ndarray, wanted: np.ndarray, rtol: float, atol: float) -> None:
    if AUDIT.ratios is None or not np.issubdtype(np.asarray(wanted).dtype, np.floating):
        return
    found, wanted = np.asarray(found, dtype=np.float64), np.asarray(wanted, dtype=np.float64)
    allowed = atol + rtol * np.abs(wanted)
    finite = np.isfinite(wanted) & (allowed > 0)
    if finite.any():
        AUDIT.ratios.append(float(np.max(np.abs(found - wanted)[finite] / allowed[finite])))

class CheckFailure(AssertionError):
    """An assertion whose message is written for the student."""


@contextlib.contextmanager
def explain_errors(what: str, hint: str = "") -> Iterator[None]:
    """Turn an exception that the student's code raises inside the block into a sentence: what was
    being done, the exception, and ``hint`` (the usual cause). Failed checks pass through."""
    try:
        yield
    except AssertionError:
        raise
    except Exception as exc:
        raise CheckFailure(f"{what} raised {type(exc).__name__}: {str(exc)[:300]}. {hint}".rstrip()) from None


def describe(value: Any) -> str:
    """Describe a value in a few words, e.g. 'a float32 tensor of shape (4, 3)'."""
    if value is None:
        return "None"
    if isinstance(value, torch.Tensor):
        dtype = str(value.dtype).replace("torch.", "")
        return f"a {dtype} tensor of shape {tuple(value.shape)}"
    if isinstance(value, np.ndarray):
        return f"a NumPy {value.dtype} array of shape {value.shape}"
    return f"a {type(value).__name__} ({value!r:.60})"


def tolerances(dtype: torch.dtype) -> tuple[float, float]:
    """The (rtol, atol) pair used for ``dtype``; integer dtypes compare exactly."""
    return TOLERANCES.get(dtype, (0.0, 0.0))


def assert_tensor_like(
    actual: Any,
    *,
    name: str,
    shape: tuple[int, ...] | None = None,
    dtype: torch.dtype | None = None,
    floating: bool = False,
    hint: str = "",
) -> None:
    """Check that ``actual`` is a tensor with the given shape and dtype (values are not looked at);
    ``hint`` ends the message of a wrong shape or dtype."""
    if actual is None:
        raise CheckFailure(
            f"{name} returned None, but a tensor was expected. Did you forget a `return`?"
        )
    if isinstance(actual, type(Ellipsis)):
        raise CheckFailure(f"{name} returned `...`: the function is not implemented yet.")
    if not isinstance(actual, torch.Tensor):
        raise CheckFailure(f"{name} should return a torch.Tensor, but it returned {describe(actual)}.")
    if shape is not None and tuple(actual.shape) != tuple(shape):
        raise CheckFailure(
            f"{name} should have shape {tuple(shape)}, but it has shape {tuple(actual.shape)}. {hint}".rstrip()
        )
    if dtype is not None and actual.dtype != dtype:
        raise CheckFailure(f"{name} should have dtype {dtype}, but it has dtype {actual.dtype}. {hint}".rstrip())
    if floating and not actual.is_floating_point():
        raise CheckFailure(f"{name} should be a floating-point tensor, but it has dtype {actual.dtype}. {hint}".rstrip())


#: What each kind of non-finite value means, when a test knows no more specific cause.
NONFINITE_MEANING = {
    "nan": "nan is what inf / inf, inf - inf, 0 / 0 and 0 * inf give",
    "inf": "inf is an overflow (exp of a large number) or minus the log of 0",
    "-inf": "-inf is the log of 0 (a value that rounded to 0 before the log) or a subtraction of an overflowed inf",
}


def nonfinite_kind(value: float) -> str:
    """'nan', 'inf' or '-inf' for a non-finite number."""
    return "nan" if value != value else ("inf" if value > 0 else "-inf")


def _nonfinite_sentence(name: str, actual: torch.Tensor, expected: torch.Tensor,
                        causes: Mapping[str, str] | None = None) -> str | None:
    """None when ``actual`` is finite wherever ``expected`` is; else a sentence naming the first bad
    entry, the kind of value found there and its cause (``causes[kind]``, else what the kind means)."""
    bad = ~torch.isfinite(actual) & torch.isfinite(expected)
    if not bool(bad.any()):
        return None
    index = tuple(int(i) for i in bad.nonzero()[0])
    found = actual[index].item()
    kind = nonfinite_kind(found)
    cause = (causes or {}).get(kind) or NONFINITE_MEANING[kind] + "."
    return (
        f"{name} contains {int(bad.sum())} non-finite value(s) where finite values were "
        f"expected; the first is at index {index}: expected {expected[index].item():.6g}, found "
        f"{found}. {cause}"
    )


def assert_tensor_close(
    actual: Any,
    expected: torch.Tensor,
    *,
    name: str,
    rtol: float | None = None,
    atol: float | None = None,
    causes: Mapping[str, str] | None = None,
    hint: str = "",
) -> None:
    """Compare ``actual`` with ``expected``: type, shape, dtype, non-finite values, then values.

    Values are compared with ``numpy.testing.assert_allclose`` using the tolerances of the
    expected dtype unless ``rtol``/``atol`` are given. ``causes`` maps 'nan', 'inf' and '-inf' to
    the sentence that explains finding one (see ``NONFINITE_MEANING``); ``hint`` ends the message
    when the values differ.
    """
    assert_tensor_like(actual, name=name, shape=tuple(expected.shape), dtype=expected.dtype)
    actual = actual.detach().cpu()
    expected = expected.detach().cpu()
    default_rtol, default_atol = tolerances(expected.dtype)
    rtol = default_rtol if rtol is None else rtol
    atol = default_atol if atol is None else atol
    if actual.is_floating_point():
        sentence = _nonfinite_sentence(name, actual, expected, causes)
        if sentence:
            raise CheckFailure(sentence)
    a = actual.double().numpy() if actual.is_floating_point() else actual.numpy()
    e = expected.double().numpy() if expected.is_floating_point() else expected.numpy()
    try:
        np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, equal_nan=True)
    except AssertionError:
        diff = np.abs(a.astype(np.float64) - e.astype(np.float64))
        diff = np.where(np.isnan(diff), np.inf, diff)
        bad = diff > atol + rtol * np.abs(e)
        if a.ndim == 0:
            raise CheckFailure(
                f"{name} is {float(a):.6g}, but {float(e):.6g} was expected (off by {float(diff):.3g}; "
                f"rtol={rtol:g}, atol={atol:g}). {hint}".rstrip()
            ) from None
        index = tuple(int(i) for i in np.unravel_index(np.argmax(np.where(bad, diff, -1)), a.shape))
        raise CheckFailure(
            f"{name} has {int(bad.sum())} of {a.size} value(s) off by more than the tolerance "
            f"(rtol={rtol:g}, atol={atol:g}); the largest difference is {diff[index]:.3g} at index "
            f"{index}: expected {e[index]:.6g}, found {a[index]:.6g}. {hint}".rstrip()
        ) from None
    _observe(a, e, rtol, atol)


def as_float(value: Any, *, name: str) -> float:
    """Accept a Python number or a one-element tensor/array and return it as a float."""
    if value is None:
        raise CheckFailure(f"{name} returned None, but a number was expected. Did you forget a `return`?")
    if isinstance(value, (torch.Tensor, np.ndarray)):
        count = value.size if isinstance(value, np.ndarray) else value.numel()
        if count != 1:
            raise CheckFailure(f"{name} should be a single number, but it is {describe(value)}.")
        return float(value.item())
    if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
        return float(value)
    raise CheckFailure(f"{name} should be a number, but it is {describe(value)}.")


def assert_scalar_close(actual: Any, expected: float, *, name: str, rtol=1e-6, atol=1e-8,
                        causes: Mapping[str, str] | None = None, hint: str = "") -> None:
    """Compare a scalar result (Python number or 0-dim tensor) with ``expected``; ``causes`` and
    ``hint`` as in ``assert_tensor_close``."""
    found = as_float(actual, name=name)
    if not np.isfinite(found) and np.isfinite(expected):
        kind = nonfinite_kind(found)
        cause = (causes or {}).get(kind) or NONFINITE_MEANING[kind] + "."
        raise CheckFailure(f"{name} is {found}, but a finite value {expected:.6g} was expected. {cause}")
    try:
        np.testing.assert_allclose(found, expected, rtol=rtol, atol=atol)
    except AssertionError:
        raise CheckFailure(
            f"{name} is {found:.6g}, but {expected:.6g} was expected "
            f"(off by {abs(found - expected):.3g}; rtol={rtol:g}, atol={atol:g}). {hint}".rstrip()
        ) from None
    _observe(np.array(found), np.array(expected, dtype=np.float64), rtol, atol)


def assert_probability_rows(p: torch.Tensor, *, name: str) -> None:
    """Every entry is in [0, 1] and every row sums to 1."""
    if not bool(torch.isfinite(p).all()):
        raise CheckFailure(f"{name} contains nan or inf values; probabilities must be finite.")
    if bool((p < 0).any()) or bool((p > 1).any()):
        raise CheckFailure(
            f"{name} has entries outside [0, 1] (min {p.min().item():.3g}, max {p.max().item():.3g})."
        )
    sums = p.double().sum(dim=-1)
    worst = int((sums - 1).abs().argmax())
    if abs(float(sums[worst]) - 1) > 1e-4:
        raise CheckFailure(
            f"Each row of {name} should sum to 1, but row {worst} sums to {float(sums[worst]):.6g}. "
            "Normalise along the class axis (dim=1) and keep the dimension (keepdim=True)."
        )
    _observe(sums.cpu().numpy(), np.ones(tuple(sums.shape)), 0.0, 1e-4)

# --------------------------------------------------------------------------- training loops and side effects
def as_float_list(values: Any, *, name: str) -> list[float]:
    """Accept a list or tuple of numbers / one-element tensors, or a 1-D tensor or array."""
    if values is None:
        raise CheckFailure(f"{name} is None, but a list of numbers was expected. Did you forget a `return`?")
    if isinstance(values, (torch.Tensor, np.ndarray)):
        if values.ndim != 1:
            raise CheckFailure(f"{name} should be a list of numbers, but it is {describe(values)}.")
        values = list(values)
    if not isinstance(values, (list, tuple)):
        raise CheckFailure(f"{name} should be a list of numbers, but it is {describe(values)}.")
    return [as_float(v, name=f"entry {i} of {name}") for i, v in enumerate(values)]


def assert_sequence_close(
    actual: Any, expected: Iterable[float], *, name: str, rtol: float = 1e-6, atol: float = 1e-8,
    hint: str = "",
) -> None:
    """Compare a list of numbers with ``expected``: length first, then every value."""
    found = as_float_list(actual, name=name)
    wanted = [float(v) for v in expected]
    if len(found) != len(wanted):
        raise CheckFailure(
            f"{name} has {len(found)} entries, but {len(wanted)} were expected. {hint}".rstrip()
        )
    a, e = np.asarray(found, dtype=np.float64), np.asarray(wanted, dtype=np.float64)
    if a.size == 0:
        return
    bad_nonfinite = ~np.isfinite(a) & np.isfinite(e)
    if bad_nonfinite.any():
        k = int(np.argmax(bad_nonfinite))
        raise CheckFailure(
            f"{name} contains non-finite values; the first is entry {k}: expected {e[k]:.6g}, found {a[k]}."
        )
    diff = np.abs(a - e)
    bad = diff > atol + rtol * np.abs(e)
    if bad.any():
        k = int(np.argmax(bad))
        raise CheckFailure(
            f"{name} has {int(bad.sum())} of {a.size} entries off by more than the tolerance "
            f"(rtol={rtol:g}, atol={atol:g}); the first is entry {k}: expected {e[k]:.8g}, found {a[k]:.8g} "
            f"(largest difference {diff.max():.3g}). {hint}".rstrip()
        )
    _observe(a, e, rtol, atol)

def tolerances_for(dtype: torch.dtype | None) -> tuple[float, float]:
    """(rtol, atol) for values computed in ``dtype``; float64 when unknown."""
    return TOLERANCES.get(dtype, TOLERANCES[torch.float64])

# --------------------------------------------------------------------------- structures, losses, training
def plain_structure(value: Any, depth: int = 0) -> Any:
    """An answer of dicts, sequences, classes, modules, functions, dtypes and strings as plain data:
    lists and ``torch.Size`` become tuples, classes, module instances and functions their names, and
    anything else its description. Meant to run where the answer was made (it is logged as data)."""
    if depth > 12:
        return describe(value)
    if isinstance(value, dict):
        return {k if isinstance(k, (str, int, float, bool)) else str(k): plain_structure(v, depth + 1)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return tuple(plain_structure(v, depth + 1) for v in value)
    if isinstance(value, type):
        return value.__name__
    if isinstance(value, torch.nn.Module):
        return type(value).__name__
    if value is None or isinstance(value, (bool, int, float, str, torch.dtype, torch.Tensor)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if callable(value) and isinstance(getattr(value, "__name__", None), str):
        return value.__name__
    return describe(value)


_NAME_PREFIXES = ("torch.nn.functional.", "torch.nn.", "torch.special.", "torch.", "nn.functional.", "nn.", "F.")


def _name_text(value: str) -> str:
    """'nn.BCEWithLogitsLoss()' and 'bcewithlogitsloss' -> 'bcewithlogitsloss'."""
    text = value.strip().removesuffix("()").strip()
    for prefix in _NAME_PREFIXES:
        if text.startswith(prefix):
            text = text[len(prefix):]
            break
    return text.lower()


def _shape_parts(value: Any) -> tuple | None:
    """A shape written as a tuple or list, or as text such as 'B', '[B, 1]' or '(B, C)', as a tuple of
    upper-case letters and ints (None when it is neither)."""
    if isinstance(value, str):
        text = value.strip()
        while len(text) >= 2 and text[0] + text[-1] in ("[]", "()"):
            text = text[1:-1].strip()
        parts = [p.strip() for p in text.replace("×", ",").replace("*", ",").split(",")]
        value = tuple(p for p in parts if p)
    if not isinstance(value, tuple):
        return None
    out = []
    for part in value:
        if isinstance(part, str) and part.strip().isdigit():
            part = int(part)
        elif isinstance(part, str):
            part = part.strip().upper()
        out.append(part)
    return tuple(out)


def _same_leaf(found: Any, wanted: Any) -> bool:
    """Equal plain leaves: names without regard to case, 'nn.' prefixes or '()'; shapes as tuples or
    text; dtypes as dtypes or their names."""
    if isinstance(wanted, torch.dtype):
        if isinstance(found, str):
            found = getattr(torch, found.strip().removeprefix("torch."), None)
        return isinstance(found, torch.dtype) and found == wanted
    if isinstance(wanted, tuple):
        a, b = _shape_parts(found), _shape_parts(wanted)
        return a is not None and a == b
    if isinstance(wanted, str) and isinstance(found, str):
        return _name_text(found) == _name_text(wanted)
    return type(found) is type(wanted) and found == wanted


def assert_same_structure(actual: Any, expected: Any, *, name: str) -> None:
    """Compare nested dicts, tuples, strings, dtypes, numbers and tensors with the expected value.

    ``actual`` is first made plain (``plain_structure``): a class, a loss instance or a function
    compares equal to its name; names compare without regard to case, a ``torch.nn.``/``nn.`` prefix
    or a trailing ``()``; a shape may be a tuple, a list or text such as ``'[B, 1]'`` (``'B'`` is the
    one-dimensional ``('B',)``); a dtype may be its name; tensors and numbers use the usual tolerances.
    """
    actual = plain_structure(actual)
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            raise CheckFailure(f"{name} should be a dict, but it is {describe(actual)}.")
        missing = [k for k in expected if k not in actual]
        if missing:
            raise CheckFailure(
                f"{name} should have the keys {sorted(expected)}, but {sorted(map(str, missing))} "
                f"{'is' if len(missing) == 1 else 'are'} missing (found {sorted(map(str, actual))})."
            )
        for key in expected:
            assert_same_structure(actual[key], expected[key], name=f"{name}[{key!r}]")
        return
    if isinstance(expected, torch.Tensor):
        assert_tensor_close(actual, expected, name=name)
        return
    if isinstance(expected, (int, float)) and not isinstance(expected, bool):
        assert_scalar_close(actual, float(expected), name=name)
        return
    wanted = plain_structure(expected)
    if not _same_leaf(actual, wanted):
        raise CheckFailure(f"{name} should be {wanted!r}, but it is {actual!r}.")


def assert_equal_leaf(found: Any, wanted: Any) -> bool:
    """True when two plain leaves are equal (see ``assert_same_structure``)."""
    return _same_leaf(plain_structure(found), plain_structure(wanted))


# ==============================================================================
# solution.py: Checks against the solution: the recorded cases of ``cases.py`` and the solution's values.
# ==============================================================================
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


# ==============================================================================
# reached.py: What a student function reached at run time: torch functions, ATen operators, library calls.
# ==============================================================================
REACHED_VERSION = 1
_REACH_LIMIT = 500  # distinct names kept per list
#: Top-level packages whose functions count as library calls in the profile.
_REACH_LIBRARIES = ("torch", "numpy", "scipy", "sklearn", "jax", "tensorflow", "cupy", "math")
#: Calls that start code the watch cannot follow (another thread or process), wherever they come from.
_REACH_ELSEWHERE = ("_thread.start_new_thread", "_thread.start_joinable_thread", "_thread.start_new",
                    "posix.fork", "posix.forkpty", "posix.posix_spawn", "posix.posix_spawnp", "posix.system",
                    "_posixsubprocess.fork_exec", "posix.execv", "posix.execve")
#: Calls that inspect or change the watch, when student code makes them: any function of these modules,
_REACH_WATCH_MODULES = ("torch.overrides", "torch.utils._python_dispatch", "inspect", "traceback", "gc",
                        "ctypes", "_ctypes")
#: and, in these modules, the functions whose name contains one of the words.
_REACH_WATCH_WORDS = {"torch._C": ("torch_function", "TorchFunction", "dispatch", "Dispatch", "_mode", "Mode"),
                      "sys": ("setprofile", "getprofile", "settrace", "gettrace", "_getframe", "monitoring"),
                      "threading": ("setprofile", "settrace")}


def _reach_watched(name: str) -> bool:
    """True for a ``module:qualname`` call that inspects or changes the watch."""
    module, _, qualname = name.partition(":")
    if module == "builtins" or module.startswith(_REACH_WATCH_MODULES):
        return module != "builtins"
    words = _REACH_WATCH_WORDS.get("torch._C" if module.startswith("torch._C") else module, ())
    return any(word in qualname for word in words)


# --------------------------------------------------------------------------- names
_REACH_PUBLIC = {"torch._C._nn": "torch.nn.functional", "torch._C._special": "torch.special",
                 "torch._C._linalg": "torch.linalg", "torch._C._fft": "torch.fft", "torch._C._VariableFunctions": "torch",
                 "torch._C": "torch", "torch._C.TensorBase": "torch.Tensor", "torch._tensor": "torch"}


def _reach_function_name(func: Any) -> str:
    """A torch function's public name, e.g. ``torch.nn.functional.softmax``, ``torch.Tensor.exp`` or
    ``torch.ops.aten._log_softmax``."""
    if isinstance(func, (torch._ops.OpOverload, torch._ops.OpOverloadPacket)):
        qualified = getattr(func, "_qualified_op_name", None) or func._schema.name  # "aten::_softmax"
        return "torch.ops." + qualified.replace("::", ".")
    owner = getattr(func, "__objclass__", None)  # a Tensor method or property
    if owner is None:
        getter = getattr(func, "__self__", None)
        owner = getter if isinstance(getter, type) else None
    name = getattr(func, "__name__", None) or type(func).__name__
    if owner is not None:
        module = f"{owner.__module__}.{owner.__qualname__}"
        return f"{_REACH_PUBLIC.get(module, module)}.{name}"
    module = getattr(func, "__module__", None) or "torch"
    qualname = getattr(func, "__qualname__", None) or name
    if qualname.startswith("_VariableFunctionsClass."):
        qualname = qualname.split(".", 1)[1]
    return f"{_REACH_PUBLIC.get(module, module)}.{qualname}"


def _reach_builtin_name(fn: Any) -> str:
    """``module:qualname`` of a C function, e.g. ``torch._C._nn:one_hot``."""
    owner = getattr(fn, "__self__", None)
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", "?")
    if module is None:
        if isinstance(owner, types.ModuleType):
            module = owner.__name__
        elif owner is not None:
            kind = owner if isinstance(owner, type) else type(owner)
            module = kind.__module__
    return f"{module or '?'}:{qualname}"


def _reach_canonical(name: str) -> str:
    """One spelling for the many names of a loss or activation: ``log_softmax``, ``LogSoftmax``,
    ``aten._log_softmax`` -> ``logsoftmax``; ``NLLLoss``, ``nll_loss_forward`` -> ``nll``."""
    word = name.lower().replace("_", "")
    for prefix in ("special",):
        word = word.removeprefix(prefix)
    changed = True
    while changed:
        changed = False
        for suffix in ("forward", "out", "2d", "nd", "loss"):
            if word.endswith(suffix) and len(word) > len(suffix):
                word, changed = word[: -len(suffix)], True
    return {"bce": "binarycrossentropy", "bcewithlogits": "binarycrossentropywithlogits"}.get(word, word)


def _reach_hits(name: str, banned: set[str]) -> bool:
    """True when any part of a dotted or ``module:qualname`` name is a banned function."""
    qualname = name.split(":", 1)[1] if ":" in name else name.rsplit(".", 1)[-1]
    return any(_reach_canonical(part.rstrip("_")) in banned for part in qualname.split(".") if part)


# --------------------------------------------------------------------------- genuine machinery
def _reach_is_torch_code(obj: Any, filename: str) -> bool:
    code = getattr(obj, "__code__", None)
    return isinstance(code, types.CodeType) and code.co_filename.replace("\\", "/").endswith(f"torch/{filename}")


_REACH_BUILTINS = {
    torch._C: ("_push_on_torch_function_stack", "_pop_torch_function_stack", "_len_torch_function_stack",
               "_get_function_stack_at", "_push_on_torch_dispatch_stack", "_pop_torch_dispatch_stack",
               "_len_torch_dispatch_stack", "_get_dispatch_stack_at", "_is_torch_function_mode_enabled",
               "_dispatch_tls_is_dispatch_key_excluded"),
    sys: ("setprofile", "getprofile"),
}


def _reach_counterfeits() -> list[str]:
    """What the watch relies on and a notebook has replaced, in words (empty when all is genuine)."""
    from torch.overrides import TorchFunctionMode
    from torch.utils._python_dispatch import TorchDispatchMode

    found = []
    for cls, filename in ((TorchFunctionMode, "overrides.py"), (TorchDispatchMode, "utils/_python_dispatch.py")):
        if not isinstance(cls, type) or not all(_reach_is_torch_code(getattr(cls, m, None), filename)
                                                for m in ("__enter__", "__exit__")):
            found.append(f"{getattr(cls, '__name__', cls)!s} is not torch's own")
    for owner, names in _REACH_BUILTINS.items():
        for name in names:
            fn = getattr(owner, name, None)
            if type(fn) is not types.BuiltinFunctionType or fn.__name__ != name:
                found.append(f"{owner.__name__}.{name} was replaced")
    return found


# --------------------------------------------------------------------------- the watch
class _ReachLog:
    """What one traced run saw; every field becomes plain data in ``as_data``."""

    def __init__(self) -> None:
        self.calls: dict[str, list[str]] = {}  # torch function -> the ATen operators it ran
        self.ops: dict[str, int] = {}
        self.library: dict[str, None] = {}
        self.problems: dict[str, None] = {}
        self.current: str | None = None  # the torch function running now
        self.busy = 0  # > 0 inside one of our torch-function handlers
        self.muted = 0  # > 0 inside another graded function (judged by its own question)
        self.probe: list[str] | None = None  # the canary's names, while it runs
        self.operations = 0  # every ATen operator that ran, muted helpers' included
        self.blocked = False  # the current case stopped in another graded function

    def problem(self, sentence: str) -> None:
        if len(self.problems) < 20:
            self.problems[sentence] = None


def _reach_spies(log: _ReachLog):
    from torch.overrides import TorchFunctionMode
    from torch.utils._python_dispatch import TorchDispatchMode

    class FunctionSpy(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if log.probe is not None:
                log.probe.append(_reach_function_name(func))
            elif not log.muted:
                name = _reach_function_name(func)
                if name in log.calls or len(log.calls) < _REACH_LIMIT:
                    log.calls.setdefault(name, [])
                    log.current = name
            log.busy += 1
            try:
                return func(*args, **kwargs)
            finally:
                log.busy -= 1
                log.current = None

    class DispatchSpy(TorchDispatchMode):
        @classmethod
        def _should_skip_dynamo(cls) -> bool:  # keeps torch from importing dynamo (2 s) for this mode
            return False

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            op = f"{func.namespace}.{func.overloadpacket.__name__}"
            if log.probe is not None:
                log.probe.append(op)
                return func(*args, **(kwargs or {}))
            log.operations += 1
            if not log.muted and (op in log.ops or len(log.ops) < _REACH_LIMIT):
                log.ops[op] = log.ops.get(op, 0) + 1
                ops = log.calls.get(log.current) if log.current is not None else None
                if ops is not None and op not in ops:
                    ops.append(op)
            return func(*args, **(kwargs or {}))

    return FunctionSpy(), DispatchSpy()


def _reach_library_dirs() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    dirs = {os.path.realpath(paths[k]) for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    dirs.add(os.path.realpath(os.path.dirname(os.path.dirname(torch.__file__))))
    dirs.add(os.path.realpath(os.path.dirname(os.__file__)))
    here = Path(__file__).resolve()
    dirs.add(str(here.parent) if __package__ else str(here))
    return tuple(sorted(dirs))


def _reach_profiler(log: _ReachLog, spies: tuple, own_codes: set):
    """The ``sys.setprofile`` callback: records library calls and checks the watch at every call
    student code makes."""
    function_spy, dispatch_spy = spies
    library_dirs = _reach_library_dirs()
    python_key = torch._C.DispatchKey.Python
    is_library: dict[str, bool] = {}

    def library_file(filename: str) -> bool:
        known = is_library.get(filename)
        if known is None:
            real = filename if filename.startswith("<frozen") else os.path.realpath(filename)
            known = filename.startswith("<frozen") or real.startswith(library_dirs)
            is_library[filename] = known
        return known

    def watch_is_on() -> str | None:
        if not torch._C._is_torch_function_mode_enabled():
            return "torch-function modes were switched off (torch._C.DisableTorchFunction or similar)"
        if not log.busy:
            depth = torch._C._len_torch_function_stack()
            if depth == 0 or torch._C._get_function_stack_at(depth - 1) is not function_spy:
                return "the torch-function mode stack was changed (a mode popped or pushed)"
        depth = torch._C._len_torch_dispatch_stack()
        if depth == 0 or torch._C._get_dispatch_stack_at(depth - 1) is not dispatch_spy:
            return "the torch-dispatch mode stack was changed (a mode popped or pushed)"
        if torch._C._dispatch_tls_is_dispatch_key_excluded(python_key):
            return "the Python dispatch key was excluded (torch._C._DisableTorchDispatch or similar)"
        return None

    in_c: dict = {}  # frame -> C functions it is inside now: Python called from there came from C

    def profile(frame, event, arg):
        if event == "call":
            if frame.f_code in own_codes:
                return
            name = f"{frame.f_globals.get('__name__', '?')}:{frame.f_code.co_qualname}"
            caller = None if in_c.get(frame.f_back) else frame.f_back
        elif event == "c_call":
            name, caller = _reach_builtin_name(arg), frame
            in_c[frame] = in_c.get(frame, 0) + 1
        elif event in ("c_return", "c_exception"):
            if in_c.get(frame):
                in_c[frame] -= 1
            return
        else:
            return
        dotted = name.replace(":", ".")
        if dotted in _REACH_ELSEWHERE:
            log.problem(f"{dotted} was called, which runs code the watch cannot follow")
        if log.muted:
            return
        if name.split(".", 1)[0].split(":", 1)[0] in _REACH_LIBRARIES and len(log.library) < _REACH_LIMIT:
            log.library[name] = None
        if caller is None or caller.f_code in own_codes or library_file(caller.f_code.co_filename):
            return
        where = f"line {caller.f_lineno} of {caller.f_code.co_qualname}"
        if _reach_watched(name):
            log.problem(f"{dotted} was called at {where}, which inspects or changes the watch")
        off = watch_is_on()
        if off:
            log.problem(f"{off} at {where}, before it called {dotted}")

    return profile


def _reach_canary(log: _ReachLog) -> bool:
    """Both watches see a known operation (so neither was replaced by something that sees nothing)."""
    log.probe = []
    try:
        torch.exp(torch.zeros(1))
    finally:
        seen, log.probe = log.probe, None
    return "torch.exp" in seen and "aten.exp" in seen


def _reach_fresh(args: tuple, generator: torch.Generator) -> tuple:
    """The recorded arguments with floating-point tensors nudged by a random relative 0.1 %, so that a
    function cannot answer from a cache filled by the earlier tests."""
    def nudge(value: Any) -> Any:
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            noise = torch.randn(value.shape, generator=generator, dtype=torch.float64).to(value.dtype)
            return (value + value.abs() * 1e-3 * noise).detach()
        if isinstance(value, (list, tuple)):
            return type(value)(nudge(v) for v in value)
        return value
    return tuple(nudge(a) for a in _clone(args))


def _reach_muted(log: _ReachLog, fn: Callable) -> Callable:
    def muted(*args, **kwargs):
        log.muted += 1
        try:
            return fn(*args, **kwargs)
        except Exception:
            log.blocked = True  # another question's function failed: not held against this one
            raise
        finally:
            log.muted -= 1
    return muted


def trace_reached(fn: Callable, inputs: Iterable[tuple], *, mute: Iterable[str] = ()) -> dict:
    """Call ``fn`` on every argument tuple of ``inputs`` (nudged) under the watch; return what it
    reached, as data. The graded functions named in ``mute`` that ``fn`` calls are not watched."""
    log = _ReachLog()
    counterfeits = _reach_counterfeits()
    for sentence in counterfeits:
        log.problem(f"the watch could not start: {sentence}")
    target = _target(fn)
    env = getattr(target, "__globals__", {})
    helpers = {n: _reach_muted(log, env[n]) for n in mute if callable(env.get(n))}
    runnable = with_helpers(target, **helpers) if helpers else target
    generator = torch.Generator().manual_seed(int.from_bytes(os.urandom(7), "little"))
    cases = [_reach_fresh(tuple(args), generator) for args in inputs]
    completed, blocked, errors, canary = 0, 0, [], False
    if not counterfeits:
        spies = _reach_spies(log)
        own = {c.__code__ for c in (spies[0].__torch_function__, spies[1].__torch_dispatch__)}
        old_profile = sys.getprofile()
        with spies[1], spies[0]:
            canary = _reach_canary(log)
            profile = _reach_profiler(log, spies, own)
            own.add(profile.__code__)
            sys.setprofile(profile)
            try:
                for args in cases:
                    log.blocked = False
                    try:
                        runnable(*args)
                        completed += 1
                    except Exception as exc:  # judged by the value tests; here only what ran counts
                        blocked += log.blocked
                        errors.append(f"{type(exc).__name__}: {exc}"[:200])
            finally:
                try:
                    sys.setprofile(old_profile)
                except TypeError:  # a C-level profiler (cProfile) cannot be put back this way
                    sys.setprofile(None)
            canary = canary and _reach_canary(log)
    return {"version": REACHED_VERSION, "cases": len(cases), "completed": completed, "errors": errors[:3],
            "operations": log.operations, "blocked": blocked,
            "calls": [[name, ops] for name, ops in log.calls.items()],
            "ops": sorted(log.ops), "library": list(log.library),
            "problems": list(log.problems), "canary": bool(canary)}


# --------------------------------------------------------------------------- the verdict, outside the kernel
def _reach_well_formed(data: Any) -> bool:
    def strings(v: Any) -> bool:
        return isinstance(v, list) and all(isinstance(s, str) for s in v)
    return (isinstance(data, dict) and data.get("version") == REACHED_VERSION
            and all(isinstance(data.get(k), int) and not isinstance(data.get(k), bool) for k in ("cases", "completed", "operations", "blocked"))
            and isinstance(data.get("canary"), bool)
            and all(strings(data.get(k)) for k in ("errors", "ops", "library", "problems"))
            and isinstance(data.get("calls"), list)
            and all(isinstance(c, list) and len(c) == 2 and isinstance(c[0], str) and strings(c[1]) for c in data["calls"]))


def banned_reached(data: dict, banned: Iterable[str]) -> list[str]:
    """The banned functions a (well-formed) record shows, each as 'NAME (via aten.OP)'."""
    canon = {_reach_canonical(b) for b in banned}
    found: list[str] = []
    explained: set[str] = set()
    for name, ops in data["calls"]:
        bad_ops = [op for op in ops if _reach_hits(op, canon)]
        if _reach_hits(name, canon) or bad_ops:
            via = bad_ops or ops
            found.append(f"{name} (via {', '.join(via)})" if via else name)
            explained.update(ops)
    found += [op for op in data["ops"] if op not in explained and _reach_hits(op, canon)]
    if not found:  # torch's own calls are named above; the profile adds other libraries
        found += [n.replace(":", ".") for n in data["library"] if _reach_hits(n, canon)]
    return found


def judge_reached(data: Any, banned: Iterable[str], *, name: str) -> None:
    """Fail unless the record is well formed, the watch stayed on, and no banned function was reached."""
    void = f"The no-library rule of {name} cannot be confirmed, so this check fails"
    if not _reach_well_formed(data):
        raise CheckFailure(f"The grader's record of what {name} reached at run time is missing or malformed. {void}.")
    if data["problems"]:
        raise CheckFailure(f"While {name} ran, the grader's watch on library calls was tampered with: "
                           f"{'; '.join(data['problems'][:3])}. {void}, and the question is void.")
    if not data["canary"]:
        raise CheckFailure(f"The grader's watch on library calls did not see a test operation while {name} ran, "
                           f"so it was disabled or replaced. {void}.")
    if data["completed"] == 0 and data["blocked"] == 0:
        errors = f" (first error: {data['errors'][0]})" if data["errors"] else ""
        raise CheckFailure(f"{name} raised on every one of the {data['cases']} inputs it was given to watch which "
                           f"functions it calls{errors}. {void}.")
    if data["operations"] <= 0:
        raise CheckFailure(f"The grader's watch saw no tensor operation at all while {name} ran on {data['cases']} "
                           f"inputs, so it cannot confirm how {name} computes its result. {void}.")
    hits = banned_reached(data, banned)
    if hits:
        raise CheckFailure(f"{name} must be written with elementary tensor operations, but at run time {name} reached "
                           f"{'; '.join(hits[:3])}. The library versions of {', '.join(sorted(set(banned)))} are not "
                           "allowed here, however they are called.")


def reached_by(fn: Callable, fn_name: str, *, path: str | Path = EXPECTED_FILE) -> Any:
    """Observe what ``fn`` reaches on the recorded inputs of ``fn_name`` (None when there are none,
    e.g. in a student's own check without the hidden cases)."""
    if not Path(path).exists() or fn_name not in graded_functions(path):
        return None
    inputs = [case["args"] for case in load_expected(fn_name, path)]
    mute = graded_functions(path) - {fn_name}
    return _observation(f"what {fn_name} reached", lambda: trace_reached(fn, inputs, mute=mute))


# ==============================================================================
# source.py: Checks that read a student function's code: banned library calls, helpers, global data.
# ==============================================================================
def _source_tree(fn: Callable) -> ast.AST | None:
    source = getattr(fn, SOURCE, None)
    try:
        return ast.parse(textwrap.dedent(source or inspect.getsource(_target(fn))))
    except (OSError, TypeError, SyntaxError):
        return None

def _call_name(node: ast.Call) -> tuple[str, bool]:
    """Return (last name, is_attribute) of a call's callee: ``F.softmax`` -> ('softmax', True)."""
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr, True
    if isinstance(func, ast.Name):
        return func.id, False
    return "", False


def _is_library_object(obj: Any) -> bool:
    module = getattr(obj, "__module__", None) or getattr(type(obj), "__module__", "") or ""
    return module.split(".")[0] in {"torch", "numpy", "scipy"}


def find_banned_calls(
    fn: Callable, banned: Iterable[str], skip: Iterable[str] = (), _seen: set | None = None
) -> list[str]:
    """Return the banned calls ``fn`` makes, following helper functions defined by the student.

    A call counts when its name is in ``banned`` and it reaches a library object: ``torch.softmax``,
    ``F.softmax``, ``x.softmax(1)``, ``nn.Softmax(1)`` or a name imported from torch. Calls to the
    student's own functions (e.g. their ``softmax`` inside ``log_softmax``) are followed instead,
    except those named in ``skip`` (functions graded by their own question).
    """
    banned, skip = set(banned), set(skip)
    fn = _target(fn)
    seen = _seen if _seen is not None else set()
    if fn in seen:
        return []
    seen.add(fn)
    found: list[str] = []
    env = getattr(fn, "__globals__", {})
    tree = _source_tree(fn)
    if tree is None:  # no source: fall back to the names the bytecode touches
        names = set(getattr(getattr(fn, "__code__", None), "co_names", ()))
        return sorted(f"{n}(...)" for n in names & banned)
    local = _nested_helper_names(tree)  # helpers defined inside fn: their bodies are walked here too
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name, is_attr = _call_name(node)
        if not is_attr and name in local:
            continue
        target = env.get(name) if not is_attr else None
        if _is_student_function(target) and not _is_library_object(target):
            if name not in skip:
                found += find_banned_calls(target, banned, skip, seen)
        elif name in banned and (is_attr or target is None or _is_library_object(target)):
            found.append(f"{ast.unparse(node.func)}(...) on line {node.lineno}")
    return found

def assert_not_calling(fn: Callable, banned: Iterable[str], *, name: str | None = None) -> None:
    """Fail when ``fn`` (or a helper it calls) uses one of the ``banned`` library functions.

    Two signals: what ``fn`` reached at run time on the hidden test inputs (``reached``: every torch
    function and ATen operator, however it was named; skipped when no recorded inputs exist), and the
    calls its source spells. Other graded functions it calls are not followed: their own questions
    check them.
    """
    name = name or getattr(fn, "__name__", "your function")
    observed = reached_by(fn, name)
    calls = find_banned_calls(fn, banned, skip=graded_functions() - {getattr(fn, "__name__", "")})
    if observed is not None:
        try:
            judge_reached(observed, banned, name=name)
        except CheckFailure as exc:
            also = f" Its code also calls {', '.join(calls)}." if calls else ""
            raise CheckFailure(f"{exc}{also}") from None
    if calls:
        raise CheckFailure(
            f"{name} must be written with elementary tensor operations, but it calls "
            f"{', '.join(calls)}. The library versions of {', '.join(sorted(set(banned)))} are not "
            "allowed here."
        )

#: Library calls that assignment questions on softmax and cross-entropy may not use.
BANNED_CLASSIFICATION_CALLS = frozenset(
    {"softmax", "log_softmax", "logsumexp", "cross_entropy", "nll_loss", "one_hot",
     "Softmax", "LogSoftmax", "CrossEntropyLoss", "NLLLoss"}
)

#: Library calls that from-scratch sigmoid and binary cross-entropy questions may not use.
BANNED_BINARY_LOSS_CALLS = frozenset(
    {"sigmoid", "logsigmoid", "softplus", "expit", "binary_cross_entropy", "binary_cross_entropy_with_logits",
     "Sigmoid", "LogSigmoid", "Softplus", "BCELoss", "BCEWithLogitsLoss"}
)

def assert_calling_any(fn: Callable, required: Iterable[str], *, name: str, what: str) -> None:
    """Fail unless ``fn`` (or a helper it calls) makes at least one of the ``required`` calls."""
    if not find_banned_calls(fn, required):
        raise CheckFailure(f"{name} should use {what}, but no such call was found in its code.")

def _global_loads(code: types.CodeType) -> set[str]:
    import dis

    names = {i.argval for i in dis.get_instructions(code) if i.opname == "LOAD_GLOBAL"}
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_loads(const)
    return names

def global_data_reads(fn: Callable) -> dict[str, Any]:
    """Global variables holding data (tensors or arrays) that ``fn`` reads, by name."""
    fn = _target(fn)
    loads = getattr(fn, GLOBAL_LOADS, None)
    if loads is None:
        code = getattr(fn, "__code__", None)
        loads = _global_loads(code) if isinstance(code, types.CodeType) else set()
    env = getattr(fn, "__globals__", {})
    return {n: env[n] for n in sorted(loads) if isinstance(env.get(n), (torch.Tensor, np.ndarray))}


def assert_no_global_data(fn: Callable, *, name: str) -> None:
    """Fail when ``fn`` reads a tensor or array from the notebook's globals instead of a parameter."""
    reads = global_data_reads(fn)
    if reads:
        listed = ", ".join(f"`{n}` ({describe(v)})" for n, v in reads.items())
        raise CheckFailure(
            f"{name} should use only its parameters, but it reads the notebook's global variable(s) {listed}, "
            "so it gives wrong results or fails on any other data; use the argument that is passed in."
        )

def _nested_helper_names(tree: ast.AST) -> set[str]:
    """Names of helpers a function defines inside itself: nested ``def``s and lambdas bound to a name."""
    body = getattr(tree, "body", [])
    outer = body[0] if body and isinstance(body[0], (ast.FunctionDef, ast.AsyncFunctionDef)) else None
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node is not outer:
            names.add(node.name)
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Lambda):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names


#: Kept for the tests that call it by this name: nested helpers are handled by ``assert_not_calling``.
assert_no_library_calls = assert_not_calling


# ==============================================================================
# behaviour.py: Checks of how a student function behaves across calls: state kept, arguments changed, gradients.
# ==============================================================================
def assert_repeatable(fn: Callable, args: tuple, *, name: str, hint: str = "") -> torch.Tensor:
    """Call ``fn(*args)`` twice with the very same arguments; both results must agree.

    Catches state that survives between calls, such as gradients accumulating in ``.grad``.
    Returns the first result.
    """
    first = fn(*args)
    assert_tensor_like(first, name=f"the first call of {name}", floating=True)
    first = first.detach().clone()
    second = fn(*args)
    assert_tensor_like(second, name=f"the second call of {name}", shape=tuple(first.shape), dtype=first.dtype)
    second = second.detach()
    rtol, atol = tolerances(first.dtype)
    diff = (second.double() - first.double()).abs()
    allowed = atol + rtol * first.double().abs()
    if bool((diff > allowed).any()) or not bool(torch.isfinite(second).all()):
        index = tuple(int(i) for i in np.unravel_index(int(torch.nan_to_num(diff, nan=np.inf).argmax()), diff.shape))
        raise CheckFailure(
            f"{name} changes between two calls with the same arguments: at index {index} the first call "
            f"gave {first[index].item():.6g} and the second {second[index].item():.6g}. {hint}".rstrip()
        )
    _observe(second.double().cpu().numpy(), first.double().cpu().numpy(), rtol, atol)
    return first


def assert_arguments_untouched(fn: Callable, args: Mapping[str, Any], *, name: str, hint: str = "") -> Any:
    """Call ``fn(**args)`` by position and check that no tensor argument was modified.

    Values, ``requires_grad`` and ``.grad`` of every tensor argument must be as before the call.
    Returns what ``fn`` returned. The call and the comparison run where ``fn`` runs (an observation),
    so the verdict does not depend on how a log replays the arguments' state.
    """
    def call_and_compare() -> dict:
        before = {
            k: (v.detach().clone(), v.requires_grad, v.grad is None)
            for k, v in args.items() if isinstance(v, torch.Tensor)
        }
        result = fn(*args.values())
        changes = []
        for k, (values, requires_grad, no_grad) in before.items():
            now = args[k]
            if now.shape != values.shape or not torch.equal(now.detach(), values):
                changes.append(f"{name} changed the values of its argument {k}, which should be left exactly as it was.")
            elif now.requires_grad and not requires_grad:
                changes.append(f"{name} left its argument {k} with requires_grad=True, but the caller's tensor had "
                               "requires_grad=False.")
            elif no_grad and now.grad is not None:
                changes.append(f"{name} left a .grad attribute on its argument {k}, which had none before the call.")
        return {"result": result, "changes": changes}

    observed = _observation(f"what {name} did to its arguments", call_and_compare)
    if observed["changes"]:
        raise CheckFailure(f"{observed['changes'][0]} {hint}".rstrip())
    return observed["result"]

def input_gradient(fn: Callable, x: torch.Tensor) -> torch.Tensor | None:
    """The gradient of ``fn(x).sum()`` with respect to ``x`` (None if none flows back).

    Computed where ``fn`` runs, so that sealed grading gets it as data (see ``UNKNOWN``).
    """
    def compute() -> torch.Tensor | None:
        leaf = x.detach().clone().requires_grad_(True)
        fn(leaf).sum().backward()
        return leaf.grad
    return _observation(f"gradient of {getattr(fn, '__name__', 'the function')}", compute)


def assert_input_gradient(fn: Callable, x: torch.Tensor, expected: torch.Tensor, *, name: str,
                          causes: Mapping[str, str] | None = None, hint: str = "") -> None:
    """The gradient of ``fn(x).sum()`` with respect to ``x`` (see ``input_gradient``) equals
    ``expected``; ``causes`` and ``hint`` as in ``assert_tensor_close``."""
    grad = input_gradient(fn, x)
    if grad is None:
        raise CheckFailure(f"No gradient flows back from {name} to its input: something in it detaches the "
                           "computation (.detach(), .item(), torch.no_grad() or a NumPy round trip).")
    assert_tensor_close(grad, expected, name=f"the gradient of {name}", causes=causes, hint=hint)


def finite_difference_gradient(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                               eps: float = 1e-6) -> torch.Tensor:
    """Central finite differences of the scalar function ``f`` at ``x`` (use float64)."""
    x = x.detach().clone()
    grad = torch.zeros_like(x)
    flat, out = x.view(-1), grad.view(-1)
    with torch.no_grad():
        for i in range(flat.numel()):
            old = flat[i].item()
            flat[i] = old + eps
            up = float(f(x))
            flat[i] = old - eps
            down = float(f(x))
            flat[i] = old
            out[i] = (up - down) / (2 * eps)
    return grad


# ==============================================================================
# training.py: Checks for assignments that build and train models: devices, loaders, classifiers, losses, accuracy.
# ==============================================================================
DEVICE_ENV_VAR = "GRADING_DEVICE"


def grading_device() -> torch.device:
    """Where grading computes: ``$GRADING_DEVICE`` if set (e.g. ``cpu``, ``cuda:1``), else CUDA when present, else CPU."""
    wanted = os.environ.get(DEVICE_ENV_VAR, "").strip()
    if wanted:
        return torch.device(wanted)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")

#: The device probes run on (the same rule as ``grading_device``).
probe_device = grading_device

def model_device(model: torch.nn.Module) -> torch.device:
    """The device of a model's first parameter or buffer (CPU for a model with neither)."""
    for tensor in [*model.parameters(), *model.buffers()]:
        return tensor.device
    return torch.device("cpu")

def assert_loss_module(actual: Any, expected_name: str, *, name: str, hint: str = "") -> None:
    """``actual`` is an instance of the torch.nn loss class called ``expected_name``, reducing by mean.

    What ``actual`` is gets worked out where it was made (an observation), so a class or an instance
    of the student's own is judged by its name and reduction."""
    def facts() -> dict:
        if actual is None:
            return {"kind": "none"}
        if isinstance(actual, type):
            return {"kind": "class", "class": actual.__name__}
        if not isinstance(actual, torch.nn.Module):
            return {"kind": "other", "description": describe(actual)}
        return {"kind": "module", "class": type(actual).__name__, "reduction": str(getattr(actual, "reduction", "mean"))}

    seen = _observation(f"what {name} returned", facts)
    seen = seen if isinstance(seen, dict) else {"kind": "other", "description": describe(seen)}
    kind, found = seen.get("kind"), str(seen.get("class", ""))
    if kind == "none":
        raise CheckFailure(f"{name} returned None, but an nn.{expected_name} was expected. Did you forget a `return`?")
    if kind == "class":
        raise CheckFailure(f"{name} returned the class {found} itself, but an instance was expected: "
                           f"call the class, as in nn.{found}().")
    if kind != "module":
        raise CheckFailure(f"{name} should return a torch.nn loss module, but it returned {seen.get('description')}.")
    if found != expected_name:
        raise CheckFailure(f"{name} should return nn.{expected_name}, but it returned nn.{found}.{hint and ' ' + hint}")
    if seen.get("reduction") != "mean":
        raise CheckFailure(f"{name} should average over the batch (reduction='mean', the default), but its reduction "
                           f"is {seen.get('reduction')!r}.")


def assert_target_shape(targets: Any, output_shape: tuple[int, ...], *, name: str, criterion: str) -> None:
    """Targets must have the shape of the model output they are compared with."""
    assert_tensor_like(targets, name=name)
    if tuple(targets.shape) != tuple(output_shape):
        raise CheckFailure(
            f"{name} has shape {tuple(targets.shape)}, but {criterion} compares it element by element with a "
            f"model output of shape {tuple(output_shape)}, so the targets must have that shape too."
        )


def _metrics(task: str, logits: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """Held-out metrics computed from raw logits, without any of the student's functions."""
    labels = torch.as_tensor(labels)
    if task == "binary":
        predicted = (logits.reshape(-1) > 0).long()
        return {"accuracy": (predicted == labels.reshape(-1).long()).double().mean().item()}
    if task == "multiclass":
        return {"accuracy": (logits.argmax(dim=1) == labels.long()).double().mean().item()}
    predicted = (logits > 0).long()
    return {
        "subset_accuracy": (predicted == labels.long()).all(dim=1).double().mean().item(),
        "hamming_loss": (predicted != labels.long()).double().mean().item(),
    }


#: metric -> (allowed shortfall from the reference, True if larger is better). Calibrated by
#: ``benchmarks/thresholds.py``: over 120 correct runs per task (4 ways of writing train, training
#: seeds 0-29) the largest shortfalls were 0.06 (multi-class accuracy; 0.07 left one sample to
#: spare), 0.035 (subset accuracy) and 0.009 (Hamming loss), and every catalogued q7 bug exceeds
#: the last-loss bound on every seed.
TRAINING_MARGINS = {
    "accuracy": (0.10, True),
    "subset_accuracy": (0.08, True),
    "hamming_loss": (0.04, False),
}


def check_training(
    train: Callable,
    task: str,
    *,
    helpers: Mapping[str, Callable] | None = None,
    fn_name: str = "held_out_scores",
    loss_factor: float = 1.3,
    loss_slack: float = 0.05,
    path: str | Path = EXPECTED_FILE,
) -> dict[str, float]:
    """Train with the student's ``train`` on the recorded data of ``task`` and compare with the reference.

    The recorded case (named ``task``) holds ``(task, X_train, y_train, X_test, y_test, epochs, seed)``
    and, as expected value, the reference's held-out metrics and last epoch loss. The student's model
    is evaluated here on raw logits; each metric may fall short of the reference by its margin in
    ``TRAINING_MARGINS`` and the last epoch loss may be at most ``loss_factor`` times the reference's
    plus ``loss_slack``.
    """
    if train is None or not callable(train):
        raise CheckFailure("train is not defined as a function; run its cell first.")
    cases = [c for c in load_expected(fn_name, path) if c["name"] == task]
    if not cases:
        raise CheckFailure(f"No recorded training data for the {task} task; the autograder is misconfigured.")
    _, X_train, y_train, X_test, y_test, epochs, seed = cases[0]["args"]
    reference = cases[0]["expected"]
    fn = with_helpers(train, **(helpers or {}))
    label = f"train({task!r}, X of shape {tuple(X_train.shape)}, y of shape {tuple(y_train.shape)}, epochs={epochs}, seed={seed})"
    if task == "binary":
        expected_cols = 1
    elif task == "multiclass":
        expected_cols = int(y_test.max()) + 1
    else:
        expected_cols = y_test.shape[1]

    def train_and_predict() -> dict:  # runs in the student's kernel; returns data only
        try:
            result = fn(task, X_train.numpy(), y_train.numpy(), epochs, seed)
        except Exception as exc:
            raise CheckFailure(f"{label} raised {type(exc).__name__}: {exc}") from None
        if not isinstance(result, tuple) or len(result) != 2:
            raise CheckFailure(f"{label} should return a tuple (model, losses), but it returned {describe(result)}.")
        model, losses = result
        if not isinstance(model, torch.nn.Module):
            raise CheckFailure(f"The model returned by {label} should be a torch.nn.Module, but it is {describe(model)}.")
        try:
            losses = [as_float(v, name="each epoch loss") for v in losses]
        except TypeError:
            raise CheckFailure(f"The losses returned by {label} should be a list of numbers, but they are {describe(losses)}.") from None
        model.eval()
        device = next((p.device for p in model.parameters()), torch.device("cpu"))  # CPU or CUDA, as trained
        with torch.no_grad():
            logits = model(X_test.float().to(device))
        if isinstance(logits, torch.Tensor):
            logits = logits.detach().cpu()
        return {"losses": losses, "logits": logits if isinstance(logits, torch.Tensor) else describe(logits)}

    observed = _observation(f"training on the {task} task", train_and_predict)
    losses, logits = observed["losses"], observed["logits"]
    if reference is UNKNOWN:
        return {}
    if len(losses) != epochs:
        raise CheckFailure(f"{label} should return one loss per epoch ({epochs}), but it returned {len(losses)}.")
    if not all(np.isfinite(losses)):
        raise CheckFailure(f"The losses returned by {label} contain nan or inf: {losses}.")
    limit = loss_factor * reference["final_loss"] + loss_slack
    AUDIT.margin(f"{task} last epoch loss", (losses[-1] - reference["final_loss"]) / (limit - reference["final_loss"]))
    if losses[-1] > limit:
        raise CheckFailure(
            f"The last epoch loss of {label} is {losses[-1]:.3f}, but the reference reaches "
            f"{reference['final_loss']:.3f} on the same data and at most {limit:.3f} is accepted; check that "
            "the criterion receives raw logits (no sigmoid or softmax before it) and that every batch takes an "
            "optimizer step after zero_grad()."
        )
    if not isinstance(logits, torch.Tensor) or logits.ndim != 2 or logits.shape[1] != expected_cols:
        raise CheckFailure(
            f"The model returned by {label} should map ({X_test.shape[0]}, {X_test.shape[1]}) inputs to logits of "
            f"shape ({X_test.shape[0]}, {expected_cols}), but it gave {describe(logits)}."
        )
    scores = _metrics(task, logits, y_test)
    for metric, value in scores.items():
        margin, higher_is_better = TRAINING_MARGINS[metric]
        ref = reference[metric]
        bound = ref - margin if higher_is_better else ref + margin
        AUDIT.margin(f"{task} {metric}", ((ref - value) if higher_is_better else (value - ref)) / margin)
        if (value < bound) if higher_is_better else (value > bound):
            relation = "at least" if higher_is_better else "at most"
            raise CheckFailure(
                f"The held-out {metric.replace('_', ' ')} of the model returned by {label} is {value:.3f}, but "
                f"{relation} {bound:.3f} is required (the reference reaches {ref:.3f} on the same data)."
            )
    return scores

def _fake_cuda(available: bool) -> dict:
    """Stand-ins for every public way of asking whether CUDA is there, saying ``available``:
    {(owner, attribute): fake}."""
    count = 1 if available else 0
    fakes = {(torch.cuda, "is_available"): lambda: available, (torch.cuda, "device_count"): lambda: count}
    accelerator = getattr(torch, "accelerator", None)
    if accelerator is not None:
        fakes[(accelerator, "is_available")] = lambda: available
        fakes[(accelerator, "device_count")] = lambda: count
        fakes[(accelerator, "current_accelerator")] = lambda check_available=False: (
            torch.device("cuda") if available else None)
    return fakes


@contextlib.contextmanager
def _cuda_faked(available: bool, namespaces: list[dict]):
    """Make torch say CUDA is (or is not) available: its functions, and every global of ``namespaces``
    bound to one of them (``from torch.cuda import is_available``), are replaced and then restored."""
    fakes = _fake_cuda(available)
    real = {(owner, attr): getattr(owner, attr) for owner, attr in fakes}
    by_identity = {id(real[key]): fake for key, fake in fakes.items()}
    rebound = []
    try:
        for (owner, attr), fake in fakes.items():
            setattr(owner, attr, fake)
        for namespace in namespaces:
            for name, value in list(namespace.items()):
                if id(value) in by_identity and any(value is r for r in real.values()):
                    rebound.append((namespace, name, value))
                    namespace[name] = by_identity[id(value)]
        yield
    finally:
        for (owner, attr), value in real.items():
            setattr(owner, attr, value)
        for namespace, name, value in rebound:
            namespace[name] = value


def check_get_device(get_device: Callable, env_var: str = "GRADING_DEVICE") -> None:
    """``get_device()`` honours ``env_var`` and otherwise picks CUDA exactly when a GPU is available.
    Availability is faked both ways (``torch.cuda.is_available``, ``torch.cuda.device_count``,
    ``torch.accelerator`` and the notebook's own names for them), so that a machine without a GPU
    tests both branches; the variable and torch are restored."""
    saved = os.environ.get(env_var)
    student = _target(get_device)
    namespaces = [student.__globals__] if isinstance(getattr(student, "__globals__", None), dict) else []
    cases = [(False, None, "cpu"), (False, "cpu", "cpu"), (True, None, "cuda"), (True, "cpu", "cpu"),
             (True, "cuda", "cuda")]
    try:
        for available, value, want in cases:
            if value is None:
                os.environ.pop(env_var, None)
            else:
                os.environ[env_var] = value
            setting = (f"{env_var}={value}" if value else f"{env_var} unset") + (
                " and a GPU available" if available else " and no GPU")
            with _cuda_faked(available, namespaces):
                try:
                    got = get_device()
                except Exception as exc:
                    raise CheckFailure(f"With {setting}, get_device() raised {type(exc).__name__}: {exc}") from None
            if not isinstance(got, torch.device):
                raise CheckFailure(f"With {setting}, get_device() should return a torch.device, "
                                   f"but it returned {describe(got)}.")
            if got.type != want:
                why = (f"when {env_var} is set, return that device (read it with os.environ.get at every call)"
                       if value else "without the variable, choose CUDA exactly when torch.cuda.is_available()")
                raise CheckFailure(f"With {setting}, get_device() should return the '{want}' device, "
                                   f"but it returned '{got}': {why}.")
    finally:
        if saved is None:
            os.environ.pop(env_var, None)
        else:
            os.environ[env_var] = saved


def check_make_loaders(make_loaders: Callable) -> None:
    """The train loader is shuffled reproducibly by its own seeded generator, the test loader
    is not shuffled, and both keep every sample and the batch size."""
    train = torch.utils.data.TensorDataset(torch.zeros(23, 1), torch.arange(23))
    test = torch.utils.data.TensorDataset(torch.zeros(11, 1), torch.arange(11))

    def batches(seed: int, global_seed: int) -> tuple[list[list[int]], list[list[int]]]:
        with torch.random.fork_rng(devices=[]):
            loaders = make_loaders(train, test, 5, seed)
            if not (isinstance(loaders, tuple) and len(loaders) == 2):
                raise CheckFailure("make_loaders should return a tuple (train_loader, test_loader), "
                                   f"but it returned {describe(loaders)}.")
            for which, loader in zip(("train", "test"), loaders):
                if not isinstance(loader, torch.utils.data.DataLoader):
                    raise CheckFailure(f"The {which} loader that make_loaders returned should be a torch DataLoader, "
                                       f"but it is {describe(loader)}.")
            torch.manual_seed(global_seed)  # a loader that leans on the global RNG changes order here
            return ([y.tolist() for _, y in loaders[0]], [y.tolist() for _, y in loaders[1]])

    train_a, test_a = _observation("make_loaders with seed 7", lambda: batches(7, 0))
    train_b, _ = _observation("make_loaders with seed 7 and another global seed", lambda: batches(7, 1))
    train_c, _ = _observation("make_loaders with seed 8", lambda: batches(8, 0))
    flat = [i for b in train_a for i in b]
    if [len(b) for b in train_a] != [5, 5, 5, 5, 3]:
        raise CheckFailure("With 23 training samples and batch_size=5 the train loader of make_loaders should give batches "
                           f"of sizes [5, 5, 5, 5, 3], but it gave {[len(b) for b in train_a]}: keep the last, smaller "
                           "batch (no drop_last=True).")
    if sorted(flat) != list(range(23)):
        raise CheckFailure("One pass of the train loader of make_loaders should visit every training sample exactly once, "
                           f"but it visited {sorted(flat)}.")
    if flat == list(range(23)):
        raise CheckFailure("The train loader of make_loaders should shuffle the samples, but it returned them in their "
                           "original order (pass shuffle=True).")
    if train_a != train_b:
        raise CheckFailure("The training order of make_loaders(..., seed=7) should not depend on the global torch seed, but it "
                           "changed when torch.manual_seed changed; give the DataLoader its own "
                           "generator=torch.Generator().manual_seed(seed).")
    if train_a == train_c:
        raise CheckFailure("make_loaders with seeds 7 and 8 should give different training orders, but they gave the same one; "
                           "seed the generator with the `seed` argument.")
    if test_a != [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10]]:
        raise CheckFailure("The test loader of make_loaders should return the 11 test samples in order in batches of 5, "
                           f"but it returned {test_a}: do not shuffle the test loader (shuffle=False).")


#: (rtol, atol) of check_classifier's comparison of a model's output with its layers applied by hand.
CLASSIFIER_TOLERANCES = (1e-4, 1e-5)


def _classifier_facts(model: torch.nn.Module, layers: int) -> dict:
    """Runs where the model lives: its Linear layers (registered, and in the order its forward pass
    calls them), its parameter count, and for each input shape how its output compares with those
    layers applied by hand (Flatten, then Linear and ReLU in turn). Returns plain data."""
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    facts: dict = {"registered": [[m.in_features, m.out_features] for m in linears],
                   "params": sum(p.numel() for p in model.parameters()), "runs": []}
    rtol, atol = CLASSIFIER_TOLERANCES
    device = model_device(model)
    images = torch.rand(5, 1, 28, 28, generator=torch.Generator().manual_seed(3)).to(device)
    for shape in [(5, 1, 28, 28), (5, 784)]:
        called: list[torch.nn.Linear] = []
        hooks = [m.register_forward_hook(lambda module, inputs, output: called.append(module)) for m in linears]
        run: dict = {"shape": list(shape)}
        try:
            with torch.no_grad():
                out = model(images.reshape(shape))
        except Exception as exc:
            run["error"] = f"{type(exc).__name__}: {exc}"
            out = None
        finally:
            for hook in hooks:
                hook.remove()
        run["order"] = [[m.in_features, m.out_features] for m in called]
        if isinstance(out, torch.Tensor):
            run["out_shape"], run["out"] = list(out.shape), describe(out)
            with torch.no_grad():
                reference = images.flatten(1)
                for k, layer in enumerate(called):
                    reference = torch.nn.functional.linear(reference, layer.weight, layer.bias)
                    if k < len(called) - 1:
                        reference = torch.relu(reference)
            if reference.shape == out.shape and len(called) == layers:
                diff = (out.detach().double() - reference.double()).abs()
                run["max_diff"] = float(diff.max())
                run["ratio"] = float((diff / (atol + rtol * reference.double().abs())).max())
        elif out is not None:
            run["out"] = describe(out)
        facts["runs"].append(run)
    return facts


def check_classifier(model: Any, *, name: str, sizes: tuple[int, ...]) -> None:
    """``model`` flattens (B, 1, 28, 28) or (B, 784) input and applies ``len(sizes) - 1`` Linear
    layers of the given sizes with ReLU between them and nothing after the last one.

    The layers are taken in the order the forward pass calls them, whatever order ``__init__``
    registered them in; the model runs where it was built (an observation), and only data about
    it is judged here.
    """
    if model is None:
        raise CheckFailure(f"{name} returned None, but an nn.Module was expected. Did you forget a `return`?")
    if not isinstance(model, torch.nn.Module):
        raise CheckFailure(f"{name} should return an nn.Module, but it returned {describe(model)}.")
    want = [[a, b] for a, b in zip(sizes[:-1], sizes[1:])]
    facts = _observation(f"the layers of {name}", lambda: _classifier_facts(model, len(want)))
    shown = [tuple(p) for p in want]
    if sorted(facts["registered"]) != sorted(want):
        raise CheckFailure(f"{name} should contain {len(want)} nn.Linear layer(s) with (in, out) sizes {shown}, "
                           f"but it contains {[tuple(p) for p in facts['registered']]}.")
    expected_count = sum(a * b + b for a, b in want)
    if facts["params"] != expected_count:
        raise CheckFailure(f"{name} should have {expected_count} parameters, but it has {facts['params']}.")
    layers = "Linear(Flatten(x))" if len(want) == 1 else "Linear(ReLU(Linear(Flatten(x))))"
    rtol, atol = CLASSIFIER_TOLERANCES
    for run in facts["runs"]:
        shape = tuple(run["shape"])
        if "error" in run:
            raise CheckFailure(f"{name} should accept input of shape {shape}, but applying it raised {run['error']}")
        if run.get("out_shape") != [5, sizes[-1]]:
            raise CheckFailure(f"{name} applied to a batch of shape {shape} should return a tensor of shape "
                               f"{(5, sizes[-1])}, but it returned {run.get('out', 'nothing')}.")
        if run["order"] != want:
            raise CheckFailure(f"On input of shape {shape}, {name} should apply nn.Linear layers of sizes {shown} in "
                               f"this order, but its forward pass applied {[tuple(p) for p in run['order']]}.")
        if run.get("ratio", float("inf")) > 1:
            raise CheckFailure(
                f"On input of shape {shape}, {name} should compute {layers} and return raw logits, but its "
                f"output differs by up to {run.get('max_diff', float('nan')):.3g} (rtol={rtol:g}, atol={atol:g}); "
                "a missing ReLU or an extra layer such as Softmax (CrossEntropyLoss applies it already) causes this.")
        if AUDIT.ratios is not None:
            AUDIT.ratios.append(run["ratio"])


def assert_output_shapes(model: Any, shapes: Mapping[tuple, tuple], *, name: str, hint: str = "") -> None:
    """``model`` maps a zero batch of each input shape in ``shapes`` to a tensor of the paired output
    shape; ``hint`` ends the message. The model runs where it was built (an observation), so this
    works for a model class the notebook defines as well as for torch's own modules."""
    if not isinstance(model, torch.nn.Module):
        raise CheckFailure(f"{name} should be an nn.Module, but it is {describe(model)}.")

    def outputs() -> list:
        found = []
        for shape in shapes:
            try:
                with torch.no_grad():
                    out = model(torch.zeros(shape, device=model_device(model)))
            except Exception as exc:
                found.append(f"raised {type(exc).__name__}: {exc}")
                continue
            found.append(list(out.shape) if isinstance(out, torch.Tensor) else f"returned {describe(out)}")
        return found

    for (shape, want), got in zip(shapes.items(), _observation(f"the output shapes of {name}", outputs)):
        if got != list(want):
            found = f"shape {tuple(got)}" if isinstance(got, list) else got
            raise CheckFailure(f"{name} applied to a batch of shape {tuple(shape)} should return a tensor of shape "
                               f"{tuple(want)}, but it {'has ' + found if isinstance(got, list) else found}. "
                               f"{hint}".rstrip())


def predictions_of(model: Any, images: torch.Tensor, *, name: str, batch_size: int = 1000,
                   n_params: int | None = None) -> dict[str, Any]:
    """Apply ``model`` itself to ``images`` (in eval mode, without autograd, on its own device) and
    return ``{"parameters": count, "predictions": int64 tensor}``; its mode is restored. With
    ``n_params``, a wrong parameter count fails first, since it explains a model that cannot run.

    Computed where the model lives: under the grader, in the student's kernel, so that a model of a
    class the notebook defines is judged by what it predicts (see ``sealing.observe``)."""
    if model is None:
        raise CheckFailure(f"{name} is None, but a trained nn.Module was expected; run the training cell.")
    if not isinstance(model, torch.nn.Module):
        raise CheckFailure(f"{name} should be a trained nn.Module, but it is {describe(model)}.")

    def compute() -> dict[str, Any]:
        count = sum(p.numel() for p in model.parameters())
        if n_params is not None and count != n_params:
            raise CheckFailure(f"{name} should have {n_params} parameters, but it has {count}.")
        device = model_device(model)
        dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
        was_training = model.training
        model.eval()
        predicted = []
        try:
            with torch.no_grad():
                for start in range(0, len(images), batch_size):
                    x = images[start:start + batch_size].to(device=device, dtype=dtype)
                    try:
                        out = model(x)
                    except Exception as exc:
                        raise CheckFailure(f"{name} should accept test images of shape {tuple(x.shape)}, but "
                                           f"applying it raised {type(exc).__name__}: {exc}") from None
                    assert_tensor_like(out, name=f"{name} applied to {len(x)} test images", shape=(len(x), 10))
                    predicted.append(out.argmax(dim=1).cpu())
        finally:
            model.train(was_training)
        return {"parameters": count,
                "predictions": torch.cat(predicted) if predicted else torch.zeros(0, dtype=torch.int64)}

    return _observation(f"predictions of {name} on {len(images):,} images", compute)


def assert_min_accuracy(model: Any, images: torch.Tensor, labels: torch.Tensor, *, name: str,
                        threshold: float, n_params: int | None = None, batch_size: int = 1000,
                        split: str = "test", hint: str = "") -> float:
    """Evaluate ``model`` on ``images`` (``predictions_of``) and fail below ``threshold``, or when it
    does not have ``n_params`` parameters; returns the accuracy. ``split`` names the images in the
    message ('test', 'validation'); ``hint`` ends it."""
    seen = predictions_of(model, images, name=name, batch_size=batch_size, n_params=n_params)
    count, predicted = seen["parameters"], seen["predictions"]
    if n_params is not None and count != n_params:
        raise CheckFailure(f"{name} should have {n_params} parameters, but it has {count}.")
    if not isinstance(predicted, torch.Tensor) or predicted.shape != (len(images),):
        raise CheckFailure(f"{name} should give one prediction per {split} image ({len(images):,}), "
                           f"but it gave {describe(predicted)}.")
    accuracy = float((predicted == torch.as_tensor(labels)).double().mean())
    if accuracy < threshold:
        raise CheckFailure(f"{name} reaches a {split} accuracy of {accuracy:.4f} on the {len(images):,} {split} images, "
                           f"but at least {threshold:.2f} is required. {hint}".rstrip())
    return accuracy


# ==============================================================================
# probes.py: Probes for functions that train or evaluate a model (assignment 03). A probe builds a tiny
# ==============================================================================
#: (rtol, atol) for the float64 probes: far above rounding noise, far below any real bug.
PROBE_TOLERANCES = (1e-6, 1e-9)

def tiny_classifier(kind: str, seed: int, n_features: int = 6, n_classes: int = 3) -> torch.nn.Module:
    """A small float64 classifier whose weights depend only on ``seed``, on the CPU.

    ``kind`` is ``"linear"`` (one ``nn.Linear``) or ``"batchnorm"`` (Linear, BatchNorm1d, ReLU,
    Linear, with non-trivial running statistics, so train and eval mode give different outputs).
    The global random state is left as it was.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if kind == "linear":
            model = torch.nn.Linear(n_features, n_classes)
        elif kind == "batchnorm":
            model = torch.nn.Sequential(
                torch.nn.Linear(n_features, 5), torch.nn.BatchNorm1d(5), torch.nn.ReLU(),
                torch.nn.Linear(5, n_classes),
            )
            with torch.no_grad():
                model[1].running_mean.normal_()
                model[1].running_var.uniform_(0.5, 2.0)
        else:
            raise ValueError(f"unknown tiny classifier kind {kind!r}")
    return model.double()


def tiny_loader(features: torch.Tensor, labels: torch.Tensor, batch_size: int) -> torch.utils.data.DataLoader:
    """An unshuffled DataLoader over CPU tensors (the function under test moves batches itself)."""
    dataset = torch.utils.data.TensorDataset(features, labels)
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False)


class _ForwardLog:
    """Remembers, for every call of a model, whether it was in training mode and autograd was on."""

    def __init__(self, model: torch.nn.Module):
        self.training: list[bool] = []
        self.grad_enabled: list[bool] = []
        self._handle = model.register_forward_pre_hook(self._record)

    def _record(self, module, inputs):
        self.training.append(bool(module.training))
        self.grad_enabled.append(torch.is_grad_enabled())

    def remove(self) -> None:
        self._handle.remove()

    @staticmethod
    def _fraction(flags: list[bool]) -> torch.Tensor:
        # -1 marks "the model was never called", which no correct function produces
        return torch.tensor(sum(flags) / len(flags) if flags else -1.0, dtype=torch.float64)

    def fraction_training(self) -> torch.Tensor:
        return self._fraction(self.training)

    def fraction_eval(self) -> torch.Tensor:
        return self._fraction([not t for t in self.training]) if self.training else self._fraction([])

    def fraction_grad_enabled(self) -> torch.Tensor:
        return self._fraction(self.grad_enabled)


def _model_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    state = {f"parameter '{n}'": p.detach().cpu().clone() for n, p in model.named_parameters()}
    state.update({f"buffer '{n}'": b.detach().cpu().clone() for n, b in model.named_buffers()
                  if b.is_floating_point()})
    return state


def _number(value: Any, *, name: str) -> torch.Tensor:
    return torch.tensor(as_float(value, name=name), dtype=torch.float64)


def probe_train_one_epoch(train_one_epoch: Callable, features: torch.Tensor, labels: torch.Tensor,
                          kind: str, seed: int, batch_size: int, lr: float,
                          start_in_train_mode: bool) -> dict[str, torch.Tensor]:
    """Run ``train_one_epoch`` once on a tiny model (plain SGD, mean cross-entropy) and report.

    Keys: ``loss`` (the returned value), ``training-mode share of forward passes``, and the
    model's parameters and floating-point buffers afterwards.
    """
    device = probe_device()
    model = tiny_classifier(kind, seed).to(device)
    model.train(start_in_train_mode)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    log = _ForwardLog(model)
    try:
        loss = train_one_epoch(model, tiny_loader(features, labels, batch_size),
                               torch.nn.CrossEntropyLoss(), optimizer, device)
    finally:
        log.remove()
    return {"loss": _number(loss, name="train_one_epoch"),
            "training-mode share of forward passes": log.fraction_training(), **_model_state(model)}


def probe_evaluate(evaluate: Callable, features: torch.Tensor, labels: torch.Tensor, kind: str,
                   seed: int, batch_size: int, start_in_train_mode: bool) -> dict[str, torch.Tensor]:
    """Run ``evaluate`` on a tiny model and report the accuracy, how the model was called, and
    its buffers afterwards (evaluating must not change them)."""
    device = probe_device()
    model = tiny_classifier(kind, seed).to(device)
    model.train(start_in_train_mode)
    log = _ForwardLog(model)
    try:
        accuracy = evaluate(model, tiny_loader(features, labels, batch_size), device)
    finally:
        log.remove()
    return {"accuracy": _number(accuracy, name="evaluate"),
            "eval-mode share of forward passes": log.fraction_eval(),
            "share of forward passes with autograd on": log.fraction_grad_enabled(),
            **_model_state(model)}


def observe(label: str, run: Callable[[], Any]) -> Any:
    """Run a probe where the student's code runs (sealed grading logs its dict of tensors there and
    hands it back in replay), turning an exception of the student's code into a sentence."""
    try:
        return _observation(label, run)
    except CheckFailure:
        raise
    except Exception as exc:  # the student's code raised: report it as a sentence
        raise CheckFailure(f"{label} raised {type(exc).__name__}: {exc}") from None


def probe_leftover_gradients(train_one_epoch: Callable, features: torch.Tensor, labels: torch.Tensor,
                             seed: int, batch_size: int) -> dict[str, torch.Tensor]:
    """Run ``train_one_epoch`` with ``lr=0`` (the parameters never move) on a tiny linear model, and
    report what its parameters' ``.grad`` hold afterwards (zeros for None) next to the gradient of
    the last batch alone, under keys ``"left in <name>.grad"`` and ``"last batch <name>"``."""
    device = probe_device()
    model = tiny_classifier("linear", seed).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    train_one_epoch(model, tiny_loader(features, labels, batch_size), torch.nn.CrossEntropyLoss(), optimizer, device)
    reference = tiny_classifier("linear", seed).to(device)
    start = (len(features) - 1) // batch_size * batch_size
    torch.nn.functional.cross_entropy(reference(features[start:].to(device)), labels[start:].to(device)).backward()
    result = {}
    for (name, p), q in zip(model.named_parameters(), reference.parameters()):
        result[f"left in {name}.grad"] = (torch.zeros_like(p) if p.grad is None else p.grad).detach().cpu().clone()
        result[f"last batch {name}"] = q.grad.detach().cpu().clone()
    return result


HISTORY_KEYS = ("train_loss", "train_acc", "test_acc")


def assert_history(history: Any, *, epochs: int, name: str = "the history fit returned") -> None:
    """``history`` is a dict with one number per epoch under each of ``HISTORY_KEYS``."""
    if history is None:
        raise CheckFailure(f"{name} is None, but a dict was expected. Did you forget a `return`?")
    if not isinstance(history, dict):
        raise CheckFailure(f"{name} should be a dict, but it is {describe(history)}.")
    for key in HISTORY_KEYS:
        if key not in history:
            raise CheckFailure(f"{name} should have the keys {list(HISTORY_KEYS)}, but it has {list(history)}.")
        values = history[key]
        try:
            count = len(values)
        except TypeError:
            raise CheckFailure(f"{name}['{key}'] should be a list, but it is {describe(values)}.") from None
        if count != epochs:
            raise CheckFailure(
                f"{name}['{key}'] should hold one value per epoch ({epochs}), but it holds {count}.")
        numbers = [as_float(v, name=f"{name}['{key}'][{i}]") for i, v in enumerate(values)]
        if key.endswith("_acc") and not all(0.0 <= v <= 1.0 for v in numbers):
            raise CheckFailure(f"{name}['{key}'] should hold accuracies in [0, 1], but it holds {numbers}.")


def probe_fit(fit: Callable, features: torch.Tensor, labels: torch.Tensor, test_features: torch.Tensor,
              test_labels: torch.Tensor, kind: str, seed: int, batch_size: int, epochs: int,
              lr: float) -> dict[str, torch.Tensor]:
    """Run ``fit`` on a tiny model with unshuffled loaders and report its history and the
    parameters afterwards."""
    device = probe_device()
    model = tiny_classifier(kind, seed).to(device)
    history = fit(model, tiny_loader(features, labels, batch_size),
                  tiny_loader(test_features, test_labels, batch_size), epochs, lr, device)
    assert_history(history, epochs=epochs, name="the history fit returned")
    result = {f"history['{k}']": torch.tensor([as_float(v, name=k) for v in history[k]], dtype=torch.float64)
              for k in HISTORY_KEYS}
    result.update(_model_state(model))
    return result


def check_probe(run: Callable, record_name: str, *, label: str, keys: Callable[[str], bool],
                hint: str = "", only: Callable[[str], bool] | None = None,
                path: str | Path = EXPECTED_FILE) -> int:
    """Call ``run(*args)`` on the recorded cases of ``record_name`` and compare the entries whose
    key passes ``keys`` with the solution's, with ``PROBE_TOLERANCES``; ``hint`` ends each failure.

    Returns the number of cases checked.
    """
    rtol, atol = PROBE_TOLERANCES
    checked = 0
    for case in load_expected(record_name, path):
        if only is not None and not only(case["name"]):
            continue
        where = f"{label} [case '{case['name']}']"
        try:
            actual = _observation(f"{record_name} [case '{case['name']}']", lambda: run(*_clone(case["args"])))
        except CheckFailure as exc:
            raise CheckFailure(f"{where}: {exc}") from None
        except Exception as exc:  # the student's code raised: report it as a sentence
            raise CheckFailure(f"{where} raised {type(exc).__name__}: {exc}") from None
        for key, expected in ({} if case["expected"] is UNKNOWN else case["expected"]).items():
            if not keys(key):
                continue
            try:
                assert_tensor_close(actual[key], expected, name=f"{where}: {key}", rtol=rtol, atol=atol)
            except CheckFailure as exc:
                raise CheckFailure(f"{exc} {hint}".strip()) from None
        checked += 1
    if checked == 0:
        raise CheckFailure(f"No recorded cases of {record_name} matched; the autograder is misconfigured.")
    return checked


# ==============================================================================
# tasks.py: Checks that a table of loss choices (assignment 04's ``loss_table``) holds together, without the
# ==============================================================================
#: The activation each logit loss applies internally (the one to use at inference time).
INTERNAL_ACTIVATION = {"BCEWithLogitsLoss": "sigmoid", "CrossEntropyLoss": "softmax"}

_SIZES = {"B": 4, "C": 3}


def _parts(entry: Any) -> tuple | None:
    return _shape_parts(tuple(entry) if isinstance(entry, list) else entry)


def _shape(entry: Any, *, name: str) -> tuple[int, ...]:
    """A shape given as a tuple or list of 'B', 'C' and numbers, or as text such as '[B, 1]'."""
    parts = _parts(entry)
    if parts is None or not all(isinstance(d, (str, int)) for d in parts):
        raise CheckFailure(f"{name} should be a tuple such as ('B', 1), but it is {describe(entry)}.")
    try:
        return tuple(_SIZES[d] if isinstance(d, str) else int(d) for d in parts)
    except KeyError:
        raise CheckFailure(f"{name} should use the letters 'B' and 'C' and numbers, but it is {tuple(parts)}.") from None


#: torch.nn's loss classes by their lower-case name ('bcewithlogitsloss' -> nn.BCEWithLogitsLoss).
_LOSSES = {n.lower(): getattr(torch.nn, n) for n in dir(torch.nn)
           if n.endswith("Loss") and isinstance(getattr(torch.nn, n), type)}


def _criterion_class(entry: Any, *, name: str) -> type:
    """A loss named as a class, an instance's class name, or text ('nn.BCELoss()', 'bceloss')."""
    if isinstance(entry, type):
        entry = entry.__name__
    elif isinstance(entry, torch.nn.Module):
        entry = type(entry).__name__
    loss = _LOSSES.get(_name_text(entry)) if isinstance(entry, str) else None
    if loss is None:
        raise CheckFailure(f"{name} should name a torch.nn loss class such as 'MSELoss', but it is {describe(entry)}.")
    return loss


def _targets(shape: tuple[int, ...], dtype: torch.dtype, classes: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    if dtype.is_floating_point:
        return torch.randint(0, 2, shape, generator=g).to(dtype)
    return torch.randint(0, classes, shape, generator=g).to(dtype)


def assert_loss_table_consistent(table: dict, task: str) -> None:
    """The row ``table[task]`` works as written: its criterion accepts the model's raw logits (shape
    ``output_shape``, B = 4, C = 3) with targets of ``target_shape`` and ``target_dtype``, without
    broadcasting and with a loss that is positive, and its activation is the criterion's own."""
    row = table[task]
    where = f"loss_table()[{task!r}]"
    output_shape = _shape(row["output_shape"], name=f"{where}['output_shape']")
    target_shape = _shape(row["target_shape"], name=f"{where}['target_shape']")
    dtype = row["target_dtype"]
    if isinstance(dtype, str):  # 'torch.float32' or 'float32'
        dtype = getattr(torch, dtype.strip().removeprefix("torch."), dtype)
    if not isinstance(dtype, torch.dtype):
        raise CheckFailure(f"{where}['target_dtype'] should be a torch.dtype such as torch.float32, but it is {describe(dtype)}.")
    loss_class = _criterion_class(row["criterion"], name=f"{where}['criterion']")
    logits = torch.full(output_shape, 3.0)  # raw logits: positive, and outside [0, 1]
    logits[..., 0] = -2.0
    targets = _targets(target_shape, dtype, output_shape[-1])
    setting = (f"{loss_class.__name__} on raw logits of shape {output_shape} (the model has no activation at the end) "
               f"with {str(dtype).replace('torch.', '')} targets of shape {target_shape}")
    try:
        loss = loss_class()(logits, targets)
    except Exception as exc:
        raise CheckFailure(f"{where} does not work as written: {setting} raises {type(exc).__name__}: "
                           f"{str(exc)[:200]}") from None
    if not isinstance(loss, torch.Tensor) or loss.ndim != 0:
        raise CheckFailure(f"{where}: {setting} should give one number, but gives {describe(loss)}.")
    if not bool(torch.isfinite(loss)) or loss.item() < 0:
        raise CheckFailure(f"{where}: {setting} gives {loss.item():.4g}, but a cross-entropy is positive: this loss "
                           "expects log-probabilities or probabilities, not logits.")
    if target_shape != output_shape and loss_class.__name__ != "CrossEntropyLoss":
        raise CheckFailure(f"{where}: {loss_class.__name__} compares the output and the targets element by element, so "
                           f"the target shape {_parts(row['target_shape'])} must be the output shape "
                           f"{_parts(row['output_shape'])}.")
    wanted = INTERNAL_ACTIVATION.get(loss_class.__name__)
    found = _name_text(str(row["activation"]))
    if wanted is not None and found != wanted:
        raise CheckFailure(f"{where}['activation'] is {row['activation']!r}, but {loss_class.__name__} applies a {wanted} "
                           f"to the logits itself, so the probabilities at inference time come from a {wanted} too.")
