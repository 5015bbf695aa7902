"""Checks that read a student function's code: banned library calls, helpers, global data."""

from __future__ import annotations

import ast
import inspect
import textwrap
import types
from typing import Any, Callable, Iterable

import numpy as np
import torch

from .compare import CheckFailure, describe
from .sealing import GLOBAL_LOADS, SOURCE, _is_student_function, _target
from .reached import judge_reached, reached_by
from .solution import graded_functions


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
