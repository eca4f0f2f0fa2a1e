"""Egress policy: which model endpoints a user's Model may point at.

A Model's ``baseUrl`` (OpenAI, Anthropic or Dify) is called from the platform's own hosts, so a user who could
point it anywhere could make the platform call its own database, Redis, the cloud's metadata service or any
other internal service. Endpoints on loopback, private, link-local and other non-public addresses (and local
names such as ``localhost`` or ``*.internal``) are therefore refused for Models owned by ordinary users, unless
``WEGENT_EGRESS_ALLOW`` lists them. Models of admins and public (system) Models are the operators' own choice,
which is how `wegent up`'s local model on 127.0.0.1 works with no configuration.

Checked twice: when the Model is written (a clear 422) and just before every use (a name can be re-pointed).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_LOCAL_NAMES = ("localhost", "host.docker.internal", "gateway.docker.internal")
_LOCAL_SUFFIXES = (".localhost", ".internal", ".local")


def is_public(ip: IPAddress) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _allowed(host: str, addresses: Iterable[IPAddress], allow: list[str]) -> bool:
    """Every address of the host is covered by an entry of the allow list (a CIDR, an address, a name, '*')."""
    names = {entry.strip().lower() for entry in allow}
    if "*" in names or host in names:
        return True
    networks = []
    for entry in names:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            continue
    addresses = list(addresses)
    return bool(addresses) and all(any(ip in net for net in networks) for ip in addresses)


def _addresses(host: str) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return []  # unresolvable here: the executor, using the same DNS, cannot reach it either
    return [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]


def refusal(url: str, allow: list[str]) -> str | None:
    """Why ``url`` may not be called on an ordinary user's behalf, or None when it may."""
    try:
        host = (urlsplit(url).hostname or "").lower().rstrip(".")
    except ValueError:
        return "is not a valid URL"
    if not host:
        return "has no host name"
    local_name = host in _LOCAL_NAMES or host.endswith(_LOCAL_SUFFIXES)
    addresses = _addresses(host)
    if _allowed(host, addresses, allow):
        return None
    hint = "an admin can allow it with WEGENT_EGRESS_ALLOW"
    if local_name:
        return f"points at '{host}', a local name; {hint}"
    for ip in addresses:
        if not is_public(ip):
            return f"points at {ip}, which is not a public address; {hint}"
    return None
