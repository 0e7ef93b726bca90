"""What every ``tracetune`` command prints through: the consoles, plain lines, the exit codes.

rich is imported when a console is made, so ``tracetune --help`` does not pay for it.
"""

from __future__ import annotations

import sys
from enum import IntEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["Exit", "say", "stderr_console", "stdout_console"]


class Exit(IntEnum):
    """The exit codes of ``tracetune``."""

    DONE = 0
    FAILED = 1
    INVALID = 2
    TARGET_MISSED = 3
    REGRESSION = 4
    INTERRUPTED = 130


def say(console: Console, text: str) -> None:
    """Print plain text (no markup, no highlighting, no wrapping at the console width)."""
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def stderr_console() -> Console:
    from rich.console import Console

    return Console(file=sys.stderr, markup=False)


def stdout_console() -> Console:
    """The console for results: tables are not cut to 80 columns when piped to a file or a log.

    Neither console reads rich markup: what they print (parameter values, metric and job
    names) is the user's or an LLM's text, where ``[/INST]`` is text, not a closing tag."""
    from rich.console import Console

    console = Console(markup=False)
    return console if console.is_terminal else Console(width=240, markup=False)
