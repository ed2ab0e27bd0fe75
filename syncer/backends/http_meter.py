"""The one place rate limits are taken: every HTTP request to a limited end's API host, retries included.

An API call is not a request: MLflow's client asks for a run before listing its artifacts, an artifact tree
listing reads each folder, the Databricks artifact repository asks for read and write credentials, and
urllib3 and the Databricks SDK retry 429s and 5xx on their own. All of them pass through urllib3's
`HTTPConnectionPool.urlopen`, which urllib3 re-enters for each retry and redirect; the requests library (and
so MLflow's `rest_utils`, the Databricks SDK and every artifact repository) sends through it. Wrapping it once
per process, each attempt to a registered origin (scheme, host, port) takes a token of its rate class from
that origin's `RateLimiter` before it is sent. Requests to other hosts (cloud storage, presigned URLs,
Azure Blob) pass untouched.
"""

from __future__ import annotations

import functools
import threading
from typing import TYPE_CHECKING, Any

from urllib3.connectionpool import HTTPConnectionPool
from urllib3.util import parse_url

if TYPE_CHECKING:
    from syncer.backends.ratelimit import RateLimiter

Origin = tuple[str, str, int]
DEFAULT_PORTS = {"http": 80, "https": 443}
_limiters: dict[Origin, RateLimiter] = {}
_lock = threading.Lock()
_MARK = "_mlflow_syncer_meter"


def origin(url: str) -> Origin | None:
    """(scheme, host, port) of an absolute URL, ports filled in and host lower-cased; None without a host."""
    parts = parse_url(url)
    if not parts.host:
        return None
    scheme = (parts.scheme or "http").lower()
    return scheme, parts.host.strip("[]").lower(), parts.port or DEFAULT_PORTS.get(scheme, 80)


def register(base_url: str, limiter: RateLimiter) -> bool:
    """Count every request to `base_url`'s origin against `limiter` (the last registration of an origin wins:
    one budget per host). Installs the hook on first use. False when the URL names no host."""
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
    """Whether urllib3's connection pools are metered in this process."""
    return getattr(HTTPConnectionPool.urlopen, _MARK, False)


def install() -> None:
    """Wrap `HTTPConnectionPool.urlopen` once per process (idempotent)."""
    if installed():
        return
    original = HTTPConnectionPool.urlopen

    @functools.wraps(original)
    def urlopen(self: HTTPConnectionPool, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        limited = _take(self, url) if _limiters else None
        response = original(self, method, url, *args, **kwargs)
        if limited is not None and getattr(response, "status", None) in (429, 503):
            _hold(limited, response)
        return response

    setattr(urlopen, _MARK, True)
    HTTPConnectionPool.urlopen = urlopen  # type: ignore[method-assign]


def _take(pool: HTTPConnectionPool, url: str) -> tuple[RateLimiter, str] | None:
    """Take a token for one attempt of `url` through `pool` (an absolute URL names its own origin: proxies)."""
    if url.startswith(("http://", "https://")):
        key = origin(url)
        path = parse_url(url).path or "/"
    else:
        scheme = pool.scheme.lower()
        key = (scheme, (pool.host or "").strip("[]").lower(), pool.port or DEFAULT_PORTS.get(scheme, 80))
        path = url
    limiter = _limiters.get(key) if key is not None else None
    rate_class = request_class(path)
    if limiter is not None and rate_class is not None:
        limiter.acquire(rate_class)
        return limiter, rate_class
    return None


def _hold(limited: tuple[RateLimiter, str], response: Any) -> None:
    """A 429 or 503 with Retry-After (seconds) holds the request's class for that long: for every worker
    where the budget is shared (syncer.engine.ray_budget)."""
    value = (getattr(response, "headers", None) or {}).get("Retry-After")
    try:
        seconds = float(value) if value else None
    except ValueError:
        seconds = None
    if seconds is not None and seconds > 0:
        limited[0].hold(limited[1], min(seconds, 60.0))


def request_class(path: str) -> str | None:
    """The rate class of a request by its URL path (Databricks' documented classes, capabilities.DATABRICKS):
    searches and experiment listing, update and delete share `search` (7/s), `log_batch` (47/s), every other
    REST API request (`/api/...`, `/ajax-api/...`: artifact listings and credentials included) is `other`
    (127/s). None for what is not the REST API (the SDK's `/.well-known/` discovery, `/oidc/` tokens): not
    counted."""
    path = path.partition("?")[0]
    if not path.startswith(("/api/", "/ajax-api/")):
        return None
    api, found, rest = path.partition("/mlflow/")
    if not found or api.count("/") > 3:  # /api/2.0/mlflow/..., /ajax-api/2.0/mlflow/...; not a file path
        return "other"
    segments = rest.strip("/").split("/")
    if (len(segments) <= 3 and segments[-1].startswith("search")) or rest.startswith(_SEARCH_PATHS):
        return "search"
    return "log_batch" if rest.startswith("runs/log-batch") else "other"


_SEARCH_PATHS = ("experiments/list", "experiments/update", "experiments/delete", "experiments/restore",
                 "experiments/get-by-name", "experiments/set-experiment-tag")
