"""Run reports: comparisons, the text summary, the HTML (plots, graph, diffs, redacted
LLM calls, no network), and the page rendered in headless Chromium."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from pathlib import Path

import networkx as nx
import pytest

from agents import RunStore
from agents._report_svg import graph_svg, ticks
from agents.report import RunReport, compare
from tests.conftest import require_service
from trace_core import Parameter, bundle, graph, node
from trace_core.spaces import Text

CHROMIUM = "/usr/bin/chromium"
SECRET = "sk-test-abcdefghijklmnop0123"


def test_compare_says_better_or_worse_by_how_much_in_either_direction() -> None:
    up = compare(1.2, {"id": "a", "best_score": 1.0}, "maximize")
    assert up.verdict == "better" and math.isclose(up.change, 0.2) and math.isclose(up.percent, 20.0)
    assert not up.regressed(0) and "better than run a by 0.2, 20%" in up.describe()
    down = compare(1.2, {"id": "a", "best_score": 1.0}, "minimize")
    assert down.verdict == "worse" and down.regressed(19.9) and not down.regressed(20.1)
    from_zero = compare(0.5, {"id": "a", "best_score": 0.0}, "minimize")
    assert from_zero.percent == -math.inf and from_zero.regressed(1e9)
    assert compare(0.5, {"id": "a", "best_score": 0.5}, "maximize").verdict == "the same"
    assert compare(None, {"id": "a", "best_score": 0.5}, "maximize").regressed(50)
    assert compare(0.5, {"id": "a", "best_score": None}, "maximize").verdict == "not comparable"


def test_ticks_are_round_and_cover_the_range() -> None:
    assert ticks(0, 1) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert ticks(-3.7, 12.2) == [0.0, 5.0, 10.0]
    assert ticks(0.013, 0.021, 4) == [0.014, 0.016, 0.018, 0.02]
    assert ticks(2.0, 2.0) == [2.0]


def test_graph_layout_puts_each_node_right_of_its_parents() -> None:
    g = nx.DiGraph([("a", "b"), ("a", "c"), ("b", "d"), ("c", "d"), ("d", "e")])
    for n in g:
        g.nodes[n].update(name=n, kind="parameter" if n == "a" else "op", value=f"v{n}", description="")
    svg, count = graph_svg(nx.node_link_data(g, edges="edges"))
    assert count == 5 and svg.count('class="edge"') == 5
    xs = {m[0]: float(m[1]) for m in re.findall(r'data-id="(\w)".*?<rect x="([\d.]+)"', svg)}
    assert all(xs[a] < xs[b] for a, b in g.edges)
    assert xs["b"] == xs["c"]  # one layer, two rows


def _synthetic_run(store: RunStore) -> str:
    """A run with a text parameter that changed twice, a failed candidate, a trace graph
    and an LLM call whose prompt holds a key."""
    prompt = Parameter("You are helpful.", name="system_prompt", space=Text())

    @bundle
    def answer(system: str, question: str) -> str:
        """Answer the question."""
        return f"{system} -> 42"

    graph_json = graph.to_json(answer(prompt, node("What is 6 x 7?")))
    values = ["You are helpful.", "You are helpful.\nAnswer with the number only.",
              "Think step by step.\nAnswer with the number only."]
    run_id = store.create_run(name="qa-nightly", task="prompt_qa", config={"budget": {"max_steps": 2}},
                              direction="maximize", job_key="qa-nightly")
    for step, (incumbent, cands) in enumerate([(0.25, [0.25]), (0.5, [0.5, None]), (0.75, [0.75])]):
        rows = [{"idx": i, "values": {"system_prompt": values[step]}, "reasoning": f"try {i}", "score": s,
                 "status": "done" if s is not None else "failed", "feedback": None} for i, s in enumerate(cands)]
        llm = [] if step == 0 else [{"model": "openai/gpt-4o-mini", "prompt_tokens": 120, "completion_tokens": 30,
                                     "cost_usd": 0.002, "latency_s": 0.4, "cached": False,
                                     "prompt": f"Improve the prompt. api_key={SECRET}", "reply": "<b>ok</b>"}]
        store.commit_step(run_id, step, incumbent_score=incumbent, best_candidate_score=cands[0], accepted=True,
                          values={"system_prompt": values[step]}, candidates_rows=rows, llm_rows=llm,
                          graph=graph_json if step else None, tokens=150 * bool(step), cost_usd=0.002 * bool(step),
                          seconds=0.1, run_fields={"best_score": incumbent,
                                                   "best_values": {"system_prompt": values[step]},
                                                   **({"initial_score": incumbent} if step == 0 else {})})
    store.update_run(run_id, status="finished", stop_reason="budget max_steps reached")
    return run_id


@pytest.fixture
def synthetic(tmp_path: Path) -> tuple[RunStore, str, str]:
    store = RunStore(tmp_path / "r.db")
    prev = store.create_run(name="qa-nightly", task="prompt_qa", config={}, job_key="qa-nightly")
    store.update_run(prev, status="finished", best_score=0.8)
    return store, _synthetic_run(store), prev


def test_summary_for_logs(synthetic: tuple[RunStore, str, str]) -> None:
    store, run_id, prev = synthetic
    lines = RunReport.load(store, run_id).summary().splitlines()
    assert lines[0].startswith(f"run {run_id}  qa-nightly (task prompt_qa)  finished: budget max_steps reached")
    assert lines[1] == "score: starting values 0.25 → best 0.75 (maximize; improved by 0.5 (200%))"
    assert "LLM calls 2, tokens 300, cost $0.0040" in lines[2]
    assert lines[3] == "failures: 1 of 4 evaluations (failed 1)"
    assert lines[4] == f"vs previous: worse than run {prev} by 0.05, 6.25% (0.8 → 0.75, maximize)"
    assert lines[-1].startswith("best values: system_prompt=Think step by step.")


def test_html_is_self_contained_with_plots_graph_diffs_and_redacted_calls(synthetic: tuple[RunStore, str, str],
                                                                          tmp_path: Path) -> None:
    store, run_id, prev = synthetic
    page = RunReport.load(store, run_id).write(tmp_path / "deep" / "report.html").read_text()
    assert page.count('<svg class="plot"') == 4  # score, USD, tokens, seconds
    assert page.count('class="cand mark') == 3 and page.count('class="cand failed mark"') == 1
    assert page.count('<g class="node') == 3 and 'class="node parameter"' in page
    assert "traced with the values after step 1" in page
    assert SECRET not in page and "[REDACTED]" in page
    assert "&lt;b&gt;ok&lt;/b&gt;" in page and "<b>ok</b>" not in page  # replies are escaped
    assert '<span class="add">+Think step by step.</span>' in page  # a diff of the text parameter
    assert 'data-verdict="worse"' in page and prev in page
    urls = re.findall(r"(?:src|href)\s*=\s*[\"']?(?:https?:)?//", page) + re.findall(r"url\((?!#)", page)
    assert urls == []  # nothing to fetch
    data = json.loads(re.search(r'id="report-data">(.*?)</script>', page, re.S).group(1))
    assert data["candidates"]["1:1"]["status"] == "failed"


def test_report_without_graph_or_calls_still_renders(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "r.db")
    run_id = store.create_run(name="empty", task="numeric", config={}, direction="minimize")
    store.commit_step(run_id, 0, incumbent_score=3.0, best_candidate_score=3.0, accepted=True, values={"x": 1.0},
                      candidates_rows=[{"idx": 0, "values": {"x": 1.0}, "score": 3.0}], run_fields={"best_score": 3.0})
    page = RunReport.load(store, run_id).html()
    assert "No trace graph was recorded" in page and "No LLM calls" in page and "No earlier finished run" in page


def _chromium_dom(path: Path, tmp_path: Path) -> str:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'chromium'}",
           "--virtual-time-budget=5000", "--dump-dom", path.as_uri()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout


def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    require_service(Path(CHROMIUM).exists() and shutil.which(CHROMIUM) is not None,
                    f"{CHROMIUM} is not installed (apt-get install chromium)")
    from tests.agents.test_cli import JOBS, invoke, run_id_of

    replies = tmp_path / "replies.json"
    replies.write_text(json.dumps({"rules": {"": [
        {"reasoning": "move towards the centre", "suggestion": {"x": 2.0, "y": -1.0}},
        {"reasoning": "closer", "suggestion": {"x": 2.9, "y": -1.4}},
        {"reasoning": "overshoot", "suggestion": {"x": 9.0, "y": 9.0}}]}}))
    db = tmp_path / "r.db"
    for _ in range(2):  # the second run is compared with the first
        result = invoke("run", JOBS / "numeric.toml", "--store", db, "--llm", f"scripted:{replies}",
                        "--report", tmp_path / "{run_id}.html")
        assert result.exit_code in (0, 3), result.output
    run_id = run_id_of(result.stdout)
    page = tmp_path / f"{run_id}.html"
    html = page.read_text()
    dom = _chromium_dom(page, tmp_path)
    body = re.search(r"<body([^>]*)>", dom).group(1)
    assert "data-script-error" not in body, body
    assert 'data-rendered="ok"' in body
    assert 'data-plots="4"' in body  # every plot laid out with a size and marks
    nodes = html.count('<g class="node')
    assert nodes >= 3 and f'data-graph-nodes="{nodes}"' in body
    assert re.search(r'<svg class="plot" data-kind="score"[^>]*data-marks="(\d+)"', dom)
    assert 'id="verdict"' in dom and "LLM calls (" in dom




def test_design3d_report_shows_the_best_shapes_as_pictures(tmp_path: Path) -> None:
    import trimesh

    from agents import optimize
    from agents.report import RunReport
    from tasks.registry import build_task
    from trace_core import Budget

    db = tmp_path / "r.db"
    result = optimize(build_task("design3d"), optimizer="evolution", budget=Budget(max_steps=2), k=2, store=db)
    report = RunReport.load(RunStore(db), result.run_id)
    page = tmp_path / "design.html"
    report.write(page)
    html = page.read_text()
    assert 'id="designs"' in html and "data:image/png;base64," in html
    stls = sorted((tmp_path / "design-designs").glob("*.stl"))
    assert stls and trimesh.load(stls[0]).is_watertight
