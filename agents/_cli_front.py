"""The front of a multi-objective run in ``tracetune show`` and ``tracetune export --front``."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from rich.console import Console
from rich.table import Table

from agents._front import objectives_from_config
from agents.store import RunStore
from trace_core.errors import ConfigError
from trace_core.llm.redact import redact, redact_text

__all__ = ["front_of", "print_front", "front_text", "FORMATS"]

FORMATS = ("json", "csv")


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.6g}"


def _cell(value: Any, limit: int | None = None) -> str:
    text = value if isinstance(value, str) else f"{value:.6g}" if isinstance(value, float) else \
        json.dumps(value, ensure_ascii=False, sort_keys=True)
    text = redact_text(text)
    return text if limit is None or len(text) <= limit else text[: limit - 1] + "…"


_FORMULA = ("=", "+", "-", "@", "\t", "\r")  # what makes a spreadsheet read a cell as a formula


def _text_cell(text: str) -> str:
    """Text in a CSV cell, with a ``'`` before one a spreadsheet would run as a formula (OWASP)."""
    return "'" + text if text.startswith(_FORMULA) else text


def _exact(value: Any) -> str:
    """A value in a CSV cell, exactly (numbers in full, structures as JSON), redacted; text
    that a spreadsheet would run as a formula starts with ``'``."""
    if isinstance(value, (bool, int, float)):
        return json.dumps(value)
    return _text_cell(redact_text(value if isinstance(value, str) else
                                  json.dumps(value, ensure_ascii=False, sort_keys=True)))


def front_of(store: RunStore, run: dict[str, Any], step: int | None = None) -> dict[str, Any] | None:
    """The run's front (after ``step``, default its last step) with the objectives named;
    None for a single-objective run. Raises ConfigError for a step the run did not commit."""
    found = objectives_from_config(run.get("config"))
    if found is None:
        return None
    objectives, _ = found
    front = store.front(run["id"], step)
    if front is None:
        if step is not None:
            raise ConfigError(f"run {run['id']} has no committed step {step}")
        front = {"step": None, "hypervolume": None, "reference": None, "members": []}
    names = list(objectives.names)
    return {"run": run["id"], "objectives": objectives.as_dict(),
            "constraints": [str(c) for c in objectives.constraints], "step": front["step"],
            "hypervolume": front["hypervolume"],
            "reference": None if front["reference"] is None else dict(zip(names, front["reference"])),
            "members": [{"step": m["step"], "candidate": m["candidate"],
                         "objectives": dict(zip(names, m["objectives"])), "values": m["values"],
                         "changed": m["changed"]} for m in front["members"]]}


def _changed(member: dict[str, Any]) -> str:
    if member["step"] == 0:
        return "starting values"
    return ", ".join(f"{k}={_cell(v, 40)}" for k, v in member["changed"].items()) or "(same values)"


def print_front(front: dict[str, Any], out: Console) -> None:
    """The front as a table: each member's step, objective values and what it changed."""
    senses = ", ".join(f"{n} ({s})" for n, s in front["objectives"].items())
    constraints = f"; constraints {', '.join(front['constraints'])}" if front["constraints"] else ""
    ref = front["reference"]
    at = f" against {', '.join(f'{n} {_num(v)}' for n, v in ref.items())}" if ref else ""
    out.print(f"front after step {front['step'] if front['step'] is not None else '—'}: "
              f"{len(front['members'])} candidates, hypervolume {_num(front['hypervolume'])}{at}; "
              f"objectives {senses}{constraints}", markup=False, highlight=False, soft_wrap=True)
    table = Table("step", "candidate", *front["objectives"], "what changed", box=None)
    for m in front["members"]:
        table.add_row(str(m["step"]), str(m["candidate"]), *(_num(v) for v in m["objectives"].values()),
                      redact_text(_changed(m)))
    out.print(table)


def front_text(front: dict[str, Any], fmt: str) -> str:
    """The front as JSON (everything) or CSV (one row per member: step, candidate, the
    objectives, then each parameter's value; key-shaped text redacted)."""
    if fmt == "json":
        return json.dumps(redact(front), indent=2, sort_keys=True, ensure_ascii=False)
    objective_cols = list(front["objectives"])
    params = list(dict.fromkeys(k for m in front["members"] for k in m["values"]))
    objective_heads = [f"objective.{n}" if n in ("step", "candidate") else n for n in objective_cols]
    taken = {"step", "candidate", *objective_heads}
    param_cols = [f"param.{p}" if p in taken else p for p in params]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["step", "candidate", *map(_text_cell, objective_heads), *map(_text_cell, param_cols)])
    for m in front["members"]:
        writer.writerow([m["step"], m["candidate"], *(_exact(m["objectives"][n]) for n in objective_cols),
                         *("" if p not in m["values"] else _exact(m["values"][p]) for p in params)])
    return buf.getvalue().rstrip("\n")
