"""bundle: make a Python function one traced op.

Called with Nodes or plain values, a bundled function returns a Node whose
parents are the Node inputs (also those inside lists, tuples and dicts) plus every
Parameter the function read without receiving it (a method reading
``self.prompt``, a closure), plus its own code when trainable. Inside, the
function runs untraced unless ``traceable=True``. A generator function's items
are collected into a list inside the op.
"""

from __future__ import annotations

import ast
import asyncio
import concurrent.futures
import contextvars
import functools
import inspect
import logging
import multiprocessing
import os
import textwrap
import types
from collections.abc import Callable
from typing import Any

from trace_core.errors import ConfigError, InvalidProposal
from trace_core.node import Node, Parameter, _reads, _tracing
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


def _call(fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    """Call ``fn``; a generator it returns is run to the end here (its items as a list), so
    its work, its errors and the parameters it reads belong to the op."""
    out = fn(*args, **kwargs)
    return list(out) if type(out) is types.GeneratorType else out


def _sandbox_child(conn: Any, fn: Callable[..., Any], args: tuple, kwargs: dict) -> None:
    try:
        conn.send(("ok", _call(fn, args, kwargs)))
    except BaseException as e:  # noqa: BLE001 - report everything to the parent
        import traceback

        conn.send(("err", f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=-3)}"))
    finally:
        conn.close()


def _run_sandboxed(fn: Callable[..., Any], args: tuple, kwargs: dict, timeout: float | None) -> Any:
    """Run ``fn`` in a forked subprocess, killed after ``timeout`` seconds."""
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_sandbox_child, args=(child, fn, args, kwargs), daemon=True)
    proc.start()
    child.close()
    try:
        if not parent.poll(timeout):
            raise TimeoutError(f"{fn.__name__} ran past its time limit of {timeout} s in the sandbox and was killed")
        try:
            status, payload = parent.recv()
        except EOFError:
            raise RuntimeError(f"{fn.__name__} crashed in the sandbox (exit code {proc.exitcode})") from None
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join(1)
        parent.close()
    if status == "err":
        raise RuntimeError(f"in the sandbox: {payload}")
    return payload


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
        sandbox: bool = False,
        timeout: float | None = None,
    ):
        functools.update_wrapper(self, fn)
        self.fn = fn
        # partials and callable objects have no __name__
        self.name = getattr(fn, "__name__", None) or getattr(getattr(fn, "func", None), "__name__", None) \
            or type(fn).__name__
        self.qualname = getattr(fn, "__qualname__", None) or self.name
        self.description = description or inspect.getdoc(fn) or f"[{self.name}]"
        self.trainable, self.catch, self.traceable = trainable, catch, traceable
        self.sandbox, self.timeout = sandbox, timeout
        self.is_async = inspect.iscoroutinefunction(fn)
        self._source = _read_source(fn)
        self._compiled: dict[str, Callable[..., Any]] = {}
        self._space: Code | None = None
        self._parameter: Parameter | None = None
        self._is_method = False
        self._defining_class: type | None = None
        if trainable:
            if self._source is None or self.name == "<lambda>":
                raise ConfigError(
                    f"bundle(trainable=True) needs a def with readable source; {self.qualname} has none "
                    "(defined in a REPL, exec or as a lambda) — define it in a file"
                )
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

    # -- calling ------------------------------------------------------------------
    def _function(self, code: Parameter | None) -> Callable[..., Any]:
        if code is None:
            return self.fn
        source = code.value
        fn = self._compiled.get(source)
        if fn is None:
            fn = self._compile(source)
        return fn

    def _compile(self, source: str) -> Callable[..., Any]:
        Code.validate(self._space, source)
        namespace = dict(self.fn.__globals__)
        for name, cell in zip(self.fn.__code__.co_freevars, self.fn.__closure__ or ()):
            try:
                namespace[name] = cell.cell_contents
            except ValueError:  # an empty cell
                pass
        try:
            code = compile(_in_class_scope(source, self.name) if self._defining_class else source,
                           f"<tracetune:{self.name}>", "exec")
            exec(code, namespace)  # noqa: S102 - trainable code
        except Exception as e:
            raise InvalidProposal(f"the code of {self.name} fails when defined: {type(e).__name__}: {e}") from None
        fn = namespace.pop(_SCOPE)(self._defining_class) if self._defining_class else namespace[self.name]
        fn = getattr(fn, "fn", fn)
        if inspect.iscoroutinefunction(fn) != self.is_async:
            kind = "an async def" if self.is_async else "a def (not async def)"
            raise InvalidProposal(f"the code of {self.name} must stay {kind}; keep the signature")
        if len(self._compiled) >= _COMPILED_MAX:
            self._compiled.pop(next(iter(self._compiled)), None)
        self._compiled[source] = fn
        return fn

    def _run(self, fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
        if self.sandbox:
            return _run_sandboxed(fn, args, kwargs, self.timeout)
        if self.timeout is not None and not self.is_async:
            # The worker thread runs in a copy of this context (tracing state, using()
            # values, hidden-parameter reads). A thread cannot be killed: past the limit
            # it is abandoned (use sandbox=True to kill runaway code).
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
        if self.is_async:
            return self._ainvoke(code, args, kwargs)
        if not _tracing.get():
            return self._run(self._function(code), tuple(_unwrap(a) for a in args), _unwrap(kwargs))
        reads: list[Parameter] = []
        if self.traceable:  # inner ops are traced; parameters read untraced count when the result is plain
            inputs = _input_nodes(args, kwargs)
            t_reads = _reads.set(reads)
            try:
                out = self._run(self._function(code), args, kwargs)
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
            fn = self._function(code)
            out = self._run(fn, plain_args, plain_kwargs)
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

    async def _ainvoke(self, code: Parameter | None, args: tuple, kwargs: dict) -> Any:
        if not _tracing.get():
            return await self._await(self._function(code)(*(_unwrap(a) for a in args), **_unwrap(kwargs)))
        inputs = _input_nodes(args, kwargs)
        reads: list[Parameter] = []
        t_trace, t_reads = _tracing.set(self.traceable), _reads.set(reads)
        try:
            fn = self._function(code)
            if self.traceable:
                coro = fn(*args, **kwargs)
            else:
                coro = fn(*(_unwrap(a) for a in args), **_unwrap(kwargs))
            out = await self._await(coro)
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
    """The space of a trainable bundle's code: besides parsing and keeping the name and
    signature, a new value must define the function without error (compiled once per
    value, so a failure at definition time is caught by ``Parameter.set``)."""

    def __init__(self, owner: BundledFunction, args: list[str]):
        super().__init__(name=owner.name, args=args)
        self._owner = owner

    def validate(self, value: Any) -> str:
        clean = super().validate(value)
        if clean not in self._owner._compiled:
            self._owner._compile(clean)
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


def _save_code(param: Parameter, path: str | os.PathLike[str]) -> None:
    from trace_core.module import write_state  # module.py imports this module

    write_state(path, {param.name: param.value})


def _load_code(param: Parameter, path: str | os.PathLike[str]) -> None:
    from trace_core.module import read_state  # module.py imports this module

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
    sandbox: bool = False,
    timeout: float | None = None,
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
        sandbox: run in a subprocess (killed after ``timeout`` seconds).
        timeout: time limit in seconds.

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
                   sandbox=sandbox, timeout=timeout)

    def make(f: Any) -> Any:
        if isinstance(f, (staticmethod, classmethod)):  # @bundle above @staticmethod / @classmethod
            return type(f)(BundledFunction(f.__func__, **options))
        return BundledFunction(f, **options)

    return make if fn is None else make(fn)
