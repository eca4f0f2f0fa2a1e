"""Structured leader decisions: JSON found in prose, validated strictly, errors that say what to repair."""

from __future__ import annotations

import pytest

from workflows.decisions import DecisionError, extract_json, parse_plan, parse_route, parse_verdict


def test_extract_json_finds_the_object_in_prose_and_fences():
    assert extract_json('Sure!\n```json\n{"member": "a", "reason": "x {y}"}\n```') == {"member": "a", "reason": "x {y}"}
    assert extract_json('{not json} then {"ok": true}') == {"ok": True}
    with pytest.raises(DecisionError, match="no JSON object"):
        extract_json("no braces here")


def test_route_must_name_a_member():
    assert parse_route('{"member": "poet", "reason": "rhymes"}', ["poet", "math"]).member == "poet"
    with pytest.raises(DecisionError, match="must be one of"):
        parse_route('{"member": "chef"}', ["poet", "math"])


def test_plan_validates_every_subtask():
    plan = parse_plan('{"subtasks": [{"member": "a", "task": "x"}, {"member": "b", "task": "y"}]}', ["a", "b"])
    assert [(s.member, s.task) for s in plan] == [("a", "x"), ("b", "y")]
    with pytest.raises(DecisionError, match=r"subtasks\[1\].task"):
        parse_plan('{"subtasks": [{"member": "a", "task": "x"}, {"member": "b", "task": ""}]}', ["a", "b"])
    with pytest.raises(DecisionError, match="non-empty list"):
        parse_plan('{"subtasks": []}', ["a"])


def test_verdict_needs_a_boolean():
    assert parse_verdict('{"done": true, "reason": "good"}').done is True
    with pytest.raises(DecisionError):
        parse_verdict('{"done": "yes"}')
