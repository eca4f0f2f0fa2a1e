"""Demo resources of `wegent up`: the public Model `local`, then the bots and teams of a demo YAML file.

Applied in-process through the same resource store (validation, references, encrypted secrets) as the API,
as public resources owned by the system account, so every user can run the demo teams.

The Model `local` is rewritten on every start, because it must point at this start's endpoint. The other
documents are only created when missing: a demo resource the admin changed (or deleted and re-created) is
left alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from wegent.config import Settings
from wegent.logging import get_logger
from worker.local_model import LocalModelEndpoint

log = get_logger("demo")

#: The bundled demo, for a source checkout (`wegent up` without --demo).
DEFAULT_DEMO = Path(__file__).resolve().parents[1] / "examples" / "demo.yaml"
MODEL_NAME = "local"


@dataclass
class DemoReport:
    applied: list[str] = field(default_factory=list)  # "Kind/name result"
    kept: list[str] = field(default_factory=list)  # existing resources left as they are
    teams: list[str] = field(default_factory=list)
    skipped_reason: str | None = None


def model_document(settings: Settings, endpoint: LocalModelEndpoint | None) -> dict[str, Any] | None:
    """The public Model `local`: the local llama-server, else the user's own OpenAI-compatible endpoint."""
    if endpoint is not None:
        spec: dict[str, Any] = {
            "provider": "openai",
            "baseUrl": endpoint.base_url,
            "model": endpoint.model,
            "apiKey": endpoint.api_key,
            "maxTokens": settings.local_model_max_tokens,
            "contextWindow": endpoint.context_window,
            "temperature": 0.7,
        }
        display = "SmolLM2-135M-Instruct on the local llama-server"
    elif settings.openai_api_key:
        spec = {
            "provider": "openai",
            "baseUrl": settings.openai_base_url,
            "model": settings.openai_model,
            "apiKey": settings.openai_api_key,
        }
        display = f"{settings.openai_model} at {settings.openai_base_url}"
    else:
        return None
    return {
        "apiVersion": "agent.wecode.io/v1",
        "kind": "Model",
        "metadata": {"name": MODEL_NAME, "namespace": "default", "displayName": display},
        "spec": spec,
    }


def load_documents(path: Path) -> list[dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    bad = [i for i, d in enumerate(docs) if not isinstance(d, dict)]
    if bad:
        raise ValueError(f"{path}: documents {bad} are not mappings")
    return docs


def apply_demo(settings: Settings, path: Path, endpoint: LocalModelEndpoint | None) -> DemoReport:
    """Blocking (database work): call it in a thread. Never raises for a bad demo file; reports instead."""
    from sqlalchemy import select

    from core.apply import apply_documents
    from core.db.models import User
    from core.db.session import get_sessionmaker
    from core.resource_store import ResourceStore, StoreError
    from core.users import get_user_by_name
    from wegent.crypto import get_keyring

    report = DemoReport()
    try:
        docs = load_documents(path)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        report.skipped_reason = f"cannot read {path}: {exc}"
        return report
    model = model_document(settings, endpoint)
    with get_sessionmaker()() as db:
        admin = get_user_by_name(db, settings.admin_username)
        if admin is None or not admin.is_admin:
            admin = db.scalar(select(User).where(User.role == "admin").order_by(User.id).limit(1))
        if admin is None:
            report.skipped_reason = "no admin account to apply public resources with"
            return report
        store = ResourceStore(db, admin, get_keyring())

        def exists(doc: dict[str, Any]) -> bool:
            meta = doc.get("metadata") or {}
            try:
                store.get(str(doc.get("kind")), meta.get("namespace", "default"), str(meta.get("name")), public=True)
            except StoreError:
                return False
            return True

        if model is None and not exists({"kind": "Model", "metadata": {"name": MODEL_NAME}}):
            report.skipped_reason = (
                "no model for the demo: the local model is off (WEGENT_LOCAL_MODEL=0) and OPENAI_API_KEY is unset"
            )
            return report
        wanted: list[dict[str, Any]] = [model] if model is not None else []
        for doc in docs:
            label = f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"
            if doc.get("kind") == "Team":
                report.teams.append(str((doc.get("metadata") or {}).get("name")))
            if doc.get("kind") == "Model" and (doc.get("metadata") or {}).get("name") == MODEL_NAME:
                continue  # ours wins: it knows this start's endpoint
            if exists(doc):
                report.kept.append(label)
            else:
                wanted.append(doc)
        result = apply_documents(store, wanted, "default", public=True)
        for item in result.results:
            label = f"{item.kind}/{item.name} {item.result}"
            if item.errors:
                label += " (" + "; ".join(f"{e.field}: {e.message}" for e in item.errors) + ")"
            elif item.detail:
                label += f" ({item.detail})"
            report.applied.append(label)
        if not result.applied:
            report.skipped_reason = "the demo resources were not applied: " + ", ".join(
                a for a in report.applied if " failed" in a
            )
    return report
