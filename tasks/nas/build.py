"""Build torch models from an architecture dict or from ``build()`` source.

Imports only torch and the standard library (``schema`` is the pydantic side).
"""

from __future__ import annotations

import builtins
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from tasks._torch.train import Dropout

__all__ = ["from_layers", "compile_build", "check_output", "ArchitectureError", "CodeTimeout", "time_limit"]

_ACT: dict[str, Callable[[], nn.Module]] = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "silu": nn.SiLU}


class ArchitectureError(ValueError):
    """The architecture cannot be built or does not fit the data; the message says why.

    Example:
        >>> try:
        ...     check_output(nn.Linear(4, 2), 4, 3)
        ... except ArchitectureError as e:
        ...     print(str(e)[:40])
        the model must return logits of shape (b
    """


class _Block(nn.Module):
    def __init__(self, fan_in: int, layer: Mapping[str, Any]) -> None:
        super().__init__()
        width = int(layer["width"])
        parts: list[nn.Module] = [nn.Linear(fan_in, width)]
        norm = layer.get("norm", "none")
        if norm != "none":
            parts.append({"batch": nn.BatchNorm1d, "layer": nn.LayerNorm}[norm](width))
        parts.append(_ACT[layer.get("activation", "relu")]())
        if layer.get("dropout", 0.0) > 0:
            parts.append(Dropout(layer["dropout"]))
        self.body = nn.Sequential(*parts)
        self.skip: nn.Module | None = None
        if layer.get("skip", False):
            self.skip = nn.Identity() if fan_in == width else nn.Linear(fan_in, width, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        return out if self.skip is None else out + self.skip(x)


def from_layers(layers: list[Mapping[str, Any]], in_features: int, n_classes: int) -> nn.Sequential:
    """Hidden blocks described by ``layers`` (dicts of an Architecture's layers), then a linear head."""
    blocks: list[nn.Module] = []
    fan_in = in_features
    for layer in layers:
        blocks.append(_Block(fan_in, layer))
        fan_in = int(layer["width"])
    blocks.append(nn.Linear(fan_in, n_classes))
    return nn.Sequential(*blocks)


_FILENAME = "<build>"  #: the file name build code is compiled under


class CodeTimeout(BaseException):
    """Build code (its definition, ``build()``, a ``forward`` it defined) ran past its time limit.

    A ``BaseException``, like ``KeyboardInterrupt``, so that an ``except Exception``
    in the code does not swallow it.
    """


@contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Stop build code that runs longer than ``seconds`` in one call (an endless loop, say).

    Only frames compiled from the build code are traced (instruction by instruction,
    with this thread's trace function, restored afterwards); each outermost call into
    that code gets ``seconds``. Time spent inside torch's C++ kernels is not interrupted.

    Example:
        >>> with time_limit(0.05):
        ...     try:
        ...         compile_build("while True: pass")
        ...     except CodeTimeout as e:
        ...         print(str(e)[:38])
        the code ran longer than 0.05 s in one
    """
    if seconds is None:
        yield
        return
    state = {"depth": 0, "deadline": float("inf")}

    def local(frame: Any, event: str, arg: Any) -> Any:
        if event == "return":
            state["depth"] -= 1
        elif time.monotonic() > state["deadline"]:
            raise CodeTimeout(
                f"the code ran longer than {seconds:g} s in one call (line {frame.f_lineno} of the build code); "
                "look for an endless loop or far too much work"
            )
        return local

    def on_call(frame: Any, event: str, arg: Any) -> Any:
        if frame.f_code.co_filename != _FILENAME:
            return None
        if state["depth"] <= 0:
            state["depth"], state["deadline"] = 0, time.monotonic() + seconds
        state["depth"] += 1
        frame.f_trace_opcodes = True  # a one-line `while True: pass` has no line events
        return local

    previous = sys.gettrace()
    sys.settrace(on_call)
    try:
        yield
    finally:
        sys.settrace(previous)


_ALLOWED_IMPORTS = ("torch", "math")
_SAFE_BUILTINS = (
    "abs all any bool dict enumerate float int isinstance len list max min range reversed round "
    "sorted str sum tuple zip ValueError TypeError RuntimeError Exception super object"
).split()


def _guarded_import(name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0) -> Any:
    if level != 0 or name.split(".")[0] not in _ALLOWED_IMPORTS:
        raise ImportError(
            f"build() may import only {', '.join(_ALLOWED_IMPORTS)} (torch.nn as nn is provided); got {name!r}"
        )
    return __import__(name, globals, locals, fromlist, level)


def compile_build(source: str) -> Callable[[int, int], nn.Module]:
    """Define ``build`` from ``source`` in a namespace with ``torch``, ``nn``, ``F`` and ``math``.

    The namespace limits builtins and imports to keep honest mistakes out; it is not
    what contains hostile code: the task runs this in the sandbox child
    (``trace_core._sandbox``, see ``docs/sandbox.md``). Raises :class:`ArchitectureError`
    with the reason.
    """
    import math

    safe = {name: getattr(builtins, name) for name in _SAFE_BUILTINS}
    safe["__import__"] = _guarded_import
    safe["__build_class__"] = builtins.__build_class__
    namespace: dict[str, Any] = {
        "__builtins__": safe, "__name__": "tracetune_build", "torch": torch, "nn": nn,
        "F": torch.nn.functional, "math": math,
    }
    try:
        exec(compile(source, _FILENAME, "exec"), namespace)  # noqa: S102 - the parameter is code by design
    except Exception as e:  # noqa: BLE001 - any failure is the proposal's
        raise ArchitectureError(f"the code fails when defined: {type(e).__name__}: {e}") from None
    fn = namespace.get("build")
    if not callable(fn):
        raise ArchitectureError("the code must define a function build(in_features, n_classes)")
    return fn


def check_output(model: Any, in_features: int, n_classes: int) -> None:
    """Raise :class:`ArchitectureError` unless ``model`` maps (4, in_features) to (4, n_classes)."""
    if not isinstance(model, nn.Module):
        raise ArchitectureError(f"build() must return a torch.nn.Module, got {type(model).__name__}")
    model.eval()
    try:
        with torch.no_grad():
            out = model(torch.zeros(4, in_features))
    except Exception as e:  # noqa: BLE001
        raise ArchitectureError(
            f"the forward pass fails on a batch of shape (4, {in_features}): {type(e).__name__}: {e}; "
            "check that each layer's input width equals the previous layer's output width "
            f"(the input has {in_features} features)"
        ) from None
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (4, n_classes):
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ArchitectureError(
            f"the model must return logits of shape (batch, {n_classes}); for a batch of 4 it returned {got}"
        )
