"""Lenient parsing of LLM replies: JSON inside prose or fences, trailing commas, raw line
breaks in strings, Python-style literals, code sent inside a markdown fence, and the
marked format (one ``[[ ## name ## ]]`` block per field, as DSPy's chat adapter writes it).

Nothing is guessed silently: a reply with no usable JSON raises
:class:`~trace_core.llm.UnparseableReply` whose message says what was wrong in words fit
to send back to the model (see :func:`optimizers._reply.ask_with_repair`).
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ValidationError

from trace_core.llm.errors import UnparseableReply
from trace_core.llm.redact import clean

__all__ = ["parse_json", "parse_reply", "parse_marked", "marker", "unfenced", "code_of"]

_FENCE = re.compile(r"```[\w-]*[ \t]*\n?(.*?)```", re.S)
_MAX_STARTS = 64  # '{' positions tried when looking for an object inside prose


def _tail(text: str, n: int = 60) -> str:
    return json.dumps(text[-n:])


def _outside_strings(text: str, quotes: str = '"') -> list[tuple[int, int, bool]]:
    """``text`` as spans ``(start, end, is_string)``; strings open with any of ``quotes``."""
    spans, i, start, n = [], 0, 0, len(text)
    while i < n:
        if text[i] in quotes:
            quote, j = text[i], i + 1
            while j < n and text[j] != quote:
                j += 2 if text[j] == "\\" else 1
            spans += [(start, i, False), (i, min(j + 1, n), True)]
            i = start = min(j + 1, n)
        else:
            i += 1
    return [*spans, (start, n, False)]


_TRAILING_COMMA = re.compile(r",(\s*[}\]])")
_PY_LITERALS = {"true": "True", "false": "False", "null": "None"}


def _relaxed(text: str, python: bool = False) -> str:
    """``text`` without trailing commas (and, for ``python``, with JSON's true/false/null as Python's)."""
    out = []
    for start, end, is_string in _outside_strings(text, "\"'" if python else '"'):
        piece = text[start:end]
        if not is_string:
            piece = _TRAILING_COMMA.sub(r"\1", piece)
            if python:
                piece = re.sub(r"\b(true|false|null)\b", lambda m: _PY_LITERALS[m.group(1)], piece)
        out.append(piece)
    return "".join(out)


def _top_level_starts(text: str) -> list[int]:
    """Positions of ``{`` that open an object outside any other object or string (prose around is ignored)."""
    starts, depth, i, n = [], 0, 0, len(text)
    while i < n and len(starts) < _MAX_STARTS:
        c = text[i]
        if depth and c == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        elif c == "{" or (c == "[" and depth):  # at depth 0 only an object opens: prose may hold "[" or "("
            if not depth:
                starts.append(i)
            depth += 1
        elif c in "}]" and depth:
            depth -= 1
        i += 1
    return starts


_DECODER = json.JSONDecoder(strict=False)  # raw line breaks inside strings (code) are common


def _loads(text: str) -> Any:
    """``text`` as JSON, tolerating trailing commas and raw control characters; raises JSONDecodeError."""
    try:
        return _DECODER.decode(text)
    except json.JSONDecodeError:
        return _DECODER.decode(_relaxed(text))


def parse_json(text: str) -> Any:
    """The JSON value in a reply: the whole text, a fenced block, or the first object
    inside prose. Trailing commas, raw line breaks inside strings and Python-style
    literals (single quotes, ``True``) are accepted.

    Raises:
        UnparseableReply: no JSON found; the message says why (cut off, no object,
            the syntax error) in words fit to send back to the model.

    Example:
        >>> parse_json('Sure! ```json\\n{"a": 1,}\\n``` Hope it helps.')
        {'a': 1}
    """
    return clean(_find_json(text))  # a JSON escape such as \\ud800 decodes to a lone surrogate


def _find_json(text: str) -> Any:
    if not isinstance(text, str):
        raise UnparseableReply(f"the reply is not text but {type(text).__name__}", raw=repr(text))
    stripped = text.strip()
    if not stripped:
        raise UnparseableReply("the reply was empty; answer with one JSON object", raw=text)
    for candidate in [stripped, *(block.strip() for block in _FENCE.findall(text))]:
        try:
            return _loads(candidate)
        except json.JSONDecodeError:
            pass
    first_error: tuple[str, int] | None = None  # the message and its offset in the reply as sent
    for start in _top_level_starts(text):  # an object inside prose; never one nested in a broken object
        for relaxed, candidate in ((False, text[start:]), (True, _relaxed(text[start:]))):
            try:
                value, _ = _DECODER.raw_decode(candidate)
            except json.JSONDecodeError as e:
                if first_error is None and not relaxed:
                    first_error = (e.msg, start + e.pos)
                continue
            if isinstance(value, dict):
                return value
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end and end - start < 200_000:
        try:
            value = ast.literal_eval(_relaxed(text[start : end + 1], python=True))
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            value = None
        if isinstance(value, dict):
            return value
    if start < 0:
        raise UnparseableReply("the reply holds no JSON object (no '{' found); answer with one JSON object", raw=text)
    if text.count("{") > text.count("}") or text.count("[") > text.count("]"):
        raise UnparseableReply(
            f"the JSON object is incomplete: the reply was cut off before it closed (it ends with {_tail(stripped)}); "
            "send the whole object again, shorter if needed",
            raw=text,
        )
    where = ""
    if first_error:
        msg, pos = first_error
        line = text.count("\n", 0, pos) + 1
        column = pos - text.rfind("\n", 0, pos)
        where = f": {msg} at line {line} column {column}"
    raise UnparseableReply(f"the reply is not valid JSON{where}; send one valid JSON object", raw=text)


def _summarize(error: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}" for e in error.errors()[:8])


def parse_reply(text: str, schema: type[BaseModel]) -> BaseModel:
    """Parse a reply leniently (see :func:`parse_json`) and validate it against ``schema``.

    Raises:
        UnparseableReply: not JSON, or JSON that does not fit; ``raw`` keeps the text.

    Example:
        >>> from pydantic import BaseModel
        >>> class Answer(BaseModel):
        ...     x: int
        >>> parse_reply("Here: {'x': 3}", Answer).x
        3
    """
    data = parse_json(text)
    try:
        return schema.model_validate(data)
    except ValidationError as e:
        raise UnparseableReply(f"the reply does not fit the {schema.__name__} schema: {_summarize(e)}", raw=text) from None


_CODE_FENCE = re.compile(r"\A\s*```[\w+-]*[ \t]*\n(.*?)\n?[ \t]*```\s*\Z", re.S)


def unfenced(value: Any) -> Any:
    """Code sent inside a markdown fence (a common habit of models): the code alone.

    Example:
        >>> unfenced("```python\\ndef f():\\n    return 1\\n```")
        'def f():\\n    return 1\\n'
    """
    match = _CODE_FENCE.match(value) if isinstance(value, str) else None
    return match.group(1) + "\n" if match else value


_INNER_FENCE = re.compile(r"```[\w+-]*[ \t]*\n(.*?)\n?[ \t]*```", re.S)


def code_of(value: str) -> str:
    """The code in ``value``: a whole fence unwrapped; else the first fenced block inside it (a small
    model may write prose or stray markup around the fence); else ``value`` as written.

    Example:
        >>> code_of("here it is: ```python\\ndef f():\\n    return 1\\n```\\nthat fixes it")
        'def f():\\n    return 1\\n'
        >>> code_of("def f():\\n    return 1")
        'def f():\\n    return 1\\n'
    """
    bare = unfenced(value)
    if bare is not value:
        return bare
    match = _INNER_FENCE.search(value)
    if match and match.group(1).strip():
        return match.group(1) + "\n"
    return value.rstrip("\n") + "\n"


def marker(name: str) -> str:
    """The line that opens field ``name`` in the marked format.

    Example:
        >>> marker("x")
        '[[ ## x ## ]]'
    """
    return f"[[ ## {name} ## ]]"


def _marker_pattern(names: tuple[str, ...]) -> re.Pattern[str]:
    known = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    # "[[ ## x ## ]]" anywhere (a small model may write two on one line); "[ ## x ## ]" and "[[ x ]]"
    # for a known name; "## x ##" at the start of a line. An unknown "[[ ## completed ## ]]" at the
    # start of a line ends the field before it (inside a line it is the field's text: a prompt may
    # name its own markers).
    return re.compile(rf"\**\[\[[ \t]*#+[ \t]*({known})[ \t]*#+[ \t]*\]\][ \t*:]*"
                      rf"|^[ \t]*\**\[\[[ \t]*#+[ \t]*([\w.-]+)[ \t]*#+[ \t]*\]\][ \t*:]*"
                      rf"|\**\[\[[ \t]*({known})[ \t]*\]\][ \t*:]*"
                      rf"|^[ \t*]*#{{2,3}}[ \t]*({known})[ \t]*#{{2,3}}[ \t*:]*$"
                      rf"|\**\[[ \t]*#+[ \t]*({known})[ \t]*#+[ \t]*\][ \t*:]*", re.M)


_FENCE_MARK = re.compile(r"```")


def _inside_fences(text: str, after: int) -> list[tuple[int, int]]:
    """The inside of each closed ````` ``` ````` fence that opens at or after ``after`` (a fence
    inside a field: a marker in the code it holds opens nothing)."""
    marks = [m.start() for m in _FENCE_MARK.finditer(text)]
    return [(a, b) for a, b in zip(marks[::2], marks[1::2]) if a >= after]


def parse_marked(text: str, names: Iterable[str]) -> dict[str, str] | None:
    """The fields of a reply in the marked format, as text (None when it holds no marker of ``names``).

    Only ``names`` open a field, so a code comment never does, and a marker inside a
    fenced block that opens within a field is the field's text; text after a marker
    on its line belongs to the field; a field given twice keeps its last non-empty value
    (small models often repeat a marker, empty, after the value they wrote).

    Example:
        >>> parse_marked("[[ ## reasoning ## ]]\\nlower\\n[[ ## x ## ]]\\n3", ["reasoning", "x"])
        {'reasoning': 'lower', 'x': '3'}
        >>> parse_marked("[[ ## x ## ]]\\n3\\n[[ ## x ## ]]\\n", ["x"])
        {'x': '3'}
    """
    if not isinstance(text, str):
        return None
    names = tuple(names)
    matches = list(_marker_pattern(names).finditer(text))
    if not matches:
        return None
    fenced = _inside_fences(text, matches[0].end())
    matches = [m for m in matches if not any(a < m.start() < b for a, b in fenced)]
    known = set(names)
    fields: dict[str, str] = {}
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        body = text[m.end():end]
        name = next(g for g in m.groups() if g)
        if name in known and (body.strip() or not fields.get(name)):
            fields[name] = body.strip()
    return fields or None
