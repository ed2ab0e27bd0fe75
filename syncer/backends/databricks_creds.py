"""Databricks host credentials resolved once per workspace, not once per request.

MLflow asks `mlflow.utils.databricks_utils.get_databricks_host_creds` for every REST call to a
`databricks` URI (tracking and registry stores, the `dbfs:/databricks/mlflow-tracking` artifact
repository's listings and read credentials, Unity Catalog stores). Each call builds a
`databricks.sdk.WorkspaceClient`, whose config walks the credential chain (env, `~/.databrickscfg`)
and GETs the host's `/.well-known/databricks-config`: one extra round trip per API call (an OAuth
service principal adds the OIDC discovery).

`install()` routes those lookups through `host_creds`, which keeps the answer per workspace (profile
and secret-scope prefix of the URI, and the auth environment) for `TTL` seconds. What is kept is
safe to keep: with the SDK (MLflow's default) the creds hold the host, the workspace id and whether
to use the SDK, and the request itself authenticates through MLflow's cached
`rest_utils.get_workspace_client`, which refreshes OAuth tokens on its own; a static token (legacy
auth, a PAT from env or a profile) is re-read after `TTL`. The creds live only in memory; nothing
here logs them.
"""

from __future__ import annotations

import functools
import hashlib
import os
import threading
import time

from mlflow.utils import databricks_utils
from mlflow.utils.rest_utils import MlflowHostCreds
from mlflow.utils.uri import get_db_info_from_uri

from syncer.backends.rebind import rebind
from syncer.core import env_knobs

TTL = env_knobs.number("MLFLOW_SYNCER_DATABRICKS_CREDS_TTL")
_ORIGINAL = databricks_utils.get_databricks_host_creds
_AUTH_ENV = (
    "HOME",
    "MLFLOW_ENABLE_DB_SDK",
)  # besides DATABRICKS_*: where profiles are read, SDK or legacy

_cache: dict[tuple, tuple[float, MlflowHostCreds]] = {}
_locks: dict[tuple, threading.Lock] = {}
_guard = threading.Lock()


def _key(server_uri: str | None) -> tuple:
    """The workspace a URI resolves to: its profile and secret-scope prefix, and a digest of the
    auth environment (a test or a caller may point DATABRICKS_HOST elsewhere; the digest keeps no
    secret)."""
    env = sorted(
        (k, v) for k, v in os.environ.items() if k.startswith("DATABRICKS_") or k in _AUTH_ENV
    )
    return (
        *get_db_info_from_uri(server_uri or "databricks"),
        hashlib.sha256(repr(env).encode()).hexdigest(),
    )


def host_creds(server_uri: str | None = None) -> MlflowHostCreds:
    """`get_databricks_host_creds`, resolved at most once per workspace every `TTL` seconds (one
    caller resolves while the others wait for its answer)."""
    try:
        key = _key(server_uri)
    except Exception:  # a malformed URI: MLflow's own lookup says what is wrong
        return _ORIGINAL(server_uri)
    with _guard:
        lock = _locks.setdefault(key, threading.Lock())
    with lock:
        hit = _cache.get(key)
        if hit is not None and time.monotonic() - hit[0] < TTL:
            return hit[1]
        creds = _ORIGINAL(server_uri)
        _cache[key] = (time.monotonic(), creds)
        return creds


def forget() -> None:
    """Drop every kept answer (the next lookup resolves again)."""
    with _guard:
        _cache.clear()


def install() -> None:
    """Make MLflow's Databricks lookups use `host_creds`, once per process: the function in
    `databricks_utils` (modules imported later bind this one) and every loaded MLflow module that
    imported the original by name."""
    rebind(databricks_utils, "get_databricks_host_creds", _ORIGINAL, host_creds)


def adopt(store: object) -> None:
    """A store built before `install` (MLflow keeps one per URI) holds `partial(original, uri)`:
    point it at `host_creds` too (the registry store of Unity Catalog also keeps one for its
    tracking URI)."""
    for attr in ("get_host_creds", "get_tracking_host_creds"):
        bound = getattr(store, attr, None)
        if isinstance(bound, functools.partial) and bound.func is _ORIGINAL:
            setattr(store, attr, functools.partial(host_creds, *bound.args, **bound.keywords))
