"""``llm_op``: an LLM call as a traced op whose prompts are Parameters (so they can be optimized)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from trace_core.bundle import bundle
from trace_core.llm.base import LLM
from trace_core.node import Node, Parameter

__all__ = ["llm_op", "LLMOp"]


def _user_message(template: Any, inputs: Mapping[str, Any]) -> str:
    if template is not None:
        try:
            return str(template).format_map(inputs)
        except KeyError as exc:
            raise ValueError(f"the user template {str(template)!r} needs the input {exc.args[0]!r}; "
                           f"the call gave {sorted(inputs) or 'none'}") from None
    if len(inputs) == 1:
        return str(next(iter(inputs.values())))
    return "\n".join(f"{k}: {v}" for k, v in inputs.items())


class LLMOp:
    """A callable that asks ``llm`` and returns a traced Node; see :func:`llm_op`.

    Example:
        >>> from trace_core.llm import ScriptedLLM
        >>> LLMOp(ScriptedLLM(["hi"]), system="Be kind.")("hello").value
        'hi'
    """

    def __init__(self, llm: LLM, system: Parameter | str | None = None, *, user: Parameter | str | None = None,
                 name: str = "llm_call", description: str | None = None,
                 response_format: type[BaseModel] | None = None, **params: Any) -> None:
        self.llm, self.system, self.user = llm, system, user
        self.response_format, self.params = response_format, params

        def llm_call(system: str | None, user: str | None, inputs: dict[str, Any]) -> Any:
            messages = [{"role": "system", "content": str(system)}] if system else []
            messages.append({"role": "user", "content": _user_message(user, inputs)})
            completion = llm.complete(messages, response_format=response_format, **params)
            return completion.value

        # What the optimizer reads: the arguments its code line shows, no tag (the renderer adds
        # "[name]") and no model name (which model answers is not the workflow's logic).
        self.op = bundle(llm_call, description=description or (
            "Asks an LLM: `system` is the system prompt; the user message is `user` filled with `inputs` "
            "(without `user`: the inputs as they are); returns the LLM's reply."))
        self.op.name = name

    @property
    def parameters(self) -> list[Parameter]:
        """The prompts that are Parameters."""
        return [p for p in (self.system, self.user) if isinstance(p, Parameter)]

    def __call__(self, *args: Any, **inputs: Any) -> Node:
        """Ask the LLM: one positional input (named ``input``) and/or named inputs for the template."""
        if len(args) > 1:
            raise TypeError(f"{self.op.name} takes at most one positional input; name the others")
        if args:
            inputs = {"input": args[0], **inputs}
        return self.op(self.system, self.user, inputs)

    def __repr__(self) -> str:
        return f"LLMOp({self.op.name}, llm={self.llm!r})"


def llm_op(llm: LLM, system: Parameter | str | None = None, *, user: Parameter | str | None = None,
           name: str = "llm_call", description: str | None = None,
           response_format: type[BaseModel] | None = None, **params: Any) -> LLMOp:
    """An LLM call as a traced op: its prompts (Parameters or text) are parents of every output.

    Args:
        llm: the LLM to ask.
        system: the system prompt, usually a ``Parameter`` with a ``Text`` space.
        user: a ``str.format`` template of the user message over the inputs (default:
            the single input as is, or ``name: value`` lines); may be a Parameter too.
        name: the op's name in traces.
        description: the op's description (what the optimizer reads).
        response_format: a pydantic model; the output's value is then the parsed object.
        params: further keywords of ``llm.complete`` (``temperature``, ``max_tokens`` ...).

    Example:
        >>> from trace_core import Parameter
        >>> from trace_core.llm import ScriptedLLM
        >>> prompt = Parameter("Answer with one word.", name="system_prompt")
        >>> ask = llm_op(ScriptedLLM(["Paris"]), system=prompt)
        >>> out = ask("What is the capital of France?")
        >>> out.value, any(p is prompt for p in out.parents)
        ('Paris', True)
    """
    return LLMOp(llm, system, user=user, name=name, description=description, response_format=response_format,
                 **params)
