"""Live chat over Socket.IO through Redis: streaming, resume, replicas, access control, follow-ups."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest
import socketio

from tests.e2e.teams import team_yaml
from tests.support.chat_client import ChatClient, assemble
from tests.support.stack import Process, Stack, free_port

REDIS = {"WEGENT_REDIS_URL": "redis://127.0.0.1:6379/0"}
LONG_ANSWER = " ".join(f"word{i}" for i in range(60))


def _token(stack: Stack) -> str:
    return stack.headers["Authorization"].split()[1]


@pytest.fixture(scope="module")
def chat_stack(stack_factory_module):  # type: ignore[no-untyped-def]
    # Executors stay warm briefly and workflows wait for follow-ups, as in production (shorter).
    return stack_factory_module("local", WEGENT_EXECUTOR_IDLE_SECONDS="5", WEGENT_TASK_IDLE_SECONDS="60", **REDIS)


def _team(stack: Stack, model, collaboration: str = "solo") -> str:  # type: ignore[no-untyped-def]
    prefix = "c" + uuid.uuid4().hex[:8]
    stack.apply(team_yaml(prefix, model.openai_base_url, [{"bot": "chat"}], collaboration=collaboration))
    return f"{prefix}-team"


async def test_chunks_arrive_in_order_and_equal_the_stored_message(chat_stack, model):
    model.script([{"match": "*", "text": LONG_ANSWER, "chunk_size": 7, "chunk_delay": 0.01}])
    team = _team(chat_stack, model)
    client = await ChatClient(chat_stack.url, _token(chat_stack)).connect()
    try:
        ack = await client.call("chat:send", {"team": team, "message": "tell me a story"})
        assert ack["ok"], ack
        await client.wait_for(lambda ev: any(n == "chat:done" for n, _ in ev))
        chunks = client.of("chat:chunk", task_id=ack["task_id"])
        offsets = [c["offset"] for c in chunks]
        assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets)
        assert "".join(c["content"] for c in chunks) == LONG_ANSWER
        assert client.of("chat:start")[0]["bot"].endswith("-chat")
        done = client.of("chat:done")[0]
        assert done["usage"]["output_tokens"] > 0
        assert client.of("task:created")[0]["id"] == ack["task_id"]
        task = await asyncio.to_thread(chat_stack.wait_state, ack["task_id"], {"COMPLETED"})
        assert task["messages"][-1]["content"] == LONG_ANSWER
        assert {d["state"] for d in client.of("task:status", task_id=ack["task_id"])} >= {"RUNNING", "COMPLETED"}
    finally:
        await client.close()


async def test_reconnect_with_offset_gets_exactly_the_full_text(chat_stack, model):
    model.script([{"match": "*", "text": LONG_ANSWER, "chunk_size": 5, "chunk_delay": 0.05}])
    team = _team(chat_stack, model)
    first = await ChatClient(chat_stack.url, _token(chat_stack)).connect()
    ack = await first.call("chat:send", {"team": team, "message": "stream slowly"})
    await first.wait_for(lambda ev: len([1 for n, _ in ev if n == "chat:chunk"]) >= 5)
    await first.close()  # drops mid-stream
    seen = first.of("chat:chunk", task_id=ack["task_id"])
    message_id, last = seen[-1]["message_id"], seen[-1]["offset"]
    await asyncio.sleep(0.5)  # more chunks are produced while nobody listens

    second = await ChatClient(chat_stack.url, _token(chat_stack)).connect()
    try:
        resumed = await second.call(
            "chat:resume", {"task_id": ack["task_id"], "message_id": message_id, "offset": last}
        )
        assert resumed["ok"] and resumed["replayed"] > 0
        await second.wait_for(lambda ev: any(n == "chat:done" for n, _ in ev))
        text = assemble(seen + second.of("chat:chunk", message_id=message_id))
        assert text == LONG_ANSWER
        # Nothing before the offset was sent again.
        assert all(c["offset"] > last for c in second.of("chat:chunk", message_id=message_id))
    finally:
        await second.close()


async def test_reconnecting_again_and_again_mid_stream_never_loses_repeats_or_reorders_text(chat_stack, model):
    # A fast stream, and a client that drops and resumes from the last offset it showed, several times: what
    # each connection receives continues exactly where the previous one stopped. Replayed chunks and the room's
    # live ones (merged when they queue up) meet at every resume; they must never overtake or overlap.
    answer = " ".join(f"w{i}" for i in range(300))
    model.script([{"match": "*", "text": answer, "chunk_size": 2, "chunk_delay": 0.004}])
    team = _team(chat_stack, model)
    client = await ChatClient(chat_stack.url, _token(chat_stack)).connect()
    ack = await client.call("chat:send", {"team": team, "message": "stream fast"})
    await client.wait_for(lambda ev: any(n == "chat:chunk" for n, _ in ev))
    message_id, shown, resumes, received = None, 0, 0, ""
    try:
        while True:
            await asyncio.sleep(0.15)
            await client.close()
            for c in client.of("chat:chunk", task_id=ack["task_id"]):
                if shown:  # each chunk starts right after the last one shown, across connections too
                    assert c["from_offset"] == shown + 1, (resumes, shown, c)
                message_id, shown, received = c["message_id"], c["offset"], received + c["content"]
            if client.of("chat:done"):
                break
            client = await ChatClient(chat_stack.url, _token(chat_stack)).connect()
            resumed = await client.call(
                "chat:resume", {"task_id": ack["task_id"], "message_id": message_id, "offset": shown}
            )
            assert resumed["ok"], resumed
            resumes += 1
    finally:
        await client.close()
    assert received == answer
    assert resumes >= 3  # the stream was long enough to be resumed several times
    task = await asyncio.to_thread(chat_stack.wait_state, ack["task_id"], {"COMPLETED"})
    assert task["messages"][-1]["content"] == answer


async def test_join_returns_history_and_live_stream_so_far(chat_stack, model):
    model.script([{"match": "*", "text": LONG_ANSWER, "chunk_size": 5, "chunk_delay": 0.05}])
    team = _team(chat_stack, model)
    starter = await ChatClient(chat_stack.url, _token(chat_stack)).connect()
    ack = await starter.call("chat:send", {"team": team, "message": "join me"})
    await starter.wait_for(lambda ev: len([1 for n, _ in ev if n == "chat:chunk"]) >= 3)
    await starter.close()
    watcher = await ChatClient(chat_stack.url, _token(chat_stack)).connect()
    try:
        joined = await watcher.call("task:join", {"task_id": ack["task_id"]})
        assert joined["ok"]
        assert joined["task"]["messages"][0]["content"] == "join me"
        live = joined["live"][0]
        assert LONG_ANSWER.startswith(live["content"]) and live["content"]
        await watcher.wait_for(lambda ev: any(n == "chat:done" for n, _ in ev))
        later = [c for c in watcher.of("chat:chunk") if c["offset"] > live["offset"]]
        assert live["content"] + "".join(c["content"] for c in sorted(later, key=lambda c: c["offset"])) == LONG_ANSWER
    finally:
        await watcher.close()


async def test_second_api_replica_shares_rooms_through_redis(chat_stack, model):
    model.script([{"match": "*", "text": LONG_ANSWER, "chunk_size": 6, "chunk_delay": 0.03}])
    team = _team(chat_stack, model)
    port = free_port()
    replica = Process(
        f"{chat_stack.name}-api-b",
        [__import__("sys").executable, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1", "--port", str(port)],
        chat_stack.env,
        chat_stack.log_dir,
    )
    try:
        url_b = f"http://127.0.0.1:{port}"
        _wait_ready(url_b)
        on_b = await ChatClient(url_b, _token(chat_stack)).connect()
        created = chat_stack.create_task(team, "via replica A")  # started through A's REST API
        joined = await on_b.call("task:join", {"task_id": created["id"]})
        assert joined["ok"]
        await on_b.wait_for(lambda ev: any(n == "chat:done" for n, _ in ev))
        chunks = on_b.of("chat:chunk", task_id=created["id"])
        live = joined["live"][0]["content"] if joined["live"] else ""
        start = joined["live"][0]["offset"] if joined["live"] else 0
        assert live + "".join(c["content"] for c in chunks if c["offset"] > start) == LONG_ANSWER
        await on_b.close()
    finally:
        replica.stop()


async def test_a_user_cannot_join_another_users_task(chat_stack, model):
    team = _team(chat_stack, model)
    created = chat_stack.create_task(team, "private")
    password = "pw-" + uuid.uuid4().hex
    name = "eve" + uuid.uuid4().hex[:6]
    made = chat_stack.request("POST", "/api/v1/admin/users", json={"username": name, "password": password})
    assert made.status_code == 201
    eve = ChatClient(chat_stack.url, chat_stack.login(name, password)["Authorization"].split()[1])
    await eve.connect()
    try:
        ack = await eve.call("task:join", {"task_id": created["id"]})
        assert ack == {"ok": False, "error": f"task {created['id']} not found", "status": 404}
        ack = await eve.call("chat:send", {"task_id": created["id"], "message": "let me in"})
        assert not ack["ok"] and ack["status"] == 404
    finally:
        await eve.close()


async def test_a_refused_join_or_resume_subscribes_to_nothing(chat_stack, model):
    """Security: rooms are entered only after authorisation, for existing, foreign and future task ids."""
    model.script([{"match": "*", "text": LONG_ANSWER, "chunk_size": 9, "chunk_delay": 0.01}])
    team = _team(chat_stack, model)
    existing = chat_stack.create_task(team, "alice's private task")
    future_ids = range(existing["id"] + 1, existing["id"] + 11)  # ids the next tasks will get
    password = "pw-" + uuid.uuid4().hex
    name = "mallory" + uuid.uuid4().hex[:6]
    made = chat_stack.request("POST", "/api/v1/admin/users", json={"username": name, "password": password})
    assert made.status_code == 201
    mallory = ChatClient(chat_stack.url, chat_stack.login(name, password)["Authorization"].split()[1])
    await mallory.connect()
    alice = await ChatClient(chat_stack.url, _token(chat_stack)).connect()
    try:
        for task_id in (existing["id"], *future_ids):
            resumed = await mallory.call("chat:resume", {"task_id": task_id, "message_id": 1, "offset": 0})
            assert resumed == {"ok": False, "error": f"task {task_id} not found", "status": 404}
            joined = await mallory.call("task:join", {"task_id": task_id})
            assert joined == {"ok": False, "error": f"task {task_id} not found", "status": 404}
        ack = await alice.call("chat:send", {"team": team, "message": "stream to me only"})
        assert ack["ok"] and ack["task_id"] in future_ids, ack
        await alice.wait_for(lambda ev: any(n == "chat:done" for n, _ in ev))
        assert alice.of("chat:chunk", task_id=ack["task_id"]), "the owner must see the stream"
        await asyncio.to_thread(chat_stack.wait_state, ack["task_id"], {"COMPLETED"})
        task_events = [(n, d) for n, d in mallory.events if n.startswith("chat:") or n == "task:status"]
        assert task_events == [], task_events[:3]
    finally:
        await alice.close()
        await mallory.close()


async def test_connection_without_valid_token_is_refused(chat_stack):
    for auth in ({}, {"token": "garbage"}):
        sio = socketio.AsyncClient(reconnection=False)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await sio.connect(chat_stack.url, auth=auth, namespaces=["/chat"], transports=["websocket"], wait_timeout=5)
        await sio.disconnect()


async def test_expired_token_gets_auth_error_and_is_disconnected(chat_stack):
    me = chat_stack.request("GET", "/api/v1/users/me").json()
    exp = datetime.now(UTC) + timedelta(seconds=8)  # enough to connect on a loaded machine
    token = jwt.encode(
        {"sub": str(me["id"]), "role": "admin", "exp": exp}, chat_stack.env["WEGENT_SECRET_KEY"], "HS256"
    )
    client = await ChatClient(chat_stack.url, token).connect()
    await client.wait_for(lambda ev: any(n == "auth:error" for n, _ in ev), timeout=30)
    deadline = time.monotonic() + 15
    while client.sio.connected and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert not client.sio.connected


async def test_follow_up_continues_the_conversation_with_history(chat_stack, model):
    model.script([{"match": "capital", "text": "Paris."}, {"match": "population", "text": "About 2 million."}])
    team = _team(chat_stack, model)
    client = await ChatClient(chat_stack.url, _token(chat_stack)).connect()
    try:
        ack = await client.call("chat:send", {"team": team, "message": "What is the capital of France?"})
        await asyncio.to_thread(chat_stack.wait_state, ack["task_id"], {"COMPLETED"})
        # A follow-up while running is refused; after completion it is a new turn of the same task.
        follow = await client.call("chat:send", {"task_id": ack["task_id"], "message": "And its population?"})
        assert follow["ok"], follow
        assert follow["turn"] == 2
        await client.wait_for(lambda ev: len([1 for n, _ in ev if n == "chat:done"]) >= 2)
        task = await asyncio.to_thread(chat_stack.wait_state, ack["task_id"], {"COMPLETED"})
        assert [m["content"] for m in task["messages"]] == [
            "What is the capital of France?",
            "Paris.",
            "And its population?",
            "About 2 million.",
        ]
        second_request = model.requests()[-1]
        roles = [(m["role"], m["content"]) for m in second_request.messages if m["role"] != "system"]
        assert roles == [
            ("user", "What is the capital of France?"),
            ("assistant", "Paris."),
            ("user", "And its population?"),
        ]
    finally:
        await client.close()


async def test_follow_up_while_running_is_refused(chat_stack, model):
    model.script([{"match": "*", "text": LONG_ANSWER, "chunk_size": 3, "chunk_delay": 0.05}])
    team = _team(chat_stack, model)
    client = await ChatClient(chat_stack.url, _token(chat_stack)).connect()
    try:
        ack = await client.call("chat:send", {"team": team, "message": "long one"})
        await client.wait_for(lambda ev: any(n == "chat:chunk" for n, _ in ev))
        refused = await client.call("chat:send", {"task_id": ack["task_id"], "message": "hurry"})
        assert refused["ok"] is False and refused["status"] == 409
        assert "wait until it finishes" in refused["error"]
        await asyncio.to_thread(chat_stack.wait_state, ack["task_id"], {"COMPLETED"})
    finally:
        await client.close()


def _wait_ready(url: str, timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} not ready")
