"""Spaces: what may be proposed for a parameter and how a proposal is checked.

``space.validate(value)`` returns the clean, coerced value or raises
:class:`~trace_core.errors.InvalidProposal` with a message fit to show an LLM:
what was wrong and what is allowed. No ``type(old)(new)`` casts.
"""

from __future__ import annotations

import ast
import enum
import json
import math
import numbers
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from trace_core.errors import InvalidProposal

__all__ = ["Space", "Text", "Code", "Float", "Int", "Choice", "Json", "Any_"]


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Space:
    """Base of all spaces. Subclasses implement ``validate`` and ``describe``."""

    kind = "any"

    def validate(self, value: Any) -> Any:
        return value

    def describe(self) -> str:
        """A short text for an LLM: what values are allowed."""
        return "any value"

    def schema(self) -> dict[str, Any]:
        """A JSON schema for a proposed value (used for structured replies)."""
        return {}

    def to_json(self, value: Any) -> Any:
        """The value as plain JSON data (for state dicts and stores)."""
        return value

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.describe()})"


class Any_(Space):
    """No constraint (the default space of a Parameter without one)."""


class Text(Space):
    """Free text, optionally at most ``max_chars`` long.

    Example:
        >>> Text(max_chars=5).validate("hello")
        'hello'
    """

    kind = "text"

    def __init__(self, max_chars: int | None = None):
        self.max_chars = max_chars

    def validate(self, value: Any) -> str:
        if not isinstance(value, str):
            raise InvalidProposal(f"expected text (a JSON string), got {type(value).__name__} {_short(value)}")
        if self.max_chars is not None and len(value) > self.max_chars:
            raise InvalidProposal(
                f"text is {len(value)} characters long; at most {self.max_chars} are allowed — shorten it"
            )
        return value

    def describe(self) -> str:
        return "text" if self.max_chars is None else f"text, at most {self.max_chars} characters"

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "string"}
        if self.max_chars is not None:
            out["maxLength"] = self.max_chars
        return out


def _compiled(source: str) -> ast.Module:
    """The syntax tree of ``source`` after checking that it compiles; any failure is an InvalidProposal."""
    step = "parse"
    try:
        tree = ast.parse(source)
        step = "compile"
        compile(tree, "<proposal>", "exec", dont_inherit=True)
    except SyntaxError as e:
        where = f" at line {e.lineno}: {(e.text or '').strip()[:200]!r}" if e.lineno else ""
        raise InvalidProposal(f"the code does not {step}: {e.msg}{where}; send valid Python") from None
    except (RecursionError, MemoryError):
        raise InvalidProposal("the code is nested too deeply or is too large to compile; write it with "
                              "loops, smaller expressions or helper functions") from None
    except (ValueError, UnicodeError) as e:  # null bytes, lone surrogates
        raise InvalidProposal(f"the code cannot be read as Python source ({type(e).__name__}: {e}); send plain "
                              "UTF-8 text without null bytes") from None
    return tree


class Code(Space):
    """Python source. It must parse; with ``name``/``args`` set, it must define that
    function with that signature (a trainable bundle sets them).

    Example:
        >>> Code(name="f", args=["x"]).validate("def f(x):\\n    return x")
        'def f(x):\\n    return x'
    """

    kind = "code"

    def __init__(self, name: str | None = None, args: Sequence[str] | None = None):
        self.name = name
        self.args = list(args) if args is not None else None

    def validate(self, value: Any) -> str:
        """The source, checked without running any of it: it parses, compiles and (with
        ``name``/``args``) keeps the function's name and signature."""
        if not isinstance(value, str):
            raise InvalidProposal(f"expected Python source as a string, got {type(value).__name__}")
        tree = _compiled(value)
        if self.name is None:
            return value
        funcs = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        match = [f for f in funcs if f.name == self.name]
        if not match:
            raise InvalidProposal(
                f"the code must define a top-level function named {self.name!r} "
                f"(found {[f.name for f in funcs] or 'none'}); keep the name and signature"
            )
        if self.args is not None:
            fa = match[0].args
            got = [a.arg for a in fa.posonlyargs + fa.args]
            if fa.vararg:
                got.append("*" + fa.vararg.arg)
            got += [a.arg for a in fa.kwonlyargs]
            if fa.kwarg:
                got.append("**" + fa.kwarg.arg)
            if got != self.args:
                raise InvalidProposal(
                    f"the signature of {self.name!r} changed: expected ({', '.join(self.args)}), "
                    f"got ({', '.join(got)}); keep the signature"
                )
        return value

    def describe(self) -> str:
        if self.name is None:
            return "Python code"
        sig = "" if self.args is None else f"({', '.join(self.args)})"
        return f"Python code: keep the signature def {self.name}{sig}"

    def schema(self) -> dict[str, Any]:
        return {"type": "string"}


def _as_number(value: Any) -> float:
    if isinstance(value, bool):
        raise InvalidProposal(f"expected a number, got the boolean {value}")
    if isinstance(value, numbers.Real):  # int, float and numpy scalars
        try:
            return float(value)
        except OverflowError:  # an int past 1e308
            raise InvalidProposal(f"{_short(value)} is too large to be a number here") from None
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            pass
    raise InvalidProposal(f"expected a number, got {type(value).__name__} {_short(value)}")


class Float(Space):
    """A real number in ``[lo, hi]``; ``log=True`` means it is searched on a log scale.

    Example:
        >>> Float(1e-5, 1.0, log=True).validate("1e-3")
        0.001
    """

    kind = "float"

    def __init__(self, lo: float, hi: float, log: bool = False):
        if not lo <= hi:
            raise ValueError(f"Float space needs lo <= hi, got {lo}, {hi}")
        if log and lo <= 0:
            raise ValueError(f"a log-scale Float needs lo > 0, got {lo}")
        self.lo, self.hi, self.log = float(lo), float(hi), log

    def validate(self, value: Any) -> float:
        x = _as_number(value)
        if math.isnan(x) or math.isinf(x):
            raise InvalidProposal(f"{_short(value)} is not a finite number; {self.describe()}")
        if not self.lo <= x <= self.hi:
            raise InvalidProposal(f"{x:g} is out of range; {self.describe()}")
        return x

    def describe(self) -> str:
        return f"a number between {self.lo:g} and {self.hi:g}" + (" (log scale)" if self.log else "")

    def schema(self) -> dict[str, Any]:
        return {"type": "number", "minimum": self.lo, "maximum": self.hi}


class Int(Space):
    """An integer in ``[lo, hi]``.

    Example:
        >>> Int(1, 10).validate("3")
        3
    """

    kind = "int"

    def __init__(self, lo: int, hi: int, log: bool = False):
        if not lo <= hi:
            raise ValueError(f"Int space needs lo <= hi, got {lo}, {hi}")
        if lo != int(lo) or hi != int(hi):
            raise ValueError(f"Int space needs whole-number bounds, got {lo}, {hi}")
        if log and lo < 1:
            raise ValueError(f"a log-scale Int needs lo >= 1, got {lo}")
        self.lo, self.hi, self.log = int(lo), int(hi), log

    def validate(self, value: Any) -> int:
        if isinstance(value, str):  # "12" exactly, even past 2**53; "1e3" and "3.0" below
            try:
                value = int(value.strip())
            except ValueError:
                pass
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):  # exact, even past 2**53
            if not self.lo <= int(value) <= self.hi:
                raise InvalidProposal(f"{int(value)} is out of range; {self.describe()}")
            return int(value)
        x = _as_number(value)
        if math.isnan(x) or math.isinf(x) or x != int(x):
            raise InvalidProposal(f"{_short(value)} is not a whole number; {self.describe()}")
        if not self.lo <= x <= self.hi:
            raise InvalidProposal(f"{int(x)} is out of range; {self.describe()}")
        return int(x)

    def describe(self) -> str:
        return f"an integer between {self.lo} and {self.hi}" + (" (log scale)" if self.log else "")

    def schema(self) -> dict[str, Any]:
        return {"type": "integer", "minimum": self.lo, "maximum": self.hi}


_MISSING = object()
_TRUE = {"true", "yes", "1"}
_FALSE = {"false", "no", "0"}


def _plain(option: Any) -> Any:
    """An option as JSON data: an Enum member by its value, a tuple as a list."""
    if isinstance(option, enum.Enum):
        return _plain(option.value)
    if isinstance(option, tuple):
        return [_plain(o) for o in option]
    return option


class Choice(Space):
    """One of a fixed list of options (strings, numbers, booleans, None, tuples or Enum
    members). A value given as JSON text (``"false"``, ``'"adam"'``, ``"[1, 2]"``,
    ``"null"``) or an Enum member's value is matched to its option.

    Example:
        >>> Choice([True, False]).validate("False")
        False
    """

    kind = "choice"

    def __init__(self, options: Sequence[Any]):
        self.options = list(options)
        if not self.options:
            raise ValueError("Choice needs at least one option")

    def validate(self, value: Any) -> Any:
        found = self._exact(value)
        if found is not _MISSING:
            return found
        if isinstance(value, str):
            try:
                parsed = json.loads(value)
            except ValueError:
                parsed = _MISSING
            if parsed is not _MISSING and not isinstance(parsed, str):
                found = self._exact(parsed)
                if found is not _MISSING:
                    return found
            elif isinstance(parsed, str):  # a quoted string
                value = parsed
        for opt in self.options:
            if isinstance(opt, bool):
                if isinstance(value, str) and value.strip().lower() in (_TRUE if opt else _FALSE):
                    return opt
            elif isinstance(opt, enum.Enum):
                if _plain(opt) == _plain(value) or (isinstance(value, str) and value.strip() == opt.name):
                    return opt
            elif isinstance(opt, (int, float)) and not isinstance(value, bool):
                try:
                    if _as_number(value) == opt:
                        return opt
                except InvalidProposal:
                    pass
            elif isinstance(opt, str) and isinstance(value, str) and value.strip().lower() == opt.lower():
                return opt
            elif opt is None and isinstance(value, str) and value.strip().lower() in ("none", "null"):
                return opt
        raise InvalidProposal(f"{_short(value)} is not allowed; {self.describe()}")

    def _exact(self, value: Any) -> Any:
        """The option equal to ``value`` with the same type (a list matches a tuple), or _MISSING."""
        for opt in self.options:
            if type(opt) is type(value) and opt == value:
                return opt
        if isinstance(value, (list, tuple)):
            for opt in self.options:
                if isinstance(opt, tuple) and _plain(opt) == _plain(value):
                    return opt
        return _MISSING

    def describe(self) -> str:
        return "one of " + ", ".join(json.dumps(_plain(o), default=repr) for o in self.options)

    def schema(self) -> dict[str, Any]:
        return {"enum": [_plain(o) for o in self.options]}

    def to_json(self, value: Any) -> Any:
        return _plain(value)


class Json(Space):
    """A structured value described by a pydantic model; accepts a model instance, a
    dict or a JSON string.

    Example:
        >>> from pydantic import BaseModel
        >>> class Arch(BaseModel):
        ...     width: int = 8
        >>> Json(Arch).validate('{"width": 16}').width
        16
    """

    kind = "json"

    def __init__(self, model: type[BaseModel]):
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise TypeError(f"Json needs a pydantic model class (a BaseModel subclass), not {model!r}")
        self.model = model

    def validate(self, value: Any) -> BaseModel:
        if isinstance(value, self.model):
            value = value.model_dump()
        try:
            if isinstance(value, (str, bytes)):
                return self.model.model_validate_json(value)
            return self.model.model_validate(value)
        except ValidationError as e:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'value'}: {err['msg']}" for err in e.errors()[:10]
            )
            raise InvalidProposal(
                f"the value does not fit the {self.model.__name__} schema: {problems}. "
                f"Allowed: {json.dumps(self.schema(), sort_keys=True)[:1500]}"
            ) from None

    def describe(self) -> str:
        return f"JSON object of schema {self.model.__name__}: {json.dumps(self.schema(), sort_keys=True)}"

    def schema(self) -> dict[str, Any]:
        return self.model.model_json_schema()

    def to_json(self, value: Any) -> Any:
        return value.model_dump(mode="json") if isinstance(value, BaseModel) else value
