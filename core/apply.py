"""Multi-document apply: all documents validated, applied in dependency order, in one transaction.

Either every document is applied (each reported created/updated/unchanged) or none is, and every document is
reported with its index: the failing ones with their field errors, the others as 'skipped'.
"""

from __future__ import annotations

import json
from typing import Any

import yaml
from pydantic import BaseModel

from core.egress import spec_errors as egress_spec_errors
from core.resource_store import ResourceStore, StoreError
from core.sandbox import spec_errors as sandbox_spec_errors
from core.schedules import spec_errors as schedule_spec_errors
from wegent.config import get_settings
from wegent.resources import APPLY_ORDER, Document, FieldError, validate_document


class ApplyResult(BaseModel):
    index: int
    kind: str | None = None
    namespace: str | None = None
    name: str | None = None
    result: str  # created | updated | unchanged | failed | skipped
    resourceVersion: str | None = None
    errors: list[FieldError] = []
    detail: str | None = None


class ApplyReport(BaseModel):
    applied: bool
    results: list[ApplyResult]


# Resource documents are a handful of levels deep; deeper input is refused before the recursive composer
# (or validation, or error rendering) can run out of stack on it.
MAX_DEPTH = 64


class _StrictLoader(yaml.SafeLoader):
    """Safe YAML without aliases, and no deeper than MAX_DEPTH.

    An alias (``*name``) repeats a node without repeating its text: a few hundred bytes of nested aliases
    expand to billions of nodes once anything walks the result (validation, error reports). Resource
    documents never need them, so they are refused outright rather than counted.
    """

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not accepted; write the value out", event.start_mark
            )
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"nested more than {MAX_DEPTH} levels deep", self.peek_event().start_mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def parse_documents(body: bytes, content_type: str, max_documents: int | None = None) -> list[Any]:
    """YAML (multi-document) or a JSON list/object. Raises StoreError(400) with the position on bad input,
    and StoreError(413) when there are more than ``max_documents`` documents (counted while parsing)."""
    limit = max_documents or get_settings().max_apply_documents
    text = body.decode("utf-8", errors="replace")
    try:
        if "json" in content_type:
            loaded = json.loads(text)
            docs = loaded if isinstance(loaded, list) else [loaded]
            if _depth_exceeds(docs, MAX_DEPTH + 1):  # +1: the list the documents come in
                raise StoreError(400, f"invalid JSON: nested more than {MAX_DEPTH} levels deep")
        else:
            docs = []
            loader = _StrictLoader(text)
            try:
                while loader.check_data():
                    doc = loader.get_data()
                    if doc is not None:
                        docs.append(doc)
                    if len(docs) > limit:
                        break
            finally:
                loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise StoreError(400, f"invalid YAML{where}: {getattr(exc, 'problem', None) or exc}") from exc
    except RecursionError as exc:
        raise StoreError(400, f"invalid {_format(content_type)}: nested too deeply") from exc
    except ValueError as exc:
        raise StoreError(400, f"invalid JSON: {exc}") from exc
    if not docs:
        raise StoreError(400, "no documents in the request body")
    if len(docs) > limit:
        raise StoreError(413, f"too many documents: at most {limit} per request (WEGENT_MAX_APPLY_DOCUMENTS)")
    return docs


def _format(content_type: str) -> str:
    return "JSON" if "json" in content_type else "YAML"


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Iterative, so that measuring a deep value cannot itself overflow the stack."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def apply_documents(store: ResourceStore, raw_docs: list[Any], namespace: str, public: bool) -> ApplyReport:
    results: dict[int, ApplyResult] = {}
    valid: list[tuple[int, Document, dict[str, Any]]] = []
    for index, raw in enumerate(raw_docs):
        if isinstance(raw, dict):
            raw.setdefault("metadata", {})
            if isinstance(raw["metadata"], dict):
                raw["metadata"].setdefault("namespace", namespace)
        doc, spec, errors = validate_document(raw)
        if not errors and doc is not None and spec is not None:
            errors = (
                schedule_spec_errors(doc.kind, spec)
                or egress_spec_errors(doc.kind, spec, store.user, public)
                or sandbox_spec_errors(doc.kind, spec)
            )
        ident = _ident(raw)
        if errors or doc is None or spec is None:
            results[index] = ApplyResult(
                index=index, **ident, result="failed", errors=errors, detail="invalid document"
            )
            continue
        valid.append((index, doc, spec))

    pending = {(d.kind, d.metadata.namespace, d.metadata.name) for _, d, _ in valid}
    valid.sort(key=lambda item: (APPLY_ORDER.index(item[1].kind), item[0]))
    failed = bool(results)
    if not failed:
        for index, doc, spec in valid:
            try:
                row, outcome = store.upsert(doc, spec, public=public, pending=pending, via="apply")
            except StoreError as exc:
                failed = True
                results[index] = ApplyResult(
                    index=index,
                    **_ident(doc.model_dump()),
                    result="failed",
                    errors=exc.errors,
                    detail=exc.detail,
                )
                continue
            results[index] = ApplyResult(
                index=index,
                kind=doc.kind,
                namespace=doc.metadata.namespace,
                name=doc.metadata.name,
                result=outcome,
                resourceVersion=str(row.resource_version),
            )
    if failed:
        store.db.rollback()
        for index, doc, _ in valid:
            if index not in results or results[index].result != "failed":
                results[index] = ApplyResult(
                    index=index,
                    kind=doc.kind,
                    namespace=doc.metadata.namespace,
                    name=doc.metadata.name,
                    result="skipped",
                    detail="not applied because another document failed",
                )
    else:
        store.db.commit()
    return ApplyReport(applied=not failed, results=[results[i] for i in sorted(results)])


def _ident(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        return {}
    meta = raw.get("metadata") if isinstance(raw.get("metadata"), dict) else {}
    return {
        "kind": raw.get("kind") if isinstance(raw.get("kind"), str) else None,
        "namespace": meta.get("namespace") if isinstance(meta.get("namespace"), str) else None,
        "name": meta.get("name") if isinstance(meta.get("name"), str) else None,
    }
