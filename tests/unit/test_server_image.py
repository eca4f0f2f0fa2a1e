"""The API/worker image (Dockerfile, used by temporal-compose.yaml) holds every package the project installs."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_image_copies_every_installed_package() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}
    copied = set(re.findall(r"^COPY (\w+) \./\1$", (ROOT / "Dockerfile").read_text(), re.MULTILINE))
    # `pip install .` in the image would otherwise build a package without them, and `wegent` would not start.
    assert packages <= copied, f"missing from the Dockerfile: {sorted(packages - copied)}"
