"""The contract between these checks and the sealed grader (``autograder/grading/seal.py``).

The grader runs each hidden test twice: first in the student's sandboxed kernel (*record*), where
every call of a student function is logged as data and expected values are unknown, then in a
process that never ran student code (*replay*), where stand-ins hand back the logged data and the
real expected values are known. While a test runs under the grader, ``SEAL.session`` is that run's
session, an object with

* ``mode``: ``"record"`` or ``"replay"``;
* ``observe(name, compute)``: record: run ``compute()`` in the kernel and log the data it returns;
  replay: return that logged data;
* ``note_expected_values()``: record: the running test read expected values.

Stand-ins for student functions carry the attributes named below. Outside the grader (a student's
``grader.check``, Otter on Gradescope) ``SEAL.session`` is None and every check runs directly.
Tests should read expected values only after calling the student's code: while recording, they are
``UNKNOWN`` and a comparison with them ends the test early.
"""

from __future__ import annotations

import types
from typing import Any, Callable

#: The real function behind a recording wrapper.
TARGET = "__seal_target__"
#: True on a replay stand-in for a student function.
FUNCTION = "__seal_function__"
#: The student function's source, as the kernel logged it.
SOURCE = "__seal_source__"
#: The global names the student function reads, as the kernel logged them.
GLOBAL_LOADS = "__seal_global_loads__"
#: ``wrapper.__seal_rewrap__(fn)``: ``fn`` wrapped the way ``wrapper`` wraps its target.
REWRAP = "__seal_rewrap__"
ATTRIBUTES = (TARGET, FUNCTION, SOURCE, GLOBAL_LOADS, REWRAP)


class _Seal:
    """Where the grader puts the running test's session (None outside the grader)."""

    session: Any = None


SEAL = _Seal()

UNKNOWN = type("Unknown", (), {"__repr__": lambda self: "<unknown while recording>",
                               "__getitem__": lambda self, key: self})()


def _session() -> Any:
    return SEAL.session


def _recording() -> bool:
    session = _session()
    return session is not None and session.mode == "record"


def _observation(name: str, compute: Callable[[], Any]) -> Any:
    """Compute a data observation in the student's kernel; replay hands back the logged one."""
    session = _session()
    return compute() if session is None else session.observe(name, compute)


def observe(name: str, compute: Callable[[], Any]) -> Any:
    """Run ``compute()`` where the notebook ran and return its result, which must be plain data
    (tensors, numbers, strings, lists, tuples, dicts of those).

    For tests that need the student's own objects (a model class, a data set, a loader): compute the
    facts to check inside ``compute`` and assert on what it returns. Under the grader, ``compute``
    runs in the student's kernel, and only its data result reaches the process that judges it.
    """
    return _observation(name, compute)


def _target(fn: Any) -> Any:
    """The student's function behind a recording wrapper (itself otherwise)."""
    return getattr(fn, TARGET, fn)


def _is_student_function(obj: Any) -> bool:
    return isinstance(obj, types.FunctionType) or getattr(obj, FUNCTION, False) is True
