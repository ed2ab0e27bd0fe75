"""Plain-data pictures of MLflow 3 logged models and their metric points, with their provenance
tag."""

from __future__ import annotations

from dataclasses import dataclass, field

from syncer.core.snapshot import metric_value_key

LOGGED_MODEL_PREFIX = "models:/m-"

# Tags a server keeps for itself on logged models; they are never copied. (`mlflow.user` is the
# client's and is copied: the destination keeps the source's.)
SERVER_LOGGED_MODEL_TAGS = frozenset({"mlflow.modelVersions"})


TAG_SOURCE_MODEL_ID = "mlflow_syncer.source_model_id"


@dataclass(frozen=True)
class LoggedMetric:
    """One metric point of a logged model, with the run that logged it (a logged model's metrics
    need a run)."""

    key: str
    value: float
    timestamp: int
    step: int
    run_id: str | None = None
    dataset_name: str | None = None
    dataset_digest: str | None = None

    @property
    def point(self) -> tuple:
        """What must be equal between a source point and its copy (the run is compared through its
        copy)."""
        return (
            self.key,
            metric_value_key(self.value),
            self.timestamp,
            self.step,
            self.dataset_name or "",
            self.dataset_digest or "",
        )


@dataclass
class LoggedModelSnap:
    """An MLflow 3 logged model: standalone, or holding a version's files."""

    model_id: str
    experiment_id: str
    name: str
    artifact_location: str
    source_run_id: str | None = None
    model_type: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    status: str = "READY"
    metrics: tuple[LoggedMetric, ...] = ()


def source_model_id(source: str) -> str | None:
    """The logged model whose files a model version's `source` names (`models:/m-...`), or
    None."""
    return source[len("models:/") :] if source.startswith(LOGGED_MODEL_PREFIX) else None
