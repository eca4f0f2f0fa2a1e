"""Write the API's OpenAPI spec (as `create_app` builds it) to web/openapi.json, or print it with `-`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "openapi.json"


def spec_text() -> str:
    from api.main import create_app

    return json.dumps(create_app().openapi(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    text = spec_text()
    if sys.argv[1:] == ["-"]:
        sys.stdout.write(text)
    else:
        OUT.write_text(text)
        print(f"wrote {OUT}")
