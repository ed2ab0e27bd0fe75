"""Evaluation datasets (MLflow 3): records merged by inputs.

This module is the kind's `Kind` record and its step functions; syncer.kinds.registry lists it.
"""

from __future__ import annotations

from syncer.core.actions import Action
from syncer.core.capabilities import supports
from syncer.core.dataset_snapshot import TAG_SOURCE_DATASET
from syncer.core.kinds import KindInfo
from syncer.kinds.base import Job, Kind, reading
from syncer.kinds.datasets.apply import apply_datasets
from syncer.kinds.datasets.archive import ARCHIVER
from syncer.kinds.datasets.capabilities import KIND
from syncer.kinds.datasets.plan import plan_datasets
from syncer.kinds.datasets.scan import scan_dest_datasets, scan_source_datasets


def _scan_datasets(job: Job) -> None:
    job.src_snap.parts["dataset"] = reading(
        job.src, "source datasets", lambda: scan_source_datasets(job.src, job.src_snap)
    )
    if supports(job.dst.caps, KIND) and job.src_snap.part("dataset"):
        job.dst_snap.parts["dataset"] = reading(
            job.dst, "destination datasets", lambda: scan_dest_datasets(job.dst)
        )


def _plan_datasets(job: Job) -> list[Action]:
    return plan_datasets(
        job.src_snap, job.dst_snap, job.plannable, job.dst.caps, job.options.quarantined
    )


DATASETS = Kind(
    "dataset",
    (KindInfo("dataset", "evaluation datasets", TAG_SOURCE_DATASET, "datasets"),),
    _scan_datasets,
    _plan_datasets,
    apply_datasets,
    after=("experiment",),
    archiver=ARCHIVER,
)
