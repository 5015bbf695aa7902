"""Assertions shared by public and hidden tests, with feedback students can act on.

Every check follows the order of PrairieLearn's ``code_feedback``: None, then type, then shape and
dtype, then non-finite values, then the values themselves; each failure is one sentence that says
what was expected and what was found. One module per job:

========== ==========================================================================
sealing    the contract with the sealed grader (``autograder/grading/seal.py``)
compare    tolerances and comparisons of tensors, numbers, sequences and structures
reached    what a function reached at run time: torch functions, ATen operators, library calls
source     checks that read a function's code: banned library calls, global data
solution   checks against the solution's recorded values (``expected.pt``)
behaviour  state kept between calls, arguments changed, input gradients
training   devices, loaders, classifiers, loss modules, training runs, test accuracy
probes     tiny models that observe training and evaluation functions (assignment 03)
tasks      a table of loss choices holds together (assignment 04), without the answers
========== ==========================================================================

Tests import it as ``course_checks``: students and the Gradescope autograder get one generated
file of that name (``autograder/ship.py`` writes it), which needs only numpy and torch.
"""

from .sealing import ATTRIBUTES, FUNCTION, GLOBAL_LOADS, REWRAP, SEAL, SOURCE, TARGET, UNKNOWN  # noqa: F401
from .compare import (  # noqa: F401
    AUDIT, NONFINITE_MEANING, TOLERANCES, CheckFailure, ToleranceAudit, as_float, as_float_list, assert_equal_leaf,
    assert_probability_rows, assert_same_structure, assert_scalar_close, assert_sequence_close,
    assert_tensor_close, assert_tensor_like, describe, explain_errors, nonfinite_kind, plain_structure, tolerances,
    tolerances_for,
)
from .reached import REACHED_VERSION, banned_reached, judge_reached, reached_by, trace_reached  # noqa: F401
from .source import (  # noqa: F401
    BANNED_BINARY_LOSS_CALLS, BANNED_CLASSIFICATION_CALLS, assert_calling_any, assert_no_global_data,
    assert_no_library_calls, assert_not_calling, find_banned_calls, global_data_reads,
)
from .solution import (  # noqa: F401
    EXPECTED_FILE, assert_finite_like_solution, check_against_solution, check_structure_against_solution,
    check_tuple_against_solution, graded_functions, load_expected, replay, with_helpers,
)
from .behaviour import (  # noqa: F401
    assert_arguments_untouched, assert_input_gradient, assert_repeatable, finite_difference_gradient, input_gradient,
)
from .training import (  # noqa: F401
    DEVICE_ENV_VAR, TRAINING_MARGINS, assert_loss_module, assert_min_accuracy, assert_output_shapes, assert_target_shape,
    check_classifier, check_get_device, check_make_loaders, check_training, grading_device, model_device,
    predictions_of, probe_device,
)
from .probes import (  # noqa: F401
    HISTORY_KEYS, PROBE_TOLERANCES, assert_history, check_probe, observe, probe_evaluate, probe_fit,
    probe_leftover_gradients, probe_train_one_epoch, tiny_classifier, tiny_loader,
)

from .tasks import INTERNAL_ACTIVATION, assert_loss_table_consistent  # noqa: F401

#: The modules in dependency order: the order ``autograder/ship.py`` bundles them in.
MODULES = ("sealing", "compare", "solution", "reached", "source", "behaviour", "training", "probes", "tasks")
