"""A client catching up on a message gets every delta once, in order, and then simply the live stream.

The fan-out's side is played by `room()`: it offers an event to the client the way the manager does (ask
`admit`, send when allowed). The log is the embedded mode's in-memory live log; the follower runs for real.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from api.realtime.catchup import CatchUp, Snapshot
from core.live_store import MemoryLiveStore
from wegent.realtime import ServerEvent
from wegent.realtime_payloads import LiveText

SID, TASK, MSG = "sid-1", 7, 70
RUN = "run-a"


class Client:
    """What one socket receives, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    async def send(self, sid: str, event: str, payload: dict[str, Any]) -> None:
        assert sid == SID
        self.events.append((event, payload))

    def chunks(self) -> list[dict[str, Any]]:
        return [p for e, p in self.events if e == ServerEvent.CHAT_CHUNK]

    def text(self) -> str:
        return "".join(c["content"] for c in self.chunks())


@pytest.fixture
def setup() -> tuple[CatchUp, MemoryLiveStore, Client]:
    live = MemoryLiveStore()
    catchup = CatchUp(live)
    client = Client()
    catchup.send = client.send
    return catchup, live, client


def chunk(first: int, last: int, text: str, run: str = RUN, message: int = MSG) -> dict[str, Any]:
    return {**event(ServerEvent.CHAT_CHUNK, run, message), "from_offset": first, "offset": last, "content": text}


def event(name: str, run: str = RUN, message: int = MSG, **extra: Any) -> dict[str, Any]:
    return {"task_id": TASK, "message_id": message, "run_id": run, **extra}


async def publish(live: MemoryLiveStore, catchup: CatchUp, client: Client, name: str, payload: dict[str, Any]) -> None:
    """A worker's event: appended to the log first, then emitted to the room."""
    await live.append(TASK, name, payload)
    await room(catchup, client, name, payload)


async def room(catchup: CatchUp, client: Client, name: str, payload: dict[str, Any]) -> None:
    if not catchup.watching(name) or catchup.admit(SID, name, payload):
        await client.send(SID, name, payload)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def assert_contiguous(chunks: list[dict[str, Any]], start: int) -> None:
    """Each chunk starts right after the previous one: no gap, no overlap, no reordering."""
    for c in chunks:
        assert c["from_offset"] == start + 1, chunks
        start = c["offset"]


async def test_resume_sends_what_the_client_missed_then_hands_it_to_the_live_stream(setup):
    catchup, live, client = setup
    await live.append(TASK, ServerEvent.CHAT_START, event(ServerEvent.CHAT_START))
    for first, text in ((1, "ab"), (3, "cd"), (5, "ef")):
        await live.append(TASK, ServerEvent.CHAT_CHUNK, chunk(first, first + 1, text))

    cursor = catchup.resume(SID, TASK, MSG, offset=2)
    assert await catchup.start(cursor) == 2
    assert client.text() == "cdef"
    await room(catchup, client, ServerEvent.CHAT_CHUNK, chunk(5, 6, "ef"))  # the room's copy of a replayed one
    await publish(live, catchup, client, ServerEvent.CHAT_CHUNK, chunk(7, 8, "gh"))  # right after: live from here
    assert cursor.done and not catchup.watching(ServerEvent.CHAT_CHUNK)
    await publish(live, catchup, client, ServerEvent.CHAT_CHUNK, chunk(9, 10, "ij"))
    assert client.text() == "cdefghij"
    assert_contiguous(client.chunks(), 2)
    assert all("entry" in c for c in client.chunks()[:2])  # replayed ones carry their log entry


async def test_live_chunks_ahead_of_the_replay_wait_for_the_log_instead_of_overtaking_it(setup):
    catchup, live, client = setup
    await live.append(TASK, ServerEvent.CHAT_START, event(ServerEvent.CHAT_START))
    await live.append(TASK, ServerEvent.CHAT_CHUNK, chunk(1, 2, "ab"))
    cursor = catchup.resume(SID, TASK, MSG, offset=0)
    # Before the replay is read, the room already streams on: those chunks must not reach the client first.
    await publish(live, catchup, client, ServerEvent.CHAT_CHUNK, chunk(3, 4, "cd"))
    assert client.events == []
    await catchup.start(cursor)
    assert client.text() == "abcd"
    # The fan-out merged two chunks, of which the client has the first: it cannot cut it, so the log goes on.
    await live.append(TASK, ServerEvent.CHAT_CHUNK, chunk(5, 6, "ef"))
    await live.append(TASK, ServerEvent.CHAT_CHUNK, chunk(7, 8, "gh"))
    await room(catchup, client, ServerEvent.CHAT_CHUNK, chunk(3, 8, "cdefgh"))
    assert client.text() == "abcd"
    await settle()
    assert client.text() == "abcdefgh"
    assert not cursor.done  # nothing live started right after the client yet
    await publish(live, catchup, client, ServerEvent.CHAT_CHUNK, chunk(9, 9, "i"))
    await settle()
    assert cursor.done and client.text() == "abcdefghi"
    assert_contiguous(client.chunks(), 0)


async def test_the_end_of_the_message_comes_after_the_text_still_owed(setup):
    catchup, live, client = setup
    await live.append(TASK, ServerEvent.CHAT_START, event(ServerEvent.CHAT_START))
    await live.append(TASK, ServerEvent.CHAT_CHUNK, chunk(1, 1, "a"))
    cursor = catchup.resume(SID, TASK, MSG, offset=0)
    await catchup.start(cursor)
    await live.append(TASK, ServerEvent.CHAT_CHUNK, chunk(2, 2, "b"))  # its room copy is still on the bus
    await publish(live, catchup, client, ServerEvent.CHAT_DONE, event(ServerEvent.CHAT_DONE))
    await settle()
    assert [e for e, _ in client.events] == [ServerEvent.CHAT_CHUNK, ServerEvent.CHAT_CHUNK, ServerEvent.CHAT_DONE]
    assert client.text() == "ab" and cursor.done
    await room(catchup, client, ServerEvent.CHAT_CHUNK, chunk(2, 2, "b"))  # late copy: the client is live again
    assert client.text() == "abb"  # (clients drop it by offset, as any duplicate)


async def test_resume_takes_only_the_latest_run_and_a_new_run_goes_live_from_its_start(setup):
    catchup, live, client = setup
    await live.append(TASK, ServerEvent.CHAT_START, event(ServerEvent.CHAT_START, run="old"))
    await live.append(TASK, ServerEvent.CHAT_CHUNK, chunk(1, 3, "old", run="old"))
    await live.append(TASK, ServerEvent.CHAT_START, event(ServerEvent.CHAT_START))
    await live.append(TASK, ServerEvent.CHAT_CHUNK, chunk(1, 2, "ne"))
    cursor = catchup.resume(SID, TASK, MSG, offset=0)
    await catchup.start(cursor)
    assert client.text() == "ne"
    await publish(live, catchup, client, ServerEvent.CHAT_START, event(ServerEvent.CHAT_START, run="retry"))
    assert cursor.done and client.events[-1][0] == ServerEvent.CHAT_START


async def test_other_messages_and_events_are_never_held(setup):
    catchup, live, client = setup
    await live.append(TASK, ServerEvent.CHAT_CHUNK, chunk(1, 2, "ab"))
    cursor = catchup.resume(SID, TASK, MSG, offset=0)
    await room(catchup, client, ServerEvent.CHAT_CHUNK, chunk(1, 1, "x", message=MSG + 1))
    await room(catchup, client, ServerEvent.TASK_STATUS, {"task_id": TASK, "state": "RUNNING"})
    assert [p.get("content") for _, p in client.events] == ["x", None]
    await catchup.start(cursor)
    assert client.events[-1][1]["content"] == "ab"


async def test_a_join_continues_exactly_where_its_snapshot_ends(setup):
    catchup, live, client = setup
    await live.append(TASK, ServerEvent.CHAT_START, event(ServerEvent.CHAT_START))
    await live.append(TASK, ServerEvent.CHAT_CHUNK, chunk(1, 2, "ab"))
    catchup.hold(SID, TASK)
    after = (await live.read(TASK))[-1][0]  # the snapshot's read
    # While the join is answered, the stream goes on and the fan-out merges across the snapshot's end.
    await live.append(TASK, ServerEvent.CHAT_CHUNK, chunk(3, 4, "cd"))
    await room(catchup, client, ServerEvent.CHAT_CHUNK, chunk(1, 4, "abcd"))
    # And another message starts, of which the snapshot knows nothing.
    other = MSG + 1
    await publish(live, catchup, client, ServerEvent.CHAT_START, event(ServerEvent.CHAT_START, message=other))
    await publish(live, catchup, client, ServerEvent.CHAT_CHUNK, chunk(1, 1, "z", message=other))
    assert client.events == []
    snapshot = LiveText(message_id=MSG, bot="b", step=0, run_id=RUN, content="ab", offset=2)
    await catchup.release(SID, TASK, [Snapshot(snapshot)], after, settled=[])
    await settle()
    mine = [p for e, p in client.events if p["message_id"] == MSG]
    assert [(p["from_offset"], p["content"]) for p in mine] == [(3, "cd")]
    theirs = [(e, p.get("content")) for e, p in client.events if p["message_id"] == other]
    assert theirs == [(ServerEvent.CHAT_START, None), (ServerEvent.CHAT_CHUNK, "z")]
    await publish(live, catchup, client, ServerEvent.CHAT_CHUNK, chunk(5, 5, "e"))
    assert client.chunks()[-1]["content"] == "e"  # right after the snapshot's text: live from here


async def test_a_join_whose_snapshot_saw_the_end_still_delivers_it(setup):
    catchup, live, client = setup
    await live.append(TASK, ServerEvent.CHAT_CHUNK, chunk(1, 1, "a"))
    end = await live.append(TASK, ServerEvent.CHAT_DONE, event(ServerEvent.CHAT_DONE))
    catchup.hold(SID, TASK)
    await room(catchup, client, ServerEvent.CHAT_DONE, event(ServerEvent.CHAT_DONE))  # held back during the join
    snapshot = LiveText(message_id=MSG, bot="b", step=0, run_id=RUN, content="a", offset=1)
    assert end is not None
    done = (end, ServerEvent.CHAT_DONE, event(ServerEvent.CHAT_DONE))
    await catchup.release(SID, TASK, [Snapshot(snapshot, end=done)], end, settled=[])
    assert client.events == []  # after the join's answer, not inside it
    await settle()
    assert [e for e, _ in client.events] == [ServerEvent.CHAT_DONE]


async def test_leaving_ends_the_catch_up(setup):
    catchup, live, client = setup
    cursor = catchup.resume(SID, TASK, MSG, offset=0)
    await catchup.start(cursor)
    follower = catchup._followers[TASK].task
    assert follower is not None and not cursor.done
    catchup.drop(SID)
    await settle()
    assert cursor.done and follower.done() and not catchup.watching(ServerEvent.CHAT_CHUNK)


class CountingStore(MemoryLiveStore):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    async def read(self, task_id: int, after: str | None = None) -> list[tuple[str, str, dict[str, Any]]]:
        self.reads += 1
        return await super().read(task_id, after)


async def test_a_thousand_viewers_catching_up_on_one_task_share_each_read_of_its_log():
    live = CountingStore()
    catchup = CatchUp(live)
    received: dict[str, list[dict[str, Any]]] = {}

    async def send(sid: str, event: str, payload: dict[str, Any]) -> None:
        received.setdefault(sid, []).append(payload)

    catchup.send = send
    await live.append(TASK, ServerEvent.CHAT_START, event(ServerEvent.CHAT_START))
    after = (await live.read(TASK))[-1][0]
    viewers = [f"sid-{n}" for n in range(1000)]
    for sid in viewers:  # each joined before any text: the snapshot has the run and offset 0
        catchup.hold(sid, TASK)
        snapshot = LiveText(message_id=MSG, bot="b", step=0, run_id=RUN, content="", offset=0)
        await catchup.release(sid, TASK, [Snapshot(snapshot)], after)
    await settle()
    live.reads = 0
    # The first chunk starts at sequence 2 (1 was an event that is not relayed): no viewer can take it live.
    first = chunk(2, 3, "ab")
    await live.append(TASK, ServerEvent.CHAT_CHUNK, first)
    for sid in viewers:
        assert not catchup.admit(sid, ServerEvent.CHAT_CHUNK, first)
    await settle()
    assert live.reads == 1  # one read of the log served all of them
    assert all([p["content"] for p in received[sid]] == ["ab"] for sid in viewers)
    second = chunk(4, 4, "c")
    assert all(catchup.admit(sid, ServerEvent.CHAT_CHUNK, second) for sid in viewers)  # live from here
    assert not catchup.watching(ServerEvent.CHAT_CHUNK)
