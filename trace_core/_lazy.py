"""A package whose public names are imported on first use (PEP 562), so importing the
package costs nothing until a name is read.

Example:
    >>> import sys, types
    >>> sys.modules["pkg"] = types.ModuleType("pkg")
    >>> lazy_package("pkg", {"dumps": "json"}, submodules={"js": "json"})
    >>> import pkg
    >>> pkg.dumps([1]), pkg.js.__name__, "dumps" in dir(pkg)
    ('[1]', 'json', True)
    >>> del sys.modules["pkg"]
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Mapping
from typing import Any

__all__ = ["lazy_package"]


def lazy_package(package: str, homes: Mapping[str, str], *, submodules: Mapping[str, str] | None = None) -> None:
    """Make the names of ``package`` lazy: ``homes`` maps a public name to the module that
    defines it, ``submodules`` a name to a module that is the value itself. A name read
    once is kept.

    A public name that is also a submodule's name (``trace_core.node``, the function, in
    ``trace_core/node.py``) stays the public name when the import system records the
    submodule on the package, as it does when an eager ``__init__`` imports the name last.
    """
    submodules = dict(submodules or {})
    shadowed = {name for name, home in homes.items() if home == f"{package}.{name}"}

    class LazyPackage(types.ModuleType):
        def __getattr__(self, name: str) -> Any:
            if name in submodules:
                value = importlib.import_module(submodules[name])
            elif name in homes:
                value = getattr(importlib.import_module(homes[name]), name)
            else:
                raise AttributeError(f"module {package!r} has no attribute {name!r}")
            types.ModuleType.__setattr__(self, name, value)
            return value

        def __setattr__(self, name: str, value: Any) -> None:
            if name in shadowed and isinstance(value, types.ModuleType) and value.__name__ == f"{package}.{name}":
                value = getattr(value, name)
            super().__setattr__(name, value)

        def __dir__(self) -> list[str]:
            return sorted(set(vars(self)) | set(homes) | set(submodules))

    sys.modules[package].__class__ = LazyPackage
