"""Write the live chat protocol (`wegent/realtime.py`) as TypeScript for the web app: web/src/client/realtime.ts."""

from __future__ import annotations

import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "src" / "client" / "realtime.ts"


def realtime_ts() -> str:
    from wegent.realtime import NAMESPACE, ClientEvent, ServerEvent, task_room, user_room

    def events(name: str, doc: str, members: type) -> list[str]:
        lines = [f"/** {doc} */", f"export const {name} = {{"]
        lines += [f"  {member.name}: '{member.value}'," for member in members]  # type: ignore[attr-defined]
        return [*lines, "} as const", f"export type {name} = (typeof {name})[keyof typeof {name}]", ""]

    lines = [
        "// Generated from wegent/realtime.py by scripts/gen_web_client.sh: never edit it by hand.",
        "",
        f"export const NAMESPACE = '{NAMESPACE}'",
        "",
        f"export const taskRoom = (taskId: number): string => `{task_room(0).removesuffix('0')}${{taskId}}`",
        f"export const userRoom = (userId: number): string => `{user_room(0).removesuffix('0')}${{userId}}`",
        "",
        *events("ClientEvent", "What a client asks; every one is answered with an ack.", ClientEvent),
        *events("ServerEvent", "What the server pushes to a room or a socket.", ServerEvent),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    text = realtime_ts()
    if sys.argv[1:] == ["-"]:
        sys.stdout.write(text)
    else:
        OUT.write_text(text)
        print(f"wrote {OUT}")
