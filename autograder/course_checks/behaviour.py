"""Checks of how a student function behaves across calls: state kept, arguments changed, gradients."""

from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np
import torch

from .compare import CheckFailure, _observe, assert_tensor_close, assert_tensor_like, tolerances
from .sealing import _observation


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
