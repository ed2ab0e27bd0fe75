"""Logged models (MLflow 3): standalone or behind a model version.

This module is the kind's `Kind` record and its step functions; syncer.kinds.registry lists it.
"""

from __future__ import annotations

from collections.abc import Iterator

from syncer.core.capabilities import supports
from syncer.core.kinds import KindInfo
from syncer.core.snapshot import Snapshot
from syncer.kinds.base import EXPERIMENT, Emitter, Job, Kind, Known, Planned, reading
from syncer.kinds.logged_models.apply import apply_logged_models
from syncer.kinds.logged_models.archive import ARCHIVER
from syncer.kinds.logged_models.capabilities import KIND
from syncer.kinds.logged_models.plan import plan_logged_models
from syncer.kinds.logged_models.reach import check_model_reach
from syncer.kinds.logged_models.scan import scan_dest_logged_models, scan_source_logged_models
from syncer.kinds.logged_models.snapshot import TAG_SOURCE_MODEL_ID


def _scan_logged_models(job: Job, known: Known) -> Known:
    known.src_snap.parts["logged_model"] = reading(
        job.src, "source logged models", lambda: scan_source_logged_models(job.src, known.src_snap)
    )
    check_model_reach(
        known.src_snap.part("logged_model").values(),  # before anything is copied
        {eid: e.name for eid, e in known.src_snap.experiments.items()},
    )
    if supports(job.dst.caps, KIND) and known.src_snap.part("logged_model"):
        known.dst_snap.parts["logged_model"] = reading(
            job.dst,
            "destination logged models",
            lambda: scan_dest_logged_models(
                job.dst, known.dst_snap, job.settings.model_files_experiment
            ),
        )
    return known


def _plan_logged_models(job: Job, known: Known, out: Emitter) -> Planned:
    actions = plan_logged_models(
        known.src_snap,
        known.dst_snap,
        known.copied_runs,
        known.plannable,
        job.dst.caps,
        job.options.quarantined,
    )
    return Planned(actions, known)


def _linked_runs(snap: Snapshot) -> Iterator[str]:
    for lm in snap.part("logged_model").values():
        yield from (r for r in (lm.source_run_id, *(m.run_id for m in lm.metrics)) if r)


LOGGED_MODELS = Kind(
    "logged_model",
    (KindInfo("logged_model", "logged models", TAG_SOURCE_MODEL_ID, "logged_model"),),
    _scan_logged_models,
    _plan_logged_models,
    apply_logged_models,
    after=("run",),
    scope=EXPERIMENT,
    archiver=ARCHIVER,
    linked_runs=_linked_runs,
)
