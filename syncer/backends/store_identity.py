"""Which store an MLflow URI names, however it is spelled: the key of the same-store check and the
state pair.

Files by their real path (relative, `./`, symlinks, `file:` and bare paths joined), servers by
scheme, host and path with default ports filled in and trailing slashes dropped (this host's own
names and loopback addresses are one host: `localhost`), databases by host, port and database (no
user, no password), Databricks by the workspace host the URI resolves to, Azure ML by subscription,
resource group and workspace (v1.0 and v2.0 URIs of one workspace agree). Names no rule can join (a
DNS alias, a reverse proxy) are the reading check's business (`syncer.backends.same_store`).
"""

from __future__ import annotations

import configparser
import functools
import os
import re
import socket
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url

DEFAULT_PORTS = {"http": 80, "https": 443, "postgresql": 5432, "mysql": 3306, "mssql": 1433}
_AZUREML = re.compile(
    r"/subscriptions/([^/]+)/resourcegroups/([^/]+)/.*?/workspaces/([^/?#]+)", re.IGNORECASE
)
_DATABASES = ("postgresql", "mysql", "mssql", "oracle")


def store_key(uri: str) -> str:
    """The canonical, secret-free identity of the store a tracking or registry URI names."""
    scheme = urlsplit(uri).scheme.lower()
    if uri.startswith("databricks"):
        return _databricks(uri, scheme)
    if scheme == "azureml":
        return _azureml(uri)
    if scheme in ("", "file") or re.match(r"^[a-z]:[\\/]", uri, re.IGNORECASE):
        return f"file:{local_path(uri)}"
    if scheme == "sqlite":
        return f"sqlite:{sqlite_path(uri)}"
    if scheme in ("http", "https"):
        return _server(uri, scheme)
    if scheme.split("+")[0] in _DATABASES:
        return _database(uri)
    return uri


def local_path(uri: str) -> str:
    """The real path of a file-store URI or a bare path (`file:///x`, `file:x`, `x`, `./x/`)."""
    path = uri
    if uri.lower().startswith("file:"):
        parts = urlsplit(uri)
        path = parts.path if parts.netloc in ("", "localhost") else f"//{parts.netloc}{parts.path}"
    return os.path.realpath(os.path.expanduser(path or "."))


def sqlite_path(uri: str) -> str:
    """The real path of a SQLite URI's database file (`:memory:` for an in-memory database)."""
    database = make_url(uri).database or ""
    if database.startswith("file:"):  # sqlite:///file:path?mode=ro&uri=true
        database = database[len("file:") :].split("?")[0]
    if database in ("", ":memory:"):
        return ":memory:"
    return os.path.realpath(os.path.expanduser(database))


def _server(uri: str, scheme: str) -> str:
    parts = urlsplit(uri)
    scheme = scheme or parts.scheme.lower()
    port = parts.port or DEFAULT_PORTS.get(scheme, 0)
    path = re.sub(r"/+", "/", parts.path).rstrip("/")
    return f"{scheme}://{canonical_host(parts.hostname or '')}:{port}{path}"


def _database(uri: str) -> str:
    url = make_url(uri)
    backend = url.get_backend_name()
    port = url.port or DEFAULT_PORTS.get(backend, 0)
    return f"{backend}://{canonical_host(url.host or 'localhost')}:{port}/{url.database or ''}"


def _azureml(uri: str) -> str:
    found = _AZUREML.search(urlsplit(uri).path)
    if found is None:
        return uri
    subscription, group, workspace = (part.lower() for part in found.groups())
    return f"azureml:{subscription}/{group}/{workspace}"


def _databricks(uri: str, scheme: str) -> str:
    """`databricks`, `databricks://profile` and the env vars all resolve to a workspace host; the
    workspace registry is the workspace's own store, Unity Catalog a store of its own kind."""
    kind = (
        "databricks-uc"
        if scheme in ("databricks-uc", "uc") or uri == "databricks-uc"
        else "databricks"
    )
    host = databricks_host(uri)
    return f"{kind}:{host}" if host else uri


def databricks_host(uri: str) -> str | None:
    """The workspace host a Databricks URI names, read as the Databricks SDK's unified auth reads it
    (the URI's profile; without one DATABRICKS_HOST, else DATABRICKS_CONFIG_PROFILE or DEFAULT of
    the config file), without any request; None for a secret-scope URI or a profile that names no
    host."""
    profile = urlsplit(uri).netloc if "://" in uri else ""
    host = "" if profile else os.environ.get("DATABRICKS_HOST", "")
    if not host and ":" not in profile:
        host = _profile_host(profile or os.environ.get("DATABRICKS_CONFIG_PROFILE") or "DEFAULT")
    if not host:
        return None
    return _server(host if "://" in host else f"https://{host}", "")


def _profile_host(profile: str) -> str:
    path = os.environ.get("DATABRICKS_CONFIG_FILE") or os.path.expanduser("~/.databrickscfg")
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path)
    except configparser.Error:
        return ""
    if profile == "DEFAULT":
        return parser.defaults().get("host", "")
    return parser.get(profile, "host", fallback="")


def canonical_host(host: str) -> str:
    """`localhost` for loopback addresses and this machine's own names and addresses, else the name
    in lower case (other names are never resolved: two virtual hosts may share an address)."""
    host = host.lower().strip("[]")
    if host.startswith("127.") or host in _own_names():
        return "localhost"
    return host


@functools.cache
def _own_names() -> frozenset[str]:
    names = {
        "localhost",
        "localhost.localdomain",
        "ip6-localhost",
        "ip6-loopback",
        "::1",
        "0.0.0.0",
        "::",
    }
    for name in (socket.gethostname(), socket.getfqdn()):
        names.add(name.lower())
        try:
            names.update(info[4][0] for info in socket.getaddrinfo(name, None))
        except OSError:
            continue
    return frozenset(n.lower() for n in names)
