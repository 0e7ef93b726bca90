"""At most N calls in flight, shared by threads and asyncio tasks."""

from __future__ import annotations

import asyncio
import collections
import threading
from collections.abc import Iterator

from trace_core.llm.base import LLM, Middleware
from trace_core.llm.records import Completion, Request

__all__ = ["Slots", "LimitLLM"]


class Slots:
    """A counting semaphore that threads and coroutines (on any event loop) can share.

    A released slot is handed to the oldest waiter, thread or task, so neither kind
    starves; a waiting coroutine never blocks its event loop.

    Example:
        >>> slots = Slots(1)
        >>> slots.acquire(); slots.in_use
        1
        >>> slots.release(); slots.in_use
        0
    """

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {size}")
        self.size = size
        self.in_use = 0
        self._lock = threading.Lock()
        self._waiters: collections.deque[threading.Event | tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]]
        self._waiters = collections.deque()

    def acquire(self) -> None:
        """Take a slot, blocking the thread until one is free."""
        with self._lock:
            if self.in_use < self.size and not self._waiters:
                self.in_use += 1
                return
            event = threading.Event()
            self._waiters.append(event)
        event.wait()  # the releaser handed its slot over

    async def aacquire(self) -> None:
        """Take a slot, suspending the task until one is free."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self.in_use < self.size and not self._waiters:
                self.in_use += 1
                return
            waiter = (loop, loop.create_future())
            self._waiters.append(waiter)
        try:
            await waiter[1]
        except asyncio.CancelledError:
            with self._lock:
                queued = waiter in self._waiters
                if queued:
                    self._waiters.remove(waiter)
            if not queued and not waiter[1].cancelled():
                self.release()  # the slot was handed over just before the cancellation
            raise

    def release(self) -> None:
        """Give a slot back (to the oldest waiter, if any)."""
        with self._lock:
            while self._waiters:
                waiter = self._waiters.popleft()
                if isinstance(waiter, threading.Event):
                    waiter.set()
                    return
                loop, future = waiter
                if not loop.is_closed():
                    loop.call_soon_threadsafe(self._hand_over, future)
                    return
            self.in_use -= 1

    def _hand_over(self, future: asyncio.Future[None]) -> None:
        if future.cancelled():
            self.release()
        else:
            future.set_result(None)


class LimitLLM(Middleware):
    """At most ``max_concurrency`` calls of the inner LLM in flight at once.

    Example:
        >>> from trace_core.llm import ScriptedLLM
        >>> LimitLLM(ScriptedLLM(["a"]), 2).complete("q").text
        'a'
    """

    def __init__(self, inner: LLM, max_concurrency: int | Slots) -> None:
        super().__init__(inner)
        self.slots = max_concurrency if isinstance(max_concurrency, Slots) else Slots(max_concurrency)

    def _complete(self, request: Request) -> Completion:
        self.slots.acquire()
        try:
            return self.inner._complete(request)
        finally:
            self.slots.release()

    async def _acomplete(self, request: Request) -> Completion:
        await self.slots.aacquire()
        try:
            return await self.inner._acomplete(request)
        finally:
            self.slots.release()

    def _stream(self, request: Request) -> Iterator[str | Completion]:
        self.slots.acquire()
        try:
            yield from self.inner._stream(request)
        finally:
            self.slots.release()
