"""Sealed checking: student code runs in the sandboxed kernel, verdicts come from a pristine process.

*Record* (inside the kernel, after the notebook ran): each hidden test runs once. Every call it
makes to a student function is logged as plain data: the return value and the new state of the
arguments it changed (tensors, modules, optimizers). The student values a test reads, and a source
snapshot of the student's functions for the code-inspection checks, are logged too.

*Replay* (in the grading process, where no student code ever runs): the same tests run again from
the pristine test files, with stand-ins for the student's functions that hand back the logged data
in order. Only replay verdicts count, so monkeypatching ``numpy.testing``, ``torch`` or the checks
inside the kernel cannot pass a test, and the log is data only (loaded with ``weights_only=True``).

The kernel imports this module from a read-only view of the grader's own package; the checks
find the running session through ``course_checks.sealing`` (the protocol both sides import), and
``shipped_modules`` is the one place that makes a test's ``import course_checks`` resolve to them.
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import sys
import types
from typing import Any, Callable, Iterator

import numpy as np
import torch

from .. import course_checks, data
from ..course_checks import sealing
from ..course_checks.compare import CheckFailure
from ..course_checks.source import _global_loads
from .encoding import (  # noqa: F401  (Opaque: re-exported for the tests)
    MAX_MESSAGE, NotReplayable, Opaque, _type_name, apply_state, capture_state, decode, encode,
)


# --------------------------------------------------------------------------- the session
class Session:
    """The log of one submission: per test, the events in the order the test produced them."""

    def __init__(self, mode: str, log: dict | None = None):
        assert mode in ("record", "replay")
        self.mode = mode
        self.log: dict = log if log is not None else {"tests": {}, "snapshot": {}}
        self.test: str | None = None
        self.events: list = []
        self.cursor = 0
        self.depth = 0  # > 0 inside a call or observation: nested calls are not logged
        self.observed: set[str] = set()  # replayed tests that used kernel-side observations

    def begin(self, test: str) -> None:
        self.test, self.cursor = test, 0
        if self.mode == "record":
            self.events = self.log["tests"].setdefault(test, {"events": []})["events"]
        else:
            tests = self.log.get("tests")
            entry = tests.get(test) if isinstance(tests, dict) else None
            if entry is None:
                raise NotReplayable("the sandboxed run never reached this test")
            if not isinstance(entry, dict) or not isinstance(entry.get("events"), list):
                raise NotReplayable("the log's entry for this test is malformed")
            self.events = entry["events"]

    def note_expected_values(self) -> None:
        """Record side: this test read expected values (unknown in the kernel)."""
        if self.mode == "record" and self.test is not None:
            self.log["tests"][self.test]["uses_expected"] = True

    def next_event(self, kind: str, name: str) -> dict:
        if self.cursor >= len(self.events):
            raise NotReplayable(f"the sandboxed run of this test stopped before its {kind} of {name}")
        event = self.events[self.cursor]
        self.cursor += 1
        if not isinstance(event, dict):
            raise NotReplayable(f"the log holds a malformed entry where this test makes a {kind} of {name}")
        if event.get("kind") != kind or event.get("name") != name:
            raise NotReplayable(f"the sandboxed run made a {event.get('kind')} of {event.get('name')} "
                                f"where this test makes a {kind} of {name}")
        return event

    def observe(self, name: str, compute: Callable[[], Any]) -> Any:
        """Record mode: run ``compute`` (its student calls are not logged one by one) and log its
        data result; replay mode: return that logged result (or re-raise its exception)."""
        if self.mode == "replay":
            event = self.next_event("observation", name)
            self.observed.add(self.test)
            return _result(event, ())
        if self.depth:
            return compute()
        self.depth += 1
        try:
            value = compute()
        except Exception as exc:
            self.events.append({"kind": "observation", "name": name, "raised": _exception(exc)})
            raise
        finally:
            self.depth -= 1
        self.events.append({"kind": "observation", "name": name, "value": encode(value)})
        return value


def _exception(exc: BaseException) -> list:
    return [type(exc).__name__, str(exc)[:MAX_MESSAGE], isinstance(exc, CheckFailure)]


def _result(event: dict, args: tuple) -> Any:
    if "raised" in event:
        kind, message, is_check = event["raised"]
        base = CheckFailure if is_check is True else Exception
        name = kind if isinstance(kind, str) and kind.isidentifier() else "Exception"
        raise type(name, (base,), {"__module__": "builtins"})(str(message)[:MAX_MESSAGE])
    return decode(event["value"], args)


# --------------------------------------------------------------------------- record side
class Recorder:
    """Wraps a student callable in the kernel: calls go through and are logged."""

    def __init__(self, session: Session, name: str, target: Callable):
        self._session, self.__name__, self._target = session, name, target
        setattr(self, sealing.TARGET, target)
        setattr(self, sealing.REWRAP, lambda other: Recorder(session, name, other))
        self.__doc__ = getattr(target, "__doc__", None)

    def __call__(self, *args, **kwargs):
        session = self._session
        if session.depth:
            return self._target(*args, **kwargs)
        session.depth += 1
        event = {"kind": "call", "name": self.__name__}
        try:
            value = self._target(*args, **kwargs)
        except Exception as exc:
            event["raised"] = _exception(exc)
            raise
        else:
            everything = (*args, *kwargs.values())
            event["value"] = encode(value, {id(a): i for i, a in enumerate(everything)})
        finally:
            session.depth -= 1
            everything = (*args, *kwargs.values())
            event["states"] = [capture_state(a) for a in everything]
            session.events.append(event)
        return value


def snapshot(namespace: dict, max_bytes: int = 16 << 20) -> dict:
    """What kind of thing each of the student's globals is, and the value of small data, as data.

    A function's code is not taken from here: the grader reads it from the submitted notebook
    (``notebook_functions``), which the kernel cannot rewrite.
    """
    out: dict = {}
    for name, value in list(namespace.items()):
        if name.startswith("_") or name in ("In", "Out", "get_ipython", "exit", "quit"):
            continue
        if isinstance(value, types.FunctionType) and value.__module__ == "__main__":
            out[name] = {"kind": "function"}
        elif isinstance(value, types.ModuleType):
            out[name] = {"kind": "library", "module": value.__name__}
        elif isinstance(value, (torch.Tensor, np.ndarray)):
            small = value.nbytes <= max_bytes if isinstance(value, np.ndarray) else \
                value.element_size() * value.nelement() <= max_bytes
            out[name] = {"kind": "data", "value": encode(value) if small else {"__opaque__": _type_name(value)}}
        else:
            module = getattr(value, "__module__", None) or getattr(type(value), "__module__", "") or ""
            out[name] = {"kind": "library" if module.split(".")[0] in {"torch", "numpy", "scipy", "math"}
                         else "other", "module": module}
    return out


def _function_code(tree: ast.Module, name: str) -> types.CodeType | None:
    try:
        module = compile(tree, "<notebook>", "exec")
    except (SyntaxError, ValueError):
        return None
    return next((c for c in module.co_consts if isinstance(c, types.CodeType) and c.co_name in (name, "<lambda>")), None)


def notebook_functions(sources: list[str]) -> dict[str, dict]:
    """The student's top-level functions as the submitted notebook defines them (the last definition
    of a name wins): source, the names its code uses and the globals it reads. These facts feed the
    code-inspection checks on replay; they come from the file, never from the kernel."""
    functions: dict[str, dict] = {}
    for source in sources:
        code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
        try:
            tree = ast.parse(code)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = node.name
            elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Lambda) and len(node.targets) == 1 \
                    and isinstance(node.targets[0], ast.Name):
                name = node.targets[0].id
            else:
                continue
            segment = ast.get_source_segment(code, node)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.decorator_list:
                segment = "\n".join(code.splitlines()[node.decorator_list[0].lineno - 1:node.end_lineno])
            fn_code = _function_code(ast.Module(body=[node], type_ignores=[]), name)
            functions[name] = {"source": segment, "co_names": list(fn_code.co_names) if fn_code else [],
                               "global_loads": sorted(_global_loads(fn_code)) if fn_code else []}
    return functions


# --------------------------------------------------------------------------- replay side
class LibraryRef:
    """Stands for a library object in the student's globals (only its module is known)."""

    def __init__(self, name: str, module: str):
        self.__name__, self.__module__ = name, module


class Replayer:
    """Stands for a student function in the replaying process: hands back logged results."""

    def __init__(self, session: Session, name: str, facts: dict | None, namespace: dict):
        self._session, self.__name__ = session, name
        facts = facts or {}
        setattr(self, sealing.FUNCTION, True)
        setattr(self, sealing.SOURCE, facts.get("source"))
        setattr(self, sealing.GLOBAL_LOADS, facts.get("global_loads", []))
        setattr(self, sealing.REWRAP, lambda other: self)  # helpers were already rebound in the kernel
        self.__code__ = types.SimpleNamespace(co_names=tuple(facts.get("co_names", ())), co_consts=())
        self.__globals__ = namespace

    def __repr__(self) -> str:
        return f"<function {self.__name__}>"

    def __call__(self, *args, **kwargs):
        session = self._session
        event = session.next_event("call", self.__name__)
        everything = (*args, *kwargs.values())
        for arg, state in zip(everything, event.get("states", [])):
            apply_state(arg, state)
        return _result(event, everything)


def replay_namespace(session: Session, functions: dict[str, dict]) -> dict:
    """The student's globals as the replaying process sees them: stand-ins built from the snapshot,
    every function described by the notebook's own code (``functions``)."""
    namespace: dict = {}
    snapshot = session.log.get("snapshot")
    for name, facts in (snapshot.items() if isinstance(snapshot, dict) else ()):
        kind = facts.get("kind") if isinstance(facts, dict) else None
        try:
            if kind == "library":
                namespace[name] = LibraryRef(name, str(facts.get("module", "")))
            elif kind == "data":
                namespace[name] = decode(facts["value"])
        except (Exception, NotReplayable):  # a malformed entry stands for nothing
            continue
    for name, facts in functions.items():
        namespace[name] = Replayer(session, name, facts, namespace)
    return namespace


# --------------------------------------------------------------------------- running tests
def failure_message(exc: BaseException, source: str, path: str, test: str) -> str:
    """What a student reads: the check's own sentence, without the test's line number or source
    (a hidden test's source is not theirs to see). An assertion's message stands alone; any other
    exception (the student's code raised inside the test) keeps its type. ``source``, ``path`` and
    ``test`` are not shown; they stay in the signature for the callers."""
    text = str(exc).strip().strip("'")
    if isinstance(exc, AssertionError) and text:
        return f"❌ Test case failed\n{text}"
    return f"❌ Test case failed\n{type(exc).__name__}: {text}" if text else f"❌ Test case failed\n{type(exc).__name__}"


def run_tests(session: Session, files: list[tuple[str, str]], argument: Callable[[str], Any]) -> dict:
    """Run every test case of the exception-based test ``files`` ([(path, source)]).

    ``argument(name)`` supplies each parameter of a test function. Returns
    ``{test file name: [(test case name, passed, message, replayable, observed)]}``; ``replayable``
    is False when replay met something the log cannot reproduce, ``observed`` True when the verdict
    used data computed by course_checks inside the kernel.
    """
    from otter.test_files.exception_test import ExceptionTestFile

    results: dict = {}
    for path, source in files:
        tf = ExceptionTestFile.from_string(source, path=path)
        rows = results.setdefault(tf.name, [])
        for tc in tf.test_cases:
            sealing.SEAL.session = session
            passed, message, replayable = True, "✅ Test case passed", True
            try:
                session.begin(f"{tf.name}::{tc.name}")
                params = list(inspect.signature(tc.body.test_func).parameters)
                tc.body.test_func(**{p: argument(p) for p in params})
            except NotReplayable as exc:
                passed, replayable = False, False
                message = f"❌ Test case failed\nThis test could not be checked from what your notebook computed: {exc}."
            except Exception as exc:
                passed, message = False, failure_message(exc, source, path, tf.name)
            finally:
                sealing.SEAL.session = None
            rows.append((tc.name, passed, message, replayable, f"{tf.name}::{tc.name}" in session.observed))
    return results


def record_arguments(session: Session, namespace: dict) -> Callable[[str], Any]:
    """Record side: student callables are wrapped, other values logged as the test reads them."""
    def argument(name: str) -> Any:
        value = namespace.get(name)
        if callable(value) and not isinstance(value, (torch.nn.Module, types.ModuleType)):
            return Recorder(session, name, value)
        session.events.append({"kind": "value", "name": name, "value": encode(value)})
        return value
    return argument


def replay_arguments(session: Session, functions: dict[str, dict]) -> Callable[[str], Any]:
    """Replay side: functions become Replayers, values come from the log."""
    namespace = replay_namespace(session, functions)

    def argument(name: str) -> Any:
        if session.cursor < len(session.events) and session.events[session.cursor].get("kind") == "value" \
                and session.events[session.cursor].get("name") == name:
            return _result(session.next_event("value", name), ())
        if isinstance(namespace.get(name), Replayer):
            return namespace[name]
        return Replayer(session, name, None, namespace)
    return argument


#: Functions a tamperer would replace to pass asserts; their fingerprints are compared with pristine ones.
WATCHED = (
    "numpy.testing.assert_allclose", "numpy.testing.assert_array_equal", "numpy.allclose", "numpy.isclose",
    "numpy.array_equal", "torch.allclose", "torch.equal", "torch.isclose", "torch.testing.assert_close",
    "torch.Tensor.__eq__", "torch.Tensor.allclose", "builtins.isinstance", "builtins.len", "builtins.abs",
    "builtins.all", "builtins.any", "builtins.float", "builtins.AssertionError", "builtins.Exception",
    "otter.test_files.abstract_test.TestFile.score", "otter.test_files.exception_test.ExceptionTestFile.run",
    "otter.test_files.exception_test.test_case.call_func",
)


def _digest_code(code: types.CodeType, h) -> None:
    """Feed ``code`` to the hash ``h``: its bytecode, names and constants, nested code included
    (not its ``repr``, which holds memory addresses)."""
    h.update(code.co_code + repr(code.co_names).encode())
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            _digest_code(const, h)
        elif isinstance(const, frozenset):  # its repr's order changes with the hash seed
            h.update(repr(sorted(map(repr, const))).encode())
        else:
            h.update(repr(const).encode())


def fingerprint(obj: Any) -> str:
    """Where an object comes from: its type, module and name, and for Python code its file's name and
    a digest of the code itself (so that swapping a function's ``__code__`` shows too)."""
    import hashlib

    if isinstance(obj, (property, staticmethod, classmethod)):
        obj = getattr(obj, "fget", None) or getattr(obj, "__func__", obj)
    code = getattr(obj, "__code__", None)
    where = ""
    if isinstance(code, types.CodeType):
        h = hashlib.sha256()
        _digest_code(code, h)
        where = f"{code.co_filename.rsplit('/', 1)[-1]} {h.hexdigest()[:16]}"
    return f"{type(obj).__name__} {getattr(obj, '__module__', None)}.{getattr(obj, '__qualname__', None)} {where}"


#: The grader's own modules that run in the kernel while it records: every function and method in them
#: (and in the checks' submodules) is fingerprinted.
OWN_MODULES = ("autograder.course_checks", "autograder.grading.seal", "autograder.grading.encoding")


def _own_functions(package: str) -> dict[str, Any]:
    """``package`` and its submodules: their functions, classes and methods, by dotted name."""
    import importlib
    import pkgutil

    root = importlib.import_module(package)
    modules = [root] + [importlib.import_module(f"{package}.{m.name}")
                        for m in pkgutil.iter_modules(getattr(root, "__path__", []))]
    found: dict[str, Any] = {}
    for module in modules:
        for attr, value in vars(module).items():
            # what the package defines or re-exports: a name rebound to the notebook's code drops out
            # here, and the comparison reports it as missing
            if not str(getattr(value, "__module__", None)).startswith(package.split(".")[0] + "."):
                continue
            if isinstance(value, types.FunctionType):
                found[f"{module.__name__}.{attr}"] = value
            elif isinstance(value, type):
                found[f"{module.__name__}.{attr}"] = value
                for name, member in vars(value).items():
                    if isinstance(member, (types.FunctionType, property, staticmethod, classmethod)):
                        found[f"{module.__name__}.{attr}.{name}"] = member
    return found


def fingerprints(names: tuple[str, ...] = WATCHED, extra_modules: tuple[str, ...] = OWN_MODULES) -> dict:
    """Fingerprints of the ``names`` (their modules imported here if need be, so both sides list the
    same names) and of everything ``extra_modules`` define."""
    import importlib

    out = {}
    for dotted in names:
        parts = dotted.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            try:
                module = importlib.import_module(".".join(parts[:cut]))
                break
            except ImportError:
                continue
        else:
            continue
        obj: Any = module
        try:
            for attr in parts[cut:]:
                obj = inspect.getattr_static(obj, attr)
        except AttributeError:
            continue
        out[dotted] = fingerprint(obj)
    for package in extra_modules:
        out.update({name: fingerprint(value) for name, value in _own_functions(package).items()})
    return out


def record(namespace: dict, files: list[tuple[str, str]], path: str, seen: dict | None = None) -> None:
    """Kernel side: run the tests on the student's namespace and save the log to ``path``.

    ``seen`` holds the fingerprints taken before the tests' modules were reloaded.
    """
    session = Session("record")
    session.log["fingerprints"] = seen if seen is not None else fingerprints()
    session.log["snapshot"] = snapshot(namespace)
    with shipped_modules():
        run_tests(session, files, record_arguments(session, namespace))
    torch.save(session.log, path)


RECORD_CELL = """\
def _record_hidden_tests(library={library!r}, folder={folder!r}, log={log!r}):
    import glob, os, sys
    sys.path.insert(0, library)
    from autograder.grading import seal
    seen = seal.fingerprints()
    files = [(p, open(p, encoding="utf-8").read()) for p in sorted(glob.glob(os.path.join(folder, "tests", "*.py")))]
    os.chdir(folder)
    seal.record(globals(), files, log, seen)
_record_hidden_tests()
"""
#: Marks the recording cell, so that it can be left out of the executed notebook.
RECORD_MARK = "_record_hidden_tests"


def record_cell(library: str, folder: str, log: str) -> str:
    """The kernel's last cell: import this module from ``library`` (the folder holding the grader's
    ``autograder`` package), run the tests of ``folder/tests`` on the notebook's globals, save to ``log``."""
    return RECORD_CELL.format(library=library, folder=folder, log=log)


def replay(log: dict, files: list[tuple[str, str]], functions: dict[str, dict] | None = None) -> dict:
    """Grader side: the verdicts of the tests on the logged data. ``functions`` describes the
    student's functions (``notebook_functions`` of the submitted notebook)."""
    session = Session("replay", log)
    with shipped_modules():
        return run_tests(session, files, replay_arguments(session, functions or {}))


#: What a test's ``import NAME`` finds while the grader runs it: the grader's own pristine modules.
SHIPPED = {"course_checks": course_checks, "course_data": data}


@contextlib.contextmanager
def shipped_modules() -> Iterator[None]:
    """Make ``import course_checks`` and ``import course_data`` give the grader's own modules, whatever
    a notebook (or an earlier import from a student folder) put in ``sys.modules``; restore after."""
    saved = {name: sys.modules.get(name) for name in SHIPPED}
    sys.modules.update(SHIPPED)
    try:
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
