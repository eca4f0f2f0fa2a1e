"""Configuration from environment variables (a ``.env`` file may set them), with documented defaults.

Secrets that the embedded default needs (JWT key, encryption keys) are generated once into the state folder so
a restart keeps tokens and encrypted data readable.
"""

from __future__ import annotations

import base64
import os
import secrets
from functools import cached_property, lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Issue 16, item 11: a signing key shorter than this can be guessed offline from any token; a short admin
# password online. Checked at start (Settings), with a message that names the variable but never the value.
MIN_SECRET_KEY_LENGTH = 32
MIN_PASSWORD_LENGTH = 12


class SettingsError(Exception):
    """A setting is unusable. Not a ValueError: pydantic would wrap it and print the offending value."""


def _alias(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class Settings(BaseSettings):
    # Only the documented names are read: no populate_by_name, which would also read a bare SECRET_KEY,
    # DATABASE_URL or REDIS_URL left in the environment by another program. Code that builds Settings
    # directly passes the documented names too (Settings(WEGENT_TASK_QUEUE="q")).
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    state_dir: Path = Field(Path("./.wegent"), validation_alias=_alias("WEGENT_STATE_DIR"))
    database_url: str | None = Field(None, validation_alias=_alias("WEGENT_DATABASE_URL"))
    redis_url: str | None = Field(None, validation_alias=_alias("WEGENT_REDIS_URL"))
    redis_prefix: str = Field("wegent", validation_alias=_alias("WEGENT_REDIS_PREFIX"))
    temporal_address: str = Field("127.0.0.1:7233", validation_alias=_alias("WEGENT_TEMPORAL_ADDRESS"))
    temporal_namespace: str = Field("default", validation_alias=_alias("WEGENT_TEMPORAL_NAMESPACE"))
    temporal_ui_url: str = Field("http://127.0.0.1:8233", validation_alias=_alias("WEGENT_TEMPORAL_UI_URL"))
    task_queue: str = Field("wegent-tasks", validation_alias=_alias("WEGENT_TASK_QUEUE"))
    secret_key: str | None = Field(None, validation_alias=_alias("WEGENT_SECRET_KEY"))
    encryption_keys: str | None = Field(None, validation_alias=_alias("WEGENT_ENCRYPTION_KEYS"))
    jwt_expire_minutes: int = Field(60 * 24, validation_alias=_alias("WEGENT_JWT_EXPIRE_MINUTES"))
    # How long an API process may act on a user's looked-up account (role, active) before re-reading it.
    auth_cache_seconds: float = Field(5.0, ge=0, validation_alias=_alias("WEGENT_AUTH_CACHE_SECONDS"))
    # Live text is sent as one chat:chunk per window per message (the first delta at once); 0 sends every delta.
    stream_window_ms: int = Field(50, ge=0, le=60_000, validation_alias=_alias("WEGENT_STREAM_WINDOW_MS"))
    # Rendered LIST responses kept per API process, revalidated against the owners' generations on every hit.
    list_cache_mb: int = Field(32, ge=0, validation_alias=_alias("WEGENT_LIST_CACHE_MB"))
    admin_username: str = Field("admin", validation_alias=_alias("WEGENT_ADMIN_USERNAME"))
    admin_password: str | None = Field(None, validation_alias=_alias("WEGENT_ADMIN_PASSWORD"))
    executor_backend: str | None = Field(None, validation_alias=_alias("WEGENT_EXECUTOR_BACKEND"))
    executor_image: str = Field("wegent-executor:latest", validation_alias=_alias("WEGENT_EXECUTOR_IMAGE"))
    executor_host: str = Field("", validation_alias=_alias("WEGENT_EXECUTOR_HOST"))
    port_range_min: int = Field(10001, validation_alias=_alias("EXECUTOR_PORT_RANGE_MIN"))
    port_range_max: int = Field(10100, validation_alias=_alias("EXECUTOR_PORT_RANGE_MAX"))
    max_concurrent_tasks: int = Field(5, validation_alias=_alias("MAX_CONCURRENT_TASKS"))
    executor_idle_seconds: int = Field(300, validation_alias=_alias("WEGENT_EXECUTOR_IDLE_SECONDS"))
    # Sandboxes each worker keeps started and healthy ahead of tasks (default policy only; 0 = none), so a new
    # task's first step does not wait for a container or process to start (activities/executors/pool.py).
    executor_pool_size: int = Field(1, ge=0, le=32, validation_alias=_alias("WEGENT_EXECUTOR_POOL_SIZE"))
    max_history_events: int = Field(10_000, validation_alias=_alias("WEGENT_MAX_HISTORY_EVENTS"))
    agent_heartbeat_seconds: int = Field(20, gt=1, validation_alias=_alias("WEGENT_AGENT_HEARTBEAT_SECONDS"))
    reaper_interval_seconds: int = Field(60, gt=0, validation_alias=_alias("WEGENT_REAPER_INTERVAL_SECONDS"))
    task_idle_seconds: int = Field(3600, validation_alias=_alias("WEGENT_TASK_IDLE_SECONDS"))
    # Threads an API process runs blocking work (database sessions, password hashing) on. More threads do not
    # add CPU under the GIL; they add contention. Each holds at most one pooled database connection.
    # API processes `wegent api` runs on this host (uvicorn workers sharing the port). Above 1, Socket.IO is
    # websocket-only (a polling session would hop between processes) and Redis is required.
    api_workers: int = Field(1, ge=1, le=64, validation_alias=_alias("WEGENT_API_WORKERS"))
    api_threads: int = Field(8, gt=0, le=200, validation_alias=_alias("WEGENT_API_THREADS"))
    cors_origins: list[str] = Field(default_factory=list, validation_alias=_alias("WEGENT_CORS_ORIGINS"))
    # Bounds on what one request may make the API do (issue 16, item 4): a body beyond this is refused (413)
    # before it is parsed; an apply with more documents than this is refused (413) before it is validated.
    max_body_bytes: int = Field(1_048_576, gt=0, validation_alias=_alias("WEGENT_MAX_BODY_BYTES"))
    max_apply_documents: int = Field(500, gt=0, validation_alias=_alias("WEGENT_MAX_APPLY_DOCUMENTS"))
    # Sign-in throttling (item 8): failed attempts per client address / per username within the window, and
    # Argon2 hashes at once per API process. Only failures count, so correct sign-ins are never throttled.
    login_failures_per_address: int = Field(50, gt=0, validation_alias=_alias("WEGENT_LOGIN_FAILURES_PER_ADDRESS"))
    login_failures_per_user: int = Field(10, gt=0, validation_alias=_alias("WEGENT_LOGIN_FAILURES_PER_USER"))
    login_window_seconds: int = Field(300, gt=0, validation_alias=_alias("WEGENT_LOGIN_WINDOW_SECONDS"))
    login_concurrency: int = Field(4, gt=0, validation_alias=_alias("WEGENT_LOGIN_CONCURRENCY"))
    # Egress policy (item 9): non-public endpoints an ordinary user's Model may still call (CIDRs, addresses,
    # host names, or "*"), as a JSON list. Admins' and public Models are never restricted.
    egress_allow: list[str] = Field(default_factory=list, validation_alias=_alias("WEGENT_EGRESS_ALLOW"))
    # Sandbox policy (item 6, wegent/sandbox.py): defaults for what a Shell leaves out, maxima for what it asks,
    # and the images a Shell may name besides WEGENT_EXECUTOR_IMAGE (JSON list).
    sandbox_cpu: float = Field(2.0, gt=0, validation_alias=_alias("WEGENT_SANDBOX_CPU"))
    sandbox_max_cpu: float = Field(4.0, gt=0, validation_alias=_alias("WEGENT_SANDBOX_MAX_CPU"))
    sandbox_memory: str = Field("2g", pattern=r"^[0-9]+[kmgKMG]?$", validation_alias=_alias("WEGENT_SANDBOX_MEMORY"))
    sandbox_max_memory: str = Field(
        "8g", pattern=r"^[0-9]+[kmgKMG]?$", validation_alias=_alias("WEGENT_SANDBOX_MAX_MEMORY")
    )
    sandbox_pids: int = Field(1024, gt=0, validation_alias=_alias("WEGENT_SANDBOX_PIDS"))
    sandbox_max_pids: int = Field(4096, gt=0, validation_alias=_alias("WEGENT_SANDBOX_MAX_PIDS"))
    executor_images: list[str] = Field(default_factory=list, validation_alias=_alias("WEGENT_EXECUTOR_IMAGES"))
    # The local backend runs agents unsandboxed, next to the platform's own secrets: refused once a deployment
    # has more than one active user, unless this is set (item 3).
    allow_unsandboxed: bool = Field(False, validation_alias=_alias("WEGENT_ALLOW_UNSANDBOXED"))
    # A root worker runs each local executor as uid `agent_uid_base + port`, in a directory under `agent_root`,
    # on `agent_python` (activities/executors/agent_user.py).
    agent_uid_base: int = Field(200_000, ge=1000, validation_alias=_alias("WEGENT_AGENT_UID_BASE"))
    agent_root: Path | None = Field(None, validation_alias=_alias("WEGENT_AGENT_ROOT"))
    agent_python: Path | None = Field(None, validation_alias=_alias("WEGENT_AGENT_PYTHON"))
    # Monthly budgets per user (0 = none) when an admin set none for that user: tokens in + out, and cost.
    default_monthly_tokens: int = Field(0, ge=0, validation_alias=_alias("WEGENT_DEFAULT_MONTHLY_TOKENS"))
    default_monthly_cost: float = Field(0.0, ge=0, validation_alias=_alias("WEGENT_DEFAULT_MONTHLY_COST"))
    # A user's tasks running at once (0 = no limit); the others wait as PENDING, saying why.
    default_max_running_tasks: int = Field(0, ge=0, validation_alias=_alias("WEGENT_DEFAULT_MAX_RUNNING_TASKS"))
    # `wegent worker` serves its Prometheus metrics on this port (0 = off; each worker of a host needs its own).
    worker_metrics_port: int = Field(0, ge=0, le=65535, validation_alias=_alias("WEGENT_WORKER_METRICS_PORT"))
    worker_metrics_host: str = Field("0.0.0.0", validation_alias=_alias("WEGENT_WORKER_METRICS_HOST"))
    # The model gateway of each worker (README, Security): executors call models through it with a per-task key
    # and it adds the Model's real key. Port 0 = any free port (each run request carries the actual URL).
    gateway_port: int = Field(0, ge=0, le=65535, validation_alias=_alias("WEGENT_GATEWAY_PORT"))
    # Addresses it listens on, comma-separated; empty = 127.0.0.1, plus with Docker the host's address on the
    # default bridge (what host.docker.internal is inside a sandbox).
    gateway_host: str = Field("", validation_alias=_alias("WEGENT_GATEWAY_HOST"))
    log_level: str = Field("INFO", validation_alias=_alias("WEGENT_LOG_LEVEL"))
    log_format: str = Field("json", validation_alias=_alias("WEGENT_LOG_FORMAT"))
    # `wegent up` only: the local model (llama.cpp's llama-server with SmolLM2-135M-Instruct) behind the
    # public Model `local`; WEGENT_LOCAL_MODEL=0 opts out (then OPENAI_* below back that Model, if set).
    local_model: bool = Field(True, validation_alias=_alias("WEGENT_LOCAL_MODEL"))
    local_model_port: int = Field(8181, validation_alias=_alias("WEGENT_LOCAL_MODEL_PORT"))
    local_model_threads: int = Field(2, gt=0, validation_alias=_alias("WEGENT_LOCAL_MODEL_THREADS"))
    local_model_context: int = Field(2048, gt=0, validation_alias=_alias("WEGENT_LOCAL_MODEL_CONTEXT"))
    local_model_max_tokens: int = Field(64, gt=0, validation_alias=_alias("WEGENT_LOCAL_MODEL_MAX_TOKENS"))
    local_model_path: str | None = Field(None, validation_alias=_alias("WEGENT_LOCAL_MODEL_PATH"))
    llama_server: str | None = Field(None, validation_alias=_alias("WEGENT_LLAMA_SERVER"))
    openai_api_key: str | None = Field(None, validation_alias=_alias("OPENAI_API_KEY"))
    openai_base_url: str = Field("https://api.openai.com/v1", validation_alias=_alias("OPENAI_BASE_URL"))
    openai_model: str = Field("gpt-4o-mini", validation_alias=_alias("OPENAI_MODEL"))

    @field_validator("state_dir", mode="after")
    @classmethod
    def _absolute_state_dir(cls, value: Path) -> Path:
        # Resolved once, against the directory the process started in: every path derived from it (executor
        # workdirs, the SQLite file, keys) stays valid whatever the process or its children chdir to later.
        return value.expanduser().absolute()

    def model_post_init(self, context: object, /) -> None:
        if self.secret_key is not None and len(self.secret_key) < MIN_SECRET_KEY_LENGTH:
            raise SettingsError(f"WEGENT_SECRET_KEY must have at least {MIN_SECRET_KEY_LENGTH} characters")
        if self.admin_password and len(self.admin_password) < MIN_PASSWORD_LENGTH:
            raise SettingsError(f"WEGENT_ADMIN_PASSWORD must have at least {MIN_PASSWORD_LENGTH} characters")

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.state_dir / 'wegent.db'}"

    def _state_secret(self, filename: str, make: callable) -> str:  # type: ignore[valid-type]
        path = self.state_dir / filename
        if path.exists():
            return path.read_text().strip()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        value = make()
        # O_EXCL: two processes starting at once must agree on one key.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_text().strip()
        with os.fdopen(fd, "w") as fh:
            fh.write(value)
        return value

    @cached_property
    def jwt_secret(self) -> str:
        if self.secret_key:
            return self.secret_key
        return self._state_secret("secret_key", lambda: secrets.token_urlsafe(48))

    @cached_property
    def encryption_keyring_spec(self) -> str:
        if self.encryption_keys:
            return self.encryption_keys
        return self._state_secret("encryption_keys", lambda: "k1:" + base64.b64encode(secrets.token_bytes(32)).decode())


@lru_cache
def get_settings() -> Settings:
    return Settings()
