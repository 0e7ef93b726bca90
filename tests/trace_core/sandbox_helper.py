"""A parent process for sandbox tests that may kill or orphan their parent:
``python -m tests.trace_core.sandbox_helper kill_parent|orphan LEVEL [TOKEN]``."""

from __future__ import annotations

import os
import signal
import sys
import threading

from trace_core._sandbox import Limits, Sandbox, SandboxError


def kill_parent(parent: int) -> str:
    for pid in (os.getppid(), parent):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    return "tried"


def spin() -> None:
    while True:
        pass


def main() -> None:
    row, level = sys.argv[1], sys.argv[2]
    if row == "kill_parent":
        try:
            Sandbox(level, limits=Limits(timeout=20)).run(kill_parent, os.getpid())
        except SandboxError:
            pass
        print("parent alive")
    elif row == "orphan":  # the sandboxed loop runs; this process is killed under it
        threading.Timer(3.0, os.kill, (os.getpid(), signal.SIGKILL)).start()
        Sandbox(level, limits=Limits(timeout=60), env={"ORPHAN_TOKEN": sys.argv[3]}).run(spin)


if __name__ == "__main__":
    main()
