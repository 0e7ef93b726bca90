"""bundle: make a Python function one traced op.

Called with Nodes or plain values, a bundled function returns a Node whose
parents are the Node inputs (also those inside lists, tuples and dicts) plus every
Parameter the function read without receiving it (a method reading
``self.prompt``, a closure), plus its own code when trainable. Inside, the
function runs untraced unless ``traceable=True``. A generator function's items
are collected into a list inside the op.

Proposed code of a trainable bundle is checked without being run (``_trainable``)
and, by default, defined and called in the sandbox (``_sandbox``; see
``docs/sandbox.md``).
"""

from __future__ import annotations

import ast
import asyncio
import concurrent.futures
import contextvars
import functools
import inspect
import logging
import os
import sys
import textwrap
from collections.abc import Callable
from typing import Any

from trace_core import _trainable
from trace_core._sandbox import Limits, Sandbox
from trace_core._state_file import read_state, write_state
from trace_core.errors import ConfigError
from trace_core.node import Node, Parameter, _overrides, _reads, _tracing
from trace_core.ops import fail
from trace_core.ops import input_nodes as _input_nodes
from trace_core.ops import split as _split
from trace_core.ops import unwrap as _unwrap
from trace_core.spaces import Code

__all__ = ["bundle", "BundledFunction"]

log = logging.getLogger(__name__)
_COMPILED_MAX = 64


def _read_source(fn: Callable[..., Any]) -> str | None:
    """The function's source without decorators, or None where unreadable."""
    try:
        text = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError):
        return None
    try:
        tree = ast.parse(text)
    except SyntaxError:  # e.g. a lambda inside an expression
        return text.strip()
    for item in tree.body:
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name == fn.__name__:
            lines = text.splitlines()
            return "\n".join(lines[item.lineno - 1 : item.end_lineno]) + "\n"
    return text.strip()


def _signature_args(fn: Callable[..., Any]) -> list[str]:
    out = []
    for p in inspect.signature(fn).parameters.values():
        prefix = {p.VAR_POSITIONAL: "*", p.VAR_KEYWORD: "**"}.get(p.kind, "")
        out.append(prefix + p.name)
    return out


_call = _trainable.call
_SANDBOX_MODES = (None, False, True, "strict")


class BundledFunction:
    """A function made into a traced op. Created by :func:`bundle`.

    Implements the op interface (``name``, ``description``, ``source``).
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        description: str | None = None,
        trainable: bool = False,
        catch: bool = False,
        traceable: bool = False,
        sandbox: bool | str | None = None,
        timeout: float | None = None,
        isolation: str | None = None,
    ):
        if sandbox not in _SANDBOX_MODES:
            raise ConfigError(f"sandbox must be None, True, False or 'strict', got {sandbox!r}")
        functools.update_wrapper(self, fn)
        self.fn = fn
        # partials and callable objects have no __name__
        self.name = getattr(fn, "__name__", None) or getattr(getattr(fn, "func", None), "__name__", None) \
            or type(fn).__name__
        self.qualname = getattr(fn, "__qualname__", None) or self.name
        self.description = description or inspect.getdoc(fn) or f"[{self.name}]"
        self.trainable, self.catch, self.traceable = trainable, catch, traceable
        self.sandbox, self.timeout, self._isolation = sandbox, timeout, isolation
        self._runner: Sandbox | None = None
        self.is_async = inspect.iscoroutinefunction(fn)
        self._source = _read_source(fn)
        self._compiled: dict[str, Callable[..., Any]] = {}
        self._space: Code | None = None
        self._parameter: Parameter | None = None
        self._is_method = False
        self._defining_class: type | None = None
        if trainable or sandbox in (True, "strict"):
            if self._source is None or self.name == "<lambda>":
                what = "trainable=True" if trainable else f"sandbox={sandbox!r}"
                raise ConfigError(
                    f"bundle({what}) needs a def with readable source; {self.qualname} has none "
                    "(defined in a REPL, exec or as a lambda) — define it in a file"
                )
        if trainable:
            self._space = _BundleCode(self, _signature_args(fn))
            self._compiled[self._source] = fn
            self._is_method = bool(self._space.args) and self._space.args[0] == "self"

    # -- op interface -------------------------------------------------------------
    @property
    def source(self) -> str:
        if self._parameter is not None:
            return self._parameter._value
        return self._source or f"<source of {self.name} unavailable>"

    @property
    def parameter(self) -> Parameter:
        """The Code parameter of a trainable function (for a method: use ``obj.method.parameter``)."""
        if not self.trainable:
            raise AttributeError(f"{self.name} is not trainable; use @bundle(trainable=True)")
        if self._parameter is None:
            self._parameter = Parameter(self._source, name=self.qualname, space=self._space,
                                        description=f"the code of {self.name}")
        return self._parameter

    def parameter_for(self, instance: Any) -> Parameter:
        """The Code parameter of this trainable method for one instance: one per class
        that defines the method, so an override and the method it overrides (reached
        with ``super()``) each keep their own code."""
        key = f"_tracetune_code_{self.qualname}"
        param = instance.__dict__.get(key)
        if param is None:
            cls = type(instance)
            if self._defining_class is not None and getattr(cls, self.name, None) is not self:
                cls = self._defining_class  # overridden in type(instance): named after the class defining it
            param = Parameter(self._source, name=f"{cls.__name__}.{self.name}", space=self._space,
                              description=f"the code of {cls.__name__}.{self.name}")
            instance.__dict__[key] = param
        return param

    def __set_name__(self, owner: type, name: str) -> None:
        self._defining_class = owner  # for the code parameter's key and super() in new code

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write this trainable function's code as JSON (``{name: source}``), as ``Module.save`` does."""
        _save_code(self.parameter, path)

    def load(self, path: str | os.PathLike[str]) -> None:
        """Read code written by :meth:`save` (checked like any new value)."""
        _load_code(self.parameter, path)

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        return _Bound(self, instance)

    def __repr__(self) -> str:
        return f"<bundle {self.qualname}>"

    def __reduce__(self) -> tuple[Any, tuple]:
        """Pickled by name (to send it to the sandbox), with its code parameter's current value."""
        if "<locals>" in self.qualname:
            import pickle

            raise pickle.PicklingError(f"{self.qualname} is defined inside a function; the sandbox can only "
                                       "receive bundles defined at module level")
        value = None if self._parameter is None else self._parameter._value
        try:
            named = _bundle_by_name(self.__module__, self.qualname, None)
        except Exception:  # noqa: BLE001 - not reachable by name: rebuilt from its function below
            named = None
        if named is self:
            return _bundle_by_name, (self.__module__, self.qualname, value)
        # made with bundle(...)(fn) outside a decorator (an instance attribute, say): rebuilt around fn
        options = (self.description, self.trainable, self.catch, self.traceable, self.sandbox, self.timeout,
                   self._isolation)
        return _bundle_from_fn, (self.fn, options, value)

    # -- sandbox ------------------------------------------------------------------
    @property
    def isolation(self) -> str | None:
        """The isolation level proposed code of this bundle runs at (``"namespaces"`` or ``"process"``),
        or None when it runs in this process (``sandbox=False``, or a bundle that is not trainable)."""
        if self.sandbox is False or (self.sandbox is None and not self.trainable):
            return None
        return self._sandbox().isolation

    def _sandbox(self) -> Sandbox:
        if self._runner is None:
            limits = Limits() if self.timeout is None else Limits(timeout=self.timeout)
            self._runner = Sandbox(self._isolation, strict=self.sandbox == "strict", limits=limits)
        return self._runner

    def _sandboxed(self, source: str | None) -> bool:
        """Whether ``source`` runs in the sandbox: always with sandbox=True/'strict'; by default
        (None) when it is a proposal, not the function as written."""
        if self.sandbox is None:
            return self.trainable and source != self._source
        return bool(self.sandbox)

    def _in_sandbox(self, source: str, args: tuple, kwargs: dict) -> Any:
        module = getattr(self.fn, "__module__", None) or "__main__"
        main = getattr(sys.modules.get("__main__"), "__file__", None) if module == "__main__" else None
        return self._sandbox().run(
            _trainable.define_and_call, _trainable.ModuleRef(module, main), source, self.name, self.is_async,
            self._defining_class,
            _trainable.closure_of(self.fn), _overrides.get(), args, kwargs,
        )

    # -- calling ------------------------------------------------------------------
    def _execute(self, code: Parameter | None, args: tuple, kwargs: dict) -> Any:
        """Run the function (the code parameter's current value, for a trainable one) where it belongs."""
        source = self._source if code is None else code.value
        if self._sandboxed(source):
            if source != self._source:
                _trainable.check(self._space, source, self.is_async)  # e.g. a candidate under using()
            return self._in_sandbox(source, tuple(_unwrap(a) for a in args), _unwrap(kwargs))
        return self._run(self._function(source), args, kwargs)

    def _function(self, source: str | None) -> Callable[..., Any]:
        if source is None or not self.trainable:
            return self.fn
        fn = self._compiled.get(source)
        if fn is None:
            fn = self._compile(source)
        return fn

    def _compile(self, source: str) -> Callable[..., Any]:
        """Define proposed code in this process (only with sandbox=False)."""
        _trainable.check(self._space, source, self.is_async)
        namespace = {**self.fn.__globals__, **_trainable.closure_of(self.fn)}
        fn = _trainable.define(source, self.name, namespace, self.is_async, self._defining_class)
        if len(self._compiled) >= _COMPILED_MAX:
            self._compiled.pop(next(iter(self._compiled)), None)
        self._compiled[source] = fn
        return fn

    def _run(self, fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
        if self.timeout is not None and not self.is_async:
            # The worker thread runs in a copy of this context (tracing state, using()
            # values, hidden-parameter reads). A thread cannot be killed: past the limit
            # it is abandoned (the sandbox kills runaway code).
            pool = concurrent.futures.ThreadPoolExecutor(1)
            try:
                fut = pool.submit(contextvars.copy_context().run, _call, fn, args, kwargs)
                try:
                    return fut.result(timeout=self.timeout)
                except concurrent.futures.TimeoutError:
                    raise TimeoutError(f"{self.name} ran past its time limit of {self.timeout} s") from None
            finally:
                pool.shutdown(wait=False)
        return _call(fn, args, kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._invoke(None, args, kwargs)

    def _invoke(self, instance: Any, args: tuple, kwargs: dict) -> Any:
        code = None
        if self.trainable:  # one code parameter per instance for methods; shared for functions, classmethods
            code = self.parameter_for(instance) if instance is not None and self._is_method else self.parameter
        if instance is not None:
            args = (instance, *args)
        if self.isolation is not None:  # resolved before the op: an unavailable isolation is a config error
            self._sandbox()
        if self.is_async:
            return self._ainvoke(code, args, kwargs)
        if not _tracing.get():
            return self._execute(code, tuple(_unwrap(a) for a in args), _unwrap(kwargs))
        reads: list[Parameter] = []
        if self.traceable:  # inner ops are traced; parameters read untraced count when the result is plain
            inputs = _input_nodes(args, kwargs)
            t_reads = _reads.set(reads)
            try:
                out = self._execute(code, args, kwargs)
            except Exception as exc:
                return fail(self, self._parents(inputs, reads, code), exc, self.catch, (args, kwargs))
            finally:
                _reads.reset(t_reads)
            if isinstance(out, Node):
                return out
            return Node(out, parents=self._parents(inputs, reads, code), op=self, call_args=(args, kwargs))
        inputs, plain_args, plain_kwargs = _split(args, kwargs)
        t_trace, t_reads = _tracing.set(False), _reads.set(reads)
        try:
            out = self._execute(code, plain_args, plain_kwargs)
        except Exception as exc:
            error = exc
        else:
            error = None
        finally:  # also on KeyboardInterrupt: never leave tracing switched off
            _tracing.reset(t_trace)
            _reads.reset(t_reads)
        if error is not None:
            return fail(self, self._parents(inputs, reads, code), error, self.catch, (args, kwargs))
        return Node(out, parents=self._parents(inputs, reads, code), op=self, call_args=(args, kwargs))

    async def _await(self, coro: Any) -> Any:
        if self.timeout is None:
            return await coro
        try:
            return await asyncio.wait_for(coro, self.timeout)
        except TimeoutError:
            raise TimeoutError(f"{self.name} ran past its time limit of {self.timeout} s") from None

    async def _acall(self, code: Parameter | None, args: tuple, kwargs: dict) -> Any:
        source = self._source if code is None else code.value
        if self._sandboxed(source):  # the sandbox's own timeout applies
            return await asyncio.to_thread(contextvars.copy_context().run, self._execute, code, args, kwargs)
        return await self._await(self._function(source)(*args, **kwargs))

    async def _ainvoke(self, code: Parameter | None, args: tuple, kwargs: dict) -> Any:
        if not _tracing.get():
            return await self._acall(code, tuple(_unwrap(a) for a in args), _unwrap(kwargs))
        inputs = _input_nodes(args, kwargs)
        reads: list[Parameter] = []
        t_trace, t_reads = _tracing.set(self.traceable), _reads.set(reads)
        try:
            if self.traceable and not self._sandboxed(self._source if code is None else code.value):
                out = await self._acall(code, args, kwargs)
            else:
                out = await self._acall(code, tuple(_unwrap(a) for a in args), _unwrap(kwargs))
        except Exception as exc:
            return fail(self, self._parents(inputs, reads, code), exc, self.catch, (args, kwargs))
        finally:
            _tracing.reset(t_trace)
            _reads.reset(t_reads)
        if isinstance(out, Node):
            return out
        return Node(out, parents=self._parents(inputs, reads, code), op=self, call_args=(args, kwargs))

    @staticmethod
    def _parents(inputs: list[Node], reads: list[Parameter], code: Parameter | None) -> tuple[Node, ...]:
        if not reads and code is None:
            return tuple(inputs)
        seen = {id(n) for n in inputs}
        extra: list[Node] = []
        for p in (*reads, *(() if code is None else (code,))):
            if id(p) not in seen:
                seen.add(id(p))
                extra.append(p)
        return (*inputs, *extra)


class _BundleCode(Code):
    """The space of a trainable bundle's code: the source must parse, compile, keep the
    function's name, signature and kind (def / async def). Checking never runs it."""

    def __init__(self, owner: BundledFunction, args: list[str]):
        super().__init__(name=owner.name, args=args)
        self._owner = owner

    def validate(self, value: Any) -> str:
        return _trainable.check(self, value, self._owner.is_async)

    @property
    def isolation(self) -> str | None:
        """Where proposed values run: ``"namespaces"``, ``"process"``, or None (in this process)."""
        return self._owner.isolation

    def __reduce__(self) -> tuple[type, tuple]:  # a copy sent to the sandbox needs no owner
        return Code, (self.name, self.args)


def _bundle_by_name(module: str, qualname: str, code: str | None) -> BundledFunction:
    import importlib

    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    obj = getattr(obj, "__func__", obj)  # a bundle under @staticmethod / @classmethod
    if code is not None and code != obj.parameter._value:
        obj.parameter.write(code)  # the value was checked in the parent
    return obj


def _bundle_from_fn(fn: Callable[..., Any], options: tuple, code: str | None) -> BundledFunction:
    obj = BundledFunction(fn, *options)
    if code is not None and obj.trainable:
        obj.parameter.write(code)  # the value was checked in the parent
    return obj


def _save_code(param: Parameter, path: str | os.PathLike[str]) -> None:
    write_state(path, {param.name: param.value})


def _load_code(param: Parameter, path: str | os.PathLike[str]) -> None:
    state = read_state(path)
    if set(state) != {param.name}:
        raise ConfigError(f"{path} holds the code of {sorted(state)}, expected exactly [{param.name!r}]; "
                          "load a file written by this function's save()")
    param.set(state[param.name])


class _Bound:
    """A bundled method bound to an instance."""

    __slots__ = ("bundle", "instance")

    def __init__(self, bundle: BundledFunction, instance: Any):
        self.bundle, self.instance = bundle, instance

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.bundle._invoke(self.instance, args, kwargs)

    @property
    def parameter(self) -> Parameter:
        if not self.bundle.trainable:
            raise AttributeError(f"{self.bundle.name} is not trainable; use @bundle(trainable=True)")
        if not self.bundle._is_method:  # bound as a classmethod: one parameter for the class
            return self.bundle.parameter
        return self.bundle.parameter_for(self.instance)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write this method's code (for this instance) as JSON."""
        _save_code(self.parameter, path)

    def load(self, path: str | os.PathLike[str]) -> None:
        """Read code written by :meth:`save`."""
        _load_code(self.parameter, path)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.bundle, name)


def bundle(
    fn: Callable[..., Any] | None = None,
    *,
    description: str | None = None,
    trainable: bool = False,
    catch: bool = False,
    traceable: bool = False,
    sandbox: bool | str | None = None,
    timeout: float | None = None,
    isolation: str | None = None,
) -> Any:
    """Make a function a traced op: ``@bundle`` or ``@bundle(...)``.

    Works on functions, methods (also above ``@staticmethod``/``@classmethod``),
    async functions, lambdas, partials and callable objects. Nodes among the
    arguments, also inside lists, tuples and dicts, are unwrapped and become
    parents. A generator function's value is the list of its items.

    Args:
        description: what the op does (default: the docstring).
        trainable: the function's source becomes a ``Code`` parameter (``fn.parameter``;
            per instance for methods) that an optimizer may rewrite.
        catch: return the ExceptionNode instead of raising ``TracedError``.
        traceable: trace the calls inside the function instead of one op.
        sandbox: where the code runs. None (default): a trainable function's proposed code
            is defined and called in the sandbox (a child process with limits, a clean
            environment and a timeout; results must be JSON data and arguments picklable),
            the function as written runs here. True: every call runs in the sandbox.
            ``"strict"``: like True, and refuses to run without namespace isolation.
            False: proposed code runs in this process (only for code you trust).
            See ``docs/sandbox.md``.
        timeout: time limit in seconds (in the sandbox, 60 s when not given).
        isolation: ``"namespaces"`` or ``"process"``; None: the best available (logged).

    Example:
        >>> @bundle
        ... def double(x):
        ...     "Doubles x."
        ...     return 2 * x
        >>> from trace_core.node import node
        >>> double(node(4)).value
        8
    """
    options = dict(description=description, trainable=trainable, catch=catch, traceable=traceable,
                   sandbox=sandbox, timeout=timeout, isolation=isolation)

    def make(f: Any) -> Any:
        if isinstance(f, (staticmethod, classmethod)):  # @bundle above @staticmethod / @classmethod
            return type(f)(BundledFunction(f.__func__, **options))
        return BundledFunction(f, **options)

    return make if fn is None else make(fn)
