"""The one place rate limits are taken: every HTTP request to a limited end's API host, retries
included.

An API call is not a request: MLflow's client asks for a run before listing its artifacts, an
artifact tree listing reads each folder, the Databricks artifact repository asks for read and write
credentials, and urllib3 and the Databricks SDK retry 429s and 5xx on their own. MLflow sends all of
them through `requests` sessions: those `mlflow.utils.request_utils._get_request_session` makes (one
per retry policy, kept per process) and, with the Databricks SDK, the SDK client's own session
(`rest_utils.get_workspace_client`). `install()` meters each of those sessions as MLflow hands it
out (`meter_session`): the connection pools of its adapters become metered pools, whose `urlopen`
urllib3 re-enters for each retry and redirect, so each attempt to a registered origin (scheme, host,
port) takes a token of its rate class from that origin's `RateLimiter` before it is sent. Nothing of
urllib3 or requests is patched: other sessions (cloud storage clients, other libraries) are left
alone, and requests to other hosts (cloud storage, presigned URLs, Azure Blob) pass untouched.
"""

from __future__ import annotations

import functools
import threading
from typing import TYPE_CHECKING, Any

from requests.adapters import HTTPAdapter
from urllib3.connectionpool import HTTPConnectionPool
from urllib3.util import parse_url

from syncer.backends.rebind import rebind

if TYPE_CHECKING:
    import requests
    from urllib3 import PoolManager

    from syncer.backends.ratelimit import RateLimiter

Origin = tuple[str, str, int]
DEFAULT_PORTS = {"http": 80, "https": 443}
_limiters: dict[Origin, RateLimiter] = {}
_lock = threading.RLock()
_MARK = "_mlflow_syncer_meter"
_installed: list[bool] = []
_pool_classes: dict[type, type] = {}


def origin(url: str) -> Origin | None:
    """(scheme, host, port) of an absolute URL, ports filled in and host lower-cased; None without a
    host."""
    parts = parse_url(url)
    if not parts.host:
        return None
    scheme = (parts.scheme or "http").lower()
    return scheme, parts.host.strip("[]").lower(), parts.port or DEFAULT_PORTS.get(scheme, 80)


def register(base_url: str, limiter: RateLimiter) -> bool:
    """Count every request to `base_url`'s origin against `limiter` (the last registration of an
    origin wins: one budget per host). Installs the hook on first use. False when the URL names no
    host."""
    key = origin(base_url)
    if key is None:
        return False
    with _lock:
        _limiters[key] = limiter
        install()
    return True


def unregister(base_url: str) -> None:
    """Stop counting requests to `base_url`'s origin."""
    key = origin(base_url)
    with _lock:
        if key is not None:
            _limiters.pop(key, None)


def limiter_for(base_url: str) -> RateLimiter | None:
    """The limiter counting requests to `base_url`'s origin, if any."""
    key = origin(base_url)
    return _limiters.get(key) if key is not None else None


def installed() -> bool:
    """Whether the sessions MLflow hands out are metered in this process."""
    return bool(_installed)


def install() -> None:
    """Meter every session MLflow's REST client hands out from now on, and the Databricks SDK
    client's (idempotent)."""
    from mlflow.utils import request_utils, rest_utils

    with _lock:
        if _installed:
            return
        make_session = request_utils._get_request_session
        workspace_client = rest_utils.get_workspace_client

        def get_request_session(*args: Any, **kwargs: Any) -> requests.Session:
            return meter_session(make_session(*args, **kwargs))

        def get_workspace_client(*args: Any, **kwargs: Any) -> Any:
            client = workspace_client(*args, **kwargs)
            session = getattr(getattr(client.api_client, "_api_client", None), "_session", None)
            if session is not None:
                meter_session(session)
            return client

        functools.update_wrapper(get_request_session, make_session)
        functools.update_wrapper(get_workspace_client, workspace_client)
        if hasattr(workspace_client, "cache_clear"):  # MLflow caches the SDK client
            clear = workspace_client.cache_clear
            get_workspace_client.cache_clear = clear  # type: ignore[attr-defined]
        rebind(request_utils, "_get_request_session", make_session, get_request_session)
        rebind(rest_utils, "get_workspace_client", workspace_client, get_workspace_client)
        _installed.append(True)


def meter_session(session: requests.Session) -> requests.Session:
    """Meter every request `session` sends (once per adapter): its adapters' connection pools, those
    made already and those to come, proxies' included, become metered pools."""
    for adapter in list(session.adapters.values()):
        if not isinstance(adapter, HTTPAdapter) or getattr(adapter, _MARK, False):
            continue
        with _lock:
            if getattr(adapter, _MARK, False):
                continue
            _meter_manager(adapter.poolmanager)
            for manager in adapter.proxy_manager.values():
                _meter_manager(manager)
            adapter.proxy_manager = _MeteredProxies(adapter.proxy_manager)
            setattr(adapter, _MARK, True)
    return session


def _meter_manager(manager: PoolManager) -> PoolManager:
    """A pool manager whose pools are metered: the classes it makes pools of, and the pools it holds
    (a live pool's class is swapped for its metered subclass, which only wraps `urlopen`)."""
    classes = manager.pool_classes_by_scheme
    manager.pool_classes_by_scheme = {scheme: _metered(cls) for scheme, cls in classes.items()}
    for key in list(manager.pools.keys()):
        pool = manager.pools.get(key)
        if pool is not None:
            pool.__class__ = _metered(type(pool))
    return manager


class _MeteredProxies(dict):
    """An adapter's proxy managers (made on first use of each proxy), each metered when added."""

    def __setitem__(self, key: str, manager: PoolManager) -> None:
        super().__setitem__(key, _meter_manager(manager))


def _metered(cls: type[HTTPConnectionPool]) -> type[HTTPConnectionPool]:
    """The subclass of a pool class whose every attempt (urllib3 calls `urlopen` again for each
    retry and redirect) to a registered origin takes a token first; 429 and 503 hold the class."""
    if getattr(cls, _MARK, False):
        return cls
    with _lock:
        if cls not in _pool_classes:

            def urlopen(
                self: HTTPConnectionPool, method: str, url: str, *args: Any, **kwargs: Any
            ) -> Any:
                limited = _take(self, url) if _limiters else None
                response = cls.urlopen(self, method, url, *args, **kwargs)
                if limited is not None and getattr(response, "status", None) in (429, 503):
                    _hold(limited, response)
                return response

            body = {"urlopen": urlopen, _MARK: True}
            _pool_classes[cls] = type(f"Metered{cls.__name__}", (cls,), body)
        return _pool_classes[cls]


def _take(pool: HTTPConnectionPool, url: str) -> tuple[RateLimiter, str] | None:
    """Take a token for one attempt of `url` through `pool` (an absolute URL names its own origin:
    proxies)."""
    if url.startswith(("http://", "https://")):
        key = origin(url)
        path = parse_url(url).path or "/"
    else:
        scheme = pool.scheme.lower()
        key = (
            scheme,
            (pool.host or "").strip("[]").lower(),
            pool.port or DEFAULT_PORTS.get(scheme, 80),
        )
        path = url
    limiter = _limiters.get(key) if key is not None else None
    rate_class = request_class(path)
    if limiter is not None and rate_class is not None:
        limiter.acquire(rate_class)
        return limiter, rate_class
    return None


def _hold(limited: tuple[RateLimiter, str], response: Any) -> None:
    """A 429 or 503 with Retry-After (seconds) holds the request's class for that long: for every
    worker where the budget is shared (syncer.engine.ray_budget)."""
    value = (getattr(response, "headers", None) or {}).get("Retry-After")
    try:
        seconds = float(value) if value else None
    except ValueError:
        seconds = None
    if seconds is not None and seconds > 0:
        limited[0].hold(limited[1], min(seconds, 60.0))


def request_class(path: str) -> str | None:
    """The rate class of a request by its URL path (Databricks' documented groups,
    capabilities.DATABRICKS, https://docs.azure.cn/zh-cn/databricks/dev-tools/api/latest/mlflow
    "Rate limits": four groups): experiment management (list, update, delete, restore; 7/s) is
    `experiments`, search runs (7/s) `search`, `log_batch` (47/s), every other REST API request
    (`/api/...`, `/ajax-api/...`: the other kinds' searches, artifact listings and credentials
    included) is `other` (127/s). None for what is not the REST API (the SDK's `/.well-known/`
    discovery, `/oidc/` tokens): not counted."""
    path = path.partition("?")[0]
    if not path.startswith(("/api/", "/ajax-api/")):
        return None
    api, found, rest = path.partition("/mlflow/")
    if (
        not found or api.count("/") > 3
    ):  # /api/2.0/mlflow/..., /ajax-api/2.0/mlflow/...; not a file path
        return "other"
    if rest.startswith("runs/search"):
        return "search"
    if rest.startswith(_EXPERIMENT_PATHS):
        return "experiments"
    return "log_batch" if rest.startswith("runs/log-batch") else "other"


_EXPERIMENT_PATHS = (
    "experiments/search",
    "experiments/list",
    "experiments/update",
    "experiments/delete",
    "experiments/restore",
    "experiments/get-by-name",
    "experiments/set-experiment-tag",
)
