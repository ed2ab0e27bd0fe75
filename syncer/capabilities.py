"""What each kind of endpoint can take: limits, unsupported features, rate limits.

The engine reads these records instead of branching on the backend's name.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from urllib.parse import urlparse


@dataclass(frozen=True)
class RateLimits:
    """Client-side request budgets per endpoint class, in requests per second (None: unlimited)."""

    search: float | None = None
    log_batch: float | None = None
    other: float | None = None


@dataclass(frozen=True)
class Capabilities:
    """Limits and features of one MLflow endpoint."""

    kind: str
    batch_metrics: int = 1000
    batch_params: int = 100
    batch_tags: int = 100
    batch_total: int = 1000
    param_value_len: int = 6000
    run_tag_value_len: int = 8000
    experiment_tag_value_len: int = 20000
    key_len: int = 250
    tags_per_run: int | None = None
    search_page_size: int = 1000
    artifact_sizes: bool = True
    stages: bool = True
    logged_models: bool = True
    traces: bool = True
    experiment_rename: bool = True
    unsettable_tags: frozenset[str] = frozenset()
    tags_set_after_create: tuple[str, ...] = ()
    rate_limits: RateLimits = field(default_factory=RateLimits)
    max_workers: int | None = None
    history_bulk: bool = False  # answers /ajax-api/2.0/mlflow/metrics/get-history-bulk (syncer/history.py)

    def with_overrides(self, **changes: object) -> Capabilities:
        """Return a copy with some fields replaced (for user overrides from the config)."""
        return replace(self, **changes)


PLAIN_MLFLOW = Capabilities(kind="mlflow", history_bulk=True)

# A direct SQLite store serialises writers: more threads only add lock contention.
SQLITE_STORE = Capabilities(kind="sqlite-store", max_workers=1)

DATABRICKS = Capabilities(
    kind="databricks",
    search_page_size=1000,
    tags_per_run=1600,
    rate_limits=RateLimits(search=7.0, log_batch=47.0, other=127.0),
)

AZURE_ML = Capabilities(
    kind="azureml",
    batch_metrics=250,
    batch_total=250,
    run_tag_value_len=1000,
    key_len=100,
    tags_per_run=50,
    artifact_sizes=False,
    logged_models=False,
    traces=False,
    experiment_rename=False,
    unsettable_tags=frozenset({"mlflow.user"}),
    tags_set_after_create=("mlflow.source.",),
)


def capabilities_for(tracking_uri: str) -> Capabilities:
    """Pick the capability record that matches a tracking URI's scheme."""
    scheme = urlparse(tracking_uri).scheme.lower()
    if tracking_uri.startswith("databricks") or scheme.startswith("databricks"):
        return DATABRICKS
    if scheme == "azureml":
        return AZURE_ML
    if scheme == "sqlite":
        return SQLITE_STORE
    return PLAIN_MLFLOW
