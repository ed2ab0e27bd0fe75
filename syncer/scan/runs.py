"""Read one side into a Snapshot: experiments and runs, paged, with no per-run calls."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Iterator

from mlflow.entities import Experiment, Run, ViewType
from mlflow.exceptions import MlflowException

from syncer.backends.calls import call
from syncer.backends.classify import denied
from syncer.backends.endpoint import Endpoint
from syncer.core.snapshot import (
    PARENT_TAG,
    TAG_SOURCE_RUN_ID,
    DatasetRef,
    ExperimentSnap,
    RunSnap,
    Snapshot,
)
from syncer.core.windows import Window, window_filter

_EXPERIMENT_IDS_PER_SEARCH = 100
Chunk = tuple[list[str], Window | None, list[RunSnap]]
Refused = Callable[[str, Exception], None]  # (experiment or run id, the refusal): runs unread


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
            endpoint,
            "search_experiments",
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
                endpoint,
                "search_runs",
                lambda t=token, ids=ids: endpoint.client.search_runs(
                    ids,
                    run_view_type=view,
                    max_results=endpoint.caps.search_page_size,
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
    """A snapshot holding the experiments matching the globs (or named exactly `names`), without
    runs."""
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


def runs_of(
    endpoint: Endpoint, experiment_ids: list[str], include_deleted: bool = False
) -> list[RunSnap]:
    """Every run of the given experiments, as plain data."""
    return [run_snap(r) for r in iter_runs(endpoint, experiment_ids, _view(include_deleted))]


def iter_chunks(
    endpoint: Endpoint,
    experiment_ids: list[str],
    include_deleted: bool,
    max_runs: int,
    window_runs: int | None = None,
    refused: Refused | None = None,
) -> Iterator[Chunk]:
    """The runs of the experiments, a chunk at a time: (experiment ids, start-time window or None,
    their runs).

    Experiments are read in groups of up to 100 by one paged search, as `scan_runs` does; a group
    holding more than `max_runs` runs is read again one experiment at a time. With `window_runs`, an
    experiment above `max_runs` is cut into start-time windows of about `window_runs` runs
    (`iter_windows`); without, it is one chunk. With `refused`, a group the source refuses (HTTP 403
    PERMISSION_DENIED: an experiment the caller may not view) is read one experiment at a time, and
    each experiment refused alone is handed to `refused` (that experiment fails, the others are
    read) instead of stopping the scan.
    """
    view = _view(include_deleted)
    for i in range(0, len(experiment_ids), _EXPERIMENT_IDS_PER_SEARCH):
        ids = experiment_ids[i : i + _EXPERIMENT_IDS_PER_SEARCH]
        try:
            runs = _group(endpoint, ids, view, max_runs, len(ids) > 1 or bool(window_runs))
        except MlflowException as exc:
            if refused is None or not denied(exc):
                raise
            runs = None
        if runs is not None:
            yield ids, None, runs
            continue
        for eid in (
            ids
        ):  # (an experiment read alone is known to be above max_runs: its windows start at once)
            try:
                yield from _alone(
                    endpoint, eid, include_deleted, max_runs if len(ids) > 1 else 0, window_runs
                )
            except MlflowException as exc:
                if refused is None or not denied(exc):
                    raise
                refused(eid, exc)


def _group(
    endpoint: Endpoint,
    ids: list[str],
    view: int,
    max_runs: int,
    may_split: bool,
) -> list[RunSnap] | None:
    """The runs of a group of experiments, or None once they are more than `max_runs` and
    `may_split`."""
    runs: list[RunSnap] = []
    for run in iter_runs(endpoint, ids, view):
        runs.append(run_snap(run))
        if len(runs) > max_runs and may_split:
            return None
    return runs


def _alone(
    endpoint: Endpoint, eid: str, include_deleted: bool, max_runs: int, window_runs: int | None
) -> Iterator[Chunk]:
    if window_runs:
        yield from (
            ([eid], w, part)
            for w, part in iter_windows(endpoint, eid, include_deleted, max_runs, window_runs)
        )
    else:
        yield [eid], None, runs_of(endpoint, [eid], include_deleted)


def iter_windows(
    endpoint: Endpoint,
    experiment_id: str,
    include_deleted: bool,
    max_runs: int,
    window_runs: int,
    within: Window = (None, None),
) -> Iterator[tuple[Window | None, list[RunSnap]]]:
    """One experiment's runs (those that started `within` a range) read by `attributes.start_time
    ASC`; up to `max_runs` runs they are one chunk (window None, or `within` when bounded), beyond
    they are cut into windows `[lo, hi)` of about `window_runs` runs: a cut falls only where the
    start time changes (runs sharing one start at a cut stay together), the first window starts at
    the range's lower bound, the last ends at its upper one (None: unbounded). Runs without a start
    time (MLflow's stores sort them last) fall into the last window."""
    lo, hi = within
    runs: list[RunSnap] = []
    # whether the experiment is above max_runs (its first max_runs + 1 runs held until known)
    cuts = False
    for run in _search_all(
        endpoint,
        [experiment_id],
        _view(include_deleted),
        window_filter(within),
        order_by=["attributes.start_time ASC"],
    ):
        runs.append(run_snap(run))
        if (
            cuts
        ):  # the newest run is the first after a window's worth that starts later: cut before it
            cut = (
                len(runs) - 1
                if len(runs) > window_runs and _starts_later(runs[-2], runs[-1])
                else 0
            )
        else:
            cuts = len(runs) > max_runs
            cut = _cut(runs, window_runs) if cuts else 0
        while cut:  # (after the first max_runs + 1 runs, several windows at once)
            yield (lo, runs[cut].start_time), runs[:cut]
            lo, runs = runs[cut].start_time, runs[cut:]
            cut = _cut(runs, window_runs)
    yield (None if lo is None and hi is None else (lo, hi)), runs


def _starts_later(before: RunSnap, run: RunSnap) -> bool:
    return run.start_time is not None and run.start_time != before.start_time


def _cut(runs: list[RunSnap], size: int) -> int:
    """The first index from `size` on where the start time changes (0: none yet, or no start
    time)."""
    return next((i for i in range(size, len(runs)) if _starts_later(runs[i - 1], runs[i])), 0)


def start_ranges(
    endpoint: Endpoint, experiment_id: str, include_deleted: bool, range_runs: int
) -> list[Window]:
    """One experiment's runs cut into start-time ranges of about `range_runs` runs, read once in
    `attributes.start_time ASC` order (only the cut points are kept): gap-free and overlap-free, the
    first without a lower bound, the last without an upper bound, a cut only where the start time
    changes. One range `(None, None)` when the experiment is small, or when a run of it is nested (a
    child whose parent lies in another range is never planned apart from it)."""
    cuts: list[int] = []
    count, last, nested = 0, None, False
    for run in _search_all(
        endpoint,
        [experiment_id],
        _view(include_deleted),
        "",
        order_by=["attributes.start_time ASC"],
    ):
        start, nested = run.info.start_time, nested or PARENT_TAG in run.data.tags
        if count >= range_runs and start is not None and start != last:
            cuts.append(start)
            count = 0
        count, last = count + 1, start
    if nested or not cuts:
        return [(None, None)]
    return list(zip([None, *cuts], [*cuts, None], strict=True))


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
        for r in _search_all(
            endpoint, experiment_ids, _view(include_deleted), window_filter(window)
        )
    ]


def ordered_runs(
    endpoint: Endpoint, experiment_ids: list[str], within: Window, include_deleted: bool = True
) -> Iterator[RunSnap]:
    """The runs of the experiments that started within the range, as one stream ordered by start
    time (one paged search: each run read once, however many windows take from it)."""
    found = _search_all(
        endpoint,
        experiment_ids,
        _view(include_deleted),
        window_filter(within),
        order_by=["attributes.start_time ASC"],
    )
    return (run_snap(r) for r in found)


def _search_all(
    endpoint: Endpoint,
    ids: list[str],
    view: int,
    filter_string: str,
    order_by: list[str] | None = None,
) -> Iterator[Run]:
    token = None
    while True:
        page = call(
            endpoint,
            "search_runs",
            lambda t=token: endpoint.client.search_runs(
                ids,
                filter_string=filter_string,
                run_view_type=view,
                max_results=endpoint.caps.search_page_size,
                order_by=order_by,
                page_token=t,
            ),
        )
        yield from page
        token = page.token
        if not token:
            return


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
    view = _view(include_deleted)
    for i in range(0, len(experiment_ids), _EXPERIMENT_IDS_PER_SEARCH):
        ids = experiment_ids[i : i + _EXPERIMENT_IDS_PER_SEARCH]
        try:
            yield ids, _changed(endpoint, ids, view, since)
            continue
        except MlflowException as exc:
            if refused is None or not denied(exc):
                raise
            if len(ids) == 1:
                refused(ids[0], exc)
                continue
        for eid in ids:  # a group refused: each experiment alone
            try:
                runs = _changed(endpoint, [eid], view, since)
            except MlflowException as exc:
                if not denied(exc):
                    raise
                refused(eid, exc)
                continue
            yield [eid], runs


def _changed(endpoint: Endpoint, ids: list[str], view: int, since: int) -> list[RunSnap]:
    found = {
        r.info.run_id: r
        for r in _search_all(endpoint, ids, view, f"attributes.end_time >= {int(since)}")
    }
    found.update(
        (r.info.run_id, r)
        for r in _search_all(endpoint, ids, view, "attributes.status = 'RUNNING'")
    )
    return [run_snap(r) for r in found.values()]


def copies_of(endpoint: Endpoint, experiment_ids: list[str], source_run_id: str) -> list[RunSnap]:
    """The destination runs carrying `source_run_id` as their provenance tag (one search)."""
    if "'" in source_run_id or not experiment_ids:
        return []
    runs: list[RunSnap] = []
    for j in range(0, len(experiment_ids), _EXPERIMENT_IDS_PER_SEARCH):
        ids = experiment_ids[j : j + _EXPERIMENT_IDS_PER_SEARCH]
        runs.extend(
            run_snap(r)
            for r in _search_all(
                endpoint, ids, ViewType.ALL, f"tags.{TAG_SOURCE_RUN_ID} = '{source_run_id}'"
            )
        )
    return runs


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
            for j in range(0, len(experiment_ids), _EXPERIMENT_IDS_PER_SEARCH):
                ids = experiment_ids[j : j + _EXPERIMENT_IDS_PER_SEARCH]
                page = call(
                    endpoint,
                    "search_runs",
                    lambda ids=ids, q=quoted: endpoint.client.search_runs(
                        ids,
                        filter_string=f"attributes.run_id IN ({q})",
                        run_view_type=_view(include_deleted),
                        max_results=1000,
                    ),
                )
                found.extend(run_snap(r) for r in page)
        except (
            MlflowException
        ):  # a server without IN filters (Azure ML forbids OR): one call per run
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


def _view(include_deleted: bool) -> int:
    return ViewType.ALL if include_deleted else ViewType.ACTIVE_ONLY


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
