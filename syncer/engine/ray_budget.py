"""One rate budget per endpoint across a Ray cluster (`--engine ray`): a named Ray actor holds the
token buckets (`<endpoint identity>|<rate class>`, the same keys and rates as
syncer.backends.ratelimit), and every task's HTTP requests to that endpoint take their tokens from
it (syncer.backends.http_meter), so N workers together stay within the limits the endpoint's
capabilities name (Databricks: 7 search/s, 47 log-batch/s, 127/s other calls per workspace). A 429
or 503 answered with Retry-After holds the whole class for that long, for every worker (`hold`)."""

from __future__ import annotations

import hashlib
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the budget actor's process imports this module: not MLflow with it (3 s of CPU)
    from syncer.backends.endpoint import Endpoint

NAMESPACE = "mlflow-syncer"


class Buckets:
    """Token buckets by key, refilled on this actor's clock; a held key hands out nothing until its
    time."""

    def __init__(self) -> None:
        self.tokens: dict[str, tuple[float, float]] = {}  # key -> (tokens, when counted)
        self.held: dict[
            str, float
        ] = {}  # key prefix -> monotonic time until which nothing is handed out

    def take(self, key: str, rate: float, burst: float) -> float:
        """One token of `key` (0.0), or the seconds to wait before asking again."""
        now = time.monotonic()
        held = max(
            (until for prefix, until in self.held.items() if key.startswith(prefix)), default=0.0
        )
        if held > now:
            return held - now
        tokens, when = self.tokens.get(key, (burst, now))
        tokens = min(burst, tokens + (now - when) * rate)
        if tokens >= 1.0:
            self.tokens[key] = (tokens - 1.0, now)
            return 0.0
        self.tokens[key] = (tokens, now)
        return (1.0 - tokens) / rate

    def hold(self, prefix: str, seconds: float) -> None:
        """Hand out no token of a key starting with `prefix` for `seconds` (a server's
        Retry-After)."""
        until = time.monotonic() + max(0.0, seconds)
        self.held[prefix] = max(self.held.get(prefix, 0.0), until)
        self.tokens = {
            k: (0.0, time.monotonic()) if k.startswith(prefix) else v
            for k, v in self.tokens.items()
        }


class ActorBudget:
    """`syncer.core.rate_budget.SharedBudget` drawn from a named actor."""

    def __init__(self, actor: object) -> None:
        self.actor = actor

    def take(self, key: str, rate: float, burst: float) -> float:
        """One token, or the seconds to wait (see `Buckets.take`)."""
        import ray  # only with --engine ray

        return ray.get(self.actor.take.remote(key, rate, burst))  # type: ignore[attr-defined]

    def hold(self, key: str, seconds: float) -> None:
        """Every worker waits `seconds` before its next token of `key` (see `Buckets.hold`)."""
        self.actor.hold.remote(key, seconds)  # type: ignore[attr-defined]


def actor_name(identity: str) -> str:
    """The budget actor of an endpoint identity (a Databricks workspace): one on the cluster."""
    return "rate-budget-" + hashlib.sha256(identity.encode()).hexdigest()[:16]


def _limited(*ends: Endpoint) -> list[Endpoint]:
    return [end for end in ends if end.limiter.buckets]


_HELD: dict[
    str, object
] = {}  # this driver's handles: a named actor lives while a handle to it does


def create(*ends: Endpoint) -> list[object]:
    """The budget actors of the rate-limited ends (joined when another driver already made them),
    held for the rest of this process."""
    import ray  # only with --engine ray

    cls = ray.remote(num_cpus=0)(Buckets)
    for end in _limited(*ends):
        name = actor_name(end.identity)
        if name not in _HELD:
            _HELD[name] = cls.options(name=name, namespace=NAMESPACE, get_if_exists=True).remote()  # type: ignore
    return [_HELD[actor_name(end.identity)] for end in _limited(*ends)]


def share(*ends: Endpoint) -> None:
    """In a task: draw every rate-limited end's requests from its budget actor."""
    import ray  # only with --engine ray

    for end in _limited(*ends):
        end.limiter.share(
            ActorBudget(ray.get_actor(actor_name(end.identity), namespace=NAMESPACE)), end.identity
        )
