"""Client-side rate limiting per endpoint class (search, log_batch, other), shared by all workers of a process,
or by several processes through a `SharedBudget` (scale-out workers: the state store's buckets)."""

from __future__ import annotations

import threading
import time

from syncer.core.capabilities import RateLimits
from syncer.core.rate_budget import SharedBudget

# Databricks puts experiment listing, update and delete in the same 7/s class as search runs.
_SEARCH_CLASS = frozenset({"set_experiment_tag", "delete_experiment", "restore_experiment", "rename_experiment",
                           "update_experiment", "get_experiment_by_name"})


def endpoint_class(op: str) -> str:
    """Which rate-limit class an API operation belongs to."""
    if op.startswith("blob_"):
        return "storage"  # Azure Storage calls do not count against the MLflow API's limits
    if op.startswith("search") or op in _SEARCH_CLASS:
        return "search"
    if op == "log_batch":
        return "log_batch"
    return "other"


class TokenBucket:
    """A thread-safe token bucket: `rate` tokens per second, bursts of up to `burst`."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        self.rate = rate
        self.capacity = burst if burst is not None else max(1.0, rate)
        self.tokens = self.capacity
        self.updated = time.monotonic()
        self.lock = threading.Lock()

    def acquire(self) -> None:
        while True:
            with self.lock:
                now = time.monotonic()
                self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
                self.updated = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                wait = (1 - self.tokens) / self.rate
            time.sleep(wait)


class SharedBucket:
    """A bucket whose tokens live in a `SharedBudget`: every process drawing on `key` shares `rate`."""

    def __init__(self, budget: SharedBudget, key: str, rate: float, burst: float) -> None:
        self.budget, self.key, self.rate, self.capacity = budget, key, rate, burst

    def acquire(self) -> None:
        while (wait := self.budget.take(self.key, self.rate, self.capacity)) > 0:
            time.sleep(wait)


class RateLimiter:
    """One bucket per endpoint class; classes without a limit pass straight through."""

    def __init__(self, limits: RateLimits) -> None:
        self.buckets: dict[str, TokenBucket | SharedBucket] = {
            name: TokenBucket(rate)
            for name, rate in (("search", limits.search), ("log_batch", limits.log_batch),
                               ("other", limits.other))
            if rate
        }

    def share(self, budget: SharedBudget, scope: str) -> None:
        """Draw every limited class from `budget` (bucket `<scope>|<class>`), with the same rates and bursts."""
        self.buckets = {name: SharedBucket(budget, f"{scope}|{name}", b.rate, b.capacity)
                        for name, b in self.buckets.items()}

    def acquire(self, op: str) -> None:
        bucket = self.buckets.get(endpoint_class(op))
        if bucket is not None:
            bucket.acquire()
