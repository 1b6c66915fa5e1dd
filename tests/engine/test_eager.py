"""Eager starts (run/eager.py): a coroutine runs at once, and gets a Task only when it must wait.

The scheduler starts every node and topic this way; what these tests pin is what the nodes rely
on: work that needs no waiting is done before ``start`` returns, without a Task; work that waits
goes on in a Task and finishes; code after ``handoff()`` runs in the coroutine's own Task (so
``asyncio.current_task()`` and ``asyncio.timeout`` mean what they say there); cancelling that Task
reaches the coroutine.
"""

from __future__ import annotations

import asyncio

import pytest

from vidflow.run.eager import Eager


def run(coro_fn):
    return asyncio.run(coro_fn())


def test_a_coroutine_that_never_waits_finishes_inside_start_without_a_task():
    done = []

    async def work():
        done.append("made")

    async def main():
        before = len(asyncio.all_tasks())
        runner = Eager(asyncio.get_running_loop()).start(work())
        return runner, before, len(asyncio.all_tasks()), list(done)

    runner, before, after, seen = run(main)
    assert runner is None
    assert after == before
    assert seen == ["made"]  # done before start returned


def test_a_coroutine_that_waits_goes_on_in_a_task_and_finishes():
    async def main():
        gate = asyncio.get_running_loop().create_future()
        out = []

        async def work():
            out.append("before")
            out.append(await gate)

        runner = Eager(asyncio.get_running_loop()).start(work())
        assert out == ["before"] and isinstance(runner, asyncio.Task) and not runner.done()
        gate.set_result("after")
        await runner
        return out

    assert run(main) == ["before", "after"]


def test_many_coroutines_started_at_once_may_wait_for_the_same_pending_future():
    # asyncio's C future refuses a second await while the first awaiter has not handed it to a
    # Task yet; every node of a step waiting for the same input is exactly that case.
    async def main():
        loop = asyncio.get_running_loop()
        shared = loop.create_future()
        eager = Eager(loop)

        async def work(i):
            return i, await shared

        results = []

        async def keep(i):
            results.append(await work(i))

        runners = [eager.start(keep(i)) for i in range(5)]
        shared.set_result("input")
        await asyncio.gather(*runners)
        return sorted(results)

    assert run(main) == [(i, "input") for i in range(5)]


def test_code_after_the_handoff_runs_in_its_own_task_where_timeouts_work():
    async def main():
        loop = asyncio.get_running_loop()
        eager = Eager(loop)
        caller = asyncio.current_task()
        seen = {}

        async def work():
            seen["before"] = asyncio.current_task()
            await eager.handoff()
            seen["after"] = asyncio.current_task()
            async with asyncio.timeout(0.01):  # attached to this task, not to the caller
                await asyncio.sleep(10)

        runner = eager.start(work())
        assert runner is not None and "after" not in seen  # nothing after the handoff ran on the caller's stack
        with pytest.raises(TimeoutError):
            await runner
        return caller, runner, seen

    caller, runner, seen = run(main)
    assert seen["before"] is caller
    assert seen["after"] is runner


def test_handoff_inside_a_task_already_is_a_no_op():
    async def main():
        eager = Eager(asyncio.get_running_loop())

        async def work():
            await eager.handoff()
            return asyncio.current_task()

        task = asyncio.ensure_future(work())
        return task, await task

    task, current = run(main)
    assert current is task


def test_cancelling_the_task_reaches_the_coroutine():
    async def main():
        loop = asyncio.get_running_loop()
        eager = Eager(loop)
        log = []

        async def work():
            try:
                await loop.create_future()  # never set
            except asyncio.CancelledError:
                log.append("cancelled")
                raise

        runner = eager.start(work())
        await asyncio.sleep(0)
        runner.cancel()
        with pytest.raises(asyncio.CancelledError):
            await runner
        return log

    assert run(main) == ["cancelled"]


def test_an_error_before_the_first_wait_is_raised_by_start():
    async def main():
        async def work():
            raise KeyError("early")

        with pytest.raises(KeyError, match="early"):
            Eager(asyncio.get_running_loop()).start(work())

    run(main)
