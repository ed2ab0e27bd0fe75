"""Experiments and their runs: the kinds every other kind links to.

This module is the kind's `Kind` record and its step functions; syncer.kinds.registry lists it.
"""

from __future__ import annotations

from collections.abc import Callable

from syncer.apply import executor
from syncer.config import dest_name, name_rules
from syncer.core.actions import Action
from syncer.core.kinds import KindInfo
from syncer.core.snapshot import TAG_SOURCE_EXPERIMENT_ID, TAG_SOURCE_RUN_ID
from syncer.kinds.base import RANGE, Job, Kind, reading, unmatched
from syncer.kinds.runs.stream import RunStream
from syncer.plan.experiments import plan_experiments, plannable_experiments
from syncer.scan import runs as run_scanner
from syncer.scan.artifact_reach import check_reach


def _scan_experiments(job: Job) -> None:
    s, ids = job.settings, job.options.experiment_ids
    job.src_snap = reading(
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
        unmatched(
            job, "experiments", s.experiments, [e.name for e in job.src_snap.experiments.values()]
        )
    check_reach(
        job.src_snap.experiments.values(),
        lambda eid: bool(
            reading(job.src, "source", lambda: job.src.client.search_runs([eid], max_results=1))
        ),
    )  # before any run
    rules = name_rules(s.experiment_names, job.src.caps)
    job.dest_names = {eid: dest_name(e.name, rules) for eid, e in job.src_snap.experiments.items()}
    job.dst_snap = reading(
        job.dst,
        "destination",
        lambda: (
            run_scanner.scan_experiments(
                job.dst, names=set(job.dest_names.values()), include_deleted=True
            )
            if ids is None
            else run_scanner.scan_experiments_named(job.dst, sorted(set(job.dest_names.values())))
        ),
    )


def _plan_experiments(job: Job) -> list[Action]:
    actions = plan_experiments(
        job.src_snap, job.dst_snap, job.dest_names, job.dst.caps, job.options.quarantined
    )
    job.plannable = plannable_experiments(actions)
    return actions


def _scan_runs(job: Job) -> None:
    """Runs are read chunk by chunk while they are planned (syncer.kinds.runs.stream)."""


def _plan_runs(job: Job) -> list[Action]:
    def read(side: str, what: Callable[[], object]) -> object:
        return reading(job.src if side == "source" else job.dst, side, what)

    job.runs = RunStream(job, read, job.emit)
    job.runs.run()
    job.copied_runs = job.runs.copied_runs()
    return []


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
