"""Assertions shared by public and hidden tests, with feedback students can act on.

This file is copied next to every student notebook as ``course_checks.py`` and into each
Gradescope autograder, so it depends only on numpy and torch.  Every check follows the same
order as PrairieLearn's ``code_feedback``: None, then type, then shape and dtype, then
non-finite values, then the values themselves, and each failure is one readable sentence.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
import types
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import torch

EXPECTED_FILE = "expected.pt"

#: (rtol, atol) per dtype, used by ``numpy.testing.assert_allclose``.
TOLERANCES = {
    torch.float16: (1e-2, 1e-3),
    torch.bfloat16: (2e-2, 1e-2),
    torch.float32: (1e-4, 1e-6),
    torch.float64: (1e-7, 1e-10),
}


class CheckFailure(AssertionError):
    """An assertion whose message is written for the student."""


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
) -> None:
    """Check that ``actual`` is a tensor with the given shape and dtype (values are not looked at)."""
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
            f"{name} should have shape {tuple(shape)}, but it has shape {tuple(actual.shape)}."
        )
    if dtype is not None and actual.dtype != dtype:
        raise CheckFailure(f"{name} should have dtype {dtype}, but it has dtype {actual.dtype}.")
    if floating and not actual.is_floating_point():
        raise CheckFailure(f"{name} should be a floating-point tensor, but it has dtype {actual.dtype}.")


def _nonfinite_sentence(name: str, actual: torch.Tensor, expected: torch.Tensor) -> str | None:
    bad = ~torch.isfinite(actual) & torch.isfinite(expected)
    if not bool(bad.any()):
        return None
    index = tuple(int(i) for i in bad.nonzero()[0])
    kinds = "nan" if bool(torch.isnan(actual).any()) else "inf"
    return (
        f"{name} contains {int(bad.sum())} non-finite value(s) ({kinds}) where finite values were "
        f"expected; the first is at index {index}: expected {expected[index].item():.6g}, found "
        f"{actual[index].item()}. Large inputs overflow exp(): subtract the row maximum first."
    )


def assert_tensor_close(
    actual: Any,
    expected: torch.Tensor,
    *,
    name: str,
    rtol: float | None = None,
    atol: float | None = None,
) -> None:
    """Compare ``actual`` with ``expected``: type, shape, dtype, non-finite values, then values.

    Values are compared with ``numpy.testing.assert_allclose`` using the tolerances of the
    expected dtype unless ``rtol``/``atol`` are given.
    """
    assert_tensor_like(actual, name=name, shape=tuple(expected.shape), dtype=expected.dtype)
    actual = actual.detach().cpu()
    expected = expected.detach().cpu()
    default_rtol, default_atol = tolerances(expected.dtype)
    rtol = default_rtol if rtol is None else rtol
    atol = default_atol if atol is None else atol
    if actual.is_floating_point():
        sentence = _nonfinite_sentence(name, actual, expected)
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
                f"rtol={rtol:g}, atol={atol:g})."
            ) from None
        index = tuple(int(i) for i in np.unravel_index(np.argmax(np.where(bad, diff, -1)), a.shape))
        raise CheckFailure(
            f"{name} has {int(bad.sum())} of {a.size} value(s) off by more than the tolerance "
            f"(rtol={rtol:g}, atol={atol:g}); the largest difference is {diff[index]:.3g} at index "
            f"{index}: expected {e[index]:.6g}, found {a[index]:.6g}."
        ) from None


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


def assert_scalar_close(actual: Any, expected: float, *, name: str, rtol=1e-6, atol=1e-8) -> None:
    """Compare a scalar result (Python number or 0-dim tensor) with ``expected``."""
    found = as_float(actual, name=name)
    if not np.isfinite(found) and np.isfinite(expected):
        raise CheckFailure(f"{name} is {found}, but a finite value {expected:.6g} was expected.")
    try:
        np.testing.assert_allclose(found, expected, rtol=rtol, atol=atol)
    except AssertionError:
        raise CheckFailure(
            f"{name} is {found:.6g}, but {expected:.6g} was expected "
            f"(off by {abs(found - expected):.3g}; rtol={rtol:g}, atol={atol:g})."
        ) from None


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


# --------------------------------------------------------------------------- banned calls
def _source_tree(fn: Callable) -> ast.AST | None:
    try:
        return ast.parse(textwrap.dedent(inspect.getsource(fn)))
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


def find_banned_calls(fn: Callable, banned: Iterable[str], _seen: set | None = None) -> list[str]:
    """Return the banned calls ``fn`` makes, following helper functions defined by the student.

    A call counts when its name is in ``banned`` and it reaches a library object: ``torch.softmax``,
    ``F.softmax``, ``x.softmax(1)``, ``nn.Softmax(1)`` or a name imported from torch. Calls to the
    student's own functions (e.g. their ``softmax`` inside ``log_softmax``) are followed instead.
    """
    banned = set(banned)
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
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name, is_attr = _call_name(node)
        target = env.get(name) if not is_attr else None
        if name in banned and (is_attr or target is None or _is_library_object(target)):
            found.append(f"{ast.unparse(node.func)}(...) on line {node.lineno}")
        elif isinstance(target, types.FunctionType) and not _is_library_object(target):
            found += find_banned_calls(target, banned, seen)
    return found


def assert_not_calling(fn: Callable, banned: Iterable[str], *, name: str | None = None) -> None:
    """Fail when ``fn`` (or a helper it calls) uses one of the ``banned`` library functions."""
    name = name or getattr(fn, "__name__", "your function")
    calls = find_banned_calls(fn, banned)
    if calls:
        raise CheckFailure(
            f"{name} must be written with elementary tensor operations, but it calls "
            f"{', '.join(calls)}. The library versions of {', '.join(sorted(set(banned)))} are not "
            "allowed here."
        )


# --------------------------------------------------------------------------- solution fixtures
def with_helpers(fn: Callable, **replacements: Callable) -> Callable:
    """Return ``fn`` with some of the global names it uses rebound, so that a bug in one
    question's helper does not cost points again in the question that calls it."""
    if not isinstance(fn, types.FunctionType):
        return fn
    used = {n: r for n, r in replacements.items() if n in fn.__code__.co_names}
    if not used:
        return fn
    env = {**fn.__globals__, **used}
    clone = types.FunctionType(fn.__code__, env, fn.__name__, fn.__defaults__, fn.__closure__)
    clone.__kwdefaults__ = fn.__kwdefaults__
    return clone


def _clone(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.clone()
    if isinstance(value, (list, tuple)):
        return type(value)(_clone(v) for v in value)
    return value


def record_expected(namespace: Mapping[str, Any], cases: Mapping[str, list], path: str | Path) -> int:
    """Run the solution's functions on every case and save inputs and outputs to ``path``.

    ``cases`` maps a function name to a list of ``(case name, args)``. Returns the case count.
    """
    table = {}
    for fn_name, fn_cases in cases.items():
        fn = namespace[fn_name]
        table[fn_name] = [
            {"name": case, "args": args, "expected": fn(*_clone(args))} for case, args in fn_cases
        ]
    torch.save(table, path)
    return sum(len(v) for v in table.values())


def load_expected(fn_name: str, path: str | Path = EXPECTED_FILE) -> list[dict]:
    """Load the recorded cases of one function."""
    return torch.load(path, weights_only=True)[fn_name]


def _signature(fn_name: str, args: tuple) -> str:
    return f"{fn_name}({', '.join(describe(a) if isinstance(a, torch.Tensor) else repr(a) for a in args)})"


def check_against_solution(
    fn: Callable,
    fn_name: str,
    *,
    only: Callable[[str], bool] | None = None,
    helpers: Mapping[str, Callable] | None = None,
    path: str | Path = EXPECTED_FILE,
) -> int:
    """Call ``fn`` on the recorded cases whose names pass ``only`` and compare with the solution.

    Returns the number of cases checked; fails with the case name and the first difference.
    """
    if fn is None or not callable(fn):
        raise CheckFailure(f"{fn_name} is not defined as a function; run its cell first.")
    fn = with_helpers(fn, **(helpers or {}))
    checked = 0
    for case in load_expected(fn_name, path):
        if only is not None and not only(case["name"]):
            continue
        args = _clone(case["args"])
        label = f"{_signature(fn_name, args)} [case '{case['name']}']"
        try:
            actual = fn(*args)
        except Exception as exc:  # the student's code raised: report it as a sentence
            raise CheckFailure(f"{label} raised {type(exc).__name__}: {exc}") from None
        expected = case["expected"]
        if isinstance(expected, torch.Tensor):
            assert_tensor_close(actual, expected, name=label)
        else:
            assert_scalar_close(actual, float(expected), name=label)
        checked += 1
    if checked == 0:
        raise CheckFailure(f"No recorded cases of {fn_name} matched; the autograder is misconfigured.")
    return checked


#: Library calls that assignment questions on softmax and cross-entropy may not use.
BANNED_CLASSIFICATION_CALLS = frozenset(
    {"softmax", "log_softmax", "logsumexp", "cross_entropy", "nll_loss", "one_hot",
     "Softmax", "LogSoftmax", "CrossEntropyLoss", "NLLLoss"}
)


# --------------------------------------------------------------------------- training loops
# Probes for functions that train or evaluate a model (assignment 03). A probe builds a tiny
# float64 model from a seed, runs the student's function on it, and returns a dict of tensors
# (the returned value, the parameters and buffers afterwards, how the model was called), which
# ``check_probe`` compares entry by entry with what the solution's function produced.

#: (rtol, atol) for the float64 probes: far above rounding noise, far below any real bug.
PROBE_TOLERANCES = (1e-6, 1e-9)


def probe_device() -> torch.device:
    """The device probes run on: ``GRADING_DEVICE`` when set, else CUDA when available, else CPU."""
    import os

    name = os.environ.get("GRADING_DEVICE")
    if name:
        return torch.device(name)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of a model's first parameter or buffer (CPU for a model with neither)."""
    for tensor in [*model.parameters(), *model.buffers()]:
        return tensor.device
    return torch.device("cpu")


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
            actual = run(*_clone(case["args"]))
        except CheckFailure as exc:
            raise CheckFailure(f"{where}: {exc}") from None
        except Exception as exc:  # the student's code raised: report it as a sentence
            raise CheckFailure(f"{where} raised {type(exc).__name__}: {exc}") from None
        for key, expected in case["expected"].items():
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


def check_get_device(get_device: Callable, env_var: str = "GRADING_DEVICE") -> None:
    """``get_device()`` honours ``env_var`` and otherwise picks CUDA exactly when
    ``torch.cuda.is_available()`` says so (which is faked both ways, so that a machine without a GPU
    tests both branches); the variable and ``is_available`` are restored."""
    import os

    saved, real_is_available = os.environ.get(env_var), torch.cuda.is_available
    cases = [(False, None, "cpu"), (False, "cpu", "cpu"), (True, None, "cuda"), (True, "cpu", "cpu"),
             (True, "cuda", "cuda")]
    try:
        for available, value, want in cases:
            torch.cuda.is_available = lambda available=available: available
            if value is None:
                os.environ.pop(env_var, None)
            else:
                os.environ[env_var] = value
            setting = (f"{env_var}={value}" if value else f"{env_var} unset") + (
                " and a GPU available" if available else " and no GPU")
            try:
                got = get_device()
            except Exception as exc:
                raise CheckFailure(f"With {setting}, get_device() raised {type(exc).__name__}: {exc}") from None
            if not isinstance(got, torch.device):
                raise CheckFailure(f"With {setting}, get_device() should return a torch.device, "
                                   f"but it returned {describe(got)}.")
            if got.type != want:
                raise CheckFailure(f"With {setting}, get_device() should return the '{want}' device, "
                                   f"but it returned '{got}'.")
    finally:
        torch.cuda.is_available = real_is_available
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
                    raise CheckFailure(f"The {which} loader should be a torch DataLoader, "
                                       f"but it is {describe(loader)}.")
            torch.manual_seed(global_seed)  # a loader that leans on the global RNG changes order here
            return ([y.tolist() for _, y in loaders[0]], [y.tolist() for _, y in loaders[1]])

    train_a, test_a = batches(7, 0)
    train_b, _ = batches(7, 1)
    train_c, _ = batches(8, 0)
    flat = [i for b in train_a for i in b]
    if [len(b) for b in train_a] != [5, 5, 5, 5, 3]:
        raise CheckFailure("With 23 training samples and batch_size=5 the train loader should give batches "
                           f"of sizes [5, 5, 5, 5, 3], but it gave {[len(b) for b in train_a]}.")
    if sorted(flat) != list(range(23)):
        raise CheckFailure("One pass of the train loader should visit every training sample exactly once, "
                           f"but it visited {sorted(flat)}.")
    if flat == list(range(23)):
        raise CheckFailure("The train loader should shuffle the samples, but it returned them in their "
                           "original order (pass shuffle=True).")
    if train_a != train_b:
        raise CheckFailure("The training order for seed=7 should not depend on the global torch seed, but it "
                           "changed when torch.manual_seed changed; give the DataLoader its own "
                           "generator=torch.Generator().manual_seed(seed).")
    if train_a == train_c:
        raise CheckFailure("Seeds 7 and 8 should give different training orders, but they gave the same one; "
                           "seed the generator with the `seed` argument.")
    if test_a != [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10]]:
        raise CheckFailure("The test loader should return the 11 test samples in order in batches of 5, "
                           f"but it returned {test_a}.")


def check_classifier(model: Any, *, name: str, sizes: tuple[int, ...]) -> None:
    """``model`` flattens (B, 1, 28, 28) or (B, 784) input and applies ``len(sizes) - 1`` Linear
    layers of the given sizes with ReLU between them and nothing after the last one."""
    if model is None:
        raise CheckFailure(f"{name} returned None, but an nn.Module was expected. Did you forget a `return`?")
    if not isinstance(model, torch.nn.Module):
        raise CheckFailure(f"{name} should return an nn.Module, but it returned {describe(model)}.")
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    want = [(a, b) for a, b in zip(sizes[:-1], sizes[1:])]
    found = [(m.in_features, m.out_features) for m in linears]
    if found != want:
        raise CheckFailure(f"{name} should contain {len(want)} nn.Linear layer(s) with (in, out) sizes {want}, "
                           f"but it contains {found}.")
    count = sum(p.numel() for p in model.parameters())
    expected_count = sum(a * b + b for a, b in want)
    if count != expected_count:
        raise CheckFailure(f"{name} should have {expected_count} parameters, but it has {count}.")
    device = model_device(model)
    images = torch.rand(5, 1, 28, 28, generator=torch.Generator().manual_seed(3)).to(device)
    with torch.no_grad():
        reference = images.flatten(1)
        for k, layer in enumerate(linears):
            reference = torch.nn.functional.linear(reference, layer.weight, layer.bias)
            if k < len(linears) - 1:
                reference = torch.relu(reference)
        for shape in [(5, 1, 28, 28), (5, 784)]:
            try:
                out = model(images.reshape(shape))
            except Exception as exc:
                raise CheckFailure(f"{name} should accept input of shape {shape}, but applying it raised "
                                   f"{type(exc).__name__}: {exc}") from None
            assert_tensor_like(out, name=f"{name} applied to a batch of shape {shape}", shape=(5, sizes[-1]))
            layers = "Linear(Flatten(x))" if len(linears) == 1 else "Linear(ReLU(Linear(Flatten(x))))"
            if not torch.allclose(out, reference, rtol=1e-4, atol=1e-5):
                raise CheckFailure(
                    f"On input of shape {shape}, {name} should compute {layers} and return raw logits, but its "
                    f"output differs by up to {(out - reference).abs().max().item():.3g}; a missing ReLU or an "
                    "extra layer such as Softmax (CrossEntropyLoss applies it already) causes this.")


def assert_min_accuracy(model: Any, images: torch.Tensor, labels: torch.Tensor, *, name: str,
                        threshold: float, n_params: int | None = None, batch_size: int = 1000) -> float:
    """Evaluate ``model`` itself on ``images`` (in eval mode, without autograd, on its own device)
    and fail below ``threshold``; returns the accuracy. The model's mode is restored."""
    if model is None:
        raise CheckFailure(f"{name} is None, but a trained nn.Module was expected; run the training cell.")
    if not isinstance(model, torch.nn.Module):
        raise CheckFailure(f"{name} should be a trained nn.Module, but it is {describe(model)}.")
    count = sum(p.numel() for p in model.parameters())
    if n_params is not None and count != n_params:
        raise CheckFailure(f"{name} should have {n_params} parameters, but it has {count}.")
    device = model_device(model)
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    was_training = model.training
    model.eval()
    correct = 0
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
                correct += int((out.argmax(dim=1).cpu() == labels[start:start + batch_size]).sum())
    finally:
        model.train(was_training)
    accuracy = correct / len(images)
    if accuracy < threshold:
        raise CheckFailure(f"{name} reaches a test accuracy of {accuracy:.4f} on the {len(images):,} test images, "
                           f"but at least {threshold:.2f} is required.")
    return accuracy
