"""Every API call goes through `call`: counted, and retried where the failure is transient.

Rate limits are taken per HTTP request underneath (`syncer.backends.http_meter`, registered by the
endpoint's first call), so requests MLflow makes inside a call and its own retries are counted too.

What a failure means (transient, terminal for one object, fatal) is decided by
`syncer.backends.classify`. Transient failures are retried here (tenacity, exponential backoff with
jitter, never sooner than a server's Retry-After where the failure carries the response). MLflow's
own HTTP layer retries 429/5xx underneath and honours Retry-After; `configure_http_retries` keeps
that inner layer short so that a dead server fails in seconds to minutes rather than half an hour.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, TypeVar

import structlog
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)

from syncer.backends import telemetry
from syncer.backends.classify import (
    classify,
    describe,
    last_status,
    retry_after,
    unreachable_reason,
)
from syncer.backends.mlflow_env import use_default
from syncer.backends.probe import probe
from syncer.core import env_knobs, hooks, waits
from syncer.core.errors import FatalError, Kind, SyncError

if TYPE_CHECKING:
    from syncer.backends.endpoint import Endpoint

T = TypeVar("T")


class RetryPolicy:
    """How hard to retry a transient failure before giving up on the object."""

    attempts: int = int(env_knobs.number("MLFLOW_SYNCER_RETRY_ATTEMPTS"))
    max_wait: float = env_knobs.number("MLFLOW_SYNCER_RETRY_MAX_WAIT")
    max_delay: float = env_knobs.number("MLFLOW_SYNCER_RETRY_MAX_DELAY")


log = structlog.get_logger("syncer.retry")
# a retry that waits at least this long is logged at info; every retry is logged at debug
LOUD_WAIT = 5.0


def _before_sleep(endpoint: Endpoint, op: str) -> Callable[[RetryCallState], None]:
    def hook(state: RetryCallState) -> None:
        telemetry.RETRIES.labels(endpoint.role, op).inc()
        waits.moved()  # an attempt that failed is no wedge
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        notice = hooks.RetryNotice(
            endpoint=f"{endpoint.role} ({endpoint.identity})",
            op=op,
            error=type(exc).__name__,
            status=last_status(exc) if exc is not None else "?",
            attempt=state.attempt_number,
            wait=wait,
        )
        event = log.info if wait >= LOUD_WAIT else log.debug
        event(
            "retrying",
            endpoint=notice.endpoint,
            op=op,
            error=notice.error,
            status=notice.status,
            attempt=notice.attempt,
            of=RetryPolicy.attempts,
            wait_s=round(wait, 1),
            reason=describe(exc) if exc is not None else None,
        )
        hooks.retrying(notice)

    return hook


def call(endpoint: Endpoint, op: str, fn: Callable[[], T]) -> T:
    """Run one API call against an endpoint: counted, transient failures retried (each HTTP request
    it makes is rate limited by `http_meter`).

    When the retries run out, the failure says how many attempts were made over how long and the
    last status seen. When they run out on a connection-level failure, the end is probed (`probe`):
    if it answers, the failure is the object's (terminal: that object fails, the pass goes on); if
    not (or it refuses our credentials), the endpoint is marked down for the rest of this pass and
    the failure becomes fatal: every other call to it stops at once instead of waiting out its own
    retries. The mark is cleared before the next pass (`revive`), so a service outlives the outage.
    """
    started = time.monotonic()
    attempts = [0]
    endpoint.meter()
    try:
        with waits.waiting(
            f"the {endpoint.role} ({endpoint.identity})", op
        ):  # retries and their waits too
            return _retrying(endpoint, op, fn, attempts)
    except FatalError:
        raise
    except Exception as exc:
        if not endpoint.answered and classify(exc, first_contact=True) is Kind.FATAL:
            raise FatalError(
                f"the {endpoint.role} ({endpoint.identity}) refused the first call "
                f"({op}): {describe(exc)}"
            ) from exc
        if classify(exc) is not Kind.TRANSIENT:
            raise
        gave_up = (
            f"gave up on {op} after {attempts[0]} attempt{'s' * (attempts[0] != 1)} over "
            f"{time.monotonic() - started:.0f} s; last status: {last_status(exc)}"
        )
        reason = unreachable_reason(exc)
        if reason is not None:
            _unreachable_or_object(endpoint, op, reason, gave_up, exc)
        raise SyncError(f"{describe(exc)} ({gave_up})", Kind.TRANSIENT) from exc


def _unreachable_or_object(
    endpoint: Endpoint, op: str, reason: str, gave_up: str, exc: Exception
) -> None:
    """Raise the failure of one call that ran out of retries on a connection-level failure: terminal
    for its object when the end answers a probe, else fatal (the endpoint is marked down for this
    pass)."""
    with waits.waiting(f"the {endpoint.role} ({endpoint.identity})", "probe"):
        seen = probe(endpoint)
    if seen.ok:
        log.warning(
            "one call failed, the end answers: failing that object",
            op=op,
            endpoint=f"{endpoint.role} ({endpoint.identity})",
            reason=reason,
            probe=seen.detail,
        )
        raise SyncError(
            f"{reason} ({gave_up}); the {endpoint.role} answers other calls", Kind.TERMINAL
        ) from exc
    endpoint.down = (
        f"the {endpoint.role} ({endpoint.identity}) is unreachable: {reason} ({gave_up}; "
        f"probe: {seen.detail})"
    )
    raise FatalError(endpoint.down) from exc


def revive(*ends: Endpoint) -> None:
    """Forget that these ends (and their registry endpoints) were found unreachable: the next pass
    tries them again."""
    for end in ends:
        for one in {id(e): e for e in (end, *end.registries())}.values():
            one.down = None


def pages(
    endpoint: Endpoint,
    op: str,
    search: Callable[[str | None], Iterable[T]],
    first: Iterable[T] | None = None,
) -> Iterator[T]:
    """Every item of a paged search: `search(page_token)` answers a page with a `token` (a
    PagedList), each page read through `call`; `first`: the first page, read already."""
    if first is not None:
        yield from first
        token = first.token  # type: ignore[attr-defined]
        if not token:
            return
    else:
        token = None
    while True:
        page = call(endpoint, op, lambda t=token: search(t))
        yield from page
        token = page.token  # type: ignore[attr-defined]
        if not token:
            return


def _wait(state: RetryCallState) -> float:
    """Exponential backoff with jitter, but never shorter than the server's Retry-After."""
    backoff = wait_exponential_jitter(multiplier=0.5, max=RetryPolicy.max_wait, jitter=0.5)(state)
    asked = retry_after(state.outcome.exception() if state.outcome else None)
    return backoff if asked is None else min(max(backoff, asked), RetryPolicy.max_delay)


def _retrying(endpoint: Endpoint, op: str, fn: Callable[[], T], attempts: list[int]) -> T:
    retrying = Retrying(
        retry=retry_if_exception(lambda e: classify(e) is Kind.TRANSIENT),
        stop=stop_after_attempt(RetryPolicy.attempts) | stop_after_delay(RetryPolicy.max_delay),
        wait=_wait,
        before_sleep=_before_sleep(endpoint, op),
        reraise=True,
    )
    for attempt in retrying:
        with attempt:
            attempts[0] += 1
            if endpoint.down:
                raise FatalError(endpoint.down)
            telemetry.API_CALLS.labels(endpoint.role, op).inc()
            hooks.reached(op)
            result = fn()
            endpoint.answered = True
            hooks.reached(op, "after")
            return result
    raise AssertionError("unreachable")


def configure_http_retries() -> None:
    """Keep MLflow's inner HTTP retries short unless the user chose otherwise (see
    docs/RELIABILITY.md).

    These are MLflow's defaults in this process (`mlflow_env`): an environment variable of the
    user's still wins; `os.environ` is not written.
    """
    # MLflow prints "View run ... at: URL" (user info of the URL included) after every
    # set_terminated, at the cost of an extra get_run per run: never wanted here.
    use_default("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    use_default("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3")
    use_default("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    use_default("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
    # Runs are copied by several workers, each with writes side by side and reads ahead: keep that
    # many connections per server open (MLflow's default of 10 discards the rest and opens new ones
    # every time).
    use_default("MLFLOW_HTTP_POOL_MAXSIZE", "64")
    # MLflow's usage telemetry phones home and flushes at exit for seconds where there is no route
    # out.
    use_default("MLFLOW_DISABLE_TELEMETRY", "true")
    # Databricks calls go through the Databricks SDK, which retries 429/503 honouring Retry-After
    # until this many seconds have passed (MLflow's default: 500 s per call, before our own
    # retries).
    use_default("MLFLOW_DATABRICKS_ENDPOINT_HTTP_RETRY_TIMEOUT", "60")
