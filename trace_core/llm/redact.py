"""Keep API keys out of logs and error messages, and text that cannot be written out of files.

Every text written for people or to disk (logs, reports, exports, ``show`` output) goes
through :func:`redact_text` or :func:`redact`: known secrets and key-shaped strings are
replaced by ``[REDACTED]`` and lone surrogates (``"\\ud800"``, which no UTF-8 file can
hold) by ``U+FFFD``. :func:`clean_text` and :func:`clean` do only the second part, for
text that must keep its meaning (a reply parsed into parameter values).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import Any

__all__ = ["REDACTED", "redact", "redact_text", "known_secrets", "clean_text", "clean"]

REDACTED = "[REDACTED]"

_SECRET_FIELDS = {"api_key", "apikey", "api-key", "x-api-key", "authorization", "proxy-authorization",
                  "password", "secret", "access_token", "client_secret", "aws_secret_access_key"}
_SECRET_ENV = re.compile(r"(API_KEY|_KEY|_TOKEN|_SECRET|PASSWORD)$")
_PATTERNS = [
    re.compile(r"\b(?:sk|pk|rk)-[A-Za-z0-9_\-]{8,}"),            # OpenAI / Anthropic style keys
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/\-]+=*"),        # Authorization: Bearer ...
    re.compile(r"(?i)(api[_-]?key[\"']?\s*[:=]\s*[\"']?)[^\s\"',}&]+"),  # api_key=..., "api-key": "..."
]
_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """``text`` with lone surrogates replaced by ``U+FFFD`` (pairs become the character they encode).

    Example:
        >>> clean_text("a\\ud800b")
        'a\ufffdb'
    """
    if not _SURROGATE.search(text):
        return text
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def clean(value: Any) -> Any:
    """A JSON-like value with :func:`clean_text` applied to every string in it (keys too)."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(clean(v) for v in value)
    return value


def known_secrets(extra: Iterable[str | None] = ()) -> list[str]:
    """Values of key-like environment variables plus ``extra`` (longest first, 8+ characters)."""
    found = {os.environ.get(k, "") for k in list(os.environ) if _SECRET_ENV.search(k.upper())}
    found = {v for v in found if len(v) >= 8}
    found.update(s for s in extra if s and len(s) >= 8)
    return sorted(found, key=len, reverse=True)


def redact_text(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with known secrets and key-shaped strings replaced by ``[REDACTED]`` and
    lone surrogates by ``U+FFFD``: fit to write to a log, a report or a terminal.

    Example:
        >>> redact_text("Authorization: Bearer abc.def and sk-1234567890abcdef")
        'Authorization: [REDACTED] and [REDACTED]'
    """
    return _scrub(text, known_secrets(secrets))


def _scrub(text: str, secrets: list[str]) -> str:
    text = clean_text(text)
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + REDACTED, text)
    return text


def redact(value: Any, secrets: Iterable[str | None] = ()) -> Any:
    """A copy of a JSON-like value with secret fields and secret strings redacted."""
    found = known_secrets(secrets)

    def walk(v: Any) -> Any:
        if isinstance(v, str):
            return _scrub(v, found) if v else v
        if isinstance(v, dict):
            return {walk(k): REDACTED if str(k).lower() in _SECRET_FIELDS and v_ else walk(v_)
                    for k, v_ in v.items()}
        if isinstance(v, (list, tuple)):
            return [walk(x) for x in v]
        return v

    return walk(value)
