"""The source's runs a chunk at a time, so that a pass holds one chunk, not the source
(syncer.kinds.runs.stream): groups of experiments read by one paged search, and experiments above a
chunk's size cut into start-time windows."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

from mlflow.exceptions import MlflowException

from syncer.backends.classify import denied
from syncer.backends.endpoint import Endpoint
from syncer.core.snapshot import RunSnap
from syncer.core.windows import Window, window_filter
from syncer.scan.read_ahead import streams_in_order
from syncer.scan.run_search import (
    EXPERIMENT_IDS_PER_SEARCH,
    Refused,
    iter_runs,
    run_snap,
    runs_of,
    search_all,
    view,
)

Chunk = tuple[list[str], Window | None, list[RunSnap]]


def iter_chunks(
    endpoint: Endpoint,
    experiment_ids: list[str],
    include_deleted: bool,
    max_runs: int,
    window_runs: int | None = None,
    refused: Refused | None = None,
    threads: int = 1,
) -> Iterator[Chunk]:
    """The runs of the experiments, a chunk at a time: (experiment ids, start-time window or None,
    their runs).

    Experiments are read in groups of up to 100 by one paged search, as `scan_runs` does; a group
    holding more than `max_runs` runs is read again one experiment at a time. With `window_runs`, an
    experiment above `max_runs` is cut into start-time windows of about `window_runs` runs
    (`iter_windows`); without, it is one chunk. With `refused`, a group the source refuses (HTTP 403
    PERMISSION_DENIED: an experiment the caller may not view) is read one experiment at a time, and
    each experiment refused alone is handed to `refused` (that experiment fails, the others are
    read) instead of stopping the scan. Up to `threads` groups, and up to `threads` experiments of
    a group read alone, are read at once (syncer.scan.read_ahead): the chunks come in the order
    reading one after another gives.
    """
    shown = view(include_deleted)
    groups = [
        experiment_ids[i : i + EXPERIMENT_IDS_PER_SEARCH]
        for i in range(0, len(experiment_ids), EXPERIMENT_IDS_PER_SEARCH)
    ]
    reads = streams_in_order(
        (
            partial(_group, endpoint, ids, shown, max_runs, len(ids) > 1 or bool(window_runs))
            for ids in groups
        ),
        threads,
    )
    for ids, read in zip(groups, reads, strict=True):
        try:
            runs = next(iter(read))
        except MlflowException as exc:
            if refused is None or not denied(exc):
                raise
            runs = None
        if runs is not None:
            yield ids, None, runs
            continue
        yield from _each_alone(
            endpoint, ids, include_deleted, max_runs, window_runs, refused, threads
        )


def _each_alone(
    endpoint: Endpoint,
    ids: list[str],
    include_deleted: bool,
    max_runs: int,
    window_runs: int | None,
    refused: Refused | None,
    threads: int,
) -> Iterator[Chunk]:
    """The experiments of a group read one at a time (up to `threads` at once)."""
    # (an experiment read alone is known to be above max_runs: its windows start at once)
    alone = streams_in_order(
        (
            partial(
                _alone, endpoint, eid, include_deleted, max_runs if len(ids) > 1 else 0, window_runs
            )
            for eid in ids
        ),
        threads,
    )
    for eid, chunks in zip(ids, alone, strict=True):
        try:
            yield from chunks
        except MlflowException as exc:
            if refused is None or not denied(exc):
                raise
            refused(eid, exc)


def _group(
    endpoint: Endpoint,
    ids: list[str],
    shown: int,
    max_runs: int,
    may_split: bool,
) -> Iterator[list[RunSnap] | None]:
    """One item: the runs of a group of experiments, or None once they are more than `max_runs`
    and `may_split`."""
    runs: list[RunSnap] = []
    for run in iter_runs(endpoint, ids, shown):
        runs.append(run_snap(run))
        if len(runs) > max_runs and may_split:
            yield None
            return
    yield runs


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
    for run in search_all(
        endpoint,
        [experiment_id],
        view(include_deleted),
        window_filter(within),
        order_by=["attributes.start_time ASC"],
    ):
        runs.append(run_snap(run))
        # the newest run is the first after a window's worth that starts later: cut before it
        if cuts:
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
