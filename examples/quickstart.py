"""A first tracetune program: trace a workflow, give feedback, let an optimizer fix it.

Runs offline: the "LLM" is a ScriptedLLM that answers like an OptoPrime model would.
Run: python examples/quickstart.py
"""

from __future__ import annotations

import json

from optimizers import OptoPrime
from trace_core import Parameter, backward, bundle
from trace_core.llm import ScriptedLLM
from trace_core.spaces import Float

# 1. A workflow with one parameter: a learning rate that is far too high.
lr = Parameter(0.5, name="lr", space=Float(1e-5, 1.0, log=True), description="the learning rate")


@bundle
def train(lr: float) -> float:
    """Trains a model and returns its validation loss (lowest near lr = 0.01)."""
    return (lr - 0.01) ** 2 * 100 + 0.05


# 2. Run it (traced), give feedback, propagate it back to the parameter.
loss = train(lr)
result = backward(loss, f"validation loss {loss.value:.3f}: the loss diverges in the first epoch")
print("feedback that reached lr:", [f.text for f in result[lr].feedback])

# 3. An OptoPrime optimizer proposes a new value; the space checks it before it is applied.
llm = ScriptedLLM([json.dumps({"reasoning": "diverging: lower the learning rate", "suggestion": {"lr": 0.01},
                               "no_change": False})])
optimizer = OptoPrime([lr], llm)
update = optimizer.step(result)
print("proposal:", update.values, "-", update.reasoning)
print(f"loss before {loss.value:.3f}, after {train(lr).value:.3f}")
