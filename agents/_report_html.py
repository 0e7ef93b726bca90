"""The HTML of a run report: sections filled into ``agents/assets/report.html``."""

from __future__ import annotations

import difflib
import html
import json
import string
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from agents._report_svg import bar_chart, graph_svg, score_chart
from agents._report_text import when, why_stopped
from trace_core.llm.redact import clean_text, redact, redact_text
from trace_core.budget import usd_of

if TYPE_CHECKING:
    from agents.report import RunReport

__all__ = ["render", "script_json"]

_MAX_CALLS = 200
_MAX_TEXT = 20000


def _e(value: Any) -> str:
    """Any text of the run, redacted, then escaped for HTML (redacting escaped text would miss
    ``api_key='...'``, whose quote became an entity)."""
    return html.escape(redact_text(str(value)), quote=True)


@cache
def _asset(name: str) -> str:
    return resources.files("agents").joinpath(f"assets/{name}").read_text(encoding="utf-8")


def _text(value: Any) -> str:
    """A parameter value as text: strings as they are, the rest as indented JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return f"{value:.8g}"
    return json.dumps(value, indent=2, sort_keys=True, default=str)


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.6g}"


def _table(rows: list[tuple[str, str]], cls: str = "meta") -> str:
    return f'<table class="{cls}">' + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows) + "</table>"


def diff_html(old: Any, new: Any) -> str:
    """A unified diff for long or multi-line values, ``old → new`` for short ones."""
    a, b = _text(old), _text(new)
    if "\n" not in a + b and len(a) + len(b) < 120:
        return f'<code class="del">{_e(a)}</code> → <code class="add">{_e(b)}</code>'
    lines = []
    for line in difflib.unified_diff(a.splitlines(), b.splitlines(), "before", "after", lineterm="", n=2):
        cls = {"@": "hunk", "+": "add", "-": "del"}.get(line[:1], "")
        lines.append(f'<span class="{cls}">{_e(line)}</span>' if cls else _e(line))
    return '<pre class="diff">' + "\n".join(lines) + "</pre>"


def _header(rep: RunReport) -> str:
    r, cfg = rep.run, redact(rep.run.get("config") or {})
    llm = cfg.get("llm_model") or (cfg.get("job") or {}).get("llm") or cfg.get("llm")
    opt = cfg.get("optimizer") or {}
    spent = r.get("spent") or {}
    about = (cfg.get("job") or {}).get("description")
    rows = [("run", _e(r["id"])), ("job", _e(r.get("job_key")) + (f" — {_e(about)}" if about else "")),
            ("task", _e(r.get("task"))),
            ("status", f'<span class="status {_e(r["status"])}">{_e(r["status"])}</span> — '
                       f'{_e(why_stopped(r))}'),
            ("optimizer", _e(opt.get("name", "default"))),
            ("LLM", _e(llm.get("model") if isinstance(llm, dict) else llm or "none (or $TRACETUNE_LLM)")),
            ("score", f"{_num(r.get('initial_score'))} → <b>{_num(r.get('best_score'))}</b> ({_e(rep.direction)})"),
            ("budget", _e(", ".join(f"{k} {v:g}" for k, v in (cfg.get("budget") or {}).items() if v is not None))),
            ("spent", _e(", ".join(f"{k} {v:.4g}" for k, v in spent.items() if v))),
            ("created", _e(when(r.get("created_at")))), ("updated", _e(when(r.get("updated_at"))))]
    counts, first = rep.failure_lines()
    rows.insert(4, ("failures", _e(counts.removeprefix("failures: "))))
    if first:
        rows.insert(5, ("first error", f'<pre class="first-error">{_e(first.removeprefix("first error "))}</pre>'))
    return _table(rows)


def _comparison(rep: RunReport) -> str:
    warm = (rep.run.get("config") or {}).get("warm_start_from")
    parts = [f"<p>Warm start: began from the best values of run <code>{_e(warm)}</code>.</p>"] if warm else []
    c = rep.comparison
    if c is None:
        parts.append("<p>No earlier finished run of this job to compare with.</p>")
    else:
        cls = {"better": "better", "worse": "worse"}.get(c.verdict, "same")
        parts.append(f'<p class="verdict {cls}" id="verdict" data-verdict="{_e(c.verdict)}">This run is '
                     f"{_e(c.describe())}.</p>")
    return "<h2>Compared with the previous run</h2>" + "".join(parts)


_COST_CHARTS = (("usd", "cost_usd", "LLM cost per step (USD)", "${:.4f}"),
                ("tokens", "tokens", "LLM tokens per step", "{:.0f} tokens"),
                ("seconds", "seconds", "time per step (s)", "{:.2f} s"))


def _costs(rep: RunReport) -> str:
    """Bars per step: LLM cost and tokens (when the run used an LLM) and time."""
    steps = [s for s in rep.steps if s["step"] > 0]
    used_llm = bool(rep.llm_calls) or any(s.get("tokens") or s.get("cost_usd") for s in steps)
    charts = []
    for kind, key, label, fmt in _COST_CHARTS if used_llm else _COST_CHARTS[2:]:
        bars = [(s["step"], float(s.get(key) or 0.0), f"step {s['step']}: " + fmt.format(s.get(key) or 0.0))
                for s in steps]
        charts.append(f'<figure>{bar_chart(kind, bars, label)}<figcaption>{_e(label)}</figcaption></figure>')
    note = "" if used_llm else '<p class="none">No LLM was used, so there is no LLM cost or token use to show.</p>'
    return note + '<div class="charts">' + "".join(charts) + "</div>"


def _graph(rep: RunReport) -> str:
    found = rep.graph()
    if found is None:
        return '<p class="none">No trace graph was recorded for this run.</p>'
    g, values_step = found
    try:
        svg, n = graph_svg(g)
    except Exception as e:  # noqa: BLE001 - a malformed stored graph must not sink the report
        return f'<p class="none">The stored trace graph could not be drawn: {_e(e)}</p>'
    what = "the starting values" if values_step <= 0 else f"the values after step {values_step}"
    return (f'<p>The workflow traced with {what} (best reached at step {rep.best_step}); {n} nodes. '
            'Click a node for its value.</p><div class="graph-wrap">' + svg +
            '</div><pre id="node-detail" class="detail">(click a node)</pre>')


def _values(rep: RunReport) -> str:
    best = rep.run.get("best_values") or {}
    start = rep.steps[0]["values"] if rep.steps else {}
    rows = [(_e(k), f"<pre>{_e(_text(v))}</pre>") for k, v in best.items()]
    out = ["<h2>Parameters</h2><h3>Best values</h3>", _table(rows, "values")]
    changed = [k for k in best if k in start and start[k] != best[k]]
    out.append("<h3>Start → best</h3>")
    out += [f"<h4>{_e(k)}</h4>{diff_html(start[k], best[k])}" for k in changed] or ["<p>No value changed.</p>"]
    out.append("<h3>Changes step by step</h3>")
    prev, items = start, []
    for s in rep.steps[1:]:
        for k, v in (s.get("values") or {}).items():
            if k in prev and prev[k] != v:
                items.append(f'<li data-step="{s["step"]}">step {s["step"]}: <b>{_e(k)}</b> '
                             f'{diff_html(prev[k], v)}</li>')
        prev = s.get("values") or prev
    out.append(f'<ol class="changes">{"".join(items)}</ol>' if items else "<p>No accepted change.</p>")
    return "".join(out)


def _steps(rep: RunReport) -> str:
    by_step: dict[int, list[dict[str, Any]]] = {}
    for c in rep.candidates:
        by_step.setdefault(c["step"], []).append(c)
    rows = []
    for s in rep.steps:
        cands = ", ".join(f"{_num(c.get('score'))}{'' if c.get('status') in ('done', None) else ' ' + c['status']}"
                          for c in by_step.get(s["step"], []))
        rows.append(f"<tr><td>{s['step']}</td><td>{_num(s.get('incumbent_score'))}</td><td>{_e(cands)}</td>"
                    f"<td>{'✓' if s.get('accepted') and s['step'] else ''}</td><td>{s.get('tokens') or 0}</td>"
                    f"<td>{usd_of([s])}</td><td>{(s.get('seconds') or 0):.2f}</td></tr>")
    return ('<h2>Steps</h2><table class="steps"><tr><th>step</th><th>best so far</th><th>candidates</th>'
            "<th>accepted</th><th>tokens</th><th>USD</th><th>seconds</th></tr>" + "".join(rows) + "</table>")


def _llm_calls(rep: RunReport) -> str:
    calls = rep.llm_calls
    if not calls:
        return "<h2>LLM calls</h2><p>No LLM calls (the optimizer did not use a model).</p>"
    items = []
    for c in calls[:_MAX_CALLS]:
        prompt = str(c.get("prompt") or "")[:_MAX_TEXT]
        reply = str(c.get("reply") or "")[:_MAX_TEXT]
        tokens = (c.get("prompt_tokens") or 0) + (c.get("completion_tokens") or 0)
        items.append(
            f'<details class="call" data-step="{c["step"]}"><summary>step {c["step"]} · {_e(c.get("model"))} · '
            f"{tokens} tokens · {usd_of([c])} · {(c.get('latency_s') or 0):.2f} s"
            f"{' · cached' if c.get('cached') else ''}</summary><h4>prompt</h4><pre>{_e(prompt)}</pre>"
            f"<h4>reply</h4><pre>{_e(reply)}</pre></details>")
    more = f"<p>… and {len(calls) - _MAX_CALLS} more calls (see the run store).</p>" if len(calls) > _MAX_CALLS else ""
    return f"<h2>LLM calls ({len(calls)})</h2>" + "".join(items) + more


def _designs(rep: RunReport, directory: Any = None) -> str:
    """Pictures of the best designs (tasks with ``artifacts``, e.g. design3d); empty otherwise."""
    items = []
    for art in rep.designs(directory):
        files = " ".join(f'<code>{_e(p)}</code>' for p in (art.get("files") or {}).values())
        items.append(f'<figure><img alt="design" src="data:image/png;base64,{art["png_base64"]}">'
                     f'<figcaption>{_e(art.get("prompt", ""))}{"<br>" + files if files else ""}</figcaption></figure>')
    return '<h2>Best designs</h2><div class="charts designs">' + "".join(items) + "</div>" if items else ""


def _data(rep: RunReport) -> str:
    cands = {f"{c['step']}:{c['idx']}": {"score": c.get("score"), "status": c.get("status"),
                                          "values": _text(redact(c.get("values")))[:2000],
                                          "reasoning": redact_text(c.get("reasoning") or "")[:2000]}
             for c in rep.candidates}
    return script_json({"run": rep.run["id"], "candidates": cands})


def script_json(value: Any) -> str:
    """``value`` as JSON safe inside an HTML ``<script>``: ``<``, ``>`` and ``&`` are written as
    JSON escapes, so no text (``</script>``, ``<!--``) can end or change the script element.

    Example:
        >>> script_json({"why": "<!--<script>&"})
        '{"why": "\\\\u003c!--\\\\u003cscript\\\\u003e\\\\u0026"}'
    """
    text = json.dumps(value, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render(rep: RunReport, designs_dir: Any = None) -> str:
    """The whole report page. Every text of the run in it is redacted (:func:`_e`, and the
    data block from redacted values); no lone surrogate is left, so it can always be written."""
    page = string.Template(_asset("report.html"))
    return clean_text(page.substitute(
        title=_e(f"tracetune · {rep.run['name']} · {rep.run['id']}"), style=_asset("report.css"),
        script=_asset("report.js"), name=_e(rep.run["name"]), header=_header(rep), comparison=_comparison(rep),
        summary=_e(rep.summary()), score_plot=score_chart(rep.steps, rep.candidates, rep.direction),
        cost_plots=_costs(rep), graph=_graph(rep), values=_values(rep), steps=_steps(rep),
        llm_calls=_llm_calls(rep), data=_data(rep), designs=_designs(rep, designs_dir), front=_front(rep)))


def _front(rep: RunReport) -> str:
    """A multi-objective run's front at each step and its hypervolume ("" for one objective)."""
    from agents._report_front import front_section

    return front_section(rep.run, rep.steps, rep.candidates, rep.front)
