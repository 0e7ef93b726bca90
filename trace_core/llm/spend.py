"""The Budget at the LLM layer: a call that would pass a limit is refused before it is sent."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator

from trace_core.budget import UNPRICED, Budget
from trace_core.llm.base import LLM, Middleware
from trace_core.llm.records import Completion, Request

__all__ = ["BudgetLLM", "DEFAULT_COMPLETION_TOKENS"]

log = logging.getLogger(__name__)

#: Completion tokens assumed for a call without ``max_tokens`` when checking the budget.
DEFAULT_COMPLETION_TOKENS = 512

_RESERVE = threading.Lock()  # check-and-charge must be one step when threads share a Budget


class BudgetLLM(Middleware):
    """Checks a shared :class:`~trace_core.budget.Budget` before each call and charges it after.

    Before sending, the call reserves one call, its prompt tokens plus ``max_tokens``
    (or ``default_completion_tokens``) per choice, and their price where known; the
    reservation is refused with ``BudgetExceeded`` when it would pass a limit. While
    the budget has room, the prompt is reserved at a cheap upper bound (its size in
    bytes); near a limit its tokens are counted with the model's tokenizer. After
    the call the reservation is replaced by what the call really used; a failed call
    keeps its call count and gives the tokens back.

    Example:
        >>> from trace_core.llm import ScriptedLLM, BudgetExceeded
        >>> llm = BudgetLLM(ScriptedLLM(["a", "b"]), Budget(max_calls=1))
        >>> llm.complete("q").text
        'a'
        >>> try:
        ...     llm.complete("q")
        ... except BudgetExceeded as e:
        ...     e.limit
        'max_calls'
    """

    def __init__(self, inner: LLM, budget: Budget, *, default_completion_tokens: int = DEFAULT_COMPLETION_TOKENS):
        super().__init__(inner)
        self.budget = budget
        self.default_completion_tokens = default_completion_tokens
        self._warned_price = False

    def _fits(self, prompt: int, completion: int) -> bool:
        """Whether a call of this size leaves every token and dollar limit unpassed."""
        tokens = self.budget.remaining("max_tokens")
        if tokens is not None and prompt + completion > tokens:
            return False
        usd = self.budget.remaining("max_usd")
        return usd is None or (self.estimate_cost(prompt, completion) or 0.0) <= usd

    def _prompt_tokens(self, request: Request, completion: int) -> int:
        """Prompt tokens to reserve: a cheap upper bound (one token per byte at most) while it fits, else a count."""
        tools = len(json.dumps(request.tools)) if request.tools else 0
        bound = sum(len(str(m.get("content") or "").encode()) + 4 for m in request.messages) + tools + 3
        if self._fits(bound, completion):
            return bound
        return self.count_tokens(request.messages) + tools // 2

    def _reserve(self, request: Request) -> tuple[int, float]:
        completion = (request.max_tokens or self.default_completion_tokens) * request.n
        prompt = self._prompt_tokens(request, completion)
        usd = self.estimate_cost(prompt, completion)
        fake = str(self.model).split("/")[0] in ("scripted", "replay")
        if usd is None and self.budget.max_usd is not None and not self._warned_price and not fake:
            self._warned_price = True
            log.warning("price of %s is unknown: max_usd cannot be enforced for its calls", self.model)
        with _RESERVE:
            self.budget.check(tokens=prompt + completion, usd=usd or 0.0, calls=1)
            self.budget.charge(tokens=prompt + completion, usd=usd or 0.0, calls=1)
        return prompt + completion, usd or 0.0

    def _settle(self, request: Request, reserved: tuple[int, float], completion: Completion | None) -> None:
        """Replace the reservation by what the call used; a call of unknown price counts as unpriced."""
        tokens, usd = (completion.usage.total_tokens, completion.cost_usd or 0.0) if completion else (0, 0.0)
        limit = (request.max_tokens or self.default_completion_tokens) * request.n
        if completion is not None and completion.usage.completion_tokens > limit:
            log.warning("a reply of %s used %d completion tokens, more than the %d asked for; the budget is "
                        "charged what it used", self.model, completion.usage.completion_tokens, limit)
        unpriced = completion is not None and completion.cost_usd is None and not completion.cached
        self.budget.charge(tokens=tokens - reserved[0], usd=usd - reserved[1], **{UNPRICED: float(unpriced)})

    def _complete(self, request: Request) -> Completion:
        reserved, completion = self._reserve(request), None
        try:
            completion = self.inner._complete(request)
            return completion
        finally:
            self._settle(request, reserved, completion)

    async def _acomplete(self, request: Request) -> Completion:
        reserved, completion = self._reserve(request), None
        try:
            completion = await self.inner._acomplete(request)
            return completion
        finally:
            self._settle(request, reserved, completion)

    def _stream(self, request: Request) -> Iterator[str | Completion]:
        reserved, completion = self._reserve(request), None
        try:
            for item in self.inner._stream(request):
                if isinstance(item, Completion):
                    completion = item
                yield item
        finally:
            self._settle(request, reserved, completion)
