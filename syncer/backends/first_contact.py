"""First contact with an end: before any API call, each of its HTTP hosts must resolve and accept a
TCP connection within seconds, or the command stops with one line naming the end (no minute of
retries for a wrong port or host). Retries apply only after this first contact
(syncer.backends.calls)."""

from __future__ import annotations

import socket
import urllib.request
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from syncer.core import env_knobs
from syncer.core.errors import FatalError
from syncer.core.redact import redact

if TYPE_CHECKING:
    from syncer.backends.endpoint import Endpoint


def probe(endpoint: Endpoint) -> None:
    """Resolve and connect to every HTTP host of the end (none for a direct store); FatalError if
    one fails."""
    try:
        hosts = endpoint.api_hosts()
    except Exception:  # no credentials, a bad URI: the start-up checks and the first call say why
        return
    timeout = env_knobs.number("MLFLOW_SYNCER_CONNECT_TIMEOUT")
    for base in hosts:
        parts = urlsplit(base)
        if (
            parts.scheme not in ("http", "https")
            or not parts.hostname
            or _proxied(base, parts.hostname)
        ):
            continue
        port = parts.port or (443 if parts.scheme == "https" else 80)
        problem = _connect(parts.hostname, port, timeout)
        if problem:
            where = redact(f"{parts.scheme}://{parts.hostname}:{port}")
            raise FatalError(f"the {endpoint.role} ({where}) is unreachable: {problem}")


def _proxied(base: str, host: str) -> bool:
    """Requests to the host go through an HTTP proxy (the proxy decides what is reachable)."""
    proxies = urllib.request.getproxies()
    return bool(proxies.get(urlsplit(base).scheme)) and not urllib.request.proxy_bypass(host)


def _connect(host: str, port: int, timeout: float) -> str | None:
    """Why a TCP connection to host:port cannot be made (None: it can)."""
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        return f"host name {host!r} does not resolve; check the URI"
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except ConnectionRefusedError:
        return (
            f"connection refused (nothing listens on port {port}); check the URI and that the "
            f"server runs"
        )
    except TimeoutError:
        return f"no answer from port {port} within {timeout:g} s (MLFLOW_SYNCER_CONNECT_TIMEOUT)"
    except OSError as exc:
        return f"cannot connect to port {port}: {exc.strerror or exc}"
