"""Experiments and their runs: the kinds every other kind links to.

This module is the kind's `Kind` record and its step functions; syncer.kinds.registry lists it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from functools import partial

from syncer.apply import executor
from syncer.backends.endpoint import Endpoint
from syncer.config import Settings, dest_name, name_rules
from syncer.core.kinds import KindInfo
from syncer.core.snapshot import TAG_SOURCE_EXPERIMENT_ID, TAG_SOURCE_RUN_ID, Snapshot
from syncer.kinds.base import RANGE, Emitter, Job, Kind, Known, Planned, reading, unmatched
from syncer.kinds.runs.stream import RunStream
from syncer.plan.experiments import plan_experiments, plannable_experiments
from syncer.plan.runs import Options
from syncer.scan import runs as run_scanner
from syncer.scan.artifact_reach import check_reach
from syncer.state.store import StateStore


def _scan_experiments(job: Job, known: Known) -> Known:
    s, ids = job.settings, job.options.experiment_ids
    src_snap = reading(
        job.src,
        "source",
        lambda: (
            run_scanner.scan_experiments(
                job.src, s.experiments, include_deleted=s.deleted == "mirror"
            )
            if ids is None
            else run_scanner.scan_experiment_ids(
                job.src, sorted(ids), include_deleted=s.deleted == "mirror"
            )
        ),
    )
    if ids is None:
        known = unmatched(
            job,
            known,
            "experiments",
            s.experiments,
            [e.name for e in src_snap.experiments.values()],
        )
    check_reach(
        src_snap.experiments.values(),
        lambda eid: bool(
            reading(job.src, "source", lambda: job.src.client.search_runs([eid], max_results=1))
        ),
    )  # before any run
    rules = name_rules(s.experiment_names, job.src.caps)
    dest_names = {eid: dest_name(e.name, rules) for eid, e in src_snap.experiments.items()}
    dst_snap = reading(
        job.dst,
        "destination",
        lambda: (
            run_scanner.scan_experiments(
                job.dst, names=set(dest_names.values()), include_deleted=True
            )
            if ids is None
            else run_scanner.scan_experiments_named(job.dst, sorted(set(dest_names.values())))
        ),
    )
    return replace(known, src_snap=src_snap, dst_snap=dst_snap, dest_names=dest_names)


def _plan_experiments(job: Job, known: Known, out: Emitter) -> Planned:
    actions = plan_experiments(
        known.src_snap,
        known.dst_snap,
        dict(known.dest_names),
        job.dst.caps,
        job.options.quarantined,
    )
    plannable = frozenset(plannable_experiments(actions))
    return Planned(actions, replace(known, plannable=plannable))


def _scan_runs(job: Job, known: Known) -> Known:
    """Runs are read chunk by chunk while they are planned (syncer.kinds.runs.stream)."""
    return known


@dataclass(frozen=True)
class RunInput:
    """What the run stream reads (syncer.kinds.runs.stream): the pass's inputs, what the steps
    before it found (frozen: what the stream finds is its own, `RunStream.plannable` and
    `RunStream.extra_groups`)."""

    settings: Settings
    src: Endpoint
    dst: Endpoint
    state: StateStore | None
    options: Options
    src_snap: Snapshot
    dst_snap: Snapshot
    dest_names: Mapping[str, str]
    plannable: frozenset[str | None]


def _read(job: Job, side: str, what: Callable[[], object]) -> object:
    return reading(job.src if side == "source" else job.dst, side, what)


def _plan_runs(job: Job, known: Known, out: Emitter) -> Planned:
    given = RunInput(
        **{f.name: getattr(job, f.name) for f in fields(job)},
        src_snap=known.src_snap,
        dst_snap=known.dst_snap,
        dest_names=known.dest_names,
        plannable=known.plannable,
    )
    stream = RunStream(given, partial(_read, job), out.emit)
    stream.run()
    found = replace(known, plannable=frozenset(stream.plannable), copied_runs=stream.copied_runs())
    return Planned([], found, stream, stream.extra_groups)


EXPERIMENTS = Kind(
    "experiment",
    (KindInfo("experiment", "experiments", TAG_SOURCE_EXPERIMENT_ID),),
    _scan_experiments,
    _plan_experiments,
    executor.apply_experiments,
    finish=executor.delete_experiments,
    scope=RANGE,
)


RUNS = Kind(
    "run",
    (KindInfo("run", "runs", TAG_SOURCE_RUN_ID),),
    _scan_runs,
    _plan_runs,
    executor.apply_runs,
    after=("experiment", "dataset"),
    scope=RANGE,
)
