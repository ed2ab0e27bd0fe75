"""Basic-auth credentials per end: MLflow reads one user and password for every server
(`MLFLOW_TRACKING_USERNAME` / `MLFLOW_TRACKING_PASSWORD`, in `mlflow.utils.credentials.
get_default_host_creds`, which the REST stores and the `mlflow-artifacts` / http artifact
repositories ask for each request). An end whose config names its own variables (`credentials:
{username_env, password_env}`) gets them instead, matched by the origin (scheme, host and port) of
the URI asked about.

`use()` checks the variables are set and routes MLflow's lookups through `host_creds`, once per
process. The password is registered as a secret (redacted from every log line and report); nothing
is kept but the variables' names.
"""

from __future__ import annotations

import functools
import os
from urllib.parse import urlsplit

from mlflow.utils import credentials
from mlflow.utils.rest_utils import MlflowHostCreds

from syncer.backends.rebind import rebind
from syncer.core.errors import FatalError
from syncer.core.redact import register_secret

_ORIGINAL = credentials.get_default_host_creds
_ends: dict[str, tuple[str, str]] = {}  # origin -> (username variable, password variable)


def _origin(uri: str) -> str:
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}".lower()


def host_creds(store_uri: str) -> MlflowHostCreds:
    """MLflow's default credentials for `store_uri`, with the user and password of its end's
    variables."""
    creds = _ORIGINAL(store_uri)
    names = _ends.get(_origin(store_uri))
    if names is not None:
        creds.username, creds.password = os.environ.get(names[0]), os.environ.get(names[1])
    return creds


def use(role: str, tracking_uri: str, username_env: str, password_env: str) -> None:
    """Give the end at `tracking_uri` the user and password of these variables (`role` names it in
    the one-line error when one is not set)."""
    missing = [n for n in (username_env, password_env) if not os.environ.get(n)]
    if missing:
        raise FatalError(f"{role}.credentials: environment variable {missing[0]} is not set")
    register_secret(os.environ[password_env])
    _ends[_origin(tracking_uri)] = (username_env, password_env)
    install()


def install() -> None:
    """Route MLflow's lookups through `host_creds`: the function in `mlflow.utils.credentials`
    (modules imported later bind this one) and every loaded MLflow module that imported the original
    by name."""
    rebind(credentials, "get_default_host_creds", _ORIGINAL, host_creds)


def adopt(store: object) -> None:
    """A REST store built before `install` holds `partial(original, uri)`: point it at
    `host_creds`."""
    bound = getattr(store, "get_host_creds", None)
    if isinstance(bound, functools.partial) and bound.func is _ORIGINAL:
        store.get_host_creds = functools.partial(host_creds, *bound.args, **bound.keywords)
