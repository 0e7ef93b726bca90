"""benchmarks/llm_real_bench.py: skipped without a model; end to end against the loopback server."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from trace_core.testing import openai_server

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "llm_real_bench.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("llm_real_bench", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["llm_real_bench"] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("llm_real_bench", None)


def test_without_a_model_it_says_skipped_and_succeeds(bench, monkeypatch, capsys):
    monkeypatch.delenv("TRACETUNE_LLM", raising=False)
    assert bench.main([]) == 0
    assert capsys.readouterr().out == "skipped: no LLM configured\n"


def _is_repair(body: dict) -> bool:
    return any(m.get("role") == "assistant" for m in body["messages"])


def _reply(body: dict) -> str:
    """Every first reply is cut off; every repair answers a valid suggestion."""
    if not _is_repair(body):
        return '{"reasoning": "move toward the center", "sugg'
    return json.dumps({"reasoning": "move toward the center", "suggestion": {"x": 2.0, "y": -1.0},
                       "no_change": False})


def test_numeric_runs_seeded_requests_equal_baselines_and_resumes(bench, tmp_path, capsys):
    out = tmp_path / "results.jsonl"
    args = ["--model", "openai/local", "--tasks", "numeric", "--seeds", "2", "--max-steps", "1", "--out", str(out)]
    with openai_server(reply=_reply) as srv:
        assert bench.main(args + ["--api-base", srv.url]) == 0
        requests = list(srv.requests)
        srv.reset()
        assert bench.main(args + ["--api-base", srv.url, "--resume-from", str(out)]) == 0
        assert srv.requests == []  # every run was in the file already
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["optimizer"], r["seed"]) for r in records] == [
        ("OptoPrime", 0), ("Search (TPE)", 0), ("random search", 0),
        ("OptoPrime", 1), ("Search (TPE)", 1), ("random search", 1)]
    assert {r.get("temperature") for r in requests} == {0.7}
    first_run = records[0]["calls"]
    sent_by_seed = {0: requests[:first_run], 1: requests[first_run:]}
    for seed in (0, 1):  # each run's requests are seeded seed, seed + 1, ... in order
        llm, *baselines = [r for r in records if r["seed"] == seed]
        sent = sent_by_seed[seed]
        assert [b.get("seed") for b in sent] == list(range(seed, seed + len(sent)))
        assert llm["calls"] == len(sent) and llm["repairs"] == sum(map(_is_repair, sent)) >= 1
        assert llm["first_replies"] == len(sent) - llm["repairs"] and llm["parsed_first"] == 0
        assert all(b["evaluations"] == llm["evaluations"] for b in baselines)
        assert llm["request_seed"] == seed and llm["start"] == 11.25
        assert 1 <= llm["evaluations_to_best"] <= llm["evaluations"]
    table = capsys.readouterr().out.splitlines()
    assert sum(line.startswith("numeric ") for line in table) == 2 * 3  # one table per call of main
    assert (out.parent / "results.jsonl.calls" / "numeric-seed1.jsonl").exists()


def test_an_existing_out_file_is_not_overwritten(bench, tmp_path):
    out = tmp_path / "results.jsonl"
    out.write_text("{}\n")
    with pytest.raises(SystemExit, match="--resume-from"):
        bench.main(["--model", "openai/local", "--api-base", "http://127.0.0.1:9/v1", "--out", str(out)])
    assert out.read_text() == "{}\n"


def test_parsed_first_time_counts_first_replies_without_a_repair_after_them(bench):
    first, repair = {"messages": [{"role": "user"}]}, {"messages": [{"role": "user"}, {"role": "assistant"}]}
    failed = {"messages": [{"role": "user"}], "error": {"type": "LLMTimeout"}}
    assert bench.parsed_first_time([first, repair, first, failed, first]) == (2, 3)
    assert bench.repairs([first, repair, repair]) == 2


def test_a_challenge_after_a_decline_is_a_first_reply_not_a_repair(bench):
    from trace_core import prompts

    first = {"messages": [{"role": "user", "content": "q"}]}
    nudge = prompts.render("reply/challenge", reply_format="the form").strip()
    challenge = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "no change"},
                              {"role": "user", "content": nudge}]}
    repair = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "bad"},
                           {"role": "user", "content": "Your reply could not be used: ..."}]}
    assert bench.is_challenge(challenge) and not bench.is_repair(challenge)
    assert bench.is_repair(repair) and not bench.is_challenge(repair)
    assert bench.parsed_first_time([first, challenge, repair]) == (1, 2)
    assert bench.llm_figures([first, challenge, repair], [])["challenges"] == 1


def test_a_seed_list_runs_those_seeds_only(bench):
    assert [(t, s) for t, _, _, s in bench.planned(["code_repair"], None, [2])] == [("code_repair", 2)]
    assert {s for *_, s in bench.planned(["numeric"], None)} == {0, 1, 2}
