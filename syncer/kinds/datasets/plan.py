"""The pure planner for MLflow 3 evaluation datasets (`dataset` actions).

A destination dataset is matched to its source by the provenance tag
`mlflow_syncer.source_dataset_id` (given to `create_dataset` with the dataset itself). Its last
write is the `mlflow_syncer.fingerprint` tag: a hash of the source's name, tags, links to copied
experiments and `last_update_time` (which changes with every record written), so a copy without the
current fingerprint is completed or brought up to date (records merged by their inputs, tags, links)
and never created again.
"""

from __future__ import annotations

from syncer.core.actions import Action, Op
from syncer.core.capabilities import Capabilities, supports
from syncer.core.snapshot import TAG_FINGERPRINT, Snapshot, fingerprint, user_tags
from syncer.kinds.datasets.capabilities import KIND
from syncer.kinds.datasets.snapshot import DatasetSnap
from syncer.plan.uncopied import missing_api, uncopied

# The API's name in words: evaluation datasets are not the dataset inputs of runs (copied with every
# run).
API = "evaluation dataset"


def linked(ds: DatasetSnap, experiments: set[str | None]) -> list[str]:
    """The source experiments of `experiments` the dataset is linked to."""
    return [e for e in ds.experiment_ids if e in experiments]


def dataset_fingerprint(ds: DatasetSnap, experiments: set[str | None]) -> str:
    """What a copy's fingerprint tag must say for the copy to be current."""
    return fingerprint(
        {
            "name": ds.name,
            "tags": dict(sorted(user_tags(ds.tags).items())),
            "experiments": linked(ds, experiments),
            "updated": ds.last_update_time,
        }
    )


def _plan_one(
    ds: DatasetSnap,
    copies: list[DatasetSnap],
    experiments: set[str | None],
    quarantined: frozenset[tuple[str, str]],
) -> Action:
    fp = dataset_fingerprint(ds, experiments)
    base = dict(
        kind="dataset",
        label=f"{ds.name} ({ds.dataset_id})",
        source_id=ds.dataset_id,
        fingerprint=fp,
    )
    if ("dataset", ds.dataset_id) in quarantined:
        return Action(
            op=Op.ERROR, details={"reason": "quarantined after repeated failures"}, **base
        )
    if not copies:
        details = {"experiments": len(linked(ds, experiments)), "tags": len(user_tags(ds.tags))}
        return Action(op=Op.CREATE, details={k: v for k, v in details.items() if v}, **base)
    dest = copies[0]
    if len(copies) > 1:
        return Action(
            op=Op.CONFLICT,
            dest_id=dest.dataset_id,
            details={
                "reason": f"{len(copies)} copies in the destination",
                "dest_ids": [c.dataset_id for c in copies],
            },
            **base,
        )
    if dest.tags.get(TAG_FINGERPRINT) == fp:
        return Action(op=Op.SAME, dest_id=dest.dataset_id, **base)
    have = user_tags(dest.tags)
    details: dict = {"records": "merge"}
    if TAG_FINGERPRINT not in dest.tags:
        details["resume"] = True
    tags = sorted(k for k, v in user_tags(ds.tags).items() if have.get(k) != v)
    removed = sorted(k for k in have if k not in ds.tags)
    if tags:
        details["tags"] = tags
    if removed:
        details["tags_removed"] = removed
    return Action(op=Op.UPDATE, dest_id=dest.dataset_id, details=details, **base)


def plan_datasets(
    src: Snapshot,
    dst: Snapshot,
    experiments: set[str | None],
    caps: Capabilities,
    quarantined: frozenset[tuple[str, str]] = frozenset(),
) -> list[Action]:
    """Plan the source datasets (`src.part("dataset")`) linked to one of the plannable
    `experiments`.

    `dst.part("dataset")` maps source dataset ids to their destination copies. A destination without
    the dataset API gets one uncopied action counting them.
    """
    selected = sorted(
        (ds for ds in src.part("dataset").values() if linked(ds, experiments)),
        key=lambda ds: (ds.name, ds.dataset_id),
    )
    if not supports(caps, KIND):
        return (
            [uncopied("dataset", len(selected), missing_api("dataset", caps, API))]
            if selected
            else []
        )
    return [
        _plan_one(ds, dst.part("dataset").get(ds.dataset_id, []), experiments, quarantined)
        for ds in selected
    ]
