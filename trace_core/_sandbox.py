"""The sandbox: run untrusted (LLM-proposed) code in a contained child process.

One runner for everything that executes proposed code (trainable bundles, NAS
``build()`` code). :meth:`Sandbox.run` sends a module-level function and its
arguments to a fresh interpreter (pickled parent -> child only) and takes back JSON
data (never unpickled). The child starts from an allowlisted environment, runs
under resource limits in a temporary working directory, as an unprivileged user
when the parent is root, in its own session; at the timeout (there always is one)
its whole process tree is killed. Isolation levels (see ``docs/sandbox.md``):

- ``"namespaces"``: the child also runs under bubblewrap (``bwrap``): no network,
  a new pid namespace, the file system read-only except its working directory.
- ``"process"``: limits, clean environment, privilege drop and killing only.

Each call runs in a fresh child: started cold (a new interpreter), or forked from a
warm zygote that never runs proposed code (``Sandbox(warm=True)``, the default).

This module is the parent side; ``_sandbox_child`` is the child side (and the
zygote). It is past 400 lines because the parent's half of one process protocol
(start, send, read, kill, verdict, for cold children and for the zygote) reads best
in one place; split, each half would import the other's private helpers.
"""

from __future__ import annotations

import atexit
import dataclasses
import functools
import glob
import json
import logging
import math
import os
import pickle
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from trace_core.errors import ConfigError, InvalidProposal, TraceTuneError

__all__ = ["Sandbox", "Limits", "SandboxError", "SandboxInvalid", "SandboxTimeout", "SandboxUnavailable",
           "best_isolation", "LEVELS"]

log = logging.getLogger(__name__)

LEVELS = ("namespaces", "process")
UNPRIVILEGED = 65534  #: the uid/gid a root parent's child runs as (nobody)
MARKER = "TRACETUNE_SANDBOX_RUN"  #: env var naming a child's run, used to find its stray descendants
_ENV_ALLOW = ("PATH", "LANG", "LANGUAGE", "TZ", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
              "HF_HUB_OFFLINE", "LITELLM_LOCAL_MODEL_COST_MAP", "PYTHONHASHSEED", "PYTHONDONTWRITEBYTECODE")
_CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_sandbox_child.py")


class SandboxError(TraceTuneError):
    """Proposed code did not return a result from the sandbox.

    ``verdict`` says how it ended: ``"invalid"`` (the code could not be defined),
    ``"failed"`` (it raised, exited, or returned something that is not JSON data),
    ``"timeout"``, ``"killed"`` (by a signal, e.g. a resource limit) or
    ``"unavailable"`` (the requested isolation is not available here).
    """

    verdict = "failed"

    def __init__(self, message: str, *, verdict: str | None = None, error_type: str | None = None):
        super().__init__(message)
        self.verdict = verdict or type(self).verdict
        self.error_type = error_type


class SandboxInvalid(SandboxError, InvalidProposal):
    """The proposed code failed when defined in the child (module-level code, decorators)."""

    verdict = "invalid"


class SandboxTimeout(SandboxError, TimeoutError):
    """The child ran past its time limit and was killed with its whole process tree."""

    verdict = "timeout"


class SandboxUnavailable(SandboxError, ConfigError):
    """The requested isolation level cannot run on this machine."""

    verdict = "unavailable"


@dataclasses.dataclass(frozen=True)
class Limits:
    """Resource limits of one sandboxed call (``None``: no limit of that kind).

    Example:
        >>> Limits(timeout=5).cpu
        6
    """

    timeout: float = 60.0  #: wall-clock seconds of the call (after the child has started)
    startup: float = 120.0  #: wall-clock seconds to start the child and import the modules of the call
    memory: int | None = 2 * 1024**3  #: address space in bytes (RLIMIT_AS)
    cpu_seconds: int | None = None  #: CPU seconds of the call (default: the timeout + 1)
    processes: int | None = 64  #: processes and threads of the child's user, beyond those it had
    file_size: int | None = 64 * 1024**2  #: largest file it may write, in bytes
    open_files: int | None = 256
    output: int = 16 * 1024**2  #: bytes of result JSON read back at most

    @property
    def cpu(self) -> int:
        return self.cpu_seconds if self.cpu_seconds is not None else math.ceil(self.timeout) + 1


@functools.lru_cache(maxsize=1)
def _bwrap_works() -> bool:
    exe = shutil.which("bwrap")
    if exe is None:
        return False
    try:
        probe = subprocess.run([exe, *_BWRAP_BASE, *_UID, "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    if probe.returncode != 0:
        log.info("bubblewrap is installed but cannot create namespaces here: %s", probe.stderr.decode()[-300:])
    return probe.returncode == 0


def best_isolation() -> str:
    """The strongest isolation level this machine allows: ``"namespaces"`` or ``"process"``."""
    return "namespaces" if _bwrap_works() else "process"


def _resolve(isolation: str | None, strict: bool) -> str:
    if isolation is not None and isolation not in LEVELS:
        raise ConfigError(f"isolation must be one of {', '.join(LEVELS)} (or None for the best), got {isolation!r}")
    if strict and isolation == "process":
        raise ConfigError("sandbox='strict' needs isolation='namespaces'; drop one of them")
    best = best_isolation()
    if (strict or isolation == "namespaces") and best != "namespaces":
        raise SandboxUnavailable(
            "namespace isolation is unavailable: install bubblewrap (apt-get install bubblewrap) and allow user "
            "namespaces, or use isolation='process' (weaker: see docs/sandbox.md)"
        )
    level = isolation or best
    if isolation is None:
        log.info("sandbox isolation: %s (the best available here)", level)
    return level


_BWRAP_BASE = ("--unshare-all", "--die-with-parent", "--new-session", "--ro-bind", "/", "/",
               "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp")


_UID = ("--uid", str(UNPRIVILEGED), "--gid", str(UNPRIVILEGED))


def _process_count(uid: int) -> int:
    """Processes and threads that ``uid`` runs now (RLIMIT_NPROC counts them all)."""
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    count += len(os.listdir(f"/proc/{entry.name}/task"))
            except OSError:
                pass
    return count


def _sweep(marker: str) -> int:
    """SIGKILL every process whose environment carries ``marker`` (descendants that left the group)."""
    needle = f"{MARKER}={marker}".encode()
    killed = 0
    for _ in range(3):  # a process may fork while we look: look again until none is found
        found = 0
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                with open(f"/proc/{entry.name}/environ", "rb") as f:
                    if needle in f.read().split(b"\0"):
                        os.kill(int(entry.name), signal.SIGKILL)
                        found += 1
            except OSError:
                pass
        killed += found
        if not found:
            break
    return killed


class Sandbox:
    """Runs module-level functions in contained child processes; results come back as JSON data.

    Args:
        isolation: ``"namespaces"``, ``"process"`` or None (the best available; logged).
        strict: refuse to run (``SandboxUnavailable``) unless namespaces are available.
        limits: the :class:`Limits` of each call.
        env: extra environment variables for the child (nothing else passes but an allowlist).
        warm: fork each call's fresh child from a warm zygote (a process that never runs proposed
            code and keeps the call's modules imported) instead of starting an interpreter.

    Example:
        >>> Sandbox(isolation="process").run(sum, [1, 2, 3])
        6
    """

    def __init__(self, isolation: str | None = None, *, strict: bool = False, limits: Limits | None = None,
                 env: Mapping[str, str] | None = None, warm: bool = True):
        self.isolation = _resolve(isolation, strict)
        self.warm = warm
        self.limits = limits or Limits()
        self.env = dict(env or {})

    def __repr__(self) -> str:
        return f"Sandbox(isolation={self.isolation!r}, timeout={self.limits.timeout:g})"

    def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` in a child; its JSON result, or a :class:`SandboxError`."""
        limits = self.limits
        process = self.isolation == "process"
        header = {"path": sys.path, "limits": self._child_limits(), "parent": os.getpid() if process else None,
                  "uid": UNPRIVILEGED if process and os.geteuid() == 0 else None, "cpu": limits.cpu}
        try:
            request = pickle.dumps((fn, args, kwargs), protocol=5)
        except (pickle.PicklingError, TypeError, AttributeError) as e:
            raise SandboxError(f"the arguments of {getattr(fn, '__name__', fn)} cannot be sent to the sandbox: "
                               f"{e}; pass plain data or objects of module-level classes") from None
        payload = json.dumps(header).encode() + b"\n" + request
        zygote = _zygote(self) if self.warm else None
        if zygote is not None and zygote.lock.acquire(blocking=False):
            try:
                rc, out, err, timed_out = zygote.call(payload, limits)
            finally:
                zygote.lock.release()
        else:
            rc, out, err, timed_out = self._cold(payload)
        return _verdict(getattr(fn, "__name__", "the code"), rc, out, err, timed_out, limits)

    def _cold(self, payload: bytes) -> tuple[int, bytes, bytes, bool]:
        """One call in a freshly started interpreter."""
        marker = uuid.uuid4().hex
        workdir = self._workdir()
        try:
            start = time.monotonic()
            proc = subprocess.Popen(
                self._command(workdir), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                cwd=workdir, env=self._environment(workdir, marker), start_new_session=True, close_fds=True,
            )
            assert proc.stdin and proc.stdout and proc.stderr
            try:
                out, err, timed_out = _exchange(proc.stdout.fileno(), proc.stderr.fileno(), self.limits, start,
                                                stdin=(proc.stdin, payload), alive=lambda: proc.poll() is None)
            finally:
                _kill_tree(proc, marker)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        return proc.returncode, out, err, timed_out

    def _workdir(self) -> str:
        workdir = tempfile.mkdtemp(prefix="tracetune-sandbox-")
        if os.geteuid() == 0 and self.isolation == "process":  # bwrap maps the child to the parent's uid
            os.chown(workdir, UNPRIVILEGED, UNPRIVILEGED)
        return workdir

    # -- child set-up -------------------------------------------------------------
    def _child_limits(self) -> dict[str, Any]:
        lim = self.limits
        nproc = None
        if lim.processes is not None:
            uid = UNPRIVILEGED if os.geteuid() == 0 else os.geteuid()
            nproc = _process_count(uid) + lim.processes + 1
        return {"memory": lim.memory, "nproc": nproc, "fsize": lim.file_size, "nofile": lim.open_files}

    def _environment(self, workdir: str, marker: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k in _ENV_ALLOW or k.startswith("LC_")}
        env.update(HOME=workdir, TMPDIR=workdir, PYTHONNOUSERSITE="1", **{MARKER: marker})
        env.update(self.env)
        return env

    def _command(self, workdir: str, *extra: str) -> list[str]:
        python = [sys.executable, "-I", "-S", _CHILD, *extra]
        if self.isolation == "process":
            return python
        return [shutil.which("bwrap") or "bwrap", *_BWRAP_BASE, *_gpu_devices(), *_hidden_home(),
                "--bind", workdir, workdir, "--chdir", workdir, *_UID, "--", *python]


def _gpu_devices() -> list[str]:
    """bwrap arguments that make NVIDIA GPUs usable in the namespace (their device files), when present."""
    args = []
    for path in sorted(glob.glob("/dev/nvidia*")):
        args += ["--dev-bind", path, path]
    return args


@functools.lru_cache(maxsize=1)
def _hidden_home() -> tuple[str, ...]:
    """bwrap arguments that hide the user's home (keys, dotfiles), except the Python installation and
    import paths that live there (bound back read-only); the same paths under ``/tmp`` (a project or
    virtual environment there, say) are bound back into the namespace's private ``/tmp``."""
    wanted = sorted({os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, os.path.dirname(sys.executable),
                                                   os.path.dirname(os.path.realpath(sys.executable)), *sys.path)
                     if p and os.path.exists(p)})
    args: list[str] = []
    home = os.path.realpath(os.path.expanduser("~"))
    if home != "/" and os.path.isdir(home) and home != "/tmp":
        args += ["--tmpfs", home, *_bind_back(home, wanted)]
    return (*args, *_bind_back("/tmp", wanted))


def _bind_back(folder: str, wanted: list[str]) -> list[str]:
    """``--ro-bind`` arguments for the paths of ``wanted`` (sorted) inside ``folder``, outermost only."""
    keep: list[str] = []
    for p in wanted:  # sorted: a path under one already kept is covered by it
        if p.startswith(folder + "/") and not any(p.startswith(k + "/") for k in keep):
            keep.append(p)
    return [arg for p in keep for arg in ("--ro-bind", p, p)]


def _exchange(out_fd: int, err_fd: int, limits: Limits, start: float, stdin: tuple[Any, bytes] | None = None,
              alive: Callable[[], bool] = lambda: True) -> tuple[bytes, bytes, bool]:
    """Send ``stdin`` (a pipe and its bytes), read the result channel (at most ``limits.output`` bytes) and
    the tail of stderr until both close, the child is no longer ``alive`` or the timeout passes (True)."""
    out, err = bytearray(), bytearray()
    sel = selectors.DefaultSelector()
    in_fd = -1
    if stdin is not None:
        in_fd = stdin[0].fileno()
        os.set_blocking(in_fd, False)
        pending = memoryview(stdin[1])
        sel.register(in_fd, selectors.EVENT_WRITE)
    sel.register(out_fd, selectors.EVENT_READ)
    sel.register(err_fd, selectors.EVENT_READ)
    open_reads = 2
    deadline = start + limits.startup  # until the child says it is ready; then the call's timeout
    try:
        while open_reads:
            left = deadline - time.monotonic()
            if left <= 0:
                return bytes(out), bytes(err), True
            events = sel.select(min(left, 0.25))
            if not events and not alive():
                break
            for key, _ in events:
                if key.fd == in_fd:
                    try:
                        pending = pending[os.write(key.fd, pending[:65536]):]
                    except BrokenPipeError:
                        pending = pending[:0]
                    if not pending:
                        sel.unregister(key.fd)
                        stdin[0].close()  # type: ignore[index]
                    continue
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    sel.unregister(key.fd)
                    open_reads -= 1
                elif key.fd == out_fd:
                    if not out and chunk[:1] == b"R":
                        deadline = time.monotonic() + limits.timeout
                    out += chunk
                    if len(out) > limits.output:
                        return bytes(out), bytes(err), False
                else:
                    err = (err + chunk)[-20000:]
        return bytes(out), bytes(err), False
    finally:
        sel.close()
        if stdin is not None and not stdin[0].closed:
            stdin[0].close()


def _kill_tree(proc: subprocess.Popen, marker: str) -> None:
    """Kill the child's process group and any descendant that left it, then reap the child."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()  # reliable exit codes: never read returncode before the process is reaped
    if marker:
        _sweep(marker)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


def _verdict(name: str, rc: int, out: bytes, err: bytes, timed_out: bool, limits: Limits) -> Any:
    tail = err.decode("utf-8", "replace").strip()[-1500:]
    if tail:
        log.debug("sandbox stderr of %s: %s", name, tail)
    ready = out[:1] == b"R"
    out = out[1:] if ready else out
    if timed_out and not ready:
        raise SandboxError(f"{name} could not start in the sandbox within {limits.startup:g} s", verdict="killed")
    if timed_out:
        raise SandboxTimeout(f"{name} ran past its time limit of {limits.timeout:g} s in the sandbox and was killed "
                             "with all its processes; look for an endless loop or far too much work")
    if len(out) > limits.output:
        raise SandboxError(f"{name} wrote more than {limits.output:,} bytes of result; return less data")
    if out:
        try:
            reply = json.loads(out)
        except ValueError:
            reply = None
        if isinstance(reply, dict) and reply.get("ok") is True and "value" in reply:
            return reply["value"]
        if isinstance(reply, dict) and reply.get("ok") is False:
            verdict = str(reply.get("verdict", "failed"))
            cls = SandboxInvalid if verdict == "invalid" else SandboxError
            raise cls(str(reply.get("message", "the code failed"))[:4000], verdict=verdict,
                      error_type=str(reply.get("type", "")) or None)
        raise SandboxError(f"{name} sent back something that is not a sandbox result (not JSON); "
                           "return plain data and do not write to the result channel")
    if rc < 0:
        sig = signal.Signals(-rc).name if -rc in signal.Signals._value2member_map_ else str(-rc)
        hint = " (the CPU time limit)" if -rc in (signal.SIGXCPU, signal.SIGKILL) else ""
        raise SandboxError(f"{name} was killed by {sig}{hint} in the sandbox before returning a result",
                           verdict="killed")
    extra = f"; its last output: {tail[-400:]}" if tail else ""
    raise SandboxError(f"{name} exited with code {rc} in the sandbox before returning a result{extra}")


# -- warm zygotes -------------------------------------------------------------------------
_ZYGOTES: dict[tuple, _Zygote] = {}
_ZYGOTES_LOCK = threading.Lock()


def _zygote(sandbox: Sandbox) -> _Zygote | None:
    """The running zygote of this isolation level and environment (started on first use)."""
    key = (sandbox.isolation, tuple(sorted(sandbox.env.items())))
    with _ZYGOTES_LOCK:
        zygote = _ZYGOTES.get(key)
        if zygote is None or not zygote.alive():
            if zygote is not None:
                zygote.close()
            try:
                zygote = _ZYGOTES[key] = _Zygote(sandbox)
            except OSError as e:
                log.warning("the sandbox's warm zygote could not start (%s); starting each call cold", e)
                return None
        return zygote


class _Zygote:
    """The parent's handle on a zygote: a control socket that carries each call's request and the
    write ends of its result and stderr pipes, and brings back the call's exit status."""

    def __init__(self, sandbox: Sandbox):
        self.lock = threading.Lock()
        self.workdir = sandbox._workdir()
        os.chmod(self.workdir, 0o711)
        self.marker = uuid.uuid4().hex
        self.sock, theirs = socket.socketpair()
        process = sandbox.isolation == "process"
        command = sandbox._command(self.workdir, "--zygote", str(theirs.fileno()),
                                   str(os.getpid() if process else 0))
        started: list[Any] = []

        def keep() -> None:  # the parent-death signal follows the thread that started the zygote: a lasting one
            try:
                started.append(subprocess.Popen(
                    command, pass_fds=[theirs.fileno()], cwd=self.workdir, start_new_session=True,
                    env=sandbox._environment(self.workdir, self.marker), stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            except OSError as e:
                started.append(e)
                return
            started[0].wait()

        thread = threading.Thread(target=keep, name="tracetune-sandbox-zygote", daemon=True)
        thread.start()
        while not started:
            time.sleep(0.001)
        theirs.close()
        if isinstance(started[0], OSError):
            raise started[0]
        self.proc: subprocess.Popen = started[0]
        self.reader = self.sock.makefile("rb")

    def alive(self) -> bool:
        return self.proc.poll() is None and self.sock.fileno() >= 0

    def call(self, payload: bytes, limits: Limits) -> tuple[int, bytes, bytes, bool]:
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            start = time.monotonic()
            try:
                socket.send_fds(self.sock, [b"C" + struct.pack("!Q", len(payload))], [out_w, err_w])
                self.sock.sendall(payload)
            finally:
                os.close(out_w)
                os.close(err_w)
            out, err, timed_out = _exchange(out_r, err_r, limits, start, alive=self.alive)
        except OSError:
            out, err, timed_out = b"", b"", False
        finally:
            os.close(out_r)
            os.close(err_r)
        return self._status(timed_out, 10 if timed_out else limits.timeout + 10), out, err, timed_out

    def _status(self, kill: bool, wait: float) -> int:
        """The exit code of the call's child (killing it first when ``kill``); a zygote that does not
        answer within ``wait`` seconds (a child that closed its pipes and runs on) is killed with
        everything it started."""
        try:
            if kill:
                self.sock.sendall(b"K")
            self.sock.settimeout(wait)
            line = self.reader.readline()
            self.sock.settimeout(None)
            return os.waitstatus_to_exitcode(json.loads(line)["status"])
        except (OSError, ValueError, KeyError):
            self.close()
            return -signal.SIGKILL

    def close(self) -> None:
        try:
            self.sock.close()
        finally:
            _kill_tree(self.proc, self.marker)
            shutil.rmtree(self.workdir, ignore_errors=True)


def _forget_zygotes() -> None:
    """In a forked copy of this process: the zygotes belong to the original; start new ones."""
    global _ZYGOTES_LOCK
    _ZYGOTES.clear()
    _ZYGOTES_LOCK = threading.Lock()


os.register_at_fork(after_in_child=_forget_zygotes)


@atexit.register
def _close_zygotes() -> None:
    for zygote in list(_ZYGOTES.values()):
        zygote.close()
