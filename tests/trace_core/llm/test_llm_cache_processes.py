"""The on-disk cache shared by several processes at once."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from trace_core.llm import Cache, CacheLLM, ScriptedLLM

REPO = Path(__file__).resolve().parents[3]

WRITER = textwrap.dedent("""
    import sys
    from trace_core.llm import Cache, CacheLLM, ScriptedLLM
    path, name = sys.argv[1], sys.argv[2]
    llm = CacheLLM(ScriptedLLM(lambda messages: name + ":" + messages[-1]["content"]), Cache(path))
    for k in range(40):
        llm.complete(f"{name}-{k}")
        llm.complete(f"shared-{k}")
    print("done")
""")

READER = textwrap.dedent("""
    import sys
    from trace_core.llm import Cache, CacheLLM, ScriptedLLM
    llm = CacheLLM(ScriptedLLM([]), Cache(sys.argv[1], read_only=True))  # a miss would raise: no replies
    hits = [llm.complete(f"{w}-{k}") for w in ("a", "b", "shared") for k in range(40)]
    assert all(h.cached for h in hits)
    print(sum(h.text.startswith("a:") for h in hits), sum(h.text.startswith("b:") for h in hits))
""")


def _python(code: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_two_processes_write_one_cache_and_a_third_reads_it(tmp_path):
    path = str(tmp_path / "shared.sqlite")
    writers = [_python(WRITER, path, name) for name in ("a", "b")]
    for proc in writers:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    reader = _python(READER, path)
    out, err = reader.communicate(timeout=60)
    assert reader.returncode == 0, err
    own_a, own_b = map(int, out.split())
    assert own_a >= 40 and own_b >= 40 and own_a + own_b == 120  # each shared prompt answered by one writer
    cache = Cache(path)
    assert len(cache) == 120
    # this process sees the other processes' entries too
    assert CacheLLM(ScriptedLLM([]), cache).complete("b-7").text == "b:b-7"
