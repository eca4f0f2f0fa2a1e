"""Custom search attributes on task workflows, so the Temporal console can filter by them."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

TASK_ID = SearchAttributeKey.for_int("WegentTaskId")
USER = SearchAttributeKey.for_keyword("WegentUser")
TEAM = SearchAttributeKey.for_keyword("WegentTeam")
COLLABORATION_MODEL = SearchAttributeKey.for_keyword("WegentCollaborationModel")
STATE = SearchAttributeKey.for_keyword("WegentState")
SCHEDULE_ID = SearchAttributeKey.for_int("WegentScheduleId")

ALL = [TASK_ID, USER, TEAM, COLLABORATION_MODEL, STATE, SCHEDULE_ID]
