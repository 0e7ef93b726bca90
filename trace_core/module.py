"""Module: a base for user workflows that collects their parameters."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any

from trace_core._state_file import read_state, write_state
from trace_core.bundle import BundledFunction
from trace_core.errors import ConfigError, InvalidProposal
from trace_core.node import Parameter

__all__ = ["Module", "unique_names"]


def unique_names(params: list[Parameter]) -> dict[str, Parameter]:
    """Parameters by name; two parameters with one name is a :class:`ConfigError`."""
    out: dict[str, Parameter] = {}
    for p in params:
        if p.name in out and out[p.name] is not p:
            raise ConfigError(
                f"two parameters are named {p.name!r}; give each parameter a unique name= "
                "(names are the keys of suggestions and state dicts)"
            )
        out[p.name] = p
    return out


def _number_method_code(params: list[Parameter]) -> None:
    """Two instances of one class each have the code of a trainable method, both named
    ``Class.method``: number the later ones (``Class.method[2]`` …) in the module's
    deterministic order, so every parameter keeps a unique, stable name."""
    from trace_core.bundle import _BundleCode

    taken = {p.name for p in params if not isinstance(p.space, _BundleCode)}
    for p in params:
        if not isinstance(p.space, _BundleCode):
            continue
        base, k = p.name.split("[")[0], 1
        name = p.name
        while name in taken:
            k += 1
            name = f"{base}[{k}]"
        p.name = name
        taken.add(name)


class Module:
    """Base class for workflows: finds Parameters and trainable bundles in attributes,
    lists, tuples and dicts (keys and values), recursively through nested Modules.

    Example:
        >>> from trace_core.spaces import Float
        >>> class Scale(Module):
        ...     def __init__(self):
        ...         self.k = Parameter(1.0, name="k", space=Float(0, 10))
        >>> m = Scale(); m.load_state_dict({"k": 2.5}); m.state_dict()
        {'k': 2.5}
    """

    def parameters(self) -> list[Parameter]:
        """All parameters, each once, in a deterministic order."""
        found: list[Parameter] = []
        seen: set[int] = set()
        self._collect(self, found, seen, set())
        _number_method_code(found)
        return found

    @staticmethod
    def _collect(obj: Any, found: list[Parameter], seen: set[int], visiting: set[int]) -> None:
        if id(obj) in visiting:
            return
        if isinstance(obj, Parameter):
            if id(obj) not in seen:
                seen.add(id(obj))
                found.append(obj)
            return
        if isinstance(obj, BundledFunction):
            if obj.trainable:
                Module._collect(obj.parameter, found, seen, visiting)
            return
        visiting.add(id(obj))
        if isinstance(obj, Module):
            for cls in type(obj).__mro__:
                for attr in vars(cls).values():
                    if isinstance(attr, (staticmethod, classmethod)):
                        attr = attr.__func__
                    if isinstance(attr, BundledFunction) and attr.trainable:
                        code = attr.parameter_for(obj) if attr._is_method else attr.parameter
                        Module._collect(code, found, seen, visiting)
            for value in vars(obj).values():
                Module._collect(value, found, seen, visiting)
        elif isinstance(obj, (list, tuple)):
            for value in obj:
                Module._collect(value, found, seen, visiting)
        elif isinstance(obj, dict):  # a parameter may be a key too (as in Trace)
            for key, value in obj.items():
                Module._collect(key, found, seen, visiting)
                Module._collect(value, found, seen, visiting)
        visiting.discard(id(obj))

    def named_parameters(self) -> dict[str, Parameter]:
        return unique_names(self.parameters())

    def state_dict(self) -> dict[str, Any]:
        """Parameter name -> value as JSON data."""
        return {n: p.space.to_json(p.value) for n, p in self.named_parameters().items()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Assign every value; on any unknown, missing or invalid entry nothing changes."""
        params = self.named_parameters()
        unknown = sorted(set(state) - set(params))
        missing = sorted(set(params) - set(state))
        if unknown or missing:
            raise ConfigError(
                f"state does not match the module: unknown {unknown or 'none'}, missing {missing or 'none'}; "
                f"expected exactly {sorted(params)}"
            )
        clean: dict[str, Any] = {}
        problems = []
        for name, p in params.items():
            try:
                clean[name] = p.space.validate(state[name])
            except InvalidProposal as e:
                problems.append(f"{name}: {e}")
        if problems:
            raise ConfigError("state rejected, nothing changed: " + "; ".join(problems))
        for name, value in clean.items():
            params[name].write(value)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the state dict as JSON (atomically)."""
        write_state(path, self.state_dict())

    def load(self, path: str | os.PathLike[str]) -> None:
        """Read a state dict written by :meth:`save`."""
        self.load_state_dict(read_state(path))

    def __iter__(self) -> Iterator[Parameter]:
        return iter(self.parameters())
