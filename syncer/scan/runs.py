"""Read one side into a Snapshot: experiments and runs, paged, with no per-run calls."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Iterator

from mlflow.entities import Experiment, Run, ViewType

from syncer.backends.calls import call
from syncer.backends.endpoint import Endpoint
from syncer.core.snapshot import DatasetRef, ExperimentSnap, RunSnap, Snapshot

_EXPERIMENT_IDS_PER_SEARCH = 100


def experiment_snap(exp: Experiment) -> ExperimentSnap:
    """Convert an MLflow Experiment into plain data."""
    return ExperimentSnap(
        experiment_id=exp.experiment_id,
        name=exp.name,
        lifecycle_stage=exp.lifecycle_stage,
        tags=dict(exp.tags),
        creation_time=exp.creation_time,
        last_update_time=exp.last_update_time,
    )


def run_snap(run: Run) -> RunSnap:
    """Convert an MLflow Run (as returned by search_runs) into plain data."""
    info, data = run.info, run.data
    latest = {m.key: (m.value, m.timestamp, m.step) for m in data._metric_objs}
    inputs = tuple(
        DatasetRef(
            name=d.dataset.name,
            digest=d.dataset.digest,
            source_type=d.dataset.source_type,
            source=d.dataset.source,
            schema=d.dataset.schema,
            profile=d.dataset.profile,
            tags=tuple(sorted((t.key, t.value) for t in d.tags)),
        )
        for d in (run.inputs.dataset_inputs if run.inputs else [])
    )
    return RunSnap(
        run_id=info.run_id,
        experiment_id=info.experiment_id,
        name=info.run_name or "",
        status=info.status,
        start_time=info.start_time,
        end_time=info.end_time,
        lifecycle_stage=info.lifecycle_stage,
        artifact_uri=info.artifact_uri,
        params=dict(data.params),
        tags=dict(data.tags),
        metrics=latest,
        inputs=inputs,
    )


def matches(name: str, patterns: Iterable[str]) -> bool:
    """True when a name matches one of the globs (no globs: everything matches)."""
    patterns = list(patterns)
    return not patterns or any(fnmatch.fnmatchcase(name, p) for p in patterns)


def iter_experiments(endpoint: Endpoint, view: int) -> Iterator[Experiment]:
    """Page through every experiment of an endpoint."""
    token = None
    while True:
        page = call(
            endpoint, "search_experiments",
            lambda t=token: endpoint.client.search_experiments(
                view_type=view, max_results=endpoint.caps.search_page_size, page_token=t
            ),
        )
        yield from page
        token = page.token
        if not token:
            return


def iter_runs(endpoint: Endpoint, experiment_ids: list[str], view: int) -> Iterator[Run]:
    """Page through every run of the given experiments."""
    for i in range(0, len(experiment_ids), _EXPERIMENT_IDS_PER_SEARCH):
        ids = experiment_ids[i : i + _EXPERIMENT_IDS_PER_SEARCH]
        token = None
        while True:
            page = call(
                endpoint, "search_runs",
                lambda t=token, ids=ids: endpoint.client.search_runs(
                    ids, run_view_type=view, max_results=endpoint.caps.search_page_size,
                    page_token=t,
                ),
            )
            yield from page
            token = page.token
            if not token:
                break


def scan_experiments(
    endpoint: Endpoint,
    experiment_filter: Iterable[str] = (),
    include_deleted: bool = False,
    names: Iterable[str] | None = None,
) -> Snapshot:
    """A snapshot holding the experiments matching the globs (or named exactly `names`), without runs."""
    wanted = set(names) if names is not None else None
    snap = Snapshot(identity=endpoint.identity)
    for exp in iter_experiments(endpoint, _view(include_deleted)):
        if wanted is not None and exp.name not in wanted:
            continue
        if wanted is None and not matches(exp.name, experiment_filter):
            continue
        snap.experiments[exp.experiment_id] = experiment_snap(exp)
    return snap


def scan_runs(endpoint: Endpoint, snap: Snapshot, include_deleted: bool = False) -> None:
    """Add every run of the snapshot's experiments to it, page by page."""
    for run in iter_runs(endpoint, list(snap.experiments), _view(include_deleted)):
        snap.runs[run.info.run_id] = run_snap(run)


def scan(
    endpoint: Endpoint,
    experiment_filter: Iterable[str] = (),
    include_deleted: bool = False,
    names: Iterable[str] | None = None,
) -> Snapshot:
    """Snapshot an endpoint: experiments matching the globs (or exactly `names`) and all their runs."""
    snap = scan_experiments(endpoint, experiment_filter, include_deleted, names)
    scan_runs(endpoint, snap, include_deleted)
    return snap


def _view(include_deleted: bool) -> int:
    return ViewType.ALL if include_deleted else ViewType.ACTIVE_ONLY


def scan_experiment_ids(endpoint: Endpoint, experiment_ids: Iterable[str], include_deleted: bool = False) -> Snapshot:
    """A snapshot holding the experiments of the given ids (one call each, no listing), without runs."""
    snap = Snapshot(identity=endpoint.identity)
    for eid in experiment_ids:
        exp = call(endpoint, "get_experiment", lambda eid=eid: endpoint.client.get_experiment(eid))
        if include_deleted or exp.lifecycle_stage != "deleted":
            snap.experiments[exp.experiment_id] = experiment_snap(exp)
    return snap


def scan_experiments_named(endpoint: Endpoint, names: Iterable[str]) -> Snapshot:
    """A snapshot holding the experiments of the given names that exist (deleted ones too), without runs."""
    snap = Snapshot(identity=endpoint.identity)
    for name in names:
        exp = call(endpoint, "get_experiment_by_name", lambda n=name: endpoint.client.get_experiment_by_name(n))
        if exp is not None:
            snap.experiments[exp.experiment_id] = experiment_snap(exp)
    return snap
