"""tracetune's core: traced values, parameters, bundles, backward, feedback, budgets.

Example:
    >>> from trace_core import Parameter, backward, node
    >>> from trace_core.spaces import Float
    >>> w = Parameter(2.0, name="w", space=Float(0, 10))
    >>> y = w * node(3.0)
    >>> backward(y, "should be 12")[w].feedback[0].text
    'should be 12'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trace_core._lazy import lazy_package

if TYPE_CHECKING:
    from trace_core import prompts, spaces
    from trace_core._sandbox import Limits, Sandbox, SandboxError, best_isolation
    from trace_core.backward import Propagated, Propagation, backward, subgraph
    from trace_core.budget import Budget
    from trace_core.bundle import BundledFunction, bundle
    from trace_core.errors import (
        BudgetExceeded,
        ConfigError,
        InvalidProposal,
        Pruned,
        RunFailed,
        TaskError,
        TracedError,
        TraceTuneError,
    )
    from trace_core.feedback import Direction, Feedback, as_feedback, better
    from trace_core.objectives import Constraint, Objectives, dominates, hypervolume, non_dominated
    from trace_core.module import Module, unique_names
    from trace_core.outcome import Outcome, score
    from trace_core.node import ExceptionNode, Node, Parameter, catching, is_tracing, no_trace, node, using
    from trace_core.ops import OPS, Op

_HOMES = {
    **dict.fromkeys(("Limits", "Sandbox", "SandboxError", "best_isolation"), "trace_core._sandbox"),
    **dict.fromkeys(("Propagated", "Propagation", "backward", "subgraph"), "trace_core.backward"),
    "Budget": "trace_core.budget",
    **dict.fromkeys(("BundledFunction", "bundle"), "trace_core.bundle"),
    **dict.fromkeys(("BudgetExceeded", "ConfigError", "InvalidProposal", "Pruned", "RunFailed", "TaskError",
                     "TracedError", "TraceTuneError"), "trace_core.errors"),
    **dict.fromkeys(("Direction", "Feedback", "as_feedback", "better"), "trace_core.feedback"),
    **dict.fromkeys(("Constraint", "Objectives", "dominates", "hypervolume", "non_dominated"), "trace_core.objectives"),
    **dict.fromkeys(("Module", "unique_names"), "trace_core.module"),
    **dict.fromkeys(("Outcome", "score"), "trace_core.outcome"),
    **dict.fromkeys(("ExceptionNode", "Node", "Parameter", "catching", "is_tracing", "no_trace", "node", "using"),
                    "trace_core.node"),
    **dict.fromkeys(("OPS", "Op"), "trace_core.ops"),
}

# trace_core.graph imports networkx: only when read
lazy_package(__name__, _HOMES, submodules={sub: f"trace_core.{sub}" for sub in ("prompts", "spaces", "graph")})

__all__ = [
    "Node",
    "Parameter",
    "ExceptionNode",
    "node",
    "bundle",
    "BundledFunction",
    "Sandbox",
    "SandboxError",
    "Limits",
    "best_isolation",
    "Op",
    "OPS",
    "backward",
    "Propagated",
    "Propagation",
    "subgraph",
    "Feedback",
    "Direction",
    "as_feedback",
    "better",
    "Objectives",
    "Constraint",
    "dominates",
    "non_dominated",
    "hypervolume",
    "Outcome",
    "score",
    "Budget",
    "Module",
    "unique_names",
    "no_trace",
    "catching",
    "using",
    "is_tracing",
    "prompts",
    "spaces",
    "TraceTuneError",
    "InvalidProposal",
    "TracedError",
    "TaskError",
    "BudgetExceeded",
    "Pruned",
    "ConfigError",
    "RunFailed",
]
