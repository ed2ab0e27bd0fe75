"""Count what the source holds of the kinds mlflow-syncer never copies
(syncer.kinds.inventory.listing).

Listings are paged and only counted: no object is kept. What every experiment holds by itself (the
default `Feedback` label schema) is not counted. Workspace-wide kinds are listed once, the others
once per selected experiment. A listing the source does not offer (404/405/501, not implemented:
Azure ML, an older server, a file store), refuses (401/403) or fails on is recorded as
`Listed(count=None, why=...)` and not asked again for the other experiments; only a failure of the
endpoint itself (unreachable after retries) stops the scan.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

from syncer.backends.calls import call
from syncer.backends.classify import describe, not_offered, unreachable_reason
from syncer.backends.endpoint import Endpoint
from syncer.core.errors import SyncError
from syncer.core.kinds import copied
from syncer.kinds.inventory.capabilities import holds
from syncer.kinds.inventory.listing import (
    EXPERIMENT,
    INVENTORY_KINDS,
    WORKSPACE,
    InventoryKind,
    Listed,
)

PAGE = 1000
# kinds listed side by side: each is a chain of small requests, one round trip apiece
KINDS_AT_ONCE = 8
# (endpoint, experiment id or None, page token) -> one page: (items, next page token)
Lister = Callable[[Endpoint, "str | None", "str | None"], tuple[list, "str | None"]]


class Unlisted(SyncError):
    """The source does not offer (or refuses) a listing: terminal, so `call` does not retry it."""


def _store(endpoint: Endpoint):
    return endpoint.client._tracking_client.store


def _paged(result) -> tuple[list, str | None]:
    return list(result), getattr(result, "token", None) or None


def _whole(result) -> tuple[list, str | None]:
    return list(result), None


LISTERS: dict[str, Lister] = {
    "webhook": lambda e, _x, t: _paged(e.client.list_webhooks(max_results=PAGE, page_token=t)),
    "gateway_secret": lambda e, _x, _t: _whole(_store(e).list_secret_infos()),
    "gateway_endpoint": lambda e, _x, _t: _whole(_store(e).list_gateway_endpoints()),
    "mcp_server": lambda e, _x, t: _paged(
        e.client.search_mcp_servers(max_results=PAGE, page_token=t)
    ),
    "label_schema": lambda e, x, t: _paged(
        _store(e).list_label_schemas(x, max_results=100, page_token=t)
    ),
    "review_queue": lambda e, x, t: _paged(
        _store(e).list_review_queues(x, max_results=PAGE, page_token=t)
    ),
    "issue": lambda e, x, t: _paged(
        _store(e).search_issues(experiment_id=x, max_results=PAGE, page_token=t)
    ),
    "uc_dataset": lambda e, x, t: _paged(
        e.client.search_datasets(experiment_ids=[x], max_results=PAGE, page_token=t)
    ),
}


def _guarded(fn: Callable[[], tuple[list, str | None]]) -> Callable[[], tuple[list, str | None]]:
    """`fn`, with every answer but a connection failure turned into `Unlisted` (never retried by
    `call`).

    A listing that the endpoint does not offer (404/405/501), refuses (401/403) or fails on (a 500
    from a server that cannot read its own webhooks back) costs one call, not minutes of retries:
    the count is only reported, and the next pass asks again. Connection failures are retried and
    can mark the endpoint down.
    """

    def run() -> tuple[list, str | None]:
        try:
            return fn()
        except SyncError:
            raise
        except Exception as exc:
            if not_offered(exc) or unreachable_reason(exc) is None:
                raise Unlisted(describe(exc)) from exc
            raise

    return run


def count(endpoint: Endpoint, kind: str, experiment: str | None = None) -> int:
    """How many objects of `kind` the endpoint lists (in `experiment`), page by page; raises
    `Unlisted`."""
    lister, token, total = LISTERS[kind], None, 0
    while True:
        items, token = call(
            endpoint, f"list {kind}", _guarded(lambda t=token: lister(endpoint, experiment, t))
        )
        total += sum(
            not getattr(item, "is_default", False) for item in items
        )  # built-in label schema
        if not token:
            return total


def _listed(endpoint: Endpoint, kind: str, where: Iterable[str | None]) -> Iterator[Listed]:
    for experiment in where:
        try:
            yield Listed(kind, count(endpoint, kind, experiment), experiment)
        except Unlisted as exc:
            yield Listed(kind, None, why=str(exc))  # the endpoint's answer, not the experiment's
            return  # asking again for every experiment would only repeat the answer


def _may_hold(endpoint: Endpoint, kind: InventoryKind) -> bool:
    if copied(kind.name):  # a listed kind copies it (syncer.kinds.registry)
        return False
    return holds(endpoint.caps, kind)


def scan_inventory(endpoint: Endpoint, experiments: Iterable[str]) -> list[Listed]:
    """What the source holds of every inventory kind it may hold: workspace-wide, then per
    experiment (counts only)."""
    experiments = list(experiments)
    todo = [
        (k.name, [None] if k.scope == WORKSPACE else experiments if k.scope == EXPERIMENT else [])
        for k in INVENTORY_KINDS
        if _may_hold(endpoint, k)
    ]
    if not todo:
        return []
    with ThreadPoolExecutor(min(KINDS_AT_ONCE, len(todo)), thread_name_prefix="inventory") as pool:
        futures = [
            pool.submit(lambda kind=kind, where=where: list(_listed(endpoint, kind, where)))
            for kind, where in todo
        ]
        return [listed for fut in futures for listed in fut.result()]
