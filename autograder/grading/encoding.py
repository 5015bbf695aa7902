"""The sealed log's data: plain values that a ``weights_only`` load accepts, and the state a call
left in its arguments (tensors, modules, optimizers). ``seal`` writes and reads its log with these.

``encode`` turns a value into plain data (tensors, numbers, strings, lists, dicts; a module as its
class name and state; anything else as an ``Opaque`` description); ``decode`` turns it back, and a
value the replay cannot use raises ``NotReplayable``.
"""

from __future__ import annotations

import collections
from typing import Any

import numpy as np
import torch

MAX_STRING = 20_000
MAX_MESSAGE = 300  # characters of an exception message raised in the kernel that reach the feedback
MAX_DEPTH = 12


class NotReplayable(BaseException):
    """Replay met something the log cannot reproduce (not an ``Exception``, so tests can't swallow it)."""


class Opaque:
    """Stands for a value that is not plain data (a model object, a DataLoader, ...)."""

    def __init__(self, description: str):
        object.__setattr__(self, "_description", description)

    def __repr__(self) -> str:
        return f"<{self._description}, which cannot be checked outside the sandbox>"

    def _refuse(self, *args, **kwargs):
        raise NotReplayable(f"the test used {self!r}")

    __call__ = __iter__ = __len__ = __getitem__ = __bool__ = _refuse
    __add__ = __sub__ = __mul__ = __truediv__ = __lt__ = __gt__ = __float__ = __int__ = _refuse

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        self._refuse()


# --------------------------------------------------------------------------- data encoding
def _type_name(value: Any) -> str:
    t = type(value)
    return f"an object of type {t.__module__}.{t.__qualname__}"


def encode(value: Any, refs: dict[int, int] | None = None, depth: int = 0) -> Any:
    """Turn ``value`` into plain data that ``torch.load(weights_only=True)`` accepts.

    ``refs`` maps ``id(argument)`` to its position, so that a returned argument stays that argument.
    """
    if refs and id(value) in refs and not isinstance(value, (bool, int, float, str, type(None))):
        return {"__arg__": refs[id(value)]}
    if depth > MAX_DEPTH:
        return {"__opaque__": "a value nested too deeply"}
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return value[:MAX_STRING]
    if type(value) in (torch.Tensor, torch.nn.Parameter):
        return {"__tensor__": value.detach().to("cpu", copy=True), "device": str(value.device),
                "requires_grad": bool(value.requires_grad)}
    if isinstance(value, np.ndarray) and value.dtype.kind in "biufc":
        return {"__ndarray__": torch.from_numpy(np.ascontiguousarray(value).copy())}
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":
        return {"__npscalar__": value.item(), "dtype": str(value.dtype)}
    if isinstance(value, torch.device):
        return {"__device__": str(value)}
    if isinstance(value, torch.dtype):
        return {"__dtype__": str(value).removeprefix("torch.")}
    if isinstance(value, torch.Size):
        return {"__size__": [int(v) for v in value]}
    if type(value) is list:
        return [encode(v, refs, depth + 1) for v in value]
    if isinstance(value, tuple) and type(value) is tuple:
        return {"__tuple__": [encode(v, refs, depth + 1) for v in value]}
    if type(value) in (dict, collections.OrderedDict) and all(isinstance(k, (str, int, float, bool)) for k in value):
        return {"__dict__": [[k, encode(v, refs, depth + 1)] for k, v in value.items()]}
    if isinstance(value, torch.nn.Module):
        return _encode_module(value, refs, depth)
    return {"__opaque__": _type_name(value)}


_MODULE_INTERNALS = ("_parameters", "_buffers", "_modules", "_non_persistent_buffers_set")


def _encode_module(m: torch.nn.Module, refs: dict | None, depth: int) -> dict:
    """A module as data: its class (rebuilt on replay only for torch.nn's own classes), its plain
    attributes, parameters, buffers and children. Its hooks and any notebook code stay behind."""
    cls = type(m)
    attrs = {}
    for k, v in vars(m).items():
        if k in _MODULE_INTERNALS or "hook" in k or "state_dict" in k:
            continue
        enc = encode(v, None, depth + 1)
        if not (isinstance(enc, dict) and "__opaque__" in enc):
            attrs[k] = enc
    return {"__nn_module__": [cls.__module__, cls.__qualname__], "type": _type_name(m), "attrs": attrs,
            "params": {n: encode(p) for n, p in m._parameters.items()},
            "buffers": {n: encode(b) for n, b in m._buffers.items()},
            "children": {n: (None if c is None else encode(c, refs, depth + 1)) for n, c in m._modules.items()}}


class ModuleShell(torch.nn.Module):
    """Replay's stand-in for a model class defined in the notebook: its parameters, not its code."""

    def forward(self, *args, **kwargs):
        raise NotReplayable(f"the test ran {self._seal_type}, whose forward() is notebook code")


def _torch_class(module: str, qualname: str) -> type | None:
    """A class of torch.nn itself (never one defined elsewhere)."""
    import importlib

    if not module.startswith("torch.nn.") or not module.replace(".", "").replace("_", "").isalnum():
        return None
    try:
        obj: Any = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        return None
    return obj if isinstance(obj, type) and issubclass(obj, torch.nn.Module) else None


def _decode_module(data: dict, args: tuple) -> torch.nn.Module:
    cls = _torch_class(*data["__nn_module__"]) or ModuleShell
    m = cls.__new__(cls)
    torch.nn.Module.__init__(m)
    for k, v in data["attrs"].items():
        object.__setattr__(m, k, decode(v, args))
    for n, p in data["params"].items():
        value = decode(p, args)
        m._parameters[n] = torch.nn.Parameter(value.detach(), requires_grad=p["requires_grad"]) \
            if isinstance(value, torch.Tensor) else None
    for n, b in data["buffers"].items():
        value = decode(b, args)
        m._buffers[n] = value.detach() if isinstance(value, torch.Tensor) else None
    for n, c in data["children"].items():
        m._modules[n] = None if c is None else decode(c, args)
    if cls is ModuleShell:
        object.__setattr__(m, "_seal_type", data["type"])
    return m


def decode(data: Any, args: tuple = ()) -> Any:
    """The inverse of ``encode``; a value that was not data comes back as an ``Opaque``."""
    if isinstance(data, list):
        return [decode(v, args) for v in data]
    if not isinstance(data, dict):
        return data
    if "__tensor__" in data:
        t = data["__tensor__"]
        device = data["device"]
        if device.startswith("cuda") and torch.cuda.is_available():
            t = t.to(device)
        return t.requires_grad_(True) if data["requires_grad"] and t.is_floating_point() else t
    if "__ndarray__" in data:
        return data["__ndarray__"].numpy()
    if "__npscalar__" in data:
        return np.dtype(data["dtype"]).type(data["__npscalar__"])
    if "__device__" in data:
        return torch.device(data["__device__"])
    if "__dtype__" in data:
        return getattr(torch, data["__dtype__"])
    if "__size__" in data:
        return torch.Size(data["__size__"])
    if "__tuple__" in data:
        return tuple(decode(v, args) for v in data["__tuple__"])
    if "__dict__" in data:
        return {k: decode(v, args) for k, v in data["__dict__"]}
    if "__arg__" in data:
        return args[data["__arg__"]]
    if "__opaque__" in data:
        return Opaque(data["__opaque__"])
    if "__nn_module__" in data:
        return _decode_module(data, args)
    raise NotReplayable(f"the log holds an unknown entry {sorted(data)[:3]}")


# --------------------------------------------------------------------------- argument state
def capture_state(arg: Any) -> Any:
    """What a call may have changed in one argument, as data (None: nothing we track)."""
    if type(arg) in (torch.Tensor, torch.nn.Parameter):
        return {"values": encode(arg), "grad": encode(arg.grad)}
    if isinstance(arg, torch.nn.Module):
        return {"state": encode(dict(arg.state_dict())), "training": [m.training for m in arg.modules()],
                "grads": encode({n: p.grad for n, p in arg.named_parameters()})}
    if isinstance(arg, torch.optim.Optimizer):
        return {"optimizer": encode(arg.state_dict())}
    return None


def apply_state(arg: Any, state: Any) -> None:
    """Give ``arg`` (the replaying process's own object) the state logged after the call."""
    if state is None:
        return
    with torch.no_grad():
        if "values" in state:
            values = decode(state["values"])
            if not isinstance(values, torch.Tensor) or values.shape != arg.shape:
                arg.data = values.detach().to(arg.device) if isinstance(values, torch.Tensor) else arg.data
            else:
                arg.copy_(values.to(arg.device))
            grad = decode(state["grad"])
            arg.grad = grad.detach().to(arg.device) if isinstance(grad, torch.Tensor) else None
        elif "state" in state:
            arg.load_state_dict(decode(state["state"]), strict=False)
            for module, training in zip(arg.modules(), state["training"]):
                module.training = training
            grads = decode(state["grads"])
            for name, p in arg.named_parameters():
                g = grads.get(name)
                p.grad = g.detach().to(p.device) if isinstance(g, torch.Tensor) else None
        elif "optimizer" in state:
            arg.load_state_dict(decode(state["optimizer"]))
