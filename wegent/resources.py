"""Resource documents (Kubernetes style): kinds, spec schemas, references and secret fields.

Pure pydantic: the API validates with these models, the CLI and the plan builder read them.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

API_VERSION = "agent.wecode.io/v1"
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
NameStr = Annotated[str, Field(min_length=1, max_length=63, pattern=DNS_LABEL.pattern)]
MASK = "***"


class Strict(BaseModel):
    # Unknown fields are typos more often than not: reject them with their name.
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Ref(Strict):
    name: NameStr
    namespace: NameStr = "default"


class McpServer(Strict):
    command: str | None = None
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _command_or_url(self) -> McpServer:
        if not self.command and not self.url:
            raise ValueError("an MCP server needs either 'command' or 'url'")
        return self


class GhostSpec(Strict):
    systemPrompt: str = Field(min_length=1)
    mcpServers: dict[str, McpServer] = Field(default_factory=dict)
    skills: list[str] = Field(default_factory=list)


class Pricing(Strict):
    inputPer1M: float = Field(0.0, ge=0)
    outputPer1M: float = Field(0.0, ge=0)
    currency: str = "USD"


class ModelSpec(Strict):
    provider: Literal["openai", "anthropic", "dify"] = "openai"
    baseUrl: str = Field(min_length=1, pattern=r"^https?://")
    model: str = ""
    apiKey: str | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    maxTokens: int | None = Field(None, gt=0)
    contextWindow: int | None = Field(None, gt=0)
    pricing: Pricing | None = None
    appMode: Literal["chat", "workflow"] | None = None  # Dify apps only


class ShellResources(Strict):
    cpu: float | None = Field(None, gt=0, le=64)
    memory: str | None = Field(None, pattern=r"^[0-9]+[kmgKMG]?$")
    pids: int | None = Field(None, gt=0)
    network: bool = True


class ShellSpec(Strict):
    shellType: Literal["Chat", "Agno", "ClaudeCode", "Dify"]
    image: str | None = None
    resources: ShellResources = Field(default_factory=ShellResources)
    requiresWorkspace: bool = False


class BotSpec(Strict):
    ghostRef: Ref
    shellRef: Ref
    modelRef: Ref


class TeamMember(Strict):
    botRef: Ref
    role: Literal["leader", "member"] = "member"
    prompt: str = ""
    requireConfirmation: bool = False
    contextPassing: Literal["none", "original", "previous", "both"] = "previous"


CollaborationModel = Literal["solo", "pipeline", "route", "coordinate", "collaborate"]


class TeamSpec(Strict):
    members: list[TeamMember] = Field(min_length=1)
    collaborationModel: CollaborationModel = "pipeline"
    defaultMember: NameStr | None = None
    maxRounds: int = Field(3, ge=1, le=50)
    failOnSubtaskError: bool = False
    approvalTimeoutSeconds: int | None = Field(None, gt=0)
    approvalTimeoutOutcome: Literal["approve", "reject"] = "reject"

    @model_validator(mode="after")
    def _shape(self) -> TeamSpec:
        leaders = [m for m in self.members if m.role == "leader"]
        if self.collaborationModel == "solo" and len(self.members) != 1:
            raise ValueError("a solo team has exactly one member")
        if self.collaborationModel in ("route", "coordinate", "collaborate") and len(leaders) != 1:
            raise ValueError(f"a {self.collaborationModel} team needs exactly one member with role 'leader'")
        if len(leaders) > 1:
            raise ValueError("a team has at most one leader")
        return self


class Repository(Strict):
    gitUrl: str = Field(min_length=1)
    branch: str = "main"
    depth: int = Field(1, ge=0)
    token: str | None = None

    @field_validator("gitUrl")
    @classmethod
    def _no_credentials(cls, value: str) -> str:
        # A URL is shown, logged and copied into error messages; a credential in it would be too. The message
        # never repeats the URL. ssh://git@host/... names a user, not a secret, and stays accepted.
        parts = urlsplit(value)
        if parts.password is not None or (parts.scheme in ("http", "https") and parts.username is not None):
            raise ValueError("must not contain credentials; put the token in spec.repository.token (a secret)")
        return value


class WorkspaceSpec(Strict):
    repository: Repository


class TaskSpec(Strict):
    teamRef: Ref
    workspaceRef: Ref | None = None
    prompt: str = Field(min_length=1)
    title: str | None = None


_INTERVAL = re.compile(r"^([0-9]+)(s|m|h|d)$")


def parse_interval(value: str) -> int:
    """'90s', '5m', '2h', '1d' -> seconds."""
    match = _INTERVAL.match(value.strip())
    if not match:
        raise ValueError("interval must look like '30s', '5m', '2h' or '1d'")
    amount, unit = int(match.group(1)), match.group(2)
    seconds = amount * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit]
    if seconds <= 0:
        raise ValueError("interval must be positive")
    return seconds


class ScheduleSpec(Strict):
    teamRef: Ref
    workspaceRef: Ref | None = None
    promptTemplate: str = Field(min_length=1)
    cron: str | None = None
    interval: str | None = None
    timezone: str = "UTC"
    overlap: Literal["skip", "buffer_one", "allow_all", "cancel_previous"] = "skip"
    catchupWindow: str | None = None
    enabled: bool = True
    maxRuns: int | None = Field(None, gt=0)
    endAt: datetime | None = None

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None and not croniter.is_valid(value):
            raise ValueError(f"invalid cron expression {value!r}")
        return value

    @field_validator("interval", "catchupWindow")
    @classmethod
    def _interval(cls, value: str | None) -> str | None:
        if value is not None:
            parse_interval(value)
        return value

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _one_trigger(self) -> ScheduleSpec:
        if (self.cron is None) == (self.interval is None):
            raise ValueError("set exactly one of 'cron' or 'interval'")
        return self


SPEC_MODELS: dict[str, type[Strict]] = {
    "Ghost": GhostSpec,
    "Model": ModelSpec,
    "Shell": ShellSpec,
    "Bot": BotSpec,
    "Team": TeamSpec,
    "Workspace": WorkspaceSpec,
    "Task": TaskSpec,
    "Schedule": ScheduleSpec,
}
PLURALS: dict[str, str] = {kind.lower() + "s": kind for kind in SPEC_MODELS}
# Dependency order: a multi-document apply creates referenced kinds first.
APPLY_ORDER = ["Ghost", "Model", "Shell", "Workspace", "Bot", "Team", "Task", "Schedule"]

# Paths of secret fields per kind: encrypted at rest, masked in every response. "*" stands for every key of a
# mapping: an MCP server's env values and headers carry tokens as often as a Model's apiKey does.
SECRET_FIELDS: dict[str, list[tuple[str, ...]]] = {
    "Model": [("apiKey",)],
    "Workspace": [("repository", "token")],
    "Ghost": [("mcpServers", "*", "env", "*"), ("mcpServers", "*", "headers", "*")],
}


def kind_from_plural(plural: str) -> str | None:
    return PLURALS.get(plural.lower())


def references(kind: str, spec: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(field path, referenced kind, namespace, name) for every reference in a validated spec."""
    refs: list[tuple[str, str, str, str]] = []

    def add(path: str, target: str, ref: dict[str, Any] | None) -> None:
        if ref:
            refs.append((path, target, ref.get("namespace", "default"), ref["name"]))

    if kind == "Bot":
        add("spec.ghostRef", "Ghost", spec.get("ghostRef"))
        add("spec.shellRef", "Shell", spec.get("shellRef"))
        add("spec.modelRef", "Model", spec.get("modelRef"))
    elif kind == "Team":
        for i, member in enumerate(spec.get("members", [])):
            add(f"spec.members[{i}].botRef", "Bot", member.get("botRef"))
    elif kind in ("Task", "Schedule"):
        add("spec.teamRef", "Team", spec.get("teamRef"))
        add("spec.workspaceRef", "Workspace", spec.get("workspaceRef"))
    return refs


REFERRING_KINDS: dict[str, list[str]] = {
    "Ghost": ["Bot"],
    "Shell": ["Bot"],
    "Model": ["Bot"],
    "Bot": ["Team"],
    "Team": ["Task", "Schedule"],
    "Workspace": ["Task", "Schedule"],
}


class Metadata(Strict):
    name: NameStr
    namespace: NameStr = "default"
    displayName: str | None = Field(None, max_length=200)
    labels: dict[str, str] = Field(default_factory=dict)
    resourceVersion: str | int | None = None

    @field_validator("labels", mode="before")
    @classmethod
    def _null_labels_are_none(cls, value: Any) -> Any:
        # A document read back from the API may carry `labels: null`; sending it again must not fail.
        return {} if value is None else value

    # Server-owned fields that an exported document carries; ignored on input.
    creationTimestamp: Any = None
    updatedTimestamp: Any = None
    public: Any = None
    owner: Any = None


class Document(Strict):
    apiVersion: Literal["agent.wecode.io/v1"] = API_VERSION
    kind: str
    metadata: Metadata
    spec: dict[str, Any]
    status: dict[str, Any] | None = None  # server-owned, ignored on input

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        if value not in SPEC_MODELS:
            raise ValueError(f"unknown kind {value!r}; expected one of {', '.join(SPEC_MODELS)}")
        return value


class FieldError(BaseModel):
    field: str
    message: str


def _loc(loc: tuple[Any, ...], prefix: str = "") -> str:
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def validation_errors(exc: ValidationError, prefix: str = "") -> list[FieldError]:
    return [FieldError(field=_loc(err["loc"], prefix), message=err["msg"]) for err in exc.errors()]


def validate_document(raw: Any) -> tuple[Document | None, dict[str, Any] | None, list[FieldError]]:
    """Validate one document: envelope first, then its kind's spec. Returns (doc, normalized spec, errors)."""
    if not isinstance(raw, dict):
        return None, None, [FieldError(field="", message="a document must be a mapping")]
    try:
        doc = Document.model_validate(raw)
    except ValidationError as exc:
        return None, None, validation_errors(exc)
    try:
        spec = SPEC_MODELS[doc.kind].model_validate(doc.spec)
    except ValidationError as exc:
        return doc, None, validation_errors(exc, "spec")
    return doc, spec.model_dump(mode="json", exclude_none=True), []
