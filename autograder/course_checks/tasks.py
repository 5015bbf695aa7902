"""Checks that a table of loss choices (assignment 04's ``loss_table``) holds together, without the
solution's answers: each criterion runs on raw logits of the stated output shape with targets of the
stated shape and dtype, and the stated activation is the one the criterion applies internally."""

from __future__ import annotations

from typing import Any

import torch

from .compare import CheckFailure, _name_text, _shape_parts, describe

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
