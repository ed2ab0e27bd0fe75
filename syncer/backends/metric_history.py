"""Source metric histories, read for up to 100 runs per request where the server offers that.

An open-source MLflow server answers `/ajax-api/2.0/mlflow/metrics/get-history-bulk` (one metric
key, up to 100 runs, at most 25,000 points per answer in all). Runs are grouped in the order the
executor copies them, by their latest steps, so that a group's histories should fit one answer; the
first copy that needs key K of a group fetches K for the whole group (or `warm` started that fetch
earlier, from the executor's read-ahead), the others wait for that one fetch and take their points
from the cache; different groups and keys are read side by side. An answer that comes back
full may be cut: its runs are then read one by one with get_metric_history, as are runs whose
histories look long and every run of an endpoint without the bulk route (capabilities) or answering
it with an error.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import Executor

import structlog
from mlflow.entities import Metric
from mlflow.utils.rest_utils import http_request

from syncer.backends.calls import call
from syncer.backends.endpoint import Endpoint
from syncer.core.snapshot import RunSnap

log = structlog.get_logger("syncer.backends.metric_history")

BULK_ROUTE = "/ajax-api/2.0/mlflow/metrics/get-history-bulk"
RUNS_PER_REQUEST = 100
FIRST_GROUP = 10  # runs in the first group; each next group doubles, up to RUNS_PER_REQUEST
POINTS_PER_REQUEST = 25_000
GROUP_BUDGET = 20_000  # points a group is expected to hold (by latest steps) per key
PAGE = 10_000  # points per get_metric_history page


def _expected_points(run: RunSnap) -> int:
    return max((step for _, _, step in run.metrics.values()), default=0) + 1


def groups_of(runs: list[RunSnap]) -> list[list[RunSnap]]:
    """Consecutive groups of at most 100 runs whose expected points per key stay within the budget.

    The first groups are small (10 runs, then 20, 40, ...): the first runs' writes wait for the
    first answers, which come back sooner, while later groups are read ahead as the copy goes on."""
    groups: list[list[RunSnap]] = []
    current: list[RunSnap] = []
    used = 0
    cap = FIRST_GROUP
    for run in runs:
        need = _expected_points(run)
        if not run.metrics or need > GROUP_BUDGET:
            continue
        if current and (len(current) >= cap or used + need > GROUP_BUDGET):
            groups.append(current)
            current, used = [], 0
            cap = min(RUNS_PER_REQUEST, 2 * cap)
        current.append(run)
        used += need
    if current:
        groups.append(current)
    return groups


class HistoryReader:
    """Metric histories of the source runs a plan copies, batched across runs when possible."""

    def __init__(self, endpoint: Endpoint, runs: list[RunSnap]) -> None:
        self.endpoint = endpoint
        self.enabled = endpoint.caps.history_bulk
        self.groups = groups_of(runs)
        self.group_of = {r.run_id: g for g, group in enumerate(self.groups) for r in group}
        self.cache: dict[tuple[str, str], list[Metric]] = {}
        self.fetched: dict[tuple[int, str], threading.Event] = {}
        self.lock = threading.Lock()

    def history(self, run_id: str, key: str) -> list[Metric]:
        """Every point of one metric of one source run."""
        return [m for page in self.pages(run_id, key) for m in page]

    def pages(self, run_id: str, key: str) -> Iterator[list[Metric]]:
        """The points of one metric of one source run, a page at a time (memory does not grow with
        history)."""
        group = self.group_of.get(run_id)
        points = None
        if self.enabled and group is not None:
            self._ensure(group, key)
            with self.lock:
                points = self.cache.pop((run_id, key), None)
        if points:
            yield points
            return
        store = self.endpoint.client._tracking_client.store
        token = None
        while True:
            page = call(
                self.endpoint,
                "get_metric_history",
                lambda t=token: store.get_metric_history(
                    run_id, key, max_results=PAGE, page_token=t
                ),
            )
            yield list(page)
            token = getattr(page, "token", None)
            if not token:
                return

    def warm(self, run_id: str, keys: list[str], pool: Executor) -> None:
        """Start the bulk reads of these keys for the run's group on `pool`, unless started
        already."""
        group = self.group_of.get(run_id)
        if not self.enabled or group is None:
            return
        for key in keys:
            with self.lock:
                started = (group, key) in self.fetched
            if not started:
                pool.submit(self._ensure, group, key)

    def _ensure(self, group: int, key: str) -> None:
        """Fetch one (group, key) once; callers for the same pair wait for that fetch, other pairs
        run freely."""
        with self.lock:
            done = self.fetched.get((group, key))
            mine = done is None
            if mine:
                done = self.fetched[(group, key)] = threading.Event()
        if not mine:
            done.wait()
            return
        try:
            self._fetch(group, key)
        finally:
            done.set()

    def _fetch(self, group: int, key: str) -> None:
        run_ids = [r.run_id for r in self.groups[group] if key in r.metrics]
        try:
            body = call(
                self.endpoint, "get_metric_history_bulk", lambda: self._request(run_ids, key)
            )
        except Exception as exc:  # any failure: read run by run instead
            log.info("bulk metric history unavailable; reading run by run", error=str(exc)[:200])
            self.enabled = False
            return
        metrics = body.get("metrics", [])
        if len(metrics) >= POINTS_PER_REQUEST:
            return  # possibly cut: these runs are read one by one
        got: dict[str, list[Metric]] = {rid: [] for rid in run_ids}
        for m in metrics:
            if m.get("run_id") in got:
                got[m["run_id"]].append(
                    Metric(key, float(m["value"]), int(m["timestamp"]), int(m.get("step", 0)))
                )
        with self.lock:
            for rid, points in got.items():
                self.cache[(rid, key)] = points

    def _request(self, run_ids: list[str], key: str) -> dict:
        creds = self.endpoint.client._tracking_client.store.get_host_creds()
        resp = http_request(
            creds,
            BULK_ROUTE,
            "GET",
            params={"run_id": run_ids, "metric_key": key, "max_results": POINTS_PER_REQUEST},
        )
        resp.raise_for_status()
        return resp.json()
