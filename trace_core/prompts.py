"""Prompt templates as files: find one by name in ``prompts/`` and render it strictly.

Templates use ``string.Template`` syntax (``$name`` / ``${name}``); a missing
variable is an error. They are found, in order, under ``$TRACETUNE_PROMPTS_DIR``,
the checkout's ``prompts/`` folder, and the copy shipped inside the wheel.
"""

from __future__ import annotations

import functools
import os
import string
from importlib import resources
from pathlib import Path
from typing import Any

from trace_core.errors import ConfigError

__all__ = ["load", "render", "search_path", "names"]

_SUFFIXES = (".md", ".txt", "")


def search_path() -> list[Path]:
    """Where templates are looked for, in order."""
    return list(_search_path(os.environ.get("TRACETUNE_PROMPTS_DIR") or ""))


@functools.lru_cache(maxsize=8)
def _search_path(override: str) -> tuple[Path, ...]:
    paths = []
    if override:
        paths.append(Path(override))
    checkout = Path(__file__).resolve().parent.parent / "prompts"
    if checkout.is_dir():
        paths.append(checkout)
    try:
        shipped = resources.files("trace_core") / "_prompts"
        if shipped.is_dir():
            paths.append(Path(str(shipped)))
    except (ModuleNotFoundError, TypeError):
        pass
    return tuple(paths)


@functools.lru_cache(maxsize=256)
def _read(name: str, roots: tuple[Path, ...]) -> str:
    if ".." in Path(name).parts or Path(name).is_absolute():
        raise ConfigError(f"template name {name!r} must be relative to prompts/ and may not contain '..'")
    for root in roots:
        for suffix in _SUFFIXES:
            path = root / f"{name}{suffix}"
            if path.is_file():
                return path.read_text(encoding="utf-8")
    raise ConfigError(f"no prompt template named {name!r} under {[str(r) for r in roots]}")


def load(name: str) -> string.Template:
    """The template named ``name`` (e.g. ``"optoprime/system"``)."""
    return _template(name, _search_path(os.environ.get("TRACETUNE_PROMPTS_DIR") or ""))


@functools.lru_cache(maxsize=256)
def _template(name: str, roots: tuple[Path, ...]) -> string.Template:
    return string.Template(_read(name, roots))


def render(name: str, /, **variables: Any) -> str:
    """Render a template; a missing variable raises :class:`ConfigError` naming it."""
    template = load(name)
    try:
        return template.substitute(variables)
    except KeyError as e:
        raise ConfigError(f"prompt template {name!r} needs the variable {e.args[0]!r}; pass it to render()") from None
    except ValueError as e:
        raise ConfigError(f"prompt template {name!r} is malformed: {e}") from None


def names() -> list[str]:
    """All template names found."""
    out = set()
    for root in search_path():
        for path in root.rglob("*"):
            if path.is_file() and path.suffix in (".md", ".txt"):
                out.add(str(path.relative_to(root).with_suffix("")))
    return sorted(out)
