"""Resource documents used across API tests."""

from __future__ import annotations

import yaml


def bot_stack(prefix: str = "t", api_key: str = "sk-test-secret-123", base_url: str = "http://127.0.0.1:1/v1") -> str:
    docs = [
        {"kind": "Ghost", "metadata": {"name": f"{prefix}-ghost"}, "spec": {"systemPrompt": "You are helpful."}},
        {
            "kind": "Model",
            "metadata": {"name": f"{prefix}-model", "labels": {"tier": "test"}},
            "spec": {"provider": "openai", "baseUrl": base_url, "model": "scripted", "apiKey": api_key},
        },
        {"kind": "Shell", "metadata": {"name": f"{prefix}-shell"}, "spec": {"shellType": "Chat"}},
        {
            "kind": "Bot",
            "metadata": {"name": f"{prefix}-bot"},
            "spec": {
                "ghostRef": {"name": f"{prefix}-ghost"},
                "shellRef": {"name": f"{prefix}-shell"},
                "modelRef": {"name": f"{prefix}-model"},
            },
        },
        {
            "kind": "Team",
            "metadata": {"name": f"{prefix}-team"},
            "spec": {"collaborationModel": "solo", "members": [{"botRef": {"name": f"{prefix}-bot"}}]},
        },
    ]
    # Deliberately out of dependency order: apply must sort it out.
    return yaml.safe_dump_all(list(reversed(docs)), sort_keys=False)


YAML = {"content-type": "application/yaml"}
