"""Values and feedback as short, deterministic text for a prompt.

Long values are cut in the middle with a marker that says how much was cut;
object addresses are removed and dict/set items sorted, so the same value reads
the same in every process.
"""

from __future__ import annotations

import functools
import json
import re
import reprlib
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from trace_core.feedback import Feedback
from trace_core.node import Parameter

__all__ = ["cut", "format_value", "format_json", "format_feedback", "format_parameters", "estimate_tokens"]

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_BIG = 10**9


# Pieces that BPE tokenizers rarely merge: words, 1-3 digits, punctuation runs, any
# non-ASCII character, whitespace runs; long words count once more per 8 letters.
_PIECE = re.compile(r" ?[A-Za-z]+| ?\d{1,3}| ?[!-/:-@\[-`{-~]+|[^\x00-\x7f]|\s+")
_LONG = re.compile(r"[A-Za-z]{8}")


def estimate_tokens(text: str) -> int:
    """A fast token estimate that errs high: pieces a BPE tokenizer rarely merges, plus 10 %.

    Against litellm's counter (gpt-4o and gpt-3.5 tokenizers) it is within about
    -10 % .. +10 % before the margin on prompts, code and prose (see
    ``benchmarks/prompt_bench.py``); random strings (base64) count about twice what
    it says — pass ``count_tokens`` to use an exact counter there.

    Example:
        >>> estimate_tokens("add0 = x + 2.0")
        16
    """
    return int(1.1 * (len(_PIECE.findall(text)) + len(_LONG.findall(text)))) + 8


def cut(text: str, limit: int | None) -> str:
    """``text`` cut to about ``limit`` characters, keeping its head and tail.

    Example:
        >>> cut("abcdefghijklmnopqrstuvwxyz", 9)
        'abcdef…[17 chars cut]…xyz'
    """
    if limit is None or len(text) <= limit:
        return text
    head = max(1, limit * 2 // 3)
    tail = max(0, limit - head)
    end = text[len(text) - tail :] if tail else ""
    return f"{text[:head]}…[{len(text) - head - tail:,} chars cut]…{end}"


@functools.lru_cache(maxsize=16)
def _repr(limit: int | None) -> reprlib.Repr:
    big = limit is None
    r = reprlib.Repr()
    r.maxlevel = 6 if big else 3
    items = _BIG if big else max(4, limit // 12)
    r.maxtuple = r.maxlist = r.maxarray = r.maxdict = r.maxset = r.maxfrozenset = r.maxdeque = items
    r.maxstring = r.maxother = r.maxlong = _BIG if big else max(20, limit)
    return r


def format_value(value: Any, limit: int | None = None) -> str:
    """A value as prompt text, at most about ``limit`` characters (None: whole).

    Strings on one line are JSON-quoted; text with line breaks is shown in a code
    fence (longer than any fence inside it) so code and prompts read naturally.

    Example:
        >>> format_value({"b": 2, "a": [1, 2, 3]})
        "{'a': [1, 2, 3], 'b': 2}"
        >>> format_value("x" * 50, 20)
        '"xxxxxxxxxxxx…[32 chars cut]…xxxxxx"'
    """
    if isinstance(value, str):
        if "\n" in value:
            body = cut(value.strip("\n"), limit)
            fence = "```"
            while fence in body:
                fence += "`"
            return f"{fence}\n{body}\n{fence}"
        return cut(json.dumps(value, ensure_ascii=False), limit)
    if isinstance(value, BaseModel):
        return format_json(value.model_dump(mode="json"), limit)
    elif isinstance(value, BaseException):
        text = f"{type(value).__name__}: {value}"
    else:
        try:
            text = _repr(limit).repr(value)
        except Exception as e:  # noqa: BLE001 - a broken __repr__ must not break the prompt
            text = f"<{type(value).__name__}: repr failed with {type(e).__name__}>"
    return cut(_ADDRESS.sub("", text), limit)


def format_json(value: Any, limit: int | None = None) -> str:
    """JSON data (values as suggestions carry them) as prompt text; text as :func:`format_value`.

    Example:
        >>> format_json({"width": 8, "act": "relu"})
        '{"width": 8, "act": "relu"}'
    """
    if isinstance(value, str):
        return format_value(value, limit)
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=True)
    except (TypeError, ValueError):
        return format_value(value, limit)
    return cut(text, limit)


def _number(x: Any) -> str:
    return f"{x:.6g}" if isinstance(x, float) else str(x)


def format_feedback(feedback: Feedback, limit: int | None = None) -> str:
    """Feedback on one line (or a few): score, failure, metrics, text, details.

    Example:
        >>> format_feedback(Feedback(score=0.5, metrics={"acc": 0.5}, text="half right"))
        'score=0.5; acc=0.5; half right'
    """
    parts = []
    if feedback.score is not None:
        parts.append(f"score={_number(feedback.score)}")
    if feedback.failed:
        parts.append("FAILED")
    if feedback.metrics:
        parts.append(", ".join(f"{k}={_number(v)}" for k, v in feedback.metrics.items()))
    if feedback.text:
        parts.append(feedback.text)
    details = {k: v for k, v in feedback.details.items() if k != "failed"}
    if details:
        parts.append("details: " + json.dumps(details, sort_keys=True, default=str, ensure_ascii=False))
    return cut("; ".join(parts) or "(no feedback)", limit)


def format_parameters(parameters: Sequence[Parameter]) -> str:
    """One entry per parameter: name, allowed values, description and the whole value.

    Example:
        >>> from trace_core.spaces import Int
        >>> format_parameters([Parameter(3, name="k", space=Int(1, 9), description="neighbours")])
        'k (an integer between 1 and 9; neighbours) = 3'
    """
    out = []
    for p in parameters:
        about = p.space.describe() + (f"; {p.description}" if p.description else "")
        out.append(f"{p.name} ({about}) = {format_value(p.value)}")
    return "\n".join(out)
