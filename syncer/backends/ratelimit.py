"""Client-side rate limiting per rate class (search, log_batch, other), shared by all workers of a
process, or by several processes through a `SharedBudget` (scale-out workers: the state store's
buckets).

Tokens are taken per HTTP request, not per API call: `syncer.backends.http_meter` classifies each
request to an end's API host by its path and takes the token here.

A token taken is not a request arrived: between the two lie thread scheduling, a connection set up,
the network. Requests granted 1/rate apart can reach the service closer together, and a service
whose bucket is empty answers the second one 429. So the configured limits are taken as the
service's own bucket (`rate` per second, bursts of max(1, rate): Databricks' documented limits), and
ours leaves room for `JITTER` seconds of arrival jitter (`paced`): a smaller burst at the same
sustained rate, or, for rates so small that a burst of one request is all there is, a slightly lower
rate."""

from __future__ import annotations

import threading
import time

from syncer.core import env_knobs
from syncer.core.capabilities import RateLimits
from syncer.core.rate_budget import SharedBudget

JITTER = env_knobs.number("MLFLOW_SYNCER_RATE_JITTER")


def paced(rate: float, jitter: float = JITTER) -> tuple[float, float]:
    """Our (rate, burst) for a service that allows `rate` per second in bursts of max(1, rate), such
    that requests granted by ours still fit the service's bucket when each arrives up to `jitter` s
    late.

    With the same rate, any run of requests arrives at most `jitter` s closer together than granted,
    which the service's bucket refills by `rate * jitter` tokens: ours keeps that much of the burst
    back. When that would leave less than one request, ours holds a burst of one and spaces requests
    by the service's refill time plus the jitter (at most 1 / (1/rate + jitter) per second, below
    the service's rate)."""
    burst = max(1.0, rate)
    if burst - rate * jitter >= 1:
        return rate, burst - rate * jitter
    return 1 / ((2 - burst) / rate + jitter), 1.0


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

    def hold(self, seconds: float) -> None:
        """Hand out nothing for `seconds` (a server's Retry-After): the bucket owes the tokens of
        that time."""
        with self.lock:
            now = time.monotonic()
            self.tokens = min(
                self.capacity, self.tokens + (now - self.updated) * self.rate, -seconds * self.rate
            )
            self.updated = now


class SharedBucket:
    """A bucket whose tokens live in a `SharedBudget`: every process drawing on `key` shares
    `rate`."""

    def __init__(self, budget: SharedBudget, key: str, rate: float, burst: float) -> None:
        self.budget, self.key, self.rate, self.capacity = budget, key, rate, burst

    def acquire(self) -> None:
        while (wait := self.budget.take(self.key, self.rate, self.capacity)) > 0:
            time.sleep(wait)

    def hold(self, seconds: float) -> None:
        """Every process drawing on the budget waits `seconds` (where the budget can hold a key)."""
        hold = getattr(self.budget, "hold", None)
        if hold is not None:
            hold(self.key, seconds)


class RateLimiter:
    """One bucket per endpoint class; classes without a limit pass straight through."""

    def __init__(self, limits: RateLimits) -> None:
        self.buckets: dict[str, TokenBucket | SharedBucket] = {
            name: TokenBucket(*paced(rate))
            for name, rate in (
                ("search", limits.search),
                ("experiments", limits.experiments),
                ("log_batch", limits.log_batch),
                ("other", limits.other),
            )
            if rate
        }

    def share(self, budget: SharedBudget, scope: str) -> None:
        """Draw every limited class from `budget` (bucket `<scope>|<class>`), with the same rates
        and bursts."""
        self.buckets = {
            name: SharedBucket(budget, f"{scope}|{name}", b.rate, b.capacity)
            for name, b in self.buckets.items()
        }

    def scarcer(self, rate_class: str, than: str) -> bool:
        """Whether `rate_class` is limited to fewer requests per second than `than` (an unlimited
        class is never the scarcer)."""
        mine, theirs = (self.buckets.get(c) for c in (rate_class, than))
        return mine is not None and (theirs is None or mine.rate < theirs.rate)

    def acquire(self, rate_class: str) -> None:
        """Wait for a token of `rate_class` (search, experiments, log_batch or other); unlimited
        classes pass at once."""
        bucket = self.buckets.get(rate_class)
        if bucket is not None:
            bucket.acquire()

    def hold(self, rate_class: str, seconds: float) -> None:
        """The server answered a request of `rate_class` with Retry-After: no token of it for
        `seconds`."""
        bucket = self.buckets.get(rate_class)
        if bucket is not None:
            bucket.hold(seconds)
