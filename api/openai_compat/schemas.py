"""Request and response shapes of the OpenAI-compatible API (the subset Wegent serves, in OpenAI's field names).

Requests ignore fields Wegent has no use for (temperature, tools, ...), as OpenAI-compatible servers usually do,
so an existing client works unchanged; what Wegent needs is validated and a problem names the field.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_TEXT = 200_000  # as for a task's prompt


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ChatMessageIn(_Lenient):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None


class StreamOptions(_Lenient):
    include_usage: bool = False


class ChatCompletionRequest(_Lenient):
    model: str = Field(min_length=1, max_length=127, description="the team: namespace/name, or name in default")
    messages: list[ChatMessageIn] = Field(min_length=1, max_length=1000)
    stream: bool = False
    stream_options: StreamOptions | None = None
    metadata: dict[str, str] | None = Field(None, description="wegent_task_id: continue that task")
    user: str | None = Field(None, max_length=256)


class ResponseInputItem(_Lenient):
    type: Literal["message"] = "message"
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[dict[str, Any]]


class ResponsesRequest(_Lenient):
    model: str = Field(min_length=1, max_length=127)
    input: str | list[ResponseInputItem]
    instructions: str | None = Field(None, max_length=MAX_TEXT)
    previous_response_id: str | None = Field(None, max_length=64)
    stream: bool = False
    metadata: dict[str, str] | None = None


# ---- responses --------------------------------------------------------------------------------------


class ModelOut(BaseModel):
    id: str = Field(description="namespace/name of the team")
    object: Literal["model"] = "model"
    created: int
    owned_by: str = Field(description="the owner's username, or 'system' for public teams")


class ModelListOut(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelOut]


class ChatUsageOut(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatMessageOut(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str
    refusal: None = None


class ChatChoiceOut(BaseModel):
    index: int = 0
    message: ChatMessageOut
    finish_reason: Literal["stop"] = "stop"
    logprobs: None = None


class ChatCompletionOut(BaseModel):
    id: str = Field(description="chatcmpl-{task id}-{turn}")
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoiceOut]
    usage: ChatUsageOut
    system_fingerprint: None = None


class OutputTextOut(BaseModel):
    type: Literal["output_text"] = "output_text"
    text: str
    annotations: list[Any] = Field(default_factory=list)


class OutputMessageOut(BaseModel):
    type: Literal["message"] = "message"
    id: str
    status: Literal["in_progress", "completed", "incomplete"]
    role: Literal["assistant"] = "assistant"
    content: list[OutputTextOut]


class ResponseUsageOut(BaseModel):
    input_tokens: int
    input_tokens_details: dict[str, int] = Field(default_factory=lambda: {"cached_tokens": 0})
    output_tokens: int
    output_tokens_details: dict[str, int] = Field(default_factory=lambda: {"reasoning_tokens": 0})
    total_tokens: int


class ResponseErrorOut(BaseModel):
    code: str
    message: str


class ResponseOut(BaseModel):
    id: str = Field(description="resp_{task id}_{turn}: pass it as previous_response_id to continue the task")
    object: Literal["response"] = "response"
    created_at: int
    status: Literal["in_progress", "completed", "failed", "cancelled"]
    model: str
    output: list[OutputMessageOut]
    usage: ResponseUsageOut | None
    error: ResponseErrorOut | None = None
    incomplete_details: None = None
    instructions: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    previous_response_id: str | None = None
    parallel_tool_calls: bool = False
    tool_choice: Literal["none"] = "none"
    tools: list[Any] = Field(default_factory=list)
    temperature: float | None = None
    top_p: float | None = None
    text: dict[str, Any] = Field(default_factory=lambda: {"format": {"type": "text"}})
