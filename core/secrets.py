"""Secret fields inside resource specs: encrypt on write, mask on read, keep on '***'.

A secret path may hold "*" for every key of a mapping (an MCP server's env and headers): it is expanded
against the spec at hand, so each value is a secret of its own.
"""

from __future__ import annotations

import copy
from typing import Any

from wegent.crypto import Keyring, is_encrypted
from wegent.resources import MASK, SECRET_FIELDS


def _get(spec: dict[str, Any] | None, path: tuple[str, ...]) -> Any:
    node: Any = spec
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _set(spec: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = spec
    for part in path[:-1]:
        node = node.setdefault(part, {})
    if value is None:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value


def _expand(spec: dict[str, Any] | None, pattern: tuple[str, ...]) -> list[tuple[str, ...]]:
    """The concrete paths of ``spec`` that ``pattern`` covers ("*" = each key of a mapping)."""
    paths: list[tuple[str, ...]] = [()]
    for part in pattern:
        nxt: list[tuple[str, ...]] = []
        for path in paths:
            node = _get(spec, path) if path else spec
            if not isinstance(node, dict):
                continue
            keys = [k for k in node if isinstance(k, str)] if part == "*" else ([part] if part in node else [])
            nxt.extend((*path, key) for key in keys)
        paths = nxt
    return paths


def _secret_paths(kind: str, spec: dict[str, Any] | None) -> list[tuple[str, ...]]:
    return [path for pattern in SECRET_FIELDS.get(kind, []) for path in _expand(spec, pattern)]


def seal(kind: str, incoming: dict[str, Any], stored: dict[str, Any] | None, keyring: Keyring) -> dict[str, Any]:
    """Spec to store: plaintext secrets encrypted, '***' replaced by the stored ciphertext.

    An unchanged plaintext keeps its existing ciphertext so re-applying the same document is a no-op.
    Raises ValueError(field) when '***' is sent for a secret that has no stored value.
    """
    out = copy.deepcopy(incoming)
    for path in _secret_paths(kind, out):
        value = _get(out, path)
        previous = _get(stored, path) if stored else None
        if value is None:
            continue
        if value == MASK:
            if previous is None:
                raise ValueError("spec." + ".".join(path))
            _set(out, path, previous)
        elif is_encrypted(previous) and keyring.decrypt(previous) == value:
            _set(out, path, previous)
        else:
            _set(out, path, keyring.encrypt(str(value)))
    return out


def without_secrets(kind: str, stored: dict[str, Any]) -> dict[str, Any]:
    """The spec with its secret fields left out, none of them decrypted: for a reader that must not hold them."""
    out = copy.deepcopy(stored)
    for path in _secret_paths(kind, out):
        parent = _get(out, path[:-1]) if len(path) > 1 else out
        if isinstance(parent, dict):
            parent.pop(path[-1], None)
    return out


def mask(kind: str, stored: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(stored)
    for path in _secret_paths(kind, out):
        if _get(out, path) is not None:
            _set(out, path, MASK)
    return out


def reveal(kind: str, stored: dict[str, Any], keyring: Keyring) -> dict[str, Any]:
    """Decrypted spec, for the worker only (plans carry references, activities call this at use)."""
    out = copy.deepcopy(stored)
    for path in _secret_paths(kind, out):
        value = _get(out, path)
        if is_encrypted(value):
            _set(out, path, keyring.decrypt(value))
    return out
