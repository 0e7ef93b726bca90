"""Who gets a slot of :class:`Slots` when a waiting task is cancelled: a cancelled waiter
leaves the queue at once (the slot goes straight to the next waiter, or back), and a
slot handed to a task just before it was cancelled is given back, not lost."""

from __future__ import annotations

import asyncio
import threading

from trace_core.llm import Slots


def test_a_cancelled_waiter_leaves_the_queue_at_once():
    slots = Slots(1)

    async def main():
        slots.acquire()
        waiter = asyncio.ensure_future(slots.aacquire())
        await asyncio.sleep(0)  # the waiter is queued
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
        assert waiter.cancelled()
        slots.release()
        return slots.in_use  # no queued waiter: the slot is back right away

    assert asyncio.run(main()) == 0


def test_after_a_cancelled_waiter_a_thread_takes_the_slot_without_waiting_for_the_loop():
    slots = Slots(1)
    got = threading.Event()

    async def main():
        slots.acquire()
        waiter = asyncio.ensure_future(slots.aacquire())
        await asyncio.sleep(0)
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
        slots.release()
        # the loop is busy (this coroutine does not yield): a thread must still get the slot
        thread = threading.Thread(target=lambda: (slots.acquire(), got.set()))
        thread.start()
        thread.join(5)
        return got.is_set()

    assert asyncio.run(main()) is True
    slots.release()
    assert slots.in_use == 0


def test_a_slot_handed_over_just_before_the_cancellation_is_given_back():
    slots = Slots(1)

    async def main():
        await slots.aacquire()
        waiter = asyncio.ensure_future(slots.aacquire())
        await asyncio.sleep(0)  # queued
        slots.release()  # hands the slot to the waiter (on the next loop turn)
        await asyncio.sleep(0)  # the hand-over runs; the waiter has not resumed yet
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
        assert waiter.cancelled()
        return slots.in_use

    assert asyncio.run(main()) == 0


def test_a_waiter_cancelled_after_the_release_but_before_the_hand_over_gives_the_slot_back():
    slots = Slots(1)

    async def main():
        await slots.aacquire()
        waiter = asyncio.ensure_future(slots.aacquire())
        await asyncio.sleep(0)
        slots.release()  # the hand-over is scheduled, not run
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
        await asyncio.sleep(0)
        return slots.in_use

    assert asyncio.run(main()) == 0


def test_a_released_slot_skips_a_waiter_whose_loop_is_closed():
    slots = Slots(1)
    slots.acquire()
    loop = asyncio.new_event_loop()
    loop.create_task(slots.aacquire())
    loop.run_until_complete(asyncio.sleep(0))  # queued on a loop that then goes away
    loop.close()
    slots.release()
    assert slots.in_use == 0


def test_waiters_are_served_oldest_first_across_threads_and_tasks():
    slots = Slots(1)
    order: list[str] = []

    async def main():
        slots.acquire()
        first = asyncio.ensure_future(slots.aacquire())
        await asyncio.sleep(0)
        queued = threading.Event()

        def thread_waiter():
            queued.set()
            slots.acquire()
            order.append("thread")
            slots.release()

        t = threading.Thread(target=thread_waiter)
        t.start()
        queued.wait()
        while len(slots._waiters) < 2:  # the thread is queued behind the task
            await asyncio.sleep(0.01)
        slots.release()
        await first
        order.append("task")
        slots.release()
        await asyncio.to_thread(t.join, 5)

    asyncio.run(main())
    assert order == ["task", "thread"] and slots.in_use == 0
