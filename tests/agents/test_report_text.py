"""Text that reaches reports, exports and `show`: lone surrogates, markup in reasoning,
keys echoed by a model, and reports that appear whole or not at all."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents import RunStore
from agents.report import RunReport
from tests.agents.test_cli import JOBS, invoke, numeric_job, run_id_of
from trace_core import graph, node
from trace_core.llm.redact import clean_text, redact, redact_text

KEY = "sk-test-abcdefghijklmnop0123"
ENV_KEY = "env-secret-9f8e7d6c5b4a"  # redacted wherever it appears, because the environment holds it
HOSTILE = f"bad \ud800 text <!--<script> </script> & {KEY}"
# every code point, lone surrogates included, with the markup that breaks inline scripts mixed in
TEXT = st.lists(st.one_of(st.text(st.characters(codec=None, exclude_categories=())),
                          st.sampled_from(["<!--", "<script>", "</script>", "]]>", "&amp;", "\u2028", f" {KEY} ",
                                           ENV_KEY, "api_key=abc123xyz", "\ud800", "\udfff", "\ud83d\ude00"])),
                max_size=8).map("".join)


def _data_block(page: str) -> dict[str, Any]:
    return json.loads(re.search(r'id="report-data">(.*?)</script>', page, re.S).group(1))


def _report(reasoning: str, value: Any, *, calls: bool = True) -> RunReport:
    run = {"id": "r1", "name": "hostile", "task": "numeric", "status": "finished", "direction": "minimize",
           "best_score": 1.0, "initial_score": 2.0, "best_values": {"p": value}, "config": {}}
    steps = [{"step": s, "incumbent_score": 2.0 - s, "values": {"p": value}, "tokens": 10 * s * calls,
              "cost_usd": 0.001 * s * calls, "seconds": 0.1, "accepted": True, "graph": None} for s in (0, 1)]
    cands = [{"step": s, "idx": 0, "score": 2.0 - s, "status": "done", "values": {"p": value},
              "reasoning": reasoning, "feedback": {"text": reasoning}} for s in (0, 1)]
    llm = [{"step": 1, "model": "m", "prompt": reasoning, "reply": reasoning}] if calls else []
    return RunReport(run, steps, cands, llm)


def test_a_reply_with_a_lone_surrogate_markup_and_a_key_runs_and_reports(tmp_path: Path) -> None:
    """The reproducer: such a reply used to fail the run and leave a partial report whose
    script data no longer parsed."""
    replies = tmp_path / "replies.json"
    replies.write_text(json.dumps({"rules": {"": {"reasoning": HOSTILE, "suggestion": {"x": 3.0, "y": -1.5}}}}))
    page = tmp_path / "report.html"
    result = invoke("run", JOBS / "numeric.toml", "--store", tmp_path / "r.db", "--llm", f"scripted:{replies}",
                    "--report", page)
    assert result.exit_code == 0, result.output
    html = page.read_text(encoding="utf-8")
    reasoning = _data_block(html)["candidates"]["1:0"]["reasoning"]
    assert reasoning == "bad \ufffd text <!--<script> </script> & [REDACTED]"
    assert KEY not in html and "\ufffd" in html
    show = invoke("show", run_id_of(result.stdout), "--store", tmp_path / "r.db", "--json")
    assert KEY not in show.output and show.exit_code == 0


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(reasoning=TEXT, value=st.one_of(TEXT, st.dictionaries(TEXT, TEXT, max_size=3)))
def test_any_text_gives_a_report_whose_data_parses_and_holds_no_key(reasoning: str, value: Any) -> None:
    with mock.patch.dict(os.environ, {"SOME_API_KEY": ENV_KEY}):
        page = _report(reasoning, value).html()
    page.encode("utf-8")  # writable as UTF-8: no lone surrogate survives
    data = _data_block(page)["candidates"]["1:0"]
    assert data["reasoning"] == clean_text(data["reasoning"])
    assert KEY not in page and ENV_KEY not in page and "abc123xyz" not in page
    script = page[page.index('id="report-data">'):]
    assert script.count("</script>") == 2 and "<!--" not in script.split("</script>")[0]


@settings(max_examples=300, deadline=None)
@given(text=TEXT)
def test_redacted_text_is_always_writable_and_keyless(text: str) -> None:
    with mock.patch.dict(os.environ, {"SOME_API_KEY": ENV_KEY}):
        out = redact_text(text)
        value = redact({text: [text, {"api_key": text}]})
    out.encode("utf-8")
    json.dumps(value, ensure_ascii=False).encode("utf-8")
    assert KEY not in out and ENV_KEY not in out and KEY not in json.dumps(value)
    assert clean_text(text).encode("utf-16", "surrogatepass").decode("utf-16") == clean_text(text)


def test_a_failing_report_leaves_no_partial_file_and_keeps_the_old_one(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "report.html"
    path.write_text("old report", encoding="utf-8")
    rep = _report("fine", 1.0)
    monkeypatch.setattr(RunReport, "html", lambda self, d=None: "<html>" + "x" * 100 + "\ud800")

    def broken(self: RunReport, d: Any = None) -> str:
        raise RuntimeError("the page could not be drawn")

    rep.write(path)  # a surrogate that slipped through is written, not a crash
    assert path.read_text(encoding="utf-8").startswith("<html>")
    path.write_text("old report", encoding="utf-8")
    monkeypatch.setattr(RunReport, "html", broken)
    with pytest.raises(RuntimeError):
        rep.write(path)
    assert path.read_text(encoding="utf-8") == "old report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]  # no temporary file left


def test_a_run_without_an_llm_shows_no_llm_charts() -> None:
    without = _report("x", 1.0, calls=False).html()
    assert 'data-kind="usd"' not in without and 'data-kind="tokens"' not in without
    assert 'data-kind="seconds"' in without and "No LLM was used" in without
    with_llm = _report("x", 1.0).html()
    assert with_llm.count('<svg class="plot"') == 4


def test_design_pictures_fit_their_column() -> None:
    css = (Path(__file__).parents[2] / "agents/assets/report.css").read_text()
    assert re.search(r"(^|\s|})img \{ max-width: 100%; height: auto; \}", css)
    assert re.search(r"figure \{[^}]*min-width: 0", css)  # grid cells may shrink below the picture's width


def test_the_trace_panel_shows_whole_node_values() -> None:
    long = "word " * 120
    g = json.loads(graph.to_json(node(long, name="prompt") + "!"))
    from agents._report_svg import graph_svg

    svg, _ = graph_svg(g)
    values = re.findall(r'data-value="([^"]*)"', svg)
    assert any(v.startswith("word word") and len(v) >= len(long) for v in values)


def test_show_and_export_redact_values(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    result = invoke("run", numeric_job(tmp_path / "job.toml", steps=1), "--store", db, "--no-report")
    run_id = run_id_of(result.stdout)
    store = RunStore(db)
    store.update_run(run_id, best_values={"x": f"key {KEY}"}, stop_reason=f"failed with api_key={KEY}")
    for args in (("show", run_id), ("show", run_id, "--json"), ("export", run_id), ("list",),
                 ("report", run_id, "--html", tmp_path / "r.html")):
        out = invoke(*args, "--store", db)
        assert out.exit_code == 0 and KEY not in out.output, (args, out.output)
    assert "[REDACTED]" in invoke("export", run_id, "--store", db).output
    invoke("export", run_id, "--store", db, "-o", tmp_path / "best.json")
    assert KEY not in (tmp_path / "best.json").read_text() and KEY not in (tmp_path / "r.html").read_text()
