"""The training-loop checks of course_checks: each classic mistake fails exactly its own check."""

from __future__ import annotations

import os

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from autograder import course_checks as cc
from autograder.build import save_expected


def train_one_epoch(model, loader, loss_fn, optimizer, device, *, zero_grad=True, train=True, per_sample=True):
    if train:
        model.train()
    total, seen, means = 0.0, 0, []
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        if zero_grad:
            optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        total, seen = total + loss.item() * len(y), seen + len(y)
        means.append(loss.item())
    return total / seen if per_sample else sum(means) / len(means)


def evaluate(model, loader, device, *, eval_mode=True, no_grad=True, per_sample=True):
    if eval_mode:
        model.eval()
    correct, seen, accuracies = 0, 0, []
    with torch.set_grad_enabled(not no_grad):
        for x, y in loader:
            hits = (model(x.to(device)).argmax(dim=1) == y.to(device)).sum().item()
            correct, seen = correct + hits, seen + len(y)
            accuracies.append(hits / len(y))
    return correct / seen if per_sample else sum(accuracies) / len(accuracies)


def data(n, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 6, generator=g, dtype=torch.float64) * 2, torch.randint(0, 3, (n,), generator=g)


TRAIN_CASES = [
    ("several batches", (*data(10, 1), "linear", 11, 4, 0.5, True)),
    ("lr=0", (*data(10, 2), "linear", 13, 4, 0.0, True)),
    ("starts in eval mode", (*data(8, 3), "batchnorm", 15, 8, 0.5, False)),
]
EVAL_CASES = [
    ("several batches", (*data(10, 4), "linear", 21, 4, False)),
    ("starts in train mode", (*data(8, 5), "batchnorm", 23, 8, True)),
]
TRAIN_TESTS = {
    "parameters": dict(only=lambda c: c == "several batches", keys=lambda k: k.startswith("parameter")),
    "loss": dict(only=lambda c: c == "lr=0", keys=lambda k: k == "loss"),
    "train mode": dict(only=lambda c: c == "starts in eval mode", keys=lambda k: k != "loss"),
}
EVAL_TESTS = {
    "accuracy": dict(only=lambda c: c == "several batches", keys=lambda k: k == "accuracy"),
    "eval mode": dict(only=lambda c: c == "starts in train mode", keys=lambda k: k.startswith(("eval-mode", "buffer"))),
    "no_grad": dict(keys=lambda k: k == "share of forward passes with autograd on"),
}


@pytest.fixture(scope="module")
def expected(tmp_path_factory):
    path = tmp_path_factory.mktemp("probes") / "expected.pt"
    namespace = {
        "record_train_one_epoch": lambda *case: cc.probe_train_one_epoch(train_one_epoch, *case),
        "record_evaluate": lambda *case: cc.probe_evaluate(evaluate, *case),
    }
    save_expected(namespace, {"record_train_one_epoch": TRAIN_CASES, "record_evaluate": EVAL_CASES}, path)
    return path


def failing(run, record, tests, path):
    failed = []
    for name, kwargs in tests.items():
        try:
            cc.check_probe(run, record, label="f", path=path, **kwargs)
        except cc.CheckFailure:
            failed.append(name)
    return failed


@pytest.mark.parametrize("bug, fails", [
    ({}, []),
    ({"zero_grad": False}, ["parameters"]),
    ({"per_sample": False}, ["loss"]),
    ({"train": False}, ["train mode"]),
])
def test_each_train_one_epoch_bug_fails_its_own_check(expected, bug, fails):
    run = lambda *case: cc.probe_train_one_epoch(lambda *a: train_one_epoch(*a, **bug), *case)  # noqa: E731
    assert failing(run, "record_train_one_epoch", TRAIN_TESTS, expected) == fails


@pytest.mark.parametrize("bug, fails", [
    ({}, []),
    ({"eval_mode": False}, ["eval mode"]),
    ({"no_grad": False}, ["no_grad"]),
    ({"per_sample": False}, ["accuracy"]),
])
def test_each_evaluate_bug_fails_its_own_check(expected, bug, fails):
    run = lambda *case: cc.probe_evaluate(lambda *a: evaluate(*a, **bug), *case)  # noqa: E731
    assert failing(run, "record_evaluate", EVAL_TESTS, expected) == fails


def test_a_function_returning_none_fails_with_a_sentence(expected):
    run = lambda *case: cc.probe_train_one_epoch(lambda *a: None, *case)  # noqa: E731
    with pytest.raises(cc.CheckFailure, match="returned None"):
        cc.check_probe(run, "record_train_one_epoch", label="train_one_epoch", path=expected, keys=lambda k: True)


def test_get_device_is_checked_with_and_without_a_gpu(monkeypatch):
    def good():
        name = os.environ.get("GRADING_DEVICE")
        return torch.device(name) if name else torch.device("cuda" if torch.cuda.is_available() else "cpu")

    monkeypatch.setenv("GRADING_DEVICE", "cpu")
    cc.check_get_device(good)
    assert os.environ["GRADING_DEVICE"] == "cpu"
    with pytest.raises(cc.CheckFailure, match="GRADING_DEVICE=cpu and a GPU available"):
        cc.check_get_device(lambda: torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    with pytest.raises(cc.CheckFailure, match="should return a torch.device"):
        cc.check_get_device(lambda: "cpu")


def test_make_loaders_needs_its_own_seeded_generator():
    def good(train, test, batch_size, seed):
        g = torch.Generator().manual_seed(seed)
        return DataLoader(train, batch_size, shuffle=True, generator=g), DataLoader(test, batch_size)

    def global_seed(train, test, batch_size, seed):
        torch.manual_seed(seed)
        return DataLoader(train, batch_size, shuffle=True), DataLoader(test, batch_size)

    cc.check_make_loaders(good)
    with pytest.raises(cc.CheckFailure, match="global torch seed"):
        cc.check_make_loaders(global_seed)


@pytest.mark.parametrize("model, sizes, fragment", [
    (nn.Sequential(nn.Flatten(), nn.Linear(784, 10)), (784, 10), None),
    (nn.Sequential(nn.Flatten(), nn.Linear(784, 10), nn.Softmax(dim=1)), (784, 10), "raw logits"),
    (nn.Linear(784, 10), (784, 10), "should accept input of shape (5, 1, 28, 28)"),
    (nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 10)), (784, 32, 10), None),
    (nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.Linear(32, 10)), (784, 32, 10), "ReLU"),
    (nn.Sequential(nn.Flatten(), nn.Linear(784, 10)), (784, 32, 10), "2 nn.Linear"),
])
def test_check_classifier(model, sizes, fragment):
    if fragment is None:
        cc.check_classifier(model, name="m", sizes=sizes)
    else:
        with pytest.raises(cc.CheckFailure, match=fragment.replace("(", r"\(").replace(")", r"\)")):
            cc.check_classifier(model, name="m", sizes=sizes)


def test_min_accuracy_evaluates_the_model_itself_and_restores_its_mode():
    images = torch.rand(50, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    labels = model(images).argmax(dim=1).detach()
    model.train()
    assert cc.assert_min_accuracy(model, images, labels, name="m", threshold=0.99) == 1.0
    assert model.training
    with pytest.raises(cc.CheckFailure, match="test accuracy of 0.0000 .* at least 0.50"):
        cc.assert_min_accuracy(model, images, (labels + 1) % 10, name="m", threshold=0.5)
    with pytest.raises(cc.CheckFailure, match="7850 parameters"):
        cc.assert_min_accuracy(nn.Linear(784, 5), images, labels, name="m", threshold=0.5, n_params=7850)


from torch.cuda import is_available as cuda_is_available  # noqa: E402  (a notebook may import it by name)


def get_device_by_imported_name():
    name = os.environ.get("GRADING_DEVICE")
    return torch.device(name) if name else torch.device("cuda" if cuda_is_available() else "cpu")


@pytest.mark.parametrize("get_device", [
    lambda: torch.device(os.environ.get("GRADING_DEVICE") or ("cuda" if torch.cuda.device_count() > 0 else "cpu")),
    get_device_by_imported_name,
    lambda: torch.device(os.environ.get("GRADING_DEVICE")) if os.environ.get("GRADING_DEVICE") else (
        torch.accelerator.current_accelerator() if torch.accelerator.is_available() else torch.device("cpu")),
], ids=["device_count", "imported is_available", "torch.accelerator"])
def test_get_device_is_faked_through_every_way_of_asking_for_cuda(get_device):
    real = (torch.cuda.is_available, torch.cuda.device_count, cuda_is_available)
    cc.check_get_device(get_device)
    assert (torch.cuda.is_available, torch.cuda.device_count, globals()["cuda_is_available"]) == real


class OutputFirst(nn.Module):
    """A correct MLP whose output layer is registered before its hidden layer."""

    def __init__(self, relu: bool = True):
        super().__init__()
        self.out = nn.Linear(32, 10)
        self.hidden = nn.Linear(784, 32)
        self.relu = relu

    def forward(self, x):
        h = self.hidden(x.flatten(1))
        return self.out(torch.relu(h) if self.relu else h)


def test_check_classifier_follows_the_forward_pass_not_the_registration_order():
    cc.check_classifier(OutputFirst(), name="m", sizes=(784, 32, 10))
    with pytest.raises(cc.CheckFailure, match="ReLU"):
        cc.check_classifier(OutputFirst(relu=False), name="m", sizes=(784, 32, 10))


def test_output_shapes_run_the_model_and_name_what_was_wrong():
    cc.assert_output_shapes(OutputFirst(), {(4, 1, 28, 28): (4, 10), (4, 784): (4, 10)}, name="m")
    with pytest.raises(cc.CheckFailure, match=r"shape \(4, 784\) .* raised"):
        cc.assert_output_shapes(nn.Sequential(nn.Linear(28, 10)), {(4, 784): (4, 10)}, name="m")


@pytest.mark.parametrize("answer, ok", [
    ({"criterion": "BCEWithLogitsLoss", "target_shape": ("B", 1), "target_dtype": torch.float32}, True),
    ({"criterion": "nn.BCEWithLogitsLoss", "target_shape": "[B, 1]", "target_dtype": "torch.float32"}, True),
    ({"criterion": nn.BCEWithLogitsLoss(), "target_shape": ["B", "1"], "target_dtype": torch.float}, True),
    ({"criterion": nn.BCEWithLogitsLoss, "target_shape": "(B, 1)", "target_dtype": torch.float32}, True),
    ({"criterion": "BCELoss", "target_shape": ("B", 1), "target_dtype": torch.float32}, False),
    ({"criterion": "BCEWithLogitsLoss", "target_shape": ("B",), "target_dtype": torch.float32}, False),
    ({"criterion": "BCEWithLogitsLoss", "target_shape": ("B", 1), "target_dtype": torch.int64}, False),
])
def test_structures_accept_the_ways_a_course_writes_the_same_answer(answer, ok):
    expected = {"criterion": "BCEWithLogitsLoss", "target_shape": ("B", 1), "target_dtype": torch.float32}
    if ok:
        cc.assert_same_structure(answer, expected, name="t")
    else:
        with pytest.raises(cc.CheckFailure, match="should be"):
            cc.assert_same_structure(answer, expected, name="t")


def test_a_one_dimensional_shape_may_be_written_as_a_bare_letter():
    cc.assert_same_structure({"target_shape": ("B")}, {"target_shape": ("B",)}, name="t")  # ("B") is the string "B"
    cc.assert_same_structure({"activation": torch.sigmoid}, {"activation": "sigmoid"}, name="t")
