"""Read one side into a Snapshot: experiments and runs, paged, with no per-run calls."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Iterator

from mlflow.entities import Experiment
from mlflow.exceptions import MlflowException

from syncer.backends import first_page
from syncer.backends.calls import call, pages
from syncer.backends.classify import denied
from syncer.backends.endpoint import Endpoint
from syncer.core.snapshot import (
    ExperimentSnap,
    RunSnap,
    Snapshot,
)
from syncer.core.windows import Window, window_filter
from syncer.scan.run_search import (
    EXPERIMENT_IDS_PER_SEARCH,
    Refused,
    iter_runs,
    run_snap,
    runs_of,
    search_all,
    view,
)


def experiment_snap(exp: Experiment) -> ExperimentSnap:
    """Convert an MLflow Experiment into plain data."""
    return ExperimentSnap(
        experiment_id=exp.experiment_id,
        name=exp.name,
        lifecycle_stage=exp.lifecycle_stage,
        tags=dict(exp.tags),
        creation_time=exp.creation_time,
        last_update_time=exp.last_update_time,
        artifact_location=exp.artifact_location or None,
    )


def matches(name: str, patterns: Iterable[str]) -> bool:
    """True when a name matches one of the globs (no globs: everything matches)."""
    patterns = list(patterns)
    return not patterns or any(fnmatch.fnmatchcase(name, p) for p in patterns)


def iter_experiments(endpoint: Endpoint, view: int) -> Iterator[Experiment]:
    """Page through every experiment of an endpoint (the first page may be the one the same-store
    check read: syncer.backends.first_page)."""
    return pages(
        endpoint,
        "search_experiments",
        lambda t: endpoint.client.search_experiments(
            view_type=view, max_results=endpoint.caps.search_page_size, page_token=t
        ),
        first_page.take(endpoint, view),
    )


def scan_experiments(
    endpoint: Endpoint,
    experiment_filter: Iterable[str] = (),
    include_deleted: bool = False,
    names: Iterable[str] | None = None,
) -> Snapshot:
    """A snapshot holding the experiments matching the globs (or named exactly `names`), without
    runs."""
    wanted = set(names) if names is not None else None
    snap = Snapshot(identity=endpoint.identity)
    for exp in iter_experiments(endpoint, view(include_deleted)):
        if wanted is not None and exp.name not in wanted:
            continue
        if wanted is None and not matches(exp.name, experiment_filter):
            continue
        snap.experiments[exp.experiment_id] = experiment_snap(exp)
    return snap


def scan_runs(endpoint: Endpoint, snap: Snapshot, include_deleted: bool = False) -> None:
    """Add every run of the snapshot's experiments to it, page by page."""
    for run in iter_runs(endpoint, list(snap.experiments), view(include_deleted)):
        snap.runs[run.info.run_id] = run_snap(run)


def window_runs(
    endpoint: Endpoint,
    experiment_ids: list[str],
    window: Window | None,
    include_deleted: bool = True,
) -> list[RunSnap]:
    """The runs of the experiments that started within the window (None: every run)."""
    if window is None:
        return runs_of(endpoint, experiment_ids, include_deleted)
    return [
        run_snap(r)
        for r in search_all(endpoint, experiment_ids, view(include_deleted), window_filter(window))
    ]


def ordered_runs(
    endpoint: Endpoint, experiment_ids: list[str], within: Window, include_deleted: bool = True
) -> Iterator[RunSnap]:
    """The runs of the experiments that started within the range, as one stream ordered by start
    time (one paged search: each run read once, however many windows take from it)."""
    found = search_all(
        endpoint,
        experiment_ids,
        view(include_deleted),
        window_filter(within),
        order_by=["attributes.start_time ASC"],
    )
    return (run_snap(r) for r in found)


def fetch_runs(
    endpoint: Endpoint,
    experiment_ids: list[str],
    run_ids: Iterable[str],
    include_deleted: bool = True,
    refused: Refused | None = None,
) -> list[RunSnap]:
    """The runs of the given ids found in the experiments: searches by id, 100 at a time (no per-run
    call). Where the server reads runs one at a time, a run it refuses to show (403) goes to
    `refused` (run id), or, without it, the refusal is raised: never taken for a run that is
    gone."""
    wanted = sorted(set(run_ids))
    found: list[RunSnap] = []
    for i in range(0, len(wanted), 100):
        quoted = ", ".join(f"'{r}'" for r in wanted[i : i + 100] if "'" not in r)
        if not quoted or not experiment_ids:
            continue
        try:
            for j in range(0, len(experiment_ids), EXPERIMENT_IDS_PER_SEARCH):
                ids = experiment_ids[j : j + EXPERIMENT_IDS_PER_SEARCH]
                page = call(
                    endpoint,
                    "search_runs",
                    lambda ids=ids, q=quoted: endpoint.client.search_runs(
                        ids,
                        filter_string=f"attributes.run_id IN ({q})",
                        run_view_type=view(include_deleted),
                        max_results=1000,
                    ),
                )
                found.extend(run_snap(r) for r in page)
        except MlflowException:  # a server without IN filters (Azure ML forbids OR): one per run
            found.extend(_get_each(endpoint, set(experiment_ids), wanted[i : i + 100], refused))
    return list({r.run_id: r for r in found}.values())


def _get_each(
    endpoint: Endpoint, experiment_ids: set[str], run_ids: list[str], refused: Refused | None = None
) -> list[RunSnap]:
    runs = []
    for rid in run_ids:
        try:
            run = call(endpoint, "get_run", lambda rid=rid: endpoint.client.get_run(rid))
        except MlflowException as exc:
            if not denied(exc):
                continue  # gone
            if refused is None:
                raise
            refused(rid, exc)
            continue
        if run.info.experiment_id in experiment_ids:
            runs.append(run_snap(run))
    return runs


def scan(
    endpoint: Endpoint,
    experiment_filter: Iterable[str] = (),
    include_deleted: bool = False,
    names: Iterable[str] | None = None,
) -> Snapshot:
    """Snapshot an endpoint: experiments matching the globs (or exactly `names`) and all their
    runs."""
    snap = scan_experiments(endpoint, experiment_filter, include_deleted, names)
    scan_runs(endpoint, snap, include_deleted)
    return snap


def scan_experiment_ids(
    endpoint: Endpoint, experiment_ids: Iterable[str], include_deleted: bool = False
) -> Snapshot:
    """A snapshot holding the experiments of the given ids (one call each, no listing), without
    runs."""
    snap = Snapshot(identity=endpoint.identity)
    for eid in experiment_ids:
        exp = call(endpoint, "get_experiment", lambda eid=eid: endpoint.client.get_experiment(eid))
        if include_deleted or exp.lifecycle_stage != "deleted":
            snap.experiments[exp.experiment_id] = experiment_snap(exp)
    return snap


def scan_experiments_named(endpoint: Endpoint, names: Iterable[str]) -> Snapshot:
    """A snapshot holding the experiments of the given names that exist (deleted ones too), without
    runs."""
    snap = Snapshot(identity=endpoint.identity)
    for name in names:
        exp = call(
            endpoint,
            "get_experiment_by_name",
            lambda n=name: endpoint.client.get_experiment_by_name(n),
        )
        if exp is not None:
            snap.experiments[exp.experiment_id] = experiment_snap(exp)
    return snap
