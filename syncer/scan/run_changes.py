"""What a change-only mirror cycle reads of runs: those that changed since a time, and the copies of
one source run found by their provenance tag."""

from __future__ import annotations

from collections.abc import Iterator

from mlflow.entities import ViewType
from mlflow.exceptions import MlflowException

from syncer.backends.classify import denied
from syncer.backends.endpoint import Endpoint
from syncer.core.snapshot import TAG_SOURCE_RUN_ID, RunSnap
from syncer.scan.run_search import EXPERIMENT_IDS_PER_SEARCH, Refused, run_snap, search_all, view


def changed_runs(
    endpoint: Endpoint,
    experiment_ids: list[str],
    since: int,
    include_deleted: bool = False,
    refused: Refused | None = None,
) -> Iterator[tuple[list[str], list[RunSnap]]]:
    """The runs that ended at or after `since` (ms) or are still RUNNING, 100 experiments per
    search: the change signals search_runs offers (a new finished run ends after its start; copies
    keep both times). `refused`: as in `iter_chunks`."""
    shown = view(include_deleted)
    for i in range(0, len(experiment_ids), EXPERIMENT_IDS_PER_SEARCH):
        ids = experiment_ids[i : i + EXPERIMENT_IDS_PER_SEARCH]
        try:
            yield ids, _changed(endpoint, ids, shown, since)
            continue
        except MlflowException as exc:
            if refused is None or not denied(exc):
                raise
            if len(ids) == 1:
                refused(ids[0], exc)
                continue
        for eid in ids:  # a group refused: each experiment alone
            try:
                runs = _changed(endpoint, [eid], shown, since)
            except MlflowException as exc:
                if not denied(exc):
                    raise
                refused(eid, exc)
                continue
            yield [eid], runs


def _changed(endpoint: Endpoint, ids: list[str], shown: int, since: int) -> list[RunSnap]:
    found = {
        r.info.run_id: r
        for r in search_all(endpoint, ids, shown, f"attributes.end_time >= {int(since)}")
    }
    found.update(
        (r.info.run_id, r)
        for r in search_all(endpoint, ids, shown, "attributes.status = 'RUNNING'")
    )
    return [run_snap(r) for r in found.values()]


def copies_of(endpoint: Endpoint, experiment_ids: list[str], source_run_id: str) -> list[RunSnap]:
    """The destination runs carrying `source_run_id` as their provenance tag (one search)."""
    if "'" in source_run_id or not experiment_ids:
        return []
    runs: list[RunSnap] = []
    for j in range(0, len(experiment_ids), EXPERIMENT_IDS_PER_SEARCH):
        ids = experiment_ids[j : j + EXPERIMENT_IDS_PER_SEARCH]
        runs.extend(
            run_snap(r)
            for r in search_all(
                endpoint, ids, ViewType.ALL, f"tags.{TAG_SOURCE_RUN_ID} = '{source_run_id}'"
            )
        )
    return runs
