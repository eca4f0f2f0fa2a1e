"""The worker keeps one executor client per sandbox between steps, and closes it only once no step uses it."""

from __future__ import annotations

from activities.executor_clients import ExecutorClients


async def test_a_sandboxs_later_steps_reuse_its_client() -> None:
    clients = ExecutorClients()
    async with clients.use(20001, "task-1") as first:
        pass
    async with clients.use(20001, "task-1") as again:
        assert again is first and not again.closed
    async with clients.use(20002, "task-1") as sibling, clients.use(20001, "task-2") as other_task:
        # Another sandbox of the task, and another task on a reused port, get clients of their own.
        assert len({id(first), id(sibling), id(other_task)}) == 3
    await clients.aclose()
    assert first.closed and sibling.closed and other_task.closed


async def test_a_stopped_sandboxs_client_goes_once_its_last_step_is_done() -> None:
    clients = ExecutorClients()
    async with clients.use(20001, "task-1") as in_use:
        async with clients.use(20002, "task-1") as idle:
            pass
        await clients.forget("task-1")
        assert idle.closed
        assert not in_use.closed  # the step still streaming keeps its connection
    assert in_use.closed
    async with clients.use(20001, "task-1") as fresh:
        assert fresh is not in_use and not fresh.closed
    await clients.aclose()


async def test_beyond_the_limit_the_least_recently_used_idle_client_goes() -> None:
    clients = ExecutorClients(limit=2)
    async with clients.use(1, "a") as a:
        pass
    async with clients.use(2, "b") as b:
        pass
    async with clients.use(1, "a"):
        pass  # a is now the more recent
    async with clients.use(3, "c") as c, clients.use(4, "d") as d:
        # Over the limit while c and d are in use: only idle ones go, the oldest first.
        assert b.closed and a.closed and not c.closed and not d.closed
    assert len(clients) == 2
    await clients.aclose()
