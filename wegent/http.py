"""One TLS context per process for the HTTP clients Wegent builds.

httpx reads the CA bundle again for every client it creates (20–35 ms of CPU on these machines). Clients made per
agent step or per run (worker → executor, executor → model gateway) paid that on the way to each first token;
with this shared context a new client costs a fraction of a millisecond. It honours SSL_CERT_FILE/SSL_CERT_DIR
as httpx itself does.
"""

from __future__ import annotations

import functools
import ssl

import httpx


@functools.cache
def tls_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()
