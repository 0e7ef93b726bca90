"""The attacks of the sandbox's threat model (docs/sandbox.md), one test per row and isolation
level: proposed code, set as a trainable bundle's value, tries each attack. Rows a level
does not promise to stop (see PROMISES) are skipped with the reason."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import require_service
from trace_core import bundle, no_trace
from trace_core._sandbox import Limits, Sandbox, SandboxError, SandboxTimeout, best_isolation

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-test-" + "x" * 24
ROOTED = os.geteuid() == 0

#: row -> levels that promise to contain it (as in docs/sandbox.md)
PROMISES = {
    "environ": {"namespaces", "process"},
    "parent_environ": {"namespaces"} | ({"process"} if ROOTED else set()),
    "write_outside": {"namespaces"},
    "socket": {"namespaces"},
    "kill_parent": {"namespaces"} | ({"process"} if ROOTED else set()),
}


@pytest.fixture(params=["process", "namespaces"])
def level(request):
    if request.param == "namespaces":
        require_service(best_isolation() == "namespaces", "bubblewrap (bwrap) cannot create namespaces here")
    return request.param


def promised(row: str, level: str) -> None:
    if level not in PROMISES[row]:
        pytest.skip(f"the {level} level does not stop this (docs/sandbox.md)" + (" unless run as root" * (not ROOTED)))


def propose(level: str, body: str, timeout: float = 20, env: dict | None = None, warm: bool = True, **limits):
    """A trainable bundle whose proposed code is ``def attack(arg): <body>``, called untraced."""

    @bundle(trainable=True, isolation=level, timeout=timeout)
    def attack(arg):
        return None

    if limits or env or not warm:
        attack._runner = Sandbox(level, limits=Limits(timeout=timeout, **limits), env=env, warm=warm)
    attack.parameter.set("import os, sys, time, socket, signal, pickle\n"
                         "def attack(arg):\n" + textwrap.indent(textwrap.dedent(body), "    "))

    def call(arg=None):
        with no_trace():
            return attack(arg)

    return call


@pytest.fixture
def secret(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("TRACETUNE_TOKEN", KEY)
    return KEY


def test_an_endless_loop_is_stopped_at_the_timeout(level):
    with pytest.raises(SandboxTimeout, match="time limit of 1 s") as info:
        propose(level, "while True:\n    pass", timeout=1)()
    assert info.value.verdict == "timeout"


def test_a_timeout_always_applies():
    assert Sandbox("process").limits.timeout == Limits().timeout == 60.0

    @bundle(trainable=True)
    def f(x):
        return x

    assert f._sandbox().limits.timeout == 60.0


def test_an_exit_code_is_reported_every_time(level):
    call = propose(level, "os._exit(3)")
    for _ in range(5):
        with pytest.raises(SandboxError, match="exited with code 3") as info:
            call()
        assert info.value.verdict == "failed"


def test_memory_beyond_the_limit_is_refused(level):
    limit = Limits().memory
    with pytest.raises(SandboxError, match="MemoryError") as info:
        propose(level, f"return len(bytearray({limit + 1024**3}))")()
    assert info.value.verdict == "failed"


def test_the_environment_holds_no_keys(level, secret):
    promised("environ", level)
    env = propose(level, "return dict(os.environ)")()
    assert secret not in str(env) and "OPENAI_API_KEY" not in env
    assert not any(k.startswith("TRACETUNE_") and k != "TRACETUNE_SANDBOX_RUN" for k in env)


def test_the_parents_environ_file_is_out_of_reach(level, secret):
    promised("parent_environ", level)
    got = propose(level, """
        try:
            return open(f"/proc/{arg}/environ", "rb").read().decode("latin-1")
        except OSError as e:
            return type(e).__name__
    """)(os.getpid())
    assert secret not in got


def test_no_file_is_written_outside_the_working_directory(level, tmp_path):
    promised("write_outside", level)
    target = tmp_path / "open"
    target.mkdir(mode=0o777)
    target.chmod(0o777)
    got = propose(level, """
        try:
            open(arg, "w").write("pwned")
            return "written"
        except OSError as e:
            return type(e).__name__
    """)(str(target / "pwned.txt"))
    assert got != "written" and not (target / "pwned.txt").exists()


def test_no_connection_reaches_the_host(level):
    promised("socket", level)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.5)
    try:
        got = propose(level, """
            try:
                socket.create_connection(("127.0.0.1", arg), timeout=2).sendall(b"stolen")
                return "connected"
            except OSError as e:
                return type(e).__name__
        """)(server.getsockname()[1])
        with pytest.raises(socket.timeout):
            server.accept()
    finally:
        server.close()
    assert got != "connected"


def _run_helper(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "tests.trace_core.sandbox_helper", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_the_parent_survives_a_kill(level):
    promised("kill_parent", level)
    done = _run_helper("kill_parent", level)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "parent alive" in done.stdout


def _survivors(token: str, where: str = "environ") -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if token.encode() in Path(f"/proc/{pid}/{where}").read_bytes():
                found.append(int(pid))
        except OSError:
            pass
    return found


@pytest.mark.parametrize("warm", [True, False], ids=["warm", "cold"])
def test_forked_and_setsid_grandchildren_are_killed_with_the_child(level, warm):
    tag = uuid.uuid4().hex[:15]  # the name (comm) every process the proposal starts gives itself
    call = propose(level, """
        for _ in range(50):
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    open("/proc/self/comm", "w").write(arg)
                    time.sleep(600)
                os._exit(0)
        while True:
            time.sleep(1)
    """, timeout=3, warm=warm)
    with pytest.raises(SandboxError):  # the timeout, or the process limit refusing a fork
        call(tag)
    for _ in range(50):  # the last kills are delivered asynchronously
        if not _survivors(tag, "comm"):
            break
        time.sleep(0.1)
    assert _survivors(tag, "comm") == []


def test_the_parent_dying_kills_the_child(level):
    token = uuid.uuid4().hex
    done = _run_helper("orphan", level, token)
    assert done.returncode != 0  # the helper was killed while its sandbox call ran
    for _ in range(50):  # the kernel delivers the parent-death signal asynchronously
        if not _survivors(token):
            break
        time.sleep(0.1)
    assert _survivors(token) == []


def test_a_crafted_result_is_never_unpickled(level, tmp_path):
    marker = tmp_path / "ran-in-parent"
    evil = f"""
        class Evil:
            def __reduce__(self):
                return (os.system, ("touch {marker}",))
        payload = pickle.dumps(Evil())
        for fd in range(3, 64):
            try:
                os.write(fd, payload)
            except OSError:
                pass
        return Evil()
    """
    with pytest.raises(SandboxError, match="JSON|not a sandbox result"):
        propose(level, evil)()
    assert not marker.exists()


def test_module_level_code_runs_in_the_child_under_its_limits(level):
    @bundle(trainable=True, isolation=level, timeout=1)
    def f(x):
        return x

    f.parameter.set("while True:\n    pass\ndef f(x):\n    return x\n")  # checked, not run
    with no_trace(), pytest.raises(SandboxTimeout):
        f(1)
    f.parameter.set("raise SystemExit(0)\ndef f(x):\n    return x\n")
    with no_trace(), pytest.raises(SandboxError, match="SystemExit") as info:
        f(1)
    assert info.value.verdict == "invalid"
