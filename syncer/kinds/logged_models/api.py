"""Reading and writing MLflow 3 logged models of one endpoint, as plain data.

Every call goes through `calls.call`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from mlflow.entities import LoggedModel, Metric

from syncer.backends.calls import call, pages
from syncer.backends.endpoint import Endpoint
from syncer.backends.mlflow3 import batches
from syncer.kinds.logged_models.snapshot import (
    SERVER_LOGGED_MODEL_TAGS,
    LoggedMetric,
    LoggedModelSnap,
)


def logged_model_snap(lm: LoggedModel) -> LoggedModelSnap:
    """A logged model as plain data (server-kept tags left out)."""
    metrics = tuple(
        LoggedMetric(
            key=m.key,
            value=m.value,
            timestamp=m.timestamp,
            step=m.step,
            run_id=m.run_id,
            dataset_name=m.dataset_name,
            dataset_digest=m.dataset_digest,
        )
        for m in (lm.metrics or [])
    )
    return LoggedModelSnap(
        model_id=lm.model_id,
        experiment_id=str(lm.experiment_id),
        name=lm.name,
        artifact_location=lm.artifact_location,
        source_run_id=lm.source_run_id or None,
        model_type=lm.model_type or None,
        tags={k: v for k, v in (lm.tags or {}).items() if k not in SERVER_LOGGED_MODEL_TAGS},
        params=dict(lm.params or {}),
        status=getattr(lm.status, "value", str(lm.status)),
        metrics=metrics,
    )


def read_logged_model(endpoint: Endpoint, model_id: str) -> LoggedModelSnap:
    """One logged model, read by its id."""
    return logged_model_snap(
        call(endpoint, "get_logged_model", lambda: endpoint.client.get_logged_model(model_id))
    )


def search_logged_models(
    endpoint: Endpoint, experiment_ids: Iterable[str], filter_string: str | None = None
) -> Iterator[LoggedModelSnap]:
    """Every logged model of the experiments (paged, a batch of experiments per search)."""
    client = endpoint.client
    for batch in batches(experiment_ids):
        for lm in pages(
            endpoint,
            "search_logged_models",
            lambda t, b=batch: client.search_logged_models(
                b,
                filter_string=filter_string,
                max_results=endpoint.caps.search_page_size,
                page_token=t,
            ),
        ):
            yield logged_model_snap(lm)


def log_model_metrics(
    endpoint: Endpoint, model_id: str, points: list[tuple[str, LoggedMetric]]
) -> None:
    """Log metric points (destination run id, point) to a logged model, a batch per run."""
    by_run: dict[str, list[Metric]] = {}
    for run_id, m in points:
        by_run.setdefault(run_id, []).append(
            Metric(
                m.key,
                m.value,
                m.timestamp,
                m.step,
                model_id=model_id,
                dataset_name=m.dataset_name,
                dataset_digest=m.dataset_digest,
            )
        )
    size = endpoint.caps.batch_metrics
    for run_id, metrics in sorted(by_run.items()):
        for start in range(0, len(metrics), size):
            chunk = metrics[start : start + size]
            call(
                endpoint,
                "log_batch",
                lambda r=run_id, c=chunk: endpoint.client.log_batch(r, metrics=c),
            )
