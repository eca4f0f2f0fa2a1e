"""Structured decisions from a leader bot (routing, plans, continue-or-finish): prompts and strict parsing.

Pure functions, so the workflow can validate a leader's answer deterministically and ask once for a repair.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


class DecisionError(ValueError):
    """The leader's answer is not a valid decision; the message says why (it is sent back for a repair)."""


def extract_json(text: str) -> Any:
    """The first JSON object in `text` (models like to wrap it in prose or code fences)."""
    start = text.find("{")
    while start != -1:
        depth, in_string, escaped = 0, False, False
        for index in range(start, len(text)):
            char = text[index]
            if in_string:
                if escaped:
                    escaped = False
                elif char == "\\":
                    escaped = True
                elif char == '"':
                    in_string = False
            elif char == '"':
                in_string = True
            elif char == "{":
                depth += 1
            elif char == "}":
                depth -= 1
                if depth == 0:
                    try:
                        return json.loads(text[start : index + 1])
                    except ValueError:
                        break
        start = text.find("{", start + 1)
    raise DecisionError("the answer contains no JSON object")


@dataclass
class Route:
    member: str
    reason: str


@dataclass
class Subtask:
    member: str
    task: str


@dataclass
class RoundVerdict:
    done: bool
    reason: str


def route_prompt(request: str, members: dict[str, str]) -> str:
    roster = "\n".join(f"- {name}: {about}" for name, about in members.items())
    return (
        "Decide which ONE team member should handle the request below.\n"
        f"Members:\n{roster}\n\n"
        'Answer with JSON only: {"member": "<one of the member names>", "reason": "<one sentence>"}\n\n'
        f"Request:\n{request}"
    )


def parse_route(text: str, members: list[str]) -> Route:
    data = extract_json(text)
    if not isinstance(data, dict):
        raise DecisionError("expected a JSON object")
    member, reason = data.get("member"), data.get("reason", "")
    if not isinstance(member, str) or member not in members:
        raise DecisionError(f"'member' must be one of {members}, got {member!r}")
    if not isinstance(reason, str):
        raise DecisionError("'reason' must be a string")
    return Route(member=member, reason=reason)


def plan_prompt(request: str, members: dict[str, str]) -> str:
    roster = "\n".join(f"- {name}: {about}" for name, about in members.items())
    return (
        "Split the request below into sub-tasks for the team members; they will work in parallel.\n"
        f"Members:\n{roster}\n\n"
        'Answer with JSON only: {"subtasks": [{"member": "<member name>", "task": "<what to do>"}, ...]}\n\n'
        f"Request:\n{request}"
    )


def parse_plan(text: str, members: list[str]) -> list[Subtask]:
    data = extract_json(text)
    items = data.get("subtasks") if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        raise DecisionError("'subtasks' must be a non-empty list")
    plan = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise DecisionError(f"subtasks[{index}] must be an object")
        member, task = item.get("member"), item.get("task")
        if member not in members:
            raise DecisionError(f"subtasks[{index}].member must be one of {members}, got {member!r}")
        if not isinstance(task, str) or not task.strip():
            raise DecisionError(f"subtasks[{index}].task must be a non-empty string")
        plan.append(Subtask(member=member, task=task))
    return plan


def aggregate_prompt(request: str, results: list[tuple[str, str, str | None]]) -> str:
    parts = []
    for member, task, output in results:
        body = output if output is not None else "FAILED: this sub-task did not complete"
        parts.append(f"## {member}: {task}\n{body}")
    return (
        "Combine the sub-task results below into one answer to the original request. "
        "Say plainly which sub-tasks failed, if any.\n\n"
        f"Original request:\n{request}\n\n" + "\n\n".join(parts)
    )


def transcript_prompt(request: str, transcript: list[tuple[str, str]], member: str) -> str:
    said = "\n\n".join(f"[{who}]\n{text}" for who, text in transcript) or "(nobody has spoken yet)"
    return (
        f"You are {member} in a team discussion about the request below. Add your contribution; "
        "build on what others said.\n\n"
        f"Request:\n{request}\n\nDiscussion so far:\n{said}"
    )


def verdict_prompt(request: str, transcript: list[tuple[str, str]], round_no: int, max_rounds: int) -> str:
    said = "\n\n".join(f"[{who}]\n{text}" for who, text in transcript)
    return (
        f"Round {round_no} of at most {max_rounds} has ended. Has the discussion met the goal of the request?\n"
        'Answer with JSON only: {"done": true|false, "reason": "<one sentence>"}\n\n'
        f"Request:\n{request}\n\nDiscussion:\n{said}"
    )


def parse_verdict(text: str) -> RoundVerdict:
    data = extract_json(text)
    if not isinstance(data, dict) or not isinstance(data.get("done"), bool):
        raise DecisionError("'done' must be true or false")
    reason = data.get("reason", "")
    return RoundVerdict(done=data["done"], reason=reason if isinstance(reason, str) else "")


def summary_prompt(request: str, transcript: list[tuple[str, str]]) -> str:
    said = "\n\n".join(f"[{who}]\n{text}" for who, text in transcript)
    return f"Write the team's final answer to the request, summarising the discussion.\n\nRequest:\n{request}\n\n{said}"


def repair_prompt(error: str, original_prompt: str) -> str:
    return (
        f"Your previous answer was not valid: {error}.\n"
        "Answer again with JSON only, exactly in the requested shape.\n\n" + original_prompt
    )
