"""Trainable code: check a proposed source without running it, define it, call it.

Checking (:func:`check`) only parses, checks the signature and compiles. Defining
runs the source's module-level statements, so it happens where the call happens:
in the sandbox child (:func:`define_and_call`, the function the sandbox runs) or,
for a bundle with ``sandbox=False``, in this process at the first call.
"""

from __future__ import annotations

import ast
import asyncio
import importlib
import inspect
import runpy
import sys
import types
from collections.abc import Callable, Mapping
from typing import Any

from trace_core.errors import InvalidProposal
from trace_core.spaces import Code

__all__ = ["check", "define", "define_and_call", "ModuleRef", "DefinitionError"]


class DefinitionError(InvalidProposal):
    """The proposed source failed while being defined (its module-level code or decorators)."""

    sandbox_verdict = "invalid"  #: how the sandbox child reports it


def check(space: Code, source: Any, is_async: bool) -> str:
    """The clean source, or ``InvalidProposal``; nothing of it is executed."""
    clean = Code.validate(space, source)
    func = next(n for n in ast.parse(clean).body
                if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == space.name)
    if isinstance(func, ast.AsyncFunctionDef) != is_async:
        kind = "an async def" if is_async else "a def (not async def)"
        raise InvalidProposal(f"the code of {space.name} must stay {kind}; keep the signature")
    return clean


_SCOPE = "_tracetune_class_scope"


def _in_class_scope(source: str, name: str) -> ast.Module:
    """``source`` defined inside ``def _tracetune_class_scope(__class__)`` that returns it,
    so a method's new code may call ``super()`` as code written in its class can (line
    numbers unchanged)."""
    tree = ast.parse(source)
    scope = ast.parse(f"def {_SCOPE}(__class__):\n    pass").body[0]
    scope.body = [*tree.body, ast.Return(ast.Name(name, ast.Load()))]
    tree.body = [scope]
    return ast.fix_missing_locations(tree)


def define(source: str, name: str, namespace: dict[str, Any], is_async: bool,
           cls: type | None = None) -> Callable[..., Any]:
    """Execute ``source`` in ``namespace`` and return the function ``name`` it defines; with
    ``cls`` (the class defining a method) the code may call ``super()``."""
    try:
        code = compile(_in_class_scope(source, name) if cls is not None else source, f"<tracetune:{name}>", "exec")
        exec(code, namespace)  # noqa: S102 - trainable code
        if cls is not None:
            namespace[name] = namespace.pop(_SCOPE)(cls)
    except KeyboardInterrupt:
        raise
    except BaseException as e:  # noqa: BLE001 - any failure here, SystemExit too, is the proposal's
        raise DefinitionError(f"the code of {name} fails when defined: {type(e).__name__}: {e}") from None
    fn = namespace.get(name)
    fn = getattr(fn, "fn", fn)  # re-decorated with @bundle
    if not callable(fn) or inspect.iscoroutinefunction(fn) != is_async:
        raise DefinitionError(f"after its module-level code ran, {name} is not the {'async ' * is_async}function "
                              "it must be; do not rebind its name")
    return fn


def closure_of(fn: Callable[..., Any]) -> dict[str, Any]:
    """``fn``'s closure variables by name (empty cells left out)."""
    out = {}
    for name, cell in zip(fn.__code__.co_freevars, fn.__closure__ or ()):
        try:
            out[name] = cell.cell_contents
        except ValueError:  # an empty cell
            pass
    return out


def call(fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    """Call ``fn``; a generator it returns is run to the end here (its items as a list), so
    its work, its errors and the parameters it reads belong to the op."""
    out = fn(*args, **kwargs)
    if type(out) is types.GeneratorType:
        return list(out)
    return out


class ModuleRef:
    """A module, pickled by name: loading it in the child imports the module (before the child gives up
    its privileges). A script run as ``__main__`` is run again under ``__mp_main__``, as
    ``multiprocessing`` does."""

    def __init__(self, module: str, main_path: str | None = None):
        self.module, self.main_path = module, main_path

    def __reduce__(self) -> tuple[Any, tuple[str, str | None]]:
        return _load_module, (self.module, self.main_path)


def _load_module(module: str, main_path: str | None) -> dict[str, Any]:
    if module == "__main__" and main_path:
        main = types.ModuleType("__mp_main__")
        main.__dict__.update(runpy.run_path(main_path, run_name="__mp_main__"))
        sys.modules["__main__"] = sys.modules["__mp_main__"] = main
        return main.__dict__
    return importlib.import_module(module).__dict__


def define_and_call(globals_: dict[str, Any], source: str, name: str, is_async: bool, cls: type | None,
                    closure: dict[str, Any], overrides: Mapping[str, Any] | None, args: tuple, kwargs: dict) -> Any:
    """In the sandbox child: define the proposed function, then call it (with the parent's ``using`` values)."""
    from trace_core.node import no_trace, using

    fn = define(source, name, {**globals_, **closure}, is_async, cls)
    with using(overrides or {}), no_trace():  # bundles it calls (super().f, say) give plain values
        if is_async:
            return asyncio.run(fn(*args, **kwargs))
        return call(fn, args, kwargs)
