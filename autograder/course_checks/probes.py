"""Probes for functions that train or evaluate a model (assignment 03). A probe builds a tiny
float64 model from a seed, runs the student's function on it, and returns a dict of tensors
(the returned value, the parameters and buffers afterwards, how the model was called), which
``check_probe`` compares entry by entry with what the solution's function produced.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import torch

from .compare import CheckFailure, as_float, assert_tensor_close, describe
from .sealing import UNKNOWN, _observation
from .solution import EXPECTED_FILE, _clone, load_expected
from .training import probe_device


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
