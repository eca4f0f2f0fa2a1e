"""Write the live chat protocol as TypeScript for the web app: web/src/client/realtime.ts.

The namespace, rooms and event names come from `wegent/realtime.py`; the payload types from the pydantic models
of `wegent/realtime_payloads.py` (each model an interface, its fields as they are on the wire), plus maps from each
event to its payload, request and acks.
"""

from __future__ import annotations

import inspect
import sys
import types
import typing
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parents[1] / "src" / "client" / "realtime.ts"


def ts_type(annotation: Any, metadata: list[Any] | None = None) -> str:
    """The TypeScript of one field's Python type; a RestSchema marker names an OpenAPI schema instead."""
    from pydantic import BaseModel

    from wegent.realtime_payloads import RestSchema

    for marker in metadata or []:
        if isinstance(marker, RestSchema):
            return f"components['schemas']['{marker.name}']"
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return ts_type(args[0], list(annotation.__metadata__))
    if origin in (typing.Union, types.UnionType):
        return " | ".join(ts_type(arg) for arg in args)
    if origin is typing.Literal:
        return " | ".join(f"'{value}'" if isinstance(value, str) else str(value).lower() for value in args)
    if origin is list:
        item = ts_type(args[0])
        return f"({item})[]" if " | " in item else f"{item}[]"
    if origin is dict:
        return f"Record<{ts_type(args[0])}, {ts_type(args[1])}>"
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return annotation.__name__
    simple = {str: "string", int: "number", float: "number", bool: "boolean", type(None): "null", Any: "unknown"}
    if annotation in simple:
        return simple[annotation]
    raise TypeError(f"no TypeScript for {annotation!r}")


def _doc(cls: type) -> list[str]:
    text = inspect.cleandoc(cls.__doc__ or "")
    return [f"/** {' '.join(text.split())} */"] if text else []


def interface(model: Any, generated: set[str]) -> list[str]:
    """One model as an interface; it extends its base when the base is generated too (the shared fields)."""
    rest = getattr(model, "rest_schema", None)
    if rest is not None:  # the payload is a REST document as it is
        return [*_doc(model), f"export type {model.__name__} = components['schemas']['{rest}']", ""]
    base = model.__mro__[1]
    inherited = base.model_fields if base.__name__ in generated else {}
    head = f"export interface {model.__name__}" + (f" extends {base.__name__}" if inherited else "") + " {"
    lines = [*_doc(model), head]
    always_sent = getattr(model, "always_sent", frozenset())
    for name, field in model.model_fields.items():
        if name in inherited and (inherited[name].annotation, inherited[name].is_required()) == (
            field.annotation,
            field.is_required(),
        ):
            continue
        optional = "" if field.is_required() or name in always_sent else "?"
        lines.append(f"  {name}{optional}: {ts_type(field.annotation, field.metadata)}")
    if len(lines) == len(_doc(model)) + 1 and inherited:  # nothing of its own: the base's shape, by its name
        return [*_doc(model), f"export type {model.__name__} = {base.__name__}", ""]
    return [*lines, "}", ""]


def payload_types() -> list[str]:
    from pydantic import BaseModel

    import wegent.realtime_payloads as payloads

    # The bases that only share behaviour (no fields a client needs on their own) are left out.
    skipped = {"ServerPayload", "ClientRequest", "Ack"}
    models = [
        value
        for value in vars(payloads).values()
        if inspect.isclass(value)
        and issubclass(value, BaseModel)
        and value.__module__ == payloads.__name__
        and value.__name__ not in skipped
    ]
    generated = {model.__name__ for model in models}
    lines: list[str] = []
    for model in models:
        lines += interface(model, generated)
    lines += ["/** What each server event carries. */", "export interface ServerEventPayloads {"]
    lines += [f"  '{event.value}': {model.__name__}" for event, model in payloads.SERVER_PAYLOADS.items()]
    lines += ["}", "", "/** What each client event sends. */", "export interface ClientEventRequests {"]
    lines += [f"  '{event.value}': {request.__name__}" for event, (request, _) in payloads.CLIENT_REQUESTS.items()]
    lines += ["}", "", "/** The ack each client event gets: one of its own, or an ErrorAck. */"]
    lines += ["export interface ClientEventAcks {"]
    for event, (_, acks) in payloads.CLIENT_REQUESTS.items():
        lines.append(f"  '{event.value}': {' | '.join([*(ack.__name__ for ack in acks), 'ErrorAck'])}")
    return [*lines, "}", ""]


def realtime_ts() -> str:
    from wegent.realtime import NAMESPACE, ClientEvent, ServerEvent, task_room, user_room

    def events(name: str, doc: str, members: type) -> list[str]:
        lines = [f"/** {doc} */", f"export const {name} = {{"]
        lines += [f"  {member.name}: '{member.value}'," for member in members]  # type: ignore[attr-defined]
        return [*lines, "} as const", f"export type {name} = (typeof {name})[keyof typeof {name}]", ""]

    lines = [
        "// Generated from wegent/realtime.py and wegent/realtime_payloads.py by scripts/gen_web_client.sh: never",
        "// edit it by hand.",
        "",
        "import type { components } from './schema'",
        "",
        f"export const NAMESPACE = '{NAMESPACE}'",
        "",
        f"export const taskRoom = (taskId: number): string => `{task_room(0).removesuffix('0')}${{taskId}}`",
        f"export const userRoom = (userId: number): string => `{user_room(0).removesuffix('0')}${{userId}}`",
        "",
        *events("ClientEvent", "What a client asks; every one is answered with an ack.", ClientEvent),
        *events("ServerEvent", "What the server pushes to a room or a socket.", ServerEvent),
        *payload_types(),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    text = realtime_ts()
    if sys.argv[1:] == ["-"]:
        sys.stdout.write(text)
    else:
        OUT.write_text(text)
        print(f"wrote {OUT}")
