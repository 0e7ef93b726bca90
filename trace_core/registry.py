"""Names -> ``"module:attr"`` targets, imported only when used, plus those third-party
packages declare in an entry point group (read with :mod:`importlib.metadata`, whose
entry points are names and strings too: listing the names imports nothing).

Optimizers (``tracetune.optimizers``), tasks (``tracetune.tasks``) and executors
(``tracetune.executors``) each keep one :class:`Registry`. A package adds its own in
its ``pyproject.toml``::

    [project.entry-points."tracetune.optimizers"]
    hill = "my_package.hill:HillClimb"

Example:
    >>> shapes = Registry("shape", "example.shapes", {"path": "pathlib:PurePosixPath"})
    >>> shapes.names(), shapes.load("path").__name__
    (['path'], 'PurePosixPath')
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping
from typing import Any

from trace_core.errors import ConfigError

__all__ = ["Registry", "load_target"]

log = logging.getLogger(__name__)


def load_target(target: str) -> Any:
    """Import ``"module:attr"`` (attr may be dotted).

    Example:
        >>> load_target("json:dumps")([1])
        '[1]'
    """
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"{target!r} is not of the form 'module:attribute'")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as e:
        raise ConfigError(f"cannot import {module_name!r} for {target!r}: {e}") from None
    except SystemExit as e:  # a script's top level (`sys.exit(main())`) must not end tracetune in silence
        raise ConfigError(_exited(module_name, e)) from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ConfigError(f"{module_name!r} has no attribute {attr!r}") from None
    return obj


class Registry:
    """One kind of plugin by name: the built-in ones, those :meth:`register` adds, and the
    entry points of ``group`` (read once, on the first lookup of a name not known otherwise).
    A name given here wins over an entry point of the same name."""

    def __init__(self, kind: str, group: str, builtins: Mapping[str, str]):
        self.kind, self.group = kind, group
        self.targets = dict(builtins)  # name -> "module:attr", the built-in and registered ones
        self._builtins = tuple(builtins)
        self._entry_points: dict[str, Any] | None = None

    def register(self, name: str, target: str) -> None:
        """Register ``name`` -> ``"package.module:attr"`` (nothing is imported now)."""
        if not name or ":" not in target:
            raise ConfigError(f"{self.kind} target {target!r} must look like 'package.module:Name'")
        self.targets[name] = target

    def builtin_targets(self) -> dict[str, str]:
        """The targets shipped with tracetune, by name."""
        return {n: self.targets[n] for n in self._builtins if n in self.targets}

    def refresh(self) -> None:
        """Read the installed entry points again on the next lookup (after installing a package)."""
        self._entry_points = None

    def plugins(self) -> dict[str, Any]:
        """The entry points of :attr:`group` by name (``importlib.metadata.EntryPoint``)."""
        if self._entry_points is None:
            from importlib import metadata

            found: dict[str, Any] = {}
            for ep in metadata.entry_points(group=self.group):
                if ep.name in self.targets:
                    log.warning("%s %r from %s is ignored: tracetune already has a %s of that name",
                                self.kind, ep.name, _where(ep), self.kind)
                else:
                    found.setdefault(ep.name, ep)
            self._entry_points = found
        return self._entry_points

    def names(self) -> list[str]:
        return sorted(set(self.targets) | set(self.plugins()))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self.targets or name in self.plugins())

    def target(self, name: str) -> str:
        """The ``"module:attr"`` registered as ``name``."""
        if name in self.targets:
            return self.targets[name]
        ep = self.plugins().get(name)
        if ep is None:
            raise ConfigError(f"unknown {self.kind} {name!r}; registered {self.kind}s: {', '.join(self.names())}")
        return str(ep.value)

    def load(self, name: str) -> Any:
        """Import what ``name`` names. An entry point that cannot be loaded is a
        :class:`ConfigError` that names it and its distribution."""
        if name in self.targets:
            return load_target(self.targets[name])
        ep = self.plugins().get(name)
        if ep is None:
            raise ConfigError(f"unknown {self.kind} {name!r}; registered {self.kind}s: {', '.join(self.names())}")
        try:
            return ep.load()
        except (Exception, SystemExit) as e:  # noqa: BLE001 - third-party code failing on import: said, not a traceback
            why = _exited(ep.module, e) if isinstance(e, SystemExit) else f"{type(e).__name__}: {e}"
            raise ConfigError(f"the {self.kind} {name!r} ({_where(ep)}) cannot be loaded: {why}; "
                              "fix or uninstall that package") from None

    def build(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """``load(name)(*args, **kwargs)``. What is not a class or function, or raises while it
        is built, is a :class:`ConfigError` that names it (its own ConfigError passes as it is)."""
        target = self.load(name)
        where = f"{self.kind} {name!r} ({self.target(name)})"
        if not callable(target):
            raise ConfigError(f"the {where} is not a class or function (its type is {type(target).__name__})")
        try:
            return target(*args, **kwargs)
        except ConfigError:
            raise
        except Exception as e:  # noqa: BLE001 - plugin code failing as it is built: said, not a traceback
            raise ConfigError(f"the {where} could not be built: {type(e).__name__}: {e}") from e


def _exited(module: str, error: SystemExit) -> str:
    return (f"importing {module!r} called sys.exit({error.code!r}); a module's top level must not run a "
            "script: put that code under `if __name__ == \"__main__\":`")


def _where(ep: Any) -> str:
    """``entry point 'hill = pkg.hill:HillClimb' of distribution 'pkg' (group ...)``."""
    dist = getattr(ep, "dist", None)
    owner = f" of distribution {dist.name!r}" if dist is not None and getattr(dist, "name", None) else ""
    return f"entry point '{ep.name} = {ep.value}'{owner} in group {ep.group!r}"
