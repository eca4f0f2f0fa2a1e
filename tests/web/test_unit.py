"""The web app's unit tests (Vitest: the stream store, the i18n catalogs), run by `make test` through pytest."""

from __future__ import annotations

import subprocess
from pathlib import Path

WEB = Path(__file__).resolve().parents[2] / "web"


def test_vitest_suite_passes() -> None:
    result = subprocess.run(
        ["npx", "--no-install", "vitest", "--run", "--reporter=verbose"],
        cwd=WEB,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # The suites really ran (not an empty selection).
    assert "StreamStore" in output and "i18n catalogs" in output, output
