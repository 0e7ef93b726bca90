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


def __getattr__(name: str) -> object:
    """``trace_core.graph`` without importing networkx at ``import trace_core``."""
    if name == "graph":
        import importlib

        return importlib.import_module("trace_core.graph")
    raise AttributeError(f"module 'trace_core' has no attribute {name!r}")


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
