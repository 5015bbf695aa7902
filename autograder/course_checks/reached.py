"""What a student function reached at run time: torch functions, ATen operators, library calls.

Reading a function's source (``source.find_banned_calls``) misses every route that does not spell
the banned name: ``getattr(torch, "log_" + "softmax")``, ``torch.ops.aten._log_softmax``, an alias
imported under another name, ``torch.distributions``. Here the function runs instead, on fresh
inputs shaped like the hidden test cases, under three watches:

* a ``TorchFunctionMode``: every torch function called, however it was named;
* a ``TorchDispatchMode``: the ATen operators underneath (``aten._softmax``, ``aten.nll_loss_forward``);
* ``sys.setprofile``: the Python and C functions called, for libraries other than torch, and to see
  anything that switches the first two off (``torch._C.DisableTorchFunction``, popping a mode,
  excluding the Python dispatch key, threads) or inspects them.

``trace_reached`` runs in the student's kernel as an *observation* (``sealing._observation``): the
data it returns is logged, and ``judge_reached`` decides outside the kernel. A record that is missing,
malformed or shows that the watch was off fails the check: it can lose points, never give them.
A notebook that rewrites its own log can still forge a clean record (see the README's threat model).
"""

from __future__ import annotations

import os
import sys
import sysconfig
import types
from pathlib import Path
from typing import Any, Callable, Iterable

import torch

from .compare import CheckFailure
from .sealing import _observation, _target
from .solution import EXPECTED_FILE, _clone, graded_functions, load_expected, with_helpers

REACHED_VERSION = 1
_REACH_LIMIT = 500  # distinct names kept per list
#: Top-level packages whose functions count as library calls in the profile.
_REACH_LIBRARIES = ("torch", "numpy", "scipy", "sklearn", "jax", "tensorflow", "cupy", "math")
#: Calls that start code the watch cannot follow (another thread or process), wherever they come from.
_REACH_ELSEWHERE = ("_thread.start_new_thread", "_thread.start_joinable_thread", "_thread.start_new",
                    "posix.fork", "posix.forkpty", "posix.posix_spawn", "posix.posix_spawnp", "posix.system",
                    "_posixsubprocess.fork_exec", "posix.execv", "posix.execve")
#: Calls that inspect or change the watch, when student code makes them: any function of these modules,
_REACH_WATCH_MODULES = ("torch.overrides", "torch.utils._python_dispatch", "inspect", "traceback", "gc",
                        "ctypes", "_ctypes")
#: and, in these modules, the functions whose name contains one of the words.
_REACH_WATCH_WORDS = {"torch._C": ("torch_function", "TorchFunction", "dispatch", "Dispatch", "_mode", "Mode"),
                      "sys": ("setprofile", "getprofile", "settrace", "gettrace", "_getframe", "monitoring"),
                      "threading": ("setprofile", "settrace")}


def _reach_watched(name: str) -> bool:
    """True for a ``module:qualname`` call that inspects or changes the watch."""
    module, _, qualname = name.partition(":")
    if module == "builtins" or module.startswith(_REACH_WATCH_MODULES):
        return module != "builtins"
    words = _REACH_WATCH_WORDS.get("torch._C" if module.startswith("torch._C") else module, ())
    return any(word in qualname for word in words)


# --------------------------------------------------------------------------- names
_REACH_PUBLIC = {"torch._C._nn": "torch.nn.functional", "torch._C._special": "torch.special",
                 "torch._C._linalg": "torch.linalg", "torch._C._fft": "torch.fft", "torch._C._VariableFunctions": "torch",
                 "torch._C": "torch", "torch._C.TensorBase": "torch.Tensor", "torch._tensor": "torch"}


def _reach_function_name(func: Any) -> str:
    """A torch function's public name, e.g. ``torch.nn.functional.softmax``, ``torch.Tensor.exp`` or
    ``torch.ops.aten._log_softmax``."""
    if isinstance(func, (torch._ops.OpOverload, torch._ops.OpOverloadPacket)):
        qualified = getattr(func, "_qualified_op_name", None) or func._schema.name  # "aten::_softmax"
        return "torch.ops." + qualified.replace("::", ".")
    owner = getattr(func, "__objclass__", None)  # a Tensor method or property
    if owner is None:
        getter = getattr(func, "__self__", None)
        owner = getter if isinstance(getter, type) else None
    name = getattr(func, "__name__", None) or type(func).__name__
    if owner is not None:
        module = f"{owner.__module__}.{owner.__qualname__}"
        return f"{_REACH_PUBLIC.get(module, module)}.{name}"
    module = getattr(func, "__module__", None) or "torch"
    qualname = getattr(func, "__qualname__", None) or name
    if qualname.startswith("_VariableFunctionsClass."):
        qualname = qualname.split(".", 1)[1]
    return f"{_REACH_PUBLIC.get(module, module)}.{qualname}"


def _reach_builtin_name(fn: Any) -> str:
    """``module:qualname`` of a C function, e.g. ``torch._C._nn:one_hot``."""
    owner = getattr(fn, "__self__", None)
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", "?")
    if module is None:
        if isinstance(owner, types.ModuleType):
            module = owner.__name__
        elif owner is not None:
            kind = owner if isinstance(owner, type) else type(owner)
            module = kind.__module__
    return f"{module or '?'}:{qualname}"


def _reach_canonical(name: str) -> str:
    """One spelling for the many names of a loss or activation: ``log_softmax``, ``LogSoftmax``,
    ``aten._log_softmax`` -> ``logsoftmax``; ``NLLLoss``, ``nll_loss_forward`` -> ``nll``."""
    word = name.lower().replace("_", "")
    for prefix in ("special",):
        word = word.removeprefix(prefix)
    changed = True
    while changed:
        changed = False
        for suffix in ("forward", "out", "2d", "nd", "loss"):
            if word.endswith(suffix) and len(word) > len(suffix):
                word, changed = word[: -len(suffix)], True
    return {"bce": "binarycrossentropy", "bcewithlogits": "binarycrossentropywithlogits"}.get(word, word)


def _reach_hits(name: str, banned: set[str]) -> bool:
    """True when any part of a dotted or ``module:qualname`` name is a banned function."""
    qualname = name.split(":", 1)[1] if ":" in name else name.rsplit(".", 1)[-1]
    return any(_reach_canonical(part.rstrip("_")) in banned for part in qualname.split(".") if part)


# --------------------------------------------------------------------------- genuine machinery
def _reach_is_torch_code(obj: Any, filename: str) -> bool:
    code = getattr(obj, "__code__", None)
    return isinstance(code, types.CodeType) and code.co_filename.replace("\\", "/").endswith(f"torch/{filename}")


_REACH_BUILTINS = {
    torch._C: ("_push_on_torch_function_stack", "_pop_torch_function_stack", "_len_torch_function_stack",
               "_get_function_stack_at", "_push_on_torch_dispatch_stack", "_pop_torch_dispatch_stack",
               "_len_torch_dispatch_stack", "_get_dispatch_stack_at", "_is_torch_function_mode_enabled",
               "_dispatch_tls_is_dispatch_key_excluded"),
    sys: ("setprofile", "getprofile"),
}


def _reach_counterfeits() -> list[str]:
    """What the watch relies on and a notebook has replaced, in words (empty when all is genuine)."""
    from torch.overrides import TorchFunctionMode
    from torch.utils._python_dispatch import TorchDispatchMode

    found = []
    for cls, filename in ((TorchFunctionMode, "overrides.py"), (TorchDispatchMode, "utils/_python_dispatch.py")):
        if not isinstance(cls, type) or not all(_reach_is_torch_code(getattr(cls, m, None), filename)
                                                for m in ("__enter__", "__exit__")):
            found.append(f"{getattr(cls, '__name__', cls)!s} is not torch's own")
    for owner, names in _REACH_BUILTINS.items():
        for name in names:
            fn = getattr(owner, name, None)
            if type(fn) is not types.BuiltinFunctionType or fn.__name__ != name:
                found.append(f"{owner.__name__}.{name} was replaced")
    return found


# --------------------------------------------------------------------------- the watch
class _ReachLog:
    """What one traced run saw; every field becomes plain data in ``as_data``."""

    def __init__(self) -> None:
        self.calls: dict[str, list[str]] = {}  # torch function -> the ATen operators it ran
        self.ops: dict[str, int] = {}
        self.library: dict[str, None] = {}
        self.problems: dict[str, None] = {}
        self.current: str | None = None  # the torch function running now
        self.busy = 0  # > 0 inside one of our torch-function handlers
        self.muted = 0  # > 0 inside another graded function (judged by its own question)
        self.probe: list[str] | None = None  # the canary's names, while it runs
        self.operations = 0  # every ATen operator that ran, muted helpers' included
        self.blocked = False  # the current case stopped in another graded function

    def problem(self, sentence: str) -> None:
        if len(self.problems) < 20:
            self.problems[sentence] = None


def _reach_spies(log: _ReachLog):
    from torch.overrides import TorchFunctionMode
    from torch.utils._python_dispatch import TorchDispatchMode

    class FunctionSpy(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if log.probe is not None:
                log.probe.append(_reach_function_name(func))
            elif not log.muted:
                name = _reach_function_name(func)
                if name in log.calls or len(log.calls) < _REACH_LIMIT:
                    log.calls.setdefault(name, [])
                    log.current = name
            log.busy += 1
            try:
                return func(*args, **kwargs)
            finally:
                log.busy -= 1
                log.current = None

    class DispatchSpy(TorchDispatchMode):
        @classmethod
        def _should_skip_dynamo(cls) -> bool:  # keeps torch from importing dynamo (2 s) for this mode
            return False

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            op = f"{func.namespace}.{func.overloadpacket.__name__}"
            if log.probe is not None:
                log.probe.append(op)
                return func(*args, **(kwargs or {}))
            log.operations += 1
            if not log.muted and (op in log.ops or len(log.ops) < _REACH_LIMIT):
                log.ops[op] = log.ops.get(op, 0) + 1
                ops = log.calls.get(log.current) if log.current is not None else None
                if ops is not None and op not in ops:
                    ops.append(op)
            return func(*args, **(kwargs or {}))

    return FunctionSpy(), DispatchSpy()


def _reach_library_dirs() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    dirs = {os.path.realpath(paths[k]) for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    dirs.add(os.path.realpath(os.path.dirname(os.path.dirname(torch.__file__))))
    dirs.add(os.path.realpath(os.path.dirname(os.__file__)))
    here = Path(__file__).resolve()
    dirs.add(str(here.parent) if __package__ else str(here))
    return tuple(sorted(dirs))


def _reach_profiler(log: _ReachLog, spies: tuple, own_codes: set):
    """The ``sys.setprofile`` callback: records library calls and checks the watch at every call
    student code makes."""
    function_spy, dispatch_spy = spies
    library_dirs = _reach_library_dirs()
    python_key = torch._C.DispatchKey.Python
    is_library: dict[str, bool] = {}

    def library_file(filename: str) -> bool:
        known = is_library.get(filename)
        if known is None:
            real = filename if filename.startswith("<frozen") else os.path.realpath(filename)
            known = filename.startswith("<frozen") or real.startswith(library_dirs)
            is_library[filename] = known
        return known

    def watch_is_on() -> str | None:
        if not torch._C._is_torch_function_mode_enabled():
            return "torch-function modes were switched off (torch._C.DisableTorchFunction or similar)"
        if not log.busy:
            depth = torch._C._len_torch_function_stack()
            if depth == 0 or torch._C._get_function_stack_at(depth - 1) is not function_spy:
                return "the torch-function mode stack was changed (a mode popped or pushed)"
        depth = torch._C._len_torch_dispatch_stack()
        if depth == 0 or torch._C._get_dispatch_stack_at(depth - 1) is not dispatch_spy:
            return "the torch-dispatch mode stack was changed (a mode popped or pushed)"
        if torch._C._dispatch_tls_is_dispatch_key_excluded(python_key):
            return "the Python dispatch key was excluded (torch._C._DisableTorchDispatch or similar)"
        return None

    in_c: dict = {}  # frame -> C functions it is inside now: Python called from there came from C

    def profile(frame, event, arg):
        if event == "call":
            if frame.f_code in own_codes:
                return
            name = f"{frame.f_globals.get('__name__', '?')}:{frame.f_code.co_qualname}"
            caller = None if in_c.get(frame.f_back) else frame.f_back
        elif event == "c_call":
            name, caller = _reach_builtin_name(arg), frame
            in_c[frame] = in_c.get(frame, 0) + 1
        elif event in ("c_return", "c_exception"):
            if in_c.get(frame):
                in_c[frame] -= 1
            return
        else:
            return
        dotted = name.replace(":", ".")
        if dotted in _REACH_ELSEWHERE:
            log.problem(f"{dotted} was called, which runs code the watch cannot follow")
        if log.muted:
            return
        if name.split(".", 1)[0].split(":", 1)[0] in _REACH_LIBRARIES and len(log.library) < _REACH_LIMIT:
            log.library[name] = None
        if caller is None or caller.f_code in own_codes or library_file(caller.f_code.co_filename):
            return
        where = f"line {caller.f_lineno} of {caller.f_code.co_qualname}"
        if _reach_watched(name):
            log.problem(f"{dotted} was called at {where}, which inspects or changes the watch")
        off = watch_is_on()
        if off:
            log.problem(f"{off} at {where}, before it called {dotted}")

    return profile


def _reach_canary(log: _ReachLog) -> bool:
    """Both watches see a known operation (so neither was replaced by something that sees nothing)."""
    log.probe = []
    try:
        torch.exp(torch.zeros(1))
    finally:
        seen, log.probe = log.probe, None
    return "torch.exp" in seen and "aten.exp" in seen


def _reach_fresh(args: tuple, generator: torch.Generator) -> tuple:
    """The recorded arguments with floating-point tensors nudged by a random relative 0.1 %, so that a
    function cannot answer from a cache filled by the earlier tests."""
    def nudge(value: Any) -> Any:
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            noise = torch.randn(value.shape, generator=generator, dtype=torch.float64).to(value.dtype)
            return (value + value.abs() * 1e-3 * noise).detach()
        if isinstance(value, (list, tuple)):
            return type(value)(nudge(v) for v in value)
        return value
    return tuple(nudge(a) for a in _clone(args))


def _reach_muted(log: _ReachLog, fn: Callable) -> Callable:
    def muted(*args, **kwargs):
        log.muted += 1
        try:
            return fn(*args, **kwargs)
        except Exception:
            log.blocked = True  # another question's function failed: not held against this one
            raise
        finally:
            log.muted -= 1
    return muted


def trace_reached(fn: Callable, inputs: Iterable[tuple], *, mute: Iterable[str] = ()) -> dict:
    """Call ``fn`` on every argument tuple of ``inputs`` (nudged) under the watch; return what it
    reached, as data. The graded functions named in ``mute`` that ``fn`` calls are not watched."""
    log = _ReachLog()
    counterfeits = _reach_counterfeits()
    for sentence in counterfeits:
        log.problem(f"the watch could not start: {sentence}")
    target = _target(fn)
    env = getattr(target, "__globals__", {})
    helpers = {n: _reach_muted(log, env[n]) for n in mute if callable(env.get(n))}
    runnable = with_helpers(target, **helpers) if helpers else target
    generator = torch.Generator().manual_seed(int.from_bytes(os.urandom(7), "little"))
    cases = [_reach_fresh(tuple(args), generator) for args in inputs]
    completed, blocked, errors, canary = 0, 0, [], False
    if not counterfeits:
        spies = _reach_spies(log)
        own = {c.__code__ for c in (spies[0].__torch_function__, spies[1].__torch_dispatch__)}
        old_profile = sys.getprofile()
        with spies[1], spies[0]:
            canary = _reach_canary(log)
            profile = _reach_profiler(log, spies, own)
            own.add(profile.__code__)
            sys.setprofile(profile)
            try:
                for args in cases:
                    log.blocked = False
                    try:
                        runnable(*args)
                        completed += 1
                    except Exception as exc:  # judged by the value tests; here only what ran counts
                        blocked += log.blocked
                        errors.append(f"{type(exc).__name__}: {exc}"[:200])
            finally:
                try:
                    sys.setprofile(old_profile)
                except TypeError:  # a C-level profiler (cProfile) cannot be put back this way
                    sys.setprofile(None)
            canary = canary and _reach_canary(log)
    return {"version": REACHED_VERSION, "cases": len(cases), "completed": completed, "errors": errors[:3],
            "operations": log.operations, "blocked": blocked,
            "calls": [[name, ops] for name, ops in log.calls.items()],
            "ops": sorted(log.ops), "library": list(log.library),
            "problems": list(log.problems), "canary": bool(canary)}


# --------------------------------------------------------------------------- the verdict, outside the kernel
def _reach_well_formed(data: Any) -> bool:
    def strings(v: Any) -> bool:
        return isinstance(v, list) and all(isinstance(s, str) for s in v)
    return (isinstance(data, dict) and data.get("version") == REACHED_VERSION
            and all(isinstance(data.get(k), int) and not isinstance(data.get(k), bool) for k in ("cases", "completed", "operations", "blocked"))
            and isinstance(data.get("canary"), bool)
            and all(strings(data.get(k)) for k in ("errors", "ops", "library", "problems"))
            and isinstance(data.get("calls"), list)
            and all(isinstance(c, list) and len(c) == 2 and isinstance(c[0], str) and strings(c[1]) for c in data["calls"]))


def banned_reached(data: dict, banned: Iterable[str]) -> list[str]:
    """The banned functions a (well-formed) record shows, each as 'NAME (via aten.OP)'."""
    canon = {_reach_canonical(b) for b in banned}
    found: list[str] = []
    explained: set[str] = set()
    for name, ops in data["calls"]:
        bad_ops = [op for op in ops if _reach_hits(op, canon)]
        if _reach_hits(name, canon) or bad_ops:
            via = bad_ops or ops
            found.append(f"{name} (via {', '.join(via)})" if via else name)
            explained.update(ops)
    found += [op for op in data["ops"] if op not in explained and _reach_hits(op, canon)]
    if not found:  # torch's own calls are named above; the profile adds other libraries
        found += [n.replace(":", ".") for n in data["library"] if _reach_hits(n, canon)]
    return found


def judge_reached(data: Any, banned: Iterable[str], *, name: str) -> None:
    """Fail unless the record is well formed, the watch stayed on, and no banned function was reached."""
    void = f"The no-library rule of {name} cannot be confirmed, so this check fails"
    if not _reach_well_formed(data):
        raise CheckFailure(f"The grader's record of what {name} reached at run time is missing or malformed. {void}.")
    if data["problems"]:
        raise CheckFailure(f"While {name} ran, the grader's watch on library calls was tampered with: "
                           f"{'; '.join(data['problems'][:3])}. {void}, and the question is void.")
    if not data["canary"]:
        raise CheckFailure(f"The grader's watch on library calls did not see a test operation while {name} ran, "
                           f"so it was disabled or replaced. {void}.")
    if data["completed"] == 0 and data["blocked"] == 0:
        errors = f" (first error: {data['errors'][0]})" if data["errors"] else ""
        raise CheckFailure(f"{name} raised on every one of the {data['cases']} inputs it was given to watch which "
                           f"functions it calls{errors}. {void}.")
    if data["operations"] <= 0:
        raise CheckFailure(f"The grader's watch saw no tensor operation at all while {name} ran on {data['cases']} "
                           f"inputs, so it cannot confirm how {name} computes its result. {void}.")
    hits = banned_reached(data, banned)
    if hits:
        raise CheckFailure(f"{name} must be written with elementary tensor operations, but at run time {name} reached "
                           f"{'; '.join(hits[:3])}. The library versions of {', '.join(sorted(set(banned)))} are not "
                           "allowed here, however they are called.")


def reached_by(fn: Callable, fn_name: str, *, path: str | Path = EXPECTED_FILE) -> Any:
    """Observe what ``fn`` reaches on the recorded inputs of ``fn_name`` (None when there are none,
    e.g. in a student's own check without the hidden cases)."""
    if not Path(path).exists() or fn_name not in graded_functions(path):
        return None
    inputs = [case["args"] for case in load_expected(fn_name, path)]
    mute = graded_functions(path) - {fn_name}
    return _observation(f"what {fn_name} reached", lambda: trace_reached(fn, inputs, mute=mute))
