"""Logged models (MLflow 3): standalone or behind a model version.

This module is the kind's `Kind` record and its step functions; syncer.kinds.registry lists it.
"""

from __future__ import annotations

from collections.abc import Iterator

from syncer.core.actions import Action
from syncer.core.capabilities import supports
from syncer.core.kinds import KindInfo
from syncer.core.model_snapshot import (
    TAG_SOURCE_MODEL_ID,
)
from syncer.core.snapshot import Snapshot
from syncer.kinds.base import EXPERIMENT, Job, Kind, reading
from syncer.kinds.logged_models.apply import apply_logged_models
from syncer.kinds.logged_models.archive import ARCHIVER
from syncer.kinds.logged_models.capabilities import KIND
from syncer.kinds.logged_models.plan import plan_logged_models
from syncer.kinds.logged_models.scan import scan_dest_logged_models, scan_source_logged_models
from syncer.scan.artifact_reach import check_model_reach


def _scan_logged_models(job: Job) -> None:
    job.src_snap.parts["logged_model"] = reading(
        job.src, "source logged models", lambda: scan_source_logged_models(job.src, job.src_snap)
    )
    check_model_reach(
        job.src_snap.part("logged_model").values(),  # before anything is copied
        {eid: e.name for eid, e in job.src_snap.experiments.items()},
    )
    if supports(job.dst.caps, KIND) and job.src_snap.part("logged_model"):
        job.dst_snap.parts["logged_model"] = reading(
            job.dst,
            "destination logged models",
            lambda: scan_dest_logged_models(
                job.dst, job.dst_snap, job.settings.model_files_experiment
            ),
        )


def _plan_logged_models(job: Job) -> list[Action]:
    return plan_logged_models(
        job.src_snap,
        job.dst_snap,
        job.copied_runs,
        job.plannable,
        job.dst.caps,
        job.options.quarantined,
    )


def _linked_runs(snap: Snapshot) -> Iterator[str]:
    for lm in snap.part("logged_model").values():
        yield from (r for r in (lm.source_run_id, *(m.run_id for m in lm.metrics)) if r)


LOGGED_MODELS = Kind(
    "logged_model",
    (KindInfo("logged_model", "logged models", TAG_SOURCE_MODEL_ID, "logged_models"),),
    _scan_logged_models,
    _plan_logged_models,
    apply_logged_models,
    after=("run",),
    scope=EXPERIMENT,
    archiver=ARCHIVER,
    linked_runs=_linked_runs,
)
