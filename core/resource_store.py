"""The resource store: scoped reads with public fallback, validated writes, references, versions.

Identity is (owner, kind, namespace, name). A user's reads fall back to public resources (owned by the system
account); writes go to the caller's own scope, or to the public scope for admins who ask for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Row, bindparam, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from core import audit, secrets
from core.db import generations
from core.db.models import Resource, User
from core.users import ensure_system_user
from wegent.crypto import Keyring
from wegent.resources import (
    API_VERSION,
    REFERRING_KINDS,
    Document,
    FieldError,
    references,
)
from wegent.timestamps import iso_utc


@dataclass
class StoreError(Exception):
    status: int
    detail: str
    errors: list[FieldError] = field(default_factory=list)
    # A delete refused because others refer to it: those resources, so a client can list them.
    referrers: list[str] = field(default_factory=list)

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"detail": self.detail}
        if self.errors:
            body["errors"] = [e.model_dump() for e in self.errors]
        if self.referrers:
            body["referrers"] = self.referrers
        return body


_SYSTEM_IDS: dict[str, int] = {}

# Built once: constructing a statement costs more CPU than SQLAlchemy's cached compilation of it.
_IDENTITY = (
    Resource.owner_id == bindparam("owner_id"),
    Resource.kind == bindparam("kind"),
    Resource.namespace == bindparam("namespace"),
    Resource.name == bindparam("name"),
)
_FIND_ONE = select(Resource).where(*_IDENTITY)
_FIND_ONE_ROW = select(Resource.__table__).where(*_IDENTITY)  # plain row: no ORM identity map or state


class ResourceStore:
    def __init__(self, db: Session, user: User, keyring: Keyring) -> None:
        self.db = db
        self.user = user
        self.keyring = keyring
        self._system_id: int | None = None

    @property
    def system_id(self) -> int:
        if self._system_id is None:
            # Cached per database for the process: the system account never changes once created.
            url = str(self.db.get_bind().url)
            if url not in _SYSTEM_IDS:
                _SYSTEM_IDS[url] = ensure_system_user(self.db).id
            self._system_id = _SYSTEM_IDS[url]
        return self._system_id

    def owner_for(self, public: bool) -> int:
        if public:
            if not self.user.is_admin:
                raise StoreError(403, "only admins manage public resources")
            return self.system_id
        return self.user.id

    # ---- reads -------------------------------------------------------------------------------------

    def _find(self, owner_id: int, kind: str, namespace: str, name: str) -> Resource | None:
        return self.db.scalar(_FIND_ONE, {"owner_id": owner_id, "kind": kind, "namespace": namespace, "name": name})

    def resolve(self, kind: str, namespace: str, name: str, owner_id: int | None = None) -> Resource | None:
        """Own resource first, then the public one of that name."""
        owner_id = self.user.id if owner_id is None else owner_id
        found = self._find(owner_id, kind, namespace, name)
        if found is None and owner_id != self.system_id:
            found = self._find(self.system_id, kind, namespace, name)
        return found

    def read_one(self, kind: str, namespace: str, name: str, public: bool = False) -> Row[Any]:
        """Like :meth:`get`, as a plain row (same attribute names; :meth:`to_document` takes either)."""
        owners = [self.system_id] if public else [self.user.id, self.system_id]
        conn = self.db.connection()
        for owner_id in dict.fromkeys(owners):
            params = {"owner_id": owner_id, "kind": kind, "namespace": namespace, "name": name}
            row = conn.execute(_FIND_ONE_ROW, params).first()
            if row is not None:
                return row
        raise StoreError(404, f"{kind} '{namespace}/{name}' not found")

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> ResourceStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def get(self, kind: str, namespace: str, name: str, public: bool = False) -> Resource:
        if public:
            found = self._find(self.system_id, kind, namespace, name)
        else:
            found = self.resolve(kind, namespace, name)
        if found is None:
            raise StoreError(404, f"{kind} '{namespace}/{name}' not found")
        return found

    def list_owners(self, public: bool = False) -> tuple[int, ...]:
        """Whose resources a LIST shows: the public ones, or the caller's own plus the public ones."""
        return (self.system_id,) if public else (self.user.id, self.system_id)

    def generations(self, owners: tuple[int, ...]) -> generations.Generations:
        return generations.read(self.db, owners)

    def list(
        self, kind: str, namespace: str | None, public: bool = False, limit: int = 100, offset: int = 0
    ) -> list[Resource]:
        owners = self.list_owners(public)
        query = select(Resource).where(Resource.kind == kind, or_(*(Resource.owner_id == o for o in owners)))
        if namespace is not None:
            query = query.where(Resource.namespace == namespace)
        query = query.order_by(Resource.namespace, Resource.name, Resource.owner_id).limit(limit).offset(offset)
        return list(self.db.scalars(query))

    # ---- writes ------------------------------------------------------------------------------------

    def check_references(
        self, kind: str, spec: dict[str, Any], owner_id: int, pending: set[tuple[str, str, str]] | None = None
    ) -> list[FieldError]:
        errors = []
        for path, target, namespace, name in references(kind, spec):
            if pending and (target, namespace, name) in pending:
                continue
            if self.resolve(target, namespace, name, owner_id=owner_id) is None:
                errors.append(FieldError(field=path, message=f"{target} '{namespace}/{name}' does not exist"))
        return errors

    def upsert(
        self,
        doc: Document,
        spec: dict[str, Any],
        public: bool = False,
        pending: set[tuple[str, str, str]] | None = None,
        create_only: bool = False,
        update_only: bool = False,
        via: str = "api",
    ) -> tuple[Resource, str]:
        """Create or update one validated document. Returns the row and 'created'|'updated'|'unchanged'.

        Does not commit: callers decide the transaction (one document, or a whole apply).
        """
        owner_id = self.owner_for(public)
        meta = doc.metadata
        ref_errors = self.check_references(doc.kind, spec, owner_id, pending)
        if ref_errors:
            raise StoreError(422, f"{doc.kind} '{meta.namespace}/{meta.name}' has missing references", ref_errors)
        existing = self._find(owner_id, doc.kind, meta.namespace, meta.name)
        if existing is None and update_only:
            raise StoreError(404, f"{doc.kind} '{meta.namespace}/{meta.name}' not found")
        if existing is not None and create_only:
            raise StoreError(409, f"{doc.kind} '{meta.namespace}/{meta.name}' already exists")
        try:
            sealed = secrets.seal(doc.kind, spec, existing.spec if existing else None, self.keyring)
        except ValueError as exc:
            raise StoreError(
                422,
                "a masked secret was sent but none is stored",
                [
                    FieldError(
                        field=str(exc),
                        message="'***' keeps the stored secret, but this resource has none: send the real value",
                    )
                ],
            ) from exc
        if existing is None:
            row = Resource(
                owner_id=owner_id,
                kind=doc.kind,
                namespace=meta.namespace,
                name=meta.name,
                display_name=meta.displayName,
                labels=meta.labels,
                spec=sealed,
                status={},
            )
            self.db.add(row)
            self.db.flush()
            self._audit("resource.create", row, public, via=via)
            return row, "created"
        if meta.resourceVersion is not None and str(meta.resourceVersion) != str(existing.resource_version):
            raise StoreError(
                409,
                f"{doc.kind} '{meta.namespace}/{meta.name}' was modified: resourceVersion "
                f"{meta.resourceVersion} is stale (current {existing.resource_version}); re-read and retry",
            )
        if existing.spec == sealed and existing.labels == meta.labels and existing.display_name == meta.displayName:
            return existing, "unchanged"
        existing.spec = sealed
        existing.labels = meta.labels
        existing.display_name = meta.displayName
        try:
            self.db.flush()
        except StaleDataError as exc:
            raise StoreError(409, f"{doc.kind} '{meta.namespace}/{meta.name}' was modified concurrently") from exc
        self._audit("resource.update", existing, public, via=via)
        return existing, "updated"

    def _audit(self, action: str, row: Resource, public: bool, **detail: Any) -> None:
        # In the caller's transaction: a write that is rolled back leaves no entry.
        audit.record(
            self.db,
            self.user,
            action,
            f"{row.kind}/{row.namespace}/{row.name}",
            {"resourceVersion": row.resource_version, "public": public, **detail},
        )

    def referrers(self, row: Resource) -> list[str]:
        """Resources whose references resolve to `row` (same owner; anyone falling back to it if public)."""
        found = []
        for kind in REFERRING_KINDS.get(row.kind, []):
            query = select(Resource).where(Resource.kind == kind)
            if row.owner_id != self.system_id:
                query = query.where(Resource.owner_id == row.owner_id)
            for candidate in self.db.scalars(query):
                for _, target, namespace, name in references(kind, candidate.spec):
                    if (target, namespace, name) != (row.kind, row.namespace, row.name):
                        continue
                    resolved = self.resolve(target, namespace, name, owner_id=candidate.owner_id)
                    if resolved is not None and resolved.id == row.id:
                        found.append(f"{candidate.kind} '{candidate.namespace}/{candidate.name}'")
                        break
        return found

    def delete(self, kind: str, namespace: str, name: str, public: bool = False, force: bool = False) -> Resource:
        owner_id = self.owner_for(public)
        row = self._find(owner_id, kind, namespace, name)
        if row is None:
            raise StoreError(404, f"{kind} '{namespace}/{name}' not found")
        if not force:
            users = self.referrers(row)
            if users:
                raise StoreError(
                    409,
                    f"{kind} '{namespace}/{name}' is referenced by {', '.join(users)}; "
                    "delete those first or pass force=true",
                    referrers=users,
                )
        self._audit("resource.delete", row, public, force=force)
        self.db.delete(row)
        self.db.flush()
        return row

    # ---- presentation ------------------------------------------------------------------------------

    def to_document(self, row: Resource | Row[Any]) -> dict[str, Any]:
        metadata: dict[str, Any] = {"name": row.name, "namespace": row.namespace}
        if row.display_name:
            metadata["displayName"] = row.display_name
        if row.labels:
            metadata["labels"] = row.labels
        metadata.update(
            resourceVersion=str(row.resource_version),
            creationTimestamp=iso_utc(row.created_at),
            updatedTimestamp=iso_utc(row.updated_at),
            public=row.owner_id == self.system_id,
        )
        return {
            "apiVersion": API_VERSION,
            "kind": row.kind,
            "metadata": metadata,
            "spec": secrets.mask(row.kind, row.spec),
            "status": row.status or {},
        }

    def revealed_spec(self, row: Resource) -> dict[str, Any]:
        return secrets.reveal(row.kind, row.spec, self.keyring)
