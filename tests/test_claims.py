"""Issue 16: every number the assignments' prose states, re-checked with the pinned torch.

Each test names the notebook and question whose text makes the claim; when one fails, fix the text
(or the code it describes), not the test.
"""

from __future__ import annotations

import math
import warnings

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from autograder import assignments, data, notebooks
from autograder.grading import batch


def _solution(aid: str) -> dict:
    """The master's definitions (imports, functions, constants), executed."""
    namespace: dict = {}
    exec(notebooks.definitions(notebooks.read(assignments.get(aid).master)), namespace)
    return namespace


def _gradient(fn, x: torch.Tensor) -> torch.Tensor:
    leaf = x.detach().clone().requires_grad_(True)
    fn(leaf).sum().backward()
    return leaf.grad


def test_01_q1_float32_exp_overflows_at_89_and_underflows_at_minus_104():
    assert torch.isinf(torch.exp(torch.tensor(89.0))) and torch.exp(torch.tensor(-104.0)) == 0


def test_01_q2_log_of_softmax_is_minus_inf_where_log_softmax_is_exact():
    row = torch.tensor([[0.0, -1000.0]])
    assert torch.log(torch.softmax(row, dim=1))[0, 1] == -math.inf
    assert torch.equal(torch.log_softmax(row, dim=1), row)
    assert torch.equal(torch.log_softmax(torch.tensor([[1000.0, 0.0]]), dim=1), row)


def test_01_q4_one_hot_times_a_minus_inf_log_probability_is_nan():
    log_probs = torch.tensor([[0.0, -math.inf]])
    assert torch.isnan((F.one_hot(torch.tensor([0]), 2) * log_probs).sum())


def test_02_q3_loss_at_theta_zero_is_log_c():
    ns = _solution("02-gradient-descent-autograd")
    X = torch.randn(7, 3, dtype=torch.float64)
    Y = torch.eye(4, dtype=torch.float64)[torch.randint(0, 4, (7,))]
    assert ns["cross_entropy_loss"](X, torch.zeros(4, 3, dtype=torch.float64), Y).item() == pytest.approx(math.log(4))


def test_03_q3_a_double_softmax_never_gets_below_log_1_plus_9_over_e():
    floor = math.log(1 + 9 / math.e)
    assert round(floor, 2) == 1.46
    best = F.cross_entropy(torch.eye(10)[:1], torch.tensor([0]))  # softmax output of exactly (1, 0, ..., 0)
    assert best.item() == pytest.approx(floor, rel=1e-6)
    probs = torch.softmax(torch.randn(2000, 10) * 5, dim=1)  # any other probability vector costs more
    assert bool((F.cross_entropy(probs, torch.zeros(2000, dtype=torch.int64), reduction="none") >= floor - 1e-6).all())


def test_03_q3_an_untrained_softmax_regression_costs_about_log_10():
    test = data.fashion_mnist(train=False)
    images, labels = test.data[:2000].unsqueeze(1).float() / 255, test.targets[:2000]
    torch.manual_seed(2024)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    with torch.no_grad():
        loss = F.cross_entropy(model(images), labels).item()
    assert round(math.log(10), 2) == 2.30 and abs(loss - math.log(10)) < 0.15


def test_03_q8_and_all_export_cells_state_the_grader_time_limits():
    assert batch.DEFAULT_CELL_TIMEOUT == 300 and batch.DEFAULT_TIMEOUT == 600
    for a in assignments.all_assignments():
        config = notebooks.code_of(notebooks.read(a.master).cells[0])
        assert "300 s per cell and 600 s for the whole notebook" in config, a.id


def test_03_validation_split_is_seeded_disjoint_and_complete():
    train, valid = data.validation_split(60_000)
    again_train, again_valid = data.validation_split(60_000)
    assert torch.equal(train, again_train) and torch.equal(valid, again_valid)
    assert len(valid) == 10_000 and len(train) == 50_000
    assert torch.equal(torch.cat([train, valid]).sort().values, torch.arange(60_000))


def test_04_intro_which_mistakes_raise_and_which_do_not():
    logits, binary = torch.tensor([[2.0], [-1.0]]), torch.tensor([[1.0], [0.0]])
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        nn.BCELoss()(logits, binary)  # BCELoss on raw logits raises
    for loss in (nn.BCELoss(), nn.BCEWithLogitsLoss()):  # both raise on [B] targets against a [B, 1] output
        with pytest.raises(ValueError):
            loss(torch.sigmoid(logits), binary.reshape(-1))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        nn.MSELoss(reduction="none")(logits, binary.reshape(-1))  # MSELoss broadcasts, with a warning
    assert caught and nn.MSELoss(reduction="none")(logits, binary.reshape(-1)).shape == (2, 2)
    multi_hot = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # silently: no error and no warning
        assert torch.isfinite(nn.CrossEntropyLoss()(torch.randn(2, 3), multi_hot))


def test_04_q1_textbook_sigmoids_overflow_and_where_evaluates_both_branches():
    assert torch.isinf(torch.exp(torch.tensor(88.8))) and torch.isfinite(torch.exp(torch.tensor(88.7)))
    x = torch.tensor([-1e4, 0.0, 1e4])
    assert torch.isnan(torch.exp(x) / (1 + torch.exp(x)))[2]
    first_form = lambda z: 1 / (1 + torch.exp(-z))  # noqa: E731
    assert first_form(x)[0] == 0 and torch.isnan(_gradient(first_form, x))[0]
    both = lambda z: torch.where(z >= 0, 1 / (1 + torch.exp(-z)), torch.exp(z) / (1 + torch.exp(z)))  # noqa: E731
    assert torch.equal(both(x), torch.tensor([0.0, 0.5, 1.0]))
    assert torch.isnan(_gradient(both, x)[0]) and torch.isnan(_gradient(both, x)[2])


def test_04_q1_gradient_at_zero_is_lost_by_abs_and_kept_by_the_taught_form():
    zero = torch.zeros(1, dtype=torch.float64)
    assert _gradient(torch.abs, zero).item() == 0 and _gradient(lambda z: torch.clamp(z, min=0), zero).item() == 0
    old = lambda x: torch.where(x >= 0, 1 / (1 + torch.exp(-x.abs())), torch.exp(-x.abs()) / (1 + torch.exp(-x.abs())))  # noqa: E731
    assert _gradient(old, zero).item() == 0
    sigmoid = _solution("04-choosing-the-loss")["sigmoid"]
    x = torch.tensor([-1e4, -3.0, 0.0, 3.0, 1e4], dtype=torch.float64)
    s = torch.sigmoid(x)
    assert torch.allclose(_gradient(sigmoid, x), s * (1 - s)) and _gradient(sigmoid, zero).item() == 0.25


def test_04_q3_float32_sigmoid_rounds_to_one_from_about_17_and_to_zero_at_minus_104():
    assert torch.sigmoid(torch.tensor(16.7)) == 1 and torch.sigmoid(torch.tensor(16.5)) < 1
    assert 1 - torch.sigmoid(torch.tensor(17.0, dtype=torch.float64)).item() == pytest.approx(4.1e-8, rel=0.01)
    assert 4.1e-8 < torch.finfo(torch.float32).eps / 2
    sigmoid = _solution("04-choosing-the-loss")["sigmoid"]
    assert sigmoid(torch.tensor(-104.0)) == 0 and torch.sigmoid(torch.tensor(-104.0)) == 0


def test_04_q3_the_detour_through_probabilities_gives_the_clamp_and_a_useless_gradient():
    ns = _solution("04-choosing-the-loss")
    z, t = torch.tensor([-1e4]), torch.tensor([1.0])
    yours = lambda v: ns["binary_cross_entropy"](ns["sigmoid"](v), t)  # noqa: E731
    assert yours(z).item() == 100 and torch.isnan(_gradient(yours, z)).all()
    torchs = lambda v: nn.BCELoss()(torch.sigmoid(v), t)  # noqa: E731
    assert torchs(z).item() == 100 and _gradient(torchs, z).item() == 0
    assert ns["bce_with_logits"](z, t).item() == 1e4 and _gradient(lambda v: ns["bce_with_logits"](v, t), z).item() == -1


def test_04_q3_gradient_at_zero_is_minus_t_with_clamp_and_abs_and_half_minus_t_as_taught():
    textbook = lambda z, t: torch.clamp(z, min=0) - z * t + torch.log1p(torch.exp(-torch.abs(z)))  # noqa: E731
    bce = _solution("04-choosing-the-loss")["bce_with_logits"]
    for target in (0.0, 1.0):
        t = torch.tensor([target], dtype=torch.float64)
        zero = torch.zeros(1, dtype=torch.float64)
        assert _gradient(lambda z: textbook(z, t), zero).item() == -target
        assert _gradient(lambda z: bce(z, t, "sum"), zero).item() == 0.5 - target
        assert _gradient(lambda z: F.binary_cross_entropy_with_logits(z, t, reduction="sum"), zero).item() == 0.5 - target


def test_04_q5_squeeze_drops_the_batch_of_one_sample():
    assert torch.zeros(1, 1).squeeze().shape == () and torch.zeros(1).squeeze().shape == ()
    assert torch.zeros(1, 1).reshape(-1).shape == (1,)


def test_04_training_floors_of_squashed_logits():
    # A sigmoid in front of BCEWithLogitsLoss: at best sigmoid(z) is 1 (target 1) or 0 (target 0).
    best = (F.binary_cross_entropy_with_logits(torch.tensor([1.0]), torch.tensor([1.0]))
            + F.binary_cross_entropy_with_logits(torch.tensor([0.0]), torch.tensor([0.0]))) / 2
    assert best.item() == pytest.approx(0.503, abs=1e-3)
    assert math.log(1 + 2 / math.e) == pytest.approx(0.551, abs=1e-3)
    assert F.cross_entropy(torch.eye(3)[:1], torch.tensor([0])).item() == pytest.approx(math.log(1 + 2 / math.e))


def _markdown(a) -> list[str]:
    return [notebooks.code_of(c) for c in notebooks.read(a.master).cells if c.cell_type == "markdown"]


@pytest.mark.parametrize("a", assignments.all_assignments(), ids=lambda a: a.id)
def test_display_math_holds_no_code(a):
    for text in _markdown(a):
        for block in text.split("$$")[1::2]:
            assert "`" not in block, f"{a.id}: code inside $$...$$: {block.strip()[:80]}"


@pytest.mark.parametrize("a", assignments.all_assignments(), ids=lambda a: a.id)
def test_the_student_notebook_has_one_submission_heading(a):
    student = notebooks.read(a.student_notebook)
    headings = [line for c in student.cells if c.cell_type == "markdown"
                for line in notebooks.code_of(c).splitlines() if line.startswith("#") and "Submi" in line]
    assert len(headings) == 1, headings


def test_01_q4_does_not_warn_about_a_log_its_input_already_holds():
    q4 = next(t for t in _markdown(assignments.get("01-softmax-cross-entropy")) if "## Question 4" in t)
    assert "then take the log" not in q4 and "already holds logarithms" in q4
