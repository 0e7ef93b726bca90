"""The child side of the sandbox, run as a script by ``trace_core._sandbox`` (not imported).

One call (``python -I -S _sandbox_child.py``): the child reads a JSON header line
(limits, import path, parent pid, the uid to become), sets its resource limits and
parent-death signal, moves its stdout aside (the result channel) so that prints go
to stderr, reads the request (a function and its arguments, pickled by the trusted
parent; loading it imports their modules under the limits), drops its privileges,
sets its CPU-time limit, writes ``R`` (ready: the parent starts the clock of the
timeout), calls the function and writes one JSON object:
``{"ok": true, "value": ...}`` or ``{"ok": false, "verdict": ..., "type": ..., "message": ...}``.

Zygote (``... _sandbox_child.py --zygote FD``): a warm process that never runs
proposed code. For each request on the control socket it loads the request (the
imports stay loaded for the next one), forks one fresh child that serves it as
above, reports the child's exit status, then kills whatever the child left behind
(the zygote is a subreaper: orphans of the child become its children).
"""

from __future__ import annotations

import ctypes
import json
import math
import os
import pickle
import resource
import select
import shutil
import signal
import socket
import struct
import sys
import tempfile
import traceback
from typing import Any

_PR_SET_PDEATHSIG, _PR_SET_DUMPABLE, _PR_SET_CHILD_SUBREAPER = 1, 4, 36


def _prctl(option: int, value: int) -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _die_with_parent(parent: int | None) -> None:
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
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


def _load(channel: int, raw: bytes) -> Any:
    """The request's (fn, args, kwargs); on failure the error is replied and None returned."""
    try:  # trusted: the parent's pickle; loading it imports the modules of the function and arguments
        return pickle.loads(raw)
    except BaseException as e:  # noqa: BLE001 - e.g. a module that cannot be imported here
        _reply(channel, {"ok": False, "verdict": "failed", "type": type(e).__name__,
                         "message": f"the sandbox could not load the call: {type(e).__name__}: {e}"})
        return None


def _serve(channel: int, header: dict[str, Any], call: Any) -> None:
    """Give up privileges, then run the loaded call and reply; never returns."""
    # After the imports (the interpreter may live where the unprivileged user cannot read), before
    # any proposed code; a change of user clears the parent-death signal, so it is set again.
    _drop_privileges(header["uid"])
    _die_with_parent(header["parent"])
    used = resource.getrusage(resource.RUSAGE_SELF)  # CPU seconds from now on: loading is not the call's
    _set_limits({"cpu": math.ceil(used.ru_utime + used.ru_stime) + int(header["cpu"])})
    os.write(channel, b"R")  # ready: the parent starts the clock of the timeout now
    fn, args, kwargs = call
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


def main() -> None:
    header = json.loads(sys.stdin.buffer.readline())
    _die_with_parent(header["parent"])
    _set_limits(header["limits"])
    sys.path[:] = header["path"]
    channel = os.dup(1)  # the result channel; fd 1 now points at stderr so prints stay out of the result
    os.dup2(2, 1)
    call = _load(channel, sys.stdin.buffer.read())
    if call is None:
        os._exit(0)
    _serve(channel, header, call)


# -- zygote ------------------------------------------------------------------------------
def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(n - len(buf), 1 << 20))
        if not chunk:
            raise EOFError
        buf += chunk
    return bytes(buf)


def _children() -> list[int]:
    me = str(os.getpid())
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as f:
                    stat = f.read()
            except OSError:
                continue
            if stat[stat.rfind(b")") + 2:].split()[1].decode() == me:
                found.append(int(name))
    return found


def _kill_leftovers() -> None:
    """SIGKILL and reap every child of the zygote: when no call runs, all are leftovers."""
    while True:
        pids = _children()
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        for pid in pids:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass


def _fork_call(header: dict[str, Any], raw: bytes, out: int, err: int, sock: socket.socket, wake: int) -> int:
    workdir = tempfile.mkdtemp(prefix="call-", dir=os.getcwd())
    if header["uid"] is not None:
        os.chown(workdir, header["uid"], header["uid"])
    call = _load(out, raw)
    if call is None:
        return -1
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            for fd in (sock.fileno(), wake):
                os.close(fd)
            channel = os.dup(out)
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(err, 1)
            os.dup2(err, 2)
            os.chdir(workdir)
            os.environ.update(HOME=workdir, TMPDIR=workdir)
            tempfile.tempdir = None
            _set_limits(header["limits"])
            _serve(channel, header, call)
        finally:
            os._exit(1)
    return pid


def zygote(fd: int, parent: int) -> None:
    _die_with_parent(parent or None)
    _prctl(_PR_SET_DUMPABLE, 0)  # children may not ptrace it or read its memory
    sock = socket.socket(fileno=fd)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.set_wakeup_fd(wake_w)
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)
    first = True
    while True:
        try:
            kind, fds, _, _ = socket.recv_fds(sock, 1, 2)
            if not kind:
                return
            if kind != b"C" or len(fds) != 2:  # a late kill for a call that already ended
                for fd in fds:
                    os.close(fd)
                continue
            size = struct.unpack("!Q", _recv_exactly(sock, 8))[0]
            payload = _recv_exactly(sock, size)
        except (EOFError, OSError):
            return
        head, _, raw = payload.partition(b"\n")
        header = json.loads(head)
        header["parent"] = os.getpid() if header["parent"] is not None else None
        if first:
            sys.path[:] = header["path"]
            first = False
        out, err = fds
        pid = _fork_call(header, raw, out, err, sock, wake_r)
        os.close(out)
        os.close(err)
        status = 0
        while pid > 0:
            ready, _, _ = select.select([sock, wake_r], [], [])
            if wake_r in ready:
                os.read(wake_r, 4096)
            if sock in ready and sock.recv(1) in (b"K", b""):  # kill now (or the parent is gone)
                try:
                    os.killpg(pid, signal.SIGKILL)
                except OSError:
                    pass
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
        _kill_leftovers()
        for name in os.listdir("."):
            shutil.rmtree(name, ignore_errors=True)
        sock.sendall(json.dumps({"status": status}).encode() + b"\n")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--zygote":
        zygote(int(sys.argv[2]), int(sys.argv[3]))
    else:
        main()
