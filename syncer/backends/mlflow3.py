"""What the MLflow 3 kinds' reads share: an API an end may not serve, ids in search batches.

Every call goes through `calls.call`. The kinds' own reads and writes live in their packages
(`syncer.kinds.<kind>.api`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import structlog
from mlflow.exceptions import MlflowException

from syncer.backends.endpoint import Endpoint
from syncer.core.kinds import plural

EXPERIMENTS_PER_SEARCH = 100
log = structlog.get_logger("syncer.mlflow3")


def optional_api(endpoint: Endpoint, kind: str, capable: bool, read: Callable[[], dict]) -> dict:
    """`read()`, or nothing when the end does not serve the API of `kind` (by its capabilities: not
    asked, the plan's note or the destination's record says why; or because it answers that the
    endpoint does not exist: logged, naming the kind in words): such an end holds no object of that
    kind."""
    if not capable:
        return {}
    try:
        return read()
    except MlflowException as exc:
        if exc.error_code != "ENDPOINT_NOT_FOUND":
            raise
    log.warning(
        f"{plural(kind)} not read: the {endpoint.role} has no API for them",
        kind=kind,
        endpoint=endpoint.identity,
    )
    return {}


def batches(ids: Iterable[str], size: int = EXPERIMENTS_PER_SEARCH) -> Iterator[list[str]]:
    """`ids` in lists of at most `size`."""
    ids = sorted(ids)
    for start in range(0, len(ids), size):
        yield ids[start : start + size]
