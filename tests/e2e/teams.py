"""Team documents for end-to-end tests."""

from __future__ import annotations

from typing import Any

import yaml


def team_yaml(
    prefix: str,
    base_url: str,
    members: list[dict[str, Any]],
    collaboration: str = "pipeline",
    api_key: str = "sk-test",
    shell: dict[str, Any] | None = None,
    team: dict[str, Any] | None = None,
    model: dict[str, Any] | None = None,
) -> str:
    """One Model and Shell shared by the members; a member may give its Ghost more spec (``ghost``) and have a
    Shell of its own (``shell``: that Shell's spec)."""
    model_spec = {"provider": "openai", "baseUrl": base_url, "model": "scripted", "apiKey": api_key, **(model or {})}
    docs: list[dict[str, Any]] = [
        {"kind": "Model", "metadata": {"name": f"{prefix}-model"}, "spec": model_spec},
        {"kind": "Shell", "metadata": {"name": f"{prefix}-shell"}, "spec": shell or {"shellType": "Chat"}},
    ]
    team_members = []
    for member in members:
        bot = f"{prefix}-{member['bot']}"
        shell_name = f"{bot}-shell" if "shell" in member else f"{prefix}-shell"
        if "shell" in member:
            docs.append({"kind": "Shell", "metadata": {"name": shell_name}, "spec": member["shell"]})
        docs.append(
            {
                "kind": "Ghost",
                "metadata": {"name": bot},
                "spec": {"systemPrompt": member.get("system", f"You are {member['bot']}."), **member.get("ghost", {})},
            }
        )
        docs.append(
            {
                "kind": "Bot",
                "metadata": {"name": bot},
                "spec": {
                    "ghostRef": {"name": bot},
                    "shellRef": {"name": shell_name},
                    "modelRef": {"name": f"{prefix}-model"},
                },
            }
        )
        entry: dict[str, Any] = {"botRef": {"name": bot}}
        for key in ("role", "prompt", "contextPassing", "requireConfirmation"):
            if key in member:
                entry[key] = member[key]
        team_members.append(entry)
    docs.append(
        {
            "kind": "Team",
            "metadata": {"name": f"{prefix}-team"},
            "spec": {"collaborationModel": collaboration, "members": team_members, **(team or {})},
        }
    )
    return yaml.safe_dump_all(docs, sort_keys=False)
