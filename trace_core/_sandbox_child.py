"""The child side of the sandbox, run as a script by ``trace_core._sandbox`` (not imported).

Before anything proposed runs, the child sets its resource limits and its
parent-death signal (from a JSON header line), moves its stdout aside (the
result channel) so that prints go to stderr, then reads the request (a function and
its arguments, pickled by the trusted parent; loading it imports their modules under
the limits), drops its privileges, sets its CPU-time limit, writes ``R`` (ready: the
timeout starts), calls the function and writes one JSON object:
``{"ok": true, "value": ...}`` or ``{"ok": false, "verdict": ..., "type": ..., "message": ...}``.
"""

from __future__ import annotations

import ctypes
import json
import math
import os
import pickle
import resource
import signal
import sys
import traceback
from typing import Any

_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int | None) -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    if parent is not None and os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _drop_privileges(uid: int | None) -> None:
    """Become ``uid`` (and its group, no supplementary groups) for good."""
    if uid is None:
        return
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)


def _set_limits(limits: dict[str, Any]) -> None:
    table = {"memory": resource.RLIMIT_AS, "cpu": resource.RLIMIT_CPU, "nproc": resource.RLIMIT_NPROC,
             "fsize": resource.RLIMIT_FSIZE, "nofile": resource.RLIMIT_NOFILE}
    for key, which in table.items():
        value = limits.get(key)
        if value is None:
            continue
        soft, hard = resource.getrlimit(which)
        value = int(value) if hard == resource.RLIM_INFINITY else min(int(value), hard)
        # the hard limit one higher for CPU: SIGXCPU at the soft limit, SIGKILL a second later
        resource.setrlimit(which, (value, value + 1 if key == "cpu" else value))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # no core dumps with the child's memory


def _reply(channel: int, payload: dict[str, Any]) -> None:
    try:
        data = json.dumps(payload, allow_nan=True).encode()
    except (TypeError, ValueError) as e:
        data = json.dumps({"ok": False, "verdict": "failed", "type": "TypeError",
                           "message": f"the code returned a value that is not JSON data ({e}); return plain "
                                      "numbers, strings, lists, dicts, booleans or None"}).encode()
    view = memoryview(data)
    while view:
        view = view[os.write(channel, view):]


def main() -> None:
    header = json.loads(sys.stdin.buffer.readline())
    _die_with_parent(header["parent"])
    _set_limits(header["limits"])
    sys.path[:] = header["path"]
    channel = os.dup(1)  # the result channel; fd 1 now points at stderr so prints stay out of the result
    os.dup2(2, 1)
    try:  # trusted: the parent's pickle; loading it imports the modules of the function and arguments
        fn, args, kwargs = pickle.loads(sys.stdin.buffer.read())
    except BaseException as e:  # noqa: BLE001 - e.g. a module that cannot be imported here
        _reply(channel, {"ok": False, "verdict": "failed", "type": type(e).__name__,
                         "message": f"the sandbox could not load the call: {type(e).__name__}: {e}"})
        os._exit(0)
    # After the imports (the interpreter may live where the unprivileged user cannot read), before
    # any proposed code; a change of user clears the parent-death signal, so it is set again.
    _drop_privileges(header["uid"])
    _die_with_parent(header["parent"])
    if header["cpu"] is not None:  # CPU seconds from now on; loading is not the proposal's time
        used = resource.getrusage(resource.RUSAGE_SELF)
        _set_limits({"cpu": math.ceil(used.ru_utime + used.ru_stime) + int(header["cpu"])})
    os.write(channel, b"R")  # ready: the parent starts the clock of the timeout now
    try:
        value = fn(*args, **kwargs)
    except BaseException as e:  # noqa: BLE001 - everything the code raises is its result
        # an exception may name its verdict (``invalid``: the code failed when defined)
        verdict = getattr(e, "sandbox_verdict", "failed")
        message = str(e) if verdict == "invalid" else f"{type(e).__name__}: {e}\n" + "".join(
            traceback.format_exception(type(e), e, e.__traceback__, limit=-3))
        _reply(channel, {"ok": False, "verdict": verdict, "type": type(e).__name__, "message": message})
    else:
        _reply(channel, {"ok": True, "value": value})
    os._exit(0)  # no atexit handlers or finalizers of the proposed code after the reply


if __name__ == "__main__":
    main()
