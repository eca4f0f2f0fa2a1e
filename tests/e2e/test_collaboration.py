"""Every collaboration model as a durable workflow shape, with people in the loop and failure paths."""

from __future__ import annotations

import json
import signal
import time
import uuid

import pytest

from tests.e2e.teams import team_yaml
from tests.support.model_server import max_concurrency


@pytest.fixture(scope="module")
def stack(stack_factory_module):  # type: ignore[no-untyped-def]
    return stack_factory_module("local")


def _prefix() -> str:
    return "w" + uuid.uuid4().hex[:8]


def _answers(task: dict) -> list[tuple[str, str]]:
    return [(m["bot"], m["content"]) for m in task["messages"] if m["role"] == "assistant"]


def _notes(task: dict) -> list[dict]:
    return [m for m in task["messages"] if m["role"] == "system"]


# ---- pipeline with confirmation ----------------------------------------------------------------------


def _approval_team(stack, model, prefix: str, **team) -> str:  # type: ignore[no-untyped-def]
    stack.apply(
        team_yaml(
            prefix,
            model.openai_base_url,
            [
                {"bot": "draft", "requireConfirmation": True},
                {"bot": "final", "contextPassing": "previous"},
            ],
            team=team,
        )
    )
    return f"{prefix}-team"


def test_pipeline_waits_for_approval_and_uses_the_edited_handoff(stack, model):
    prefix = _prefix()
    model.script([{"match": "*", "text": "draft v1", "times": 1}])
    team = _approval_team(stack, model, prefix)
    created = stack.create_task(team, "write a haiku")
    waiting = stack.wait_state(created["id"], {"PENDING_CONFIRMATION", "FAILED"})
    assert waiting["state"] == "PENDING_CONFIRMATION"
    assert _answers(waiting) == [(f"{prefix}-draft", "draft v1")]
    response = stack.request("POST", f"/api/v1/tasks/{created['id']}/approve", json={"handoff": "EDITED DRAFT"})
    assert response.status_code == 202, response.text
    done = stack.wait_state(created["id"], {"COMPLETED", "FAILED"})
    assert done["state"] == "COMPLETED"
    assert model.requests()[-1].messages[-1]["content"] == "EDITED DRAFT"
    assert _answers(done)[-1] == (f"{prefix}-final", "echo: EDITED DRAFT")
    # Approving a task that is not waiting is a 409 with a clear message.
    again = stack.request("POST", f"/api/v1/tasks/{created['id']}/approve", json={})
    assert again.status_code == 409 and "not waiting for approval" in again.json()["detail"]


def test_rejection_cancels_with_the_reason(stack, model):
    team = _approval_team(stack, model, _prefix())
    created = stack.create_task(team, "write a limerick")
    stack.wait_state(created["id"], {"PENDING_CONFIRMATION"})
    response = stack.request("POST", f"/api/v1/tasks/{created['id']}/reject", json={"reason": "off topic"})
    assert response.status_code == 202
    done = stack.wait_state(created["id"], {"CANCELLED", "COMPLETED", "FAILED"})
    assert done["state"] == "CANCELLED" and "off topic" in done["error"]
    assert len(model.requests()) == 1


@pytest.mark.parametrize("outcome,final", [("reject", "CANCELLED"), ("approve", "COMPLETED")])
def test_approval_timeout_ends_the_wait_with_the_configured_outcome(stack, model, outcome, final):
    # The wait is not observed by polling (a short PENDING_CONFIRMATION window is easy to miss on a loaded
    # machine): the outcome and its recorded reason show that the timer, not a decision, ended it.
    team = _approval_team(stack, model, _prefix(), approvalTimeoutSeconds=3, approvalTimeoutOutcome=outcome)
    created = stack.create_task(team, "decide for me")
    done = stack.wait_state(created["id"], {"CANCELLED", "COMPLETED", "FAILED"}, timeout=90)
    assert done["state"] == final
    if outcome == "reject":
        assert "no decision within 3s" in done["error"]
    else:
        assert len(_answers(done)) == 2


def test_approval_wait_survives_a_worker_restart(stack_factory, model):
    stack = stack_factory("local")
    team = _approval_team(stack, model, _prefix())
    created = stack.create_task(team, "survive me")
    stack.wait_state(created["id"], {"PENDING_CONFIRMATION"})
    stack.workers[0].stop(signal.SIGTERM)
    stack.start_worker()
    response = stack.request("POST", f"/api/v1/tasks/{created['id']}/approve", json={})
    assert response.status_code == 202, response.text
    done = stack.wait_state(created["id"], {"COMPLETED", "FAILED"}, timeout=60)
    assert done["state"] == "COMPLETED"
    assert len(_answers(done)) == 2


# ---- route ----------------------------------------------------------------------------------------------


def _route_team(stack, model, prefix: str, **team) -> str:  # type: ignore[no-untyped-def]
    stack.apply(
        team_yaml(
            prefix,
            model.openai_base_url,
            [
                {"bot": "lead", "role": "leader"},
                {"bot": "math", "system": "Math expert."},
                {"bot": "poet", "system": "Poetry expert."},
            ],
            collaboration="route",
            team=team,
        )
    )
    return f"{prefix}-team"


def test_route_picks_a_member_records_the_decision_and_that_member_answers(stack, model):
    prefix = _prefix()
    decision = json.dumps({"member": f"{prefix}-poet", "reason": "it is about rhyme"})
    model.script([{"match": "Decide which ONE", "text": f"Sure! {decision}"}])
    team = _route_team(stack, model, prefix)
    done = stack.wait_state(stack.create_task(team, "a rhyme about cats")["id"], {"COMPLETED", "FAILED"})
    assert done["state"] == "COMPLETED", done["error"]
    assert _answers(done)[-1] == (f"{prefix}-poet", "echo: a rhyme about cats")
    note = _notes(done)[0]
    assert note["meta"]["kind"] == "route" and note["meta"]["member"] == f"{prefix}-poet"
    assert "it is about rhyme" in note["content"]


def test_route_bad_json_is_repaired_once_then_falls_back_to_the_default(stack, model):
    prefix = _prefix()
    model.script([{"match": "Decide which ONE", "text": "I think math, probably."}])
    team = _route_team(stack, model, prefix, defaultMember=f"{prefix}-math")
    done = stack.wait_state(stack.create_task(team, "2+2?")["id"], {"COMPLETED", "FAILED"})
    assert done["state"] == "COMPLETED", done["error"]
    leader_calls = [r for r in model.requests() if "Decide which ONE" in r.messages[-1]["content"]]
    assert len(leader_calls) == 2
    assert "was not valid" in leader_calls[1].messages[-1]["content"]
    assert _notes(done)[0]["meta"]["kind"] == "route_fallback"
    assert _answers(done)[-1][0] == f"{prefix}-math"


def test_route_without_valid_decision_or_default_fails_clearly(stack, model):
    prefix = _prefix()
    model.script([{"match": "Decide which ONE", "text": "no idea"}])
    done = stack.wait_state(stack.create_task(_route_team(stack, model, prefix), "?")["id"], {"COMPLETED", "FAILED"})
    assert done["state"] == "FAILED" and "no defaultMember" in done["error"]


# ---- coordinate -----------------------------------------------------------------------------------------


def test_coordinate_runs_subtasks_in_parallel_and_reports_a_failed_one(stack, model):
    prefix = _prefix()
    plan = {
        "subtasks": [
            {"member": f"{prefix}-math", "task": "SUB-A compute"},
            {"member": f"{prefix}-poet", "task": "SUB-B rhyme"},
            {"member": f"{prefix}-math", "task": "SUB-C broken"},
        ]
    }
    model.script(
        [
            {"match": "Split the request", "text": json.dumps(plan)},
            {"match": "Combine the sub-task results", "text": "aggregated"},  # its prompt quotes SUB-A..C too
            {"match": "SUB-A", "text": "result A " * 10, "chunk_delay": 0.05},
            {"match": "SUB-B", "text": "result B " * 10, "chunk_delay": 0.05},
            {"match": "SUB-C", "status": 400, "error_message": "bad request for C"},
        ]
    )
    stack.apply(
        team_yaml(
            prefix,
            model.openai_base_url,
            [{"bot": "lead", "role": "leader"}, {"bot": "math"}, {"bot": "poet"}],
            collaboration="coordinate",
        )
    )
    done = stack.wait_state(stack.create_task(f"{prefix}-team", "big job")["id"], {"COMPLETED", "FAILED"})
    assert done["state"] == "COMPLETED", done["error"]
    subs = [
        r
        for r in model.requests()
        if "SUB-" in r.messages[-1]["content"] and "Combine" not in r.messages[-1]["content"]
    ]
    assert max_concurrency(subs) >= 2
    aggregate = [r for r in model.requests() if "Combine the sub-task results" in r.messages[-1]["content"]][0]
    text = aggregate.messages[-1]["content"]
    assert "result A" in text and "result B" in text and "FAILED" in text
    kinds = [n["meta"]["kind"] for n in _notes(done)]
    assert kinds == ["plan", "subtask_failures"]
    assert "bad request for C" in _notes(done)[1]["content"]
    assert _answers(done)[-1] == (f"{prefix}-lead", "aggregated")


def test_coordinate_can_fail_the_task_on_a_subtask_error(stack, model):
    prefix = _prefix()
    plan = {"subtasks": [{"member": f"{prefix}-math", "task": "SUB-X broken"}]}
    model.script(
        [
            {"match": "Split the request", "text": json.dumps(plan)},
            {"match": "SUB-X", "status": 400, "error_message": "nope"},
        ]
    )
    stack.apply(
        team_yaml(
            prefix,
            model.openai_base_url,
            [{"bot": "lead", "role": "leader"}, {"bot": "math"}],
            collaboration="coordinate",
            team={"failOnSubtaskError": True},
        )
    )
    done = stack.wait_state(stack.create_task(f"{prefix}-team", "job")["id"], {"COMPLETED", "FAILED"})
    assert done["state"] == "FAILED" and "nope" in done["error"]


# ---- collaborate ----------------------------------------------------------------------------------------


def test_collaborate_rounds_until_the_leader_is_satisfied_then_summarises(stack, model):
    prefix = _prefix()
    model.script(
        [
            {"match": "Round 1 of", "text": '{"done": false, "reason": "needs more"}'},
            {"match": "Round 2 of", "text": '{"done": true, "reason": "good"}'},
            {"match": "final answer to the request", "text": "SUMMARY"},
            {"match": "team discussion", "text": "my contribution"},
        ]
    )
    stack.apply(
        team_yaml(
            prefix,
            model.openai_base_url,
            [{"bot": "lead", "role": "leader"}, {"bot": "a"}, {"bot": "b"}],
            collaboration="collaborate",
            team={"maxRounds": 4},
        )
    )
    done = stack.wait_state(stack.create_task(f"{prefix}-team", "plan a party")["id"], {"COMPLETED", "FAILED"})
    assert done["state"] == "COMPLETED", done["error"]
    speakers = [bot for bot, _ in _answers(done)]
    a, b, lead = f"{prefix}-a", f"{prefix}-b", f"{prefix}-lead"
    assert speakers == [a, b, lead, a, b, lead, lead]
    assert _answers(done)[-1] == (lead, "SUMMARY")
    # Round 2's speakers saw round 1 in the shared transcript.
    second_round_a = [r for r in model.requests() if "team discussion" in r.messages[-1]["content"]][2]
    assert f"[{a}]" in second_round_a.messages[-1]["content"] and f"[{b}]" in second_round_a.messages[-1]["content"]
    assert [n["meta"]["kind"] for n in _notes(done)] == ["verdict", "verdict"]
    assert [s["bot"] for s in done["steps"] if s["kind"] == "answer"] == speakers


# ---- long conversations ---------------------------------------------------------------------------------


def test_continue_as_new_keeps_the_conversation(stack_factory, model):
    import asyncio

    from temporalio.client import Client

    stack = stack_factory(
        "local", WEGENT_MAX_HISTORY_EVENTS="20", WEGENT_EXECUTOR_IDLE_SECONDS="2", WEGENT_TASK_IDLE_SECONDS="60"
    )
    prefix = _prefix()
    stack.apply(team_yaml(prefix, model.openai_base_url, [{"bot": "chat"}], collaboration="solo"))
    created = stack.create_task(f"{prefix}-team", "turn one")
    stack.wait_state(created["id"], {"COMPLETED"})

    async def runs() -> int:
        client = await Client.connect(
            stack.env.get("WEGENT_TEMPORAL_ADDRESS", "127.0.0.1:7233"), namespace=stack.env["WEGENT_TEMPORAL_NAMESPACE"]
        )
        count = 0
        async for _ in client.list_workflows(f"WorkflowId = 'task-{created['id']}'"):
            count += 1
        return count

    deadline = time.monotonic() + 20
    while asyncio.run(runs()) < 2 and time.monotonic() < deadline:
        time.sleep(0.3)
    assert asyncio.run(runs()) >= 2  # the first run continued as new
    for n in (2, 3):
        response = stack.request("POST", f"/api/v1/tasks/{created['id']}/messages", json={"message": f"turn {n}"})
        assert response.status_code == 202, response.text
        stack.wait_state(created["id"], {"COMPLETED"})
    last = model.requests()[-1]
    said = [(m["role"], m["content"]) for m in last.messages if m["role"] != "system"]
    assert said == [
        ("user", "turn one"),
        ("assistant", "echo: turn one"),
        ("user", "turn 2"),
        ("assistant", "echo: turn 2"),
        ("user", "turn 3"),
    ]
