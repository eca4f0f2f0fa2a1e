"""Declarative resources by kind: /namespaces/{ns}/{kinds}[/{name}] and multi-document apply."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import yaml
from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.core.threads import in_thread
from api.deps import MAX_OFFSET, CurrentUser, SessionDep
from api.models_public import ResourceDeletedPublic, ResourceListPublic, ResourcePublic
from api.services.list_cache import list_cache
from core import egress, sandbox, schedules
from core.apply import ApplyReport, apply_documents, parse_documents
from core.db.session import get_read_sessionmaker
from core.resource_store import ResourceStore, StoreError
from wegent.crypto import get_keyring
from wegent.resources import DNS_LABEL, FieldError, kind_from_plural, validate_document

router = APIRouter(prefix="/namespaces/{namespace}", tags=["resources"])

Namespace = Annotated[str, Path(pattern=DNS_LABEL.pattern, max_length=63)]
Scope = Annotated[Literal["user", "public"], Query(description="'public' (admins) targets system-owned resources")]


async def get_store(db: SessionDep, user: CurrentUser) -> ResourceStore:
    return ResourceStore(db, user, get_keyring())


async def get_read_store(user: CurrentUser) -> ResourceStore:
    """A store on an autocommit session, for GET and LIST, which close it themselves (``with store:``).

    Closing an autocommit session does no I/O, so it happens in the same thread as the reads; a plain
    dependency costs less per request than a ``yield`` one, and these are the hottest endpoints.
    """
    return ResourceStore(get_read_sessionmaker()(), user, get_keyring())


StoreDep = Annotated[ResourceStore, Depends(get_store)]
ReadStoreDep = Annotated[ResourceStore, Depends(get_read_store)]  # GET and LIST: one statement, no transaction


def _kind(kinds: str) -> str:
    kind = kind_from_plural(kinds)
    if kind is None:
        raise StoreError(404, f"unknown resource kind '{kinds}'")
    return kind


def yaml_response(doc: dict[str, Any] | list[dict[str, Any]]) -> Response:
    docs = doc if isinstance(doc, list) else [doc]
    return Response(yaml.safe_dump_all(docs, sort_keys=False, allow_unicode=True), media_type="application/yaml")


def _read_doc(body: bytes, content_type: str, kind: str, namespace: str, name: str | None) -> dict[str, Any]:
    docs = parse_documents(body, content_type)
    if len(docs) != 1 or not isinstance(docs[0], dict):
        raise StoreError(422, "expected exactly one resource document")
    raw = docs[0]
    raw.setdefault("kind", kind)
    meta = raw.setdefault("metadata", {})
    if not isinstance(meta, dict):
        raise StoreError(422, "invalid document", [FieldError(field="metadata", message="must be a mapping")])
    meta.setdefault("namespace", namespace)
    if name is not None:
        meta.setdefault("name", name)
    mismatches = [
        FieldError(field=f, message=f"must be '{want}' to match the URL")
        for f, got, want in (
            ("kind", raw["kind"], kind),
            ("metadata.namespace", meta["namespace"], namespace),
            ("metadata.name", meta.get("name"), name if name is not None else meta.get("name")),
        )
        if got != want
    ]
    if mismatches:
        raise StoreError(422, "document does not match the URL", mismatches)
    return raw


def _validated(store: ResourceStore, raw: dict[str, Any], public: bool) -> tuple[Any, dict[str, Any]]:
    doc, spec, errors = validate_document(raw)
    if not errors and doc is not None and spec is not None:
        errors = (
            schedules.spec_errors(doc.kind, spec)
            or egress.spec_errors(doc.kind, spec, store.user, public)
            or sandbox.spec_errors(doc.kind, spec)
        )
    if errors or doc is None or spec is None:
        raise StoreError(422, f"invalid {raw.get('kind')}", errors)
    return doc, spec


@router.post(
    "/apply",
    response_model=ApplyReport,
    openapi_extra={"requestBody": {"content": {"application/yaml": {"schema": {"type": "string"}}}}},
)
async def apply(request: Request, store: StoreDep, namespace: Namespace, scope: Scope = "user") -> Any:
    body, content_type = await request.body(), request.headers.get("content-type", "application/yaml")
    # Parsing, validation and the database work are blocking and can take a while on a big apply: a thread,
    # so the event loop keeps serving every other request and socket meanwhile.
    report = await run_in_threadpool(_apply_sync, store, body, content_type, namespace, scope == "public")
    if not report.applied:
        return Response(report.model_dump_json(), status_code=422, media_type="application/json")
    await schedules.after_apply(store, report, public=scope == "public")
    return report


def _apply_sync(store: ResourceStore, body: bytes, content_type: str, namespace: str, public: bool) -> ApplyReport:
    return apply_documents(store, parse_documents(body, content_type), namespace, public=public)


@router.get("/{kinds}", responses={200: {"model": ResourceListPublic}})
async def list_resources(
    store: ReadStoreDep,
    namespace: Namespace,
    kinds: str,
    scope: Scope = "user",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    format: Literal["json", "yaml"] = "json",
) -> Response:
    kind = _kind(kinds)
    body = await in_thread(_list_body, store, kind, namespace, scope == "public", limit, offset, format)
    return Response(body, media_type=_MEDIA[format])


def _list_body(
    store: ResourceStore, kind: str, namespace: str, public: bool, limit: int, offset: int, format: str
) -> bytes:
    cache = list_cache()
    with store:
        if not cache.enabled:
            return _render_list(store, kind, namespace, public, limit, offset, format)
        owners = store.list_owners(public)
        key = (owners, kind, namespace, limit, offset, format)
        # Read before the rows (autocommit: each statement sees the latest commits), so the rows are never
        # older than the generations they are cached under.
        generations = store.generations(owners)
        body = cache.get(key, generations)
        if body is None:
            body = _render_list(store, kind, namespace, public, limit, offset, format)
            cache.put(key, generations, body)
        return body


_MEDIA = {"json": "application/json", "yaml": "application/yaml"}


def _render_list(
    store: ResourceStore, kind: str, namespace: str, public: bool, limit: int, offset: int, format: str
) -> bytes:
    items = [store.to_document(r) for r in store.list(kind, namespace, public, limit, offset)]
    if format == "yaml":
        return yaml_response(items).body
    return JSONResponse({"kind": f"{kind}List", "items": items}).body


@router.post(
    "/{kinds}", status_code=status.HTTP_201_CREATED, response_model=ResourcePublic, response_model_exclude_unset=True
)
async def create_resource(
    request: Request, store: StoreDep, namespace: Namespace, kinds: str, scope: Scope = "user"
) -> dict[str, Any]:
    kind = _kind(kinds)
    body, content_type = await request.body(), request.headers.get("content-type", "application/json")
    row = await run_in_threadpool(_write_sync, store, body, content_type, kind, namespace, None, scope == "public")
    return await _after_write(store, kind, row)


def _write_sync(
    store: ResourceStore,
    body: bytes,
    content_type: str,
    kind: str,
    namespace: str,
    name: str | None,
    public: bool,
) -> Any:
    """Parse, validate, store and commit one document (create when ``name`` is None, else update)."""
    doc, spec = _validated(store, _read_doc(body, content_type, kind, namespace, name), public)
    row, _ = store.upsert(doc, spec, public=public, create_only=name is None, update_only=name is not None)
    store.db.commit()
    return row


async def _after_write(store: ResourceStore, kind: str, row: Any) -> dict[str, Any]:
    if kind == schedules.KIND:  # committed first, then Temporal; a failure shows in the returned status
        await schedules.after_write(row.id)
        await run_in_threadpool(store.db.refresh, row)
    return await run_in_threadpool(store.to_document, row)


@router.get("/{kinds}/{name}", responses={200: {"model": ResourcePublic}})
async def get_resource(
    store: ReadStoreDep,
    namespace: Namespace,
    kinds: str,
    name: str,
    scope: Scope = "user",
    format: Literal["json", "yaml"] = "json",
) -> Any:
    doc = await in_thread(_read_document, store, _kind(kinds), namespace, name, scope == "public")
    return yaml_response(doc) if format == "yaml" else JSONResponse(doc)


def _read_document(store: ResourceStore, kind: str, namespace: str, name: str, public: bool) -> dict[str, Any]:
    with store:
        return store.to_document(store.read_one(kind, namespace, name, public=public))


@router.put("/{kinds}/{name}", response_model=ResourcePublic, response_model_exclude_unset=True)
async def update_resource(
    request: Request, store: StoreDep, namespace: Namespace, kinds: str, name: str, scope: Scope = "user"
) -> dict[str, Any]:
    kind = _kind(kinds)
    body, content_type = await request.body(), request.headers.get("content-type", "application/json")
    row = await run_in_threadpool(_write_sync, store, body, content_type, kind, namespace, name, scope == "public")
    return await _after_write(store, kind, row)


@router.delete("/{kinds}/{name}", response_model=ResourceDeletedPublic)
async def delete_resource(
    store: StoreDep, namespace: Namespace, kinds: str, name: str, scope: Scope = "user", force: bool = False
) -> dict[str, Any]:
    row = await run_in_threadpool(_delete_sync, store, _kind(kinds), namespace, name, scope == "public", force)
    row_id = row.id
    body: dict[str, Any] = {"deleted": {"kind": row.kind, "namespace": row.namespace, "name": row.name}}
    if row.kind == schedules.KIND:
        body["temporal"] = await schedules.after_delete(row_id)
    return body


def _delete_sync(store: ResourceStore, kind: str, namespace: str, name: str, public: bool, force: bool) -> Any:
    row = store.delete(kind, namespace, name, public=public, force=force)
    store.db.commit()
    return row
