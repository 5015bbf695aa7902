"""Comparisons: None, then type, then shape and dtype, then non-finite values, then the values.

The order follows PrairieLearn's ``code_feedback``; each failure is one sentence that says what was
expected and what was found.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterable, Iterator, Mapping

import numpy as np
import torch


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
