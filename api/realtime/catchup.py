"""Catching one client up on a message it missed part of, then handing it to the room's live stream exactly.

A client that resumes (`chat:resume`) or joins (`task:join`) while a message streams needs what it missed from
the live log, then the room's live events: nothing missing, nothing twice, in order. Reading the log while the
room's fan-out keeps going gets in the way twice:
- live chunks newer than the replay can reach the client first; clients drop a chunk at or below the offset
  they have shown, so the older replayed ones would be lost;
- the fan-out merges chunks that queued up into one covering several log entries, and such a chunk can straddle
  the offset the replay reached; a client cannot cut it, since offsets count deltas, not characters.

So while a client catches up on a message, the fan-out asks this registry about each of that message's events
bound for it (`admit`). A cursor holds the last offset the client has (`sent`). The room's chunk that starts
right after it goes through, and from then on the client is simply live (the cursor is gone). Any other event of
that message is dropped and wakes the task's follower, which reads the log on (one read for every cursor of the
task) and sends each client what is new after its own cursor; every event is in the log before it is published,
so nothing dropped is lost. Sending to a local
socket only queues the packet and never yields, so a follower's sends and the fan-out's decisions never
interleave.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from core.live_store import LiveStore
from wegent.logging import get_logger
from wegent.realtime import ServerEvent
from wegent.realtime_payloads import LiveText

log = get_logger("catchup")

TEXT_EVENTS = frozenset({ServerEvent.CHAT_CHUNK, ServerEvent.CHAT_TOOL})
END_EVENTS = frozenset({ServerEvent.CHAT_DONE, ServerEvent.CHAT_ERROR, ServerEvent.CHAT_CANCELLED})
MESSAGE_EVENTS = TEXT_EVENTS | END_EVENTS | {ServerEvent.CHAT_START}
# A follower reads the log at least this often, should a live event it waits for have been lost on the bus.
FOLLOW_PERIOD = 5.0

Send = Callable[[str, str, dict[str, Any]], Awaitable[None]]  # (sid, event, payload) to one local socket
Entry = tuple[str, str, dict[str, Any]]  # (log entry id, event, payload)


@dataclass
class Snapshot:
    """What a joining client is given of a message in progress: its text so far and, when the log already
    holds it, the event that ended that run (sent to the client after the join's answer)."""

    text: LiveText
    end: Entry | None = None


@dataclass(eq=False)
class Cursor:
    """Where one client stands in one message it is catching up on."""

    sid: str
    task_id: int
    message_id: int
    sent: int  # the last offset of `run_id` the client has
    run_id: str | None  # None until the first read names the latest run
    after: str | None = None  # the last log entry read
    primed: bool = False  # the first read is done
    announce: bool = False  # the client has not seen the run's `chat:start` (it joined without this message)
    owed: list[Entry] = field(default_factory=list)  # read already, still to send (by the follower)
    done: bool = False  # handed to the live stream, ended, or dropped

    def admit(self, event: str, payload: dict[str, Any]) -> bool | None:
        """The room's `event` for this client: True to send it, False to drop it, None to drop it and wake."""
        if not self.primed:
            return None
        run = payload.get("run_id")
        if self.run_id is None:
            self.run_id = run
        if event == ServerEvent.CHAT_START:
            if run == self.run_id:
                return False
            self.done = True  # a fresh run starts the text over: the client takes it live from its start
            return True
        if run != self.run_id:
            return True  # another run's events: the client sorts those out as it would live
        if event in END_EVENTS:
            return None  # the follower sends it after the text it still owes
        last = payload["offset"]
        if last <= self.sent:
            return False
        if payload.get("from_offset", last) == self.sent + 1:
            self.sent, self.done = last, True  # exactly where the client stands: live from here
            return True
        return None


@dataclass(eq=False)
class _Follower:
    """Reads one task's log for every cursor catching up on it: one read per wake, however many viewers."""

    cursors: set[Cursor] = field(default_factory=set)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


class CatchUp:
    """Every cursor of this process's clients; consulted by the fan-out for the events of their messages."""

    def __init__(self, live: LiveStore) -> None:
        self.live = live
        self.send: Send | None = None  # set by the client manager: sends to one socket without asking `admit`
        self._cursors: dict[str, dict[tuple[int, int], Cursor]] = {}
        self._followers: dict[int, _Follower] = {}
        # While a client joins a task, every message event of that task is held back for it (message ids kept).
        self._holds: dict[str, dict[int, set[int]]] = {}

    def watching(self, event: str) -> bool:
        return (bool(self._cursors) or bool(self._holds)) and event in MESSAGE_EVENTS

    def admit(self, sid: str, event: str, payload: dict[str, Any]) -> bool:
        """Whether the room's `event` goes to `sid` now (False: it comes from the log, in its place)."""
        holds, cursors = self._holds.get(sid), self._cursors.get(sid)
        if holds is None and cursors is None:
            return True
        task_id, message_id = payload.get("task_id"), payload.get("message_id")
        if holds is not None and task_id in holds:
            holds[task_id].add(message_id)
            return False
        cursor = cursors.get((task_id, message_id)) if cursors is not None else None  # type: ignore[arg-type]
        if cursor is None:
            return True
        verdict = cursor.admit(event, payload)
        if cursor.done:
            self._forget(cursor)
        if verdict is None:
            self._wake(cursor.task_id)  # read on from the log
        return bool(verdict)

    # ---- what the chat handlers call --------------------------------------------------------------

    def resume(self, sid: str, task_id: int, message_id: int, offset: int) -> Cursor:
        """Hold the message's live events for `sid` (call before it enters the room); `start` replays."""
        cursor = Cursor(sid, task_id, message_id, sent=offset, run_id=None)
        self._track(cursor)
        return cursor

    async def start(self, cursor: Cursor) -> int:
        """Send what the client missed (the count of text events), then follow until it is live."""
        entries = await self.live.read(cursor.task_id)
        if cursor.run_id is None:
            cursor.run_id = _latest_run(entries, cursor.message_id)
        sent = await self._send_new(cursor, entries)
        if not cursor.done:
            self._follow(cursor, wake=True)  # once more at once: what was dropped during the read
        return sent

    def hold(self, sid: str, task_id: int) -> None:
        """Hold back the task's message events for `sid` while it joins (call before it enters the room)."""
        self._holds.setdefault(sid, {}).setdefault(task_id, set())

    async def release(
        self, sid: str, task_id: int, snapshot: Iterable[Snapshot], after: str | None, settled: Iterable[int] = ()
    ) -> None:
        """End a join: the client has the `snapshot` of each message in progress, read up to log entry `after`,
        and the whole of the `settled` messages (stored as finished)."""
        held = self._holds.get(sid, {}).pop(task_id, set())
        if not self._holds.get(sid):
            self._holds.pop(sid, None)
        known: set[int] = set()
        for part in snapshot:
            text = part.text
            known.add(text.message_id)
            cursor = Cursor(sid, task_id, text.message_id, text.offset, text.run_id, after=after, primed=True)
            cursor.owed = [part.end] if part.end else []
            self._track(cursor)
            # Events of it were held back, or its end is owed: the follower goes at once (after the join's answer).
            self._follow(cursor, wake=text.message_id in held or bool(cursor.owed))
        for message_id in held - known - set(settled):
            # A message that began while the client joined: it gets the whole of it from the log.
            cursor = Cursor(sid, task_id, message_id, sent=0, run_id=None, announce=True)
            self._track(cursor)
            await self.start(cursor)

    def drop(self, sid: str, task_id: int | None = None) -> None:
        """The client left the task (or every task, when None) or went away."""
        if task_id is None:
            self._holds.pop(sid, None)
        else:
            self._holds.get(sid, {}).pop(task_id, None)
        for cursor in list(self._cursors.get(sid, {}).values()):
            if task_id is None or cursor.task_id == task_id:
                cursor.done = True
                self._forget(cursor)

    # ---- inside -----------------------------------------------------------------------------------

    def _track(self, cursor: Cursor) -> None:
        previous = self._cursors.setdefault(cursor.sid, {}).get((cursor.task_id, cursor.message_id))
        if previous is not None:  # a second resume of the same message supersedes the first
            previous.done = True
            self._forget(previous)
        self._cursors.setdefault(cursor.sid, {})[(cursor.task_id, cursor.message_id)] = cursor

    def _forget(self, cursor: Cursor) -> None:
        mine = self._cursors.get(cursor.sid)
        if mine is not None and mine.get((cursor.task_id, cursor.message_id)) is cursor:
            del mine[(cursor.task_id, cursor.message_id)]
            if not mine:
                del self._cursors[cursor.sid]
        follower = self._followers.get(cursor.task_id)
        if follower is not None:
            follower.cursors.discard(cursor)
            if not follower.cursors:
                follower.wake.set()  # nothing left to follow: let it end

    def _wake(self, task_id: int) -> None:
        follower = self._followers.get(task_id)
        if follower is not None:
            follower.wake.set()

    def _follow(self, cursor: Cursor, wake: bool) -> None:
        follower = self._followers.get(cursor.task_id)
        if follower is None or follower.task is None or follower.task.done():
            follower = self._followers[cursor.task_id] = _Follower()
            follower.task = asyncio.create_task(self._run(cursor.task_id, follower))
        follower.cursors.add(cursor)
        if wake:
            follower.wake.set()

    async def _run(self, task_id: int, follower: _Follower) -> None:
        try:
            while follower.cursors:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(follower.wake.wait(), FOLLOW_PERIOD)
                follower.wake.clear()  # before the read: whatever is dropped from now on is read again
                cursors = [cursor for cursor in follower.cursors if not cursor.done]
                if not cursors:
                    break
                after = _earliest({cursor.after for cursor in cursors})
                entries = await self.live.read(task_id, after=after)
                for cursor in cursors:
                    if not cursor.done:
                        await self._send_new(cursor, _entries_after(entries, cursor.after, after))
        except Exception:  # noqa: BLE001 - the clients then get the room's events as they come, as before
            log.exception("catchup.follow_failed", task_id=task_id)
        finally:
            if self._followers.get(task_id) is follower:
                del self._followers[task_id]
            for cursor in list(follower.cursors):
                cursor.done = True
                self._forget(cursor)

    async def _send_new(self, cursor: Cursor, entries: list[Entry]) -> int:
        """Send the cursor's client what it is owed, then what `entries` (read after `cursor.after`) hold for it."""
        sent = 0
        for entry, event, payload in cursor.owed:
            sent += await self._send_entry(cursor, entry, event, payload)
        cursor.owed.clear()
        for entry, event, payload in entries:
            if cursor.done:
                break
            cursor.after = entry
            if payload.get("message_id") == cursor.message_id:
                sent += await self._send_entry(cursor, entry, event, payload)
        cursor.primed = True
        if cursor.done:
            self._forget(cursor)
        return sent

    async def _send_entry(self, cursor: Cursor, entry: str, event: str, payload: dict[str, Any]) -> int:
        assert self.send is not None, "the client manager sets `send`"
        run = payload.get("run_id")
        if event == ServerEvent.CHAT_START:
            if cursor.primed and run != cursor.run_id:  # the step restarted meanwhile: the text starts over
                cursor.run_id, cursor.sent, cursor.announce = run, 0, True
            if cursor.announce and run == cursor.run_id:
                cursor.announce = False
                await self.send(cursor.sid, event, {**payload, "entry": entry})
            return 0
        if run != cursor.run_id:
            return 0
        if event in TEXT_EVENTS:
            if payload["offset"] <= cursor.sent:
                return 0
            cursor.sent = payload["offset"]  # before sending: the fan-out compares against it
            await self.send(cursor.sid, event, {**payload, "entry": entry})
            return 1
        if event in END_EVENTS:
            cursor.done = True  # the message is over: whatever the room sends about it later goes straight through
            await self.send(cursor.sid, event, {**payload, "entry": entry})
        return 0


def _earliest(afters: set[str | None]) -> str | None:
    """The position to read the log from for cursors standing at `afters` (None: from the start)."""
    if None in afters:
        return None
    return min((a for a in afters if a is not None), key=_entry_key)


def _entry_key(entry: str) -> tuple[int, ...]:
    return tuple(int(part) for part in entry.split("-"))  # stream ids are "<ms>-<sequence>"


def _entries_after(entries: list[Entry], after: str | None, read_from: str | None) -> list[Entry]:
    """The part of `entries` (read after `read_from`) that comes after `after`."""
    if after == read_from:
        return entries
    for index, (entry, _, _) in enumerate(entries):
        if entry == after:
            return entries[index + 1 :]
    return entries  # not among them (trimmed): offsets still keep the client from getting text twice


def _latest_run(entries: list[Entry], message_id: int) -> str | None:
    """The run of the message's last `chat:start` in the log (or of its last event when no start is left)."""
    mine = [(event, payload) for _, event, payload in entries if payload.get("message_id") == message_id]
    starts = [payload.get("run_id") for event, payload in mine if event == ServerEvent.CHAT_START]
    if starts:
        return starts[-1]
    return mine[-1][1].get("run_id") if mine else None
