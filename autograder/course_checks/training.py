"""Checks for assignments that build and train models: devices, loaders, classifiers, losses, accuracy."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch

from .compare import AUDIT, CheckFailure, as_float, assert_tensor_like, describe
from .sealing import UNKNOWN, _observation, _target
from .solution import EXPECTED_FILE, load_expected, with_helpers

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
