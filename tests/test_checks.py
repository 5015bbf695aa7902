"""The shared assertions: each failure is one sentence naming what was expected and found."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from autograder import course_checks as cc
from autograder.build import save_expected


def fails_with(fn, *fragments):
    with pytest.raises(cc.CheckFailure) as info:
        fn()
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


class TestAssertTensorClose:
    expected = torch.tensor([[0.25, 0.75], [0.5, 0.5]])

    def test_passes_within_float32_tolerance(self):
        cc.assert_tensor_close(self.expected + 1e-7, self.expected, name="p")

    def test_none(self):
        fails_with(lambda: cc.assert_tensor_close(None, self.expected, name="p"), "returned None", "return")

    def test_wrong_type(self):
        fails_with(lambda: cc.assert_tensor_close([[0.25]], self.expected, name="p"), "torch.Tensor", "list")

    def test_shape(self):
        fails_with(lambda: cc.assert_tensor_close(self.expected.T[:1], self.expected, name="p"),
                   "shape (2, 2)", "shape (1, 2)")

    def test_dtype(self):
        fails_with(lambda: cc.assert_tensor_close(self.expected.double(), self.expected, name="p"),
                   "torch.float32", "torch.float64")

    def test_nan_is_named_with_its_index(self):
        bad = self.expected.clone()
        bad[1, 0] = math.nan
        fails_with(lambda: cc.assert_tensor_close(bad, self.expected, name="p"), "found nan", "(1, 0)", "inf / inf")

    def test_the_cause_follows_the_kind_of_value_found(self):
        """-inf is not an overflow: the sentence names what was found and the cause the test gives."""
        bad = self.expected.clone()
        bad[0, 1] = -math.inf
        causes = {"nan": "overflow", "-inf": "stay in log space"}
        message = str(pytest.raises(cc.CheckFailure, cc.assert_tensor_close, bad, self.expected, name="p",
                                    causes=causes).value)
        assert "found -inf" in message and "stay in log space" in message and "overflow" not in message
        bad[0, 1] = math.inf
        fails_with(lambda: cc.assert_tensor_close(bad, self.expected, name="p", causes=causes), "found inf",
                   "minus the log of 0")
        fails_with(lambda: cc.assert_scalar_close(float("-inf"), 1.0, name="loss", causes=causes), "stay in log space")

    def test_a_hint_ends_a_wrong_value_and_explain_errors_names_what_raised(self):
        fails_with(lambda: cc.assert_tensor_close(self.expected + 1, self.expected, name="p", hint="Use dim=1."),
                   "off by more than the tolerance", "Use dim=1.")
        with pytest.raises(cc.CheckFailure) as info:
            with cc.explain_errors("softmax of a (4, 3) tensor", "Keep the dimension."):
                torch.zeros(4, 3) / torch.zeros(4)
        assert "softmax of a (4, 3) tensor raised RuntimeError" in str(info.value) and "Keep the dimension." in str(info.value)

    def test_values_report_largest_difference(self):
        bad = self.expected.clone()
        bad[0, 1] = 0.5
        msg = fails_with(lambda: cc.assert_tensor_close(bad, self.expected, name="p"), "index (0, 1)", "expected 0.75", "found 0.5")
        assert "1 of 4" in msg

    def test_scalar_tensor_sentence(self):
        fails_with(lambda: cc.assert_tensor_close(torch.tensor(3.0), torch.tensor(2.0), name="loss"),
                   "loss is 3", "2 was expected", "off by 1")

    def test_float64_tolerance_is_tighter(self):
        e = torch.tensor([1.0], dtype=torch.float64)
        cc.assert_tensor_close(e + 1e-12, e, name="x")
        fails_with(lambda: cc.assert_tensor_close(e + 1e-5, e, name="x"), "rtol=1e-07")


class TestScalars:
    def test_accepts_float_and_zero_dim_tensor(self):
        cc.assert_scalar_close(0.5, 0.5, name="acc")
        cc.assert_scalar_close(torch.tensor(0.5), 0.5, name="acc")

    def test_rejects_vector(self):
        fails_with(lambda: cc.as_float(torch.ones(3), name="acc"), "single number", "shape (3,)")

    def test_reports_distance(self):
        fails_with(lambda: cc.assert_scalar_close(0.75, 0.5, name="acc"), "0.75", "0.5", "off by 0.25")


class TestProbabilityRows:
    def test_good(self):
        cc.assert_probability_rows(torch.softmax(torch.randn(4, 3), dim=1), name="p")

    def test_rows_not_normalised_names_keepdim(self):
        x = torch.exp(torch.randn(3, 3))
        wrong_axis = x / x.sum(dim=0, keepdim=True)
        fails_with(lambda: cc.assert_probability_rows(wrong_axis, name="p"), "should sum to 1", "keepdim")


# Functions used by the banned-call tests live at module level, like notebook functions.
def uses_torch_softmax(z):
    return torch.softmax(z, dim=1)


def uses_functional(z):
    return F.log_softmax(z, dim=1)


def uses_method(z):
    return z.logsumexp(dim=1)


def my_softmax(z):
    e = torch.exp(z - z.max(dim=1, keepdim=True).values)
    return e / e.sum(dim=1, keepdim=True)


def softmax(z):  # a student's own function named like the library one
    return my_softmax(z)


def reuses_own_softmax(z):
    return torch.log(softmax(z))


def hides_it_in_a_helper(z):
    return uses_torch_softmax(z)


class TestBannedCalls:
    banned = cc.BANNED_CLASSIFICATION_CALLS

    @pytest.mark.parametrize("fn, call", [(uses_torch_softmax, "torch.softmax"), (uses_functional, "F.log_softmax"),
                                          (uses_method, "z.logsumexp")])
    def test_library_calls_are_found(self, fn, call):
        fails_with(lambda: cc.assert_not_calling(fn, self.banned), call, "elementary tensor operations")

    def test_own_function_with_a_banned_name_is_allowed(self):
        cc.assert_not_calling(reuses_own_softmax, self.banned)

    def test_helpers_are_followed(self):
        fails_with(lambda: cc.assert_not_calling(hides_it_in_a_helper, self.banned), "torch.softmax")

    def test_elementary_code_passes(self):
        cc.assert_not_calling(my_softmax, self.banned)


def cross_entropy_via_helper(logits, targets):
    return -log_softmax_helper(logits)[torch.arange(len(targets)), targets].mean()


def log_softmax_helper(z):
    return z  # deliberately wrong


class TestWithHelpers:
    def test_rebinds_only_the_named_helper(self):
        logits, targets = torch.randn(5, 3), torch.tensor([0, 1, 2, 0, 1])
        fixed = cc.with_helpers(cross_entropy_via_helper, log_softmax_helper=lambda z: torch.log_softmax(z, dim=1))
        assert torch.allclose(fixed(logits, targets), F.cross_entropy(logits, targets))
        assert not torch.allclose(cross_entropy_via_helper(logits, targets), F.cross_entropy(logits, targets))


class TestRecordedCases:
    def test_round_trip_and_failure_names_the_case(self, tmp_path):
        cases = {"my_softmax": [("square", (torch.randn(3, 3),)), ("row", (torch.randn(1, 4),))]}
        path = tmp_path / "expected.pt"
        assert save_expected({"my_softmax": my_softmax}, cases, path) == 2
        assert cc.check_against_solution(my_softmax, "my_softmax", path=path) == 2
        wrong_axis = lambda z: torch.softmax(z, dim=0)  # noqa: E731
        fails_with(lambda: cc.check_against_solution(wrong_axis, "my_softmax", path=path), "case 'square'")

    def test_exception_in_student_code_becomes_a_sentence(self, tmp_path):
        path = tmp_path / "expected.pt"
        save_expected({"f": my_softmax}, {"f": [("c", (torch.randn(2, 2),))]}, path)

        def broken(z):
            raise ValueError("boom")

        fails_with(lambda: cc.check_against_solution(broken, "f", path=path), "raised ValueError: boom")

    def test_missing_function(self, tmp_path):
        fails_with(lambda: cc.check_against_solution(None, "softmax", path=tmp_path / "x.pt"), "not defined")


def nested_softplus_by_hand(z):
    def softplus(v):
        return torch.clamp(v, min=0) + torch.log1p(torch.exp(-torch.abs(v)))
    return softplus(-z).mean()


def nested_helper_calling_the_library(z):
    def softplus(v):
        return torch.nn.functional.softplus(v)
    return softplus(-z).mean()


def library_softplus_by_name(z):
    from torch.nn.functional import softplus
    return softplus(-z).mean()


class TestLibraryCallsWithNestedHelpers:
    banned = cc.BANNED_BINARY_LOSS_CALLS

    def test_nested_helper_with_a_banned_name_is_allowed(self):
        cc.assert_no_library_calls(nested_softplus_by_hand, self.banned)

    def test_library_call_inside_a_nested_helper_is_found(self):
        fails_with(lambda: cc.assert_no_library_calls(nested_helper_calling_the_library, self.banned),
                   "torch.nn.functional.softplus")

    def test_imported_library_function_is_found(self):
        fails_with(lambda: cc.assert_no_library_calls(library_softplus_by_name, self.banned), "softplus(...)")

    def test_module_level_calls_are_found_as_before(self):
        fails_with(lambda: cc.assert_no_library_calls(uses_torch_softmax, cc.BANNED_CLASSIFICATION_CALLS),
                   "torch.softmax")
