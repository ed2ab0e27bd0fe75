"""Copy MLflow 3 evaluation datasets: the dataset with its tags and experiment links, then its
records.

Order of writes: `create_dataset` carrying the provenance tag, the user tags and the links to the
copied experiments -> missing links -> tags -> records (dest records that differ in a way an upsert
cannot mend are deleted first, records no longer in the source are deleted, then every missing or
changed record is upserted: MLflow matches records by their inputs, so a repeated upsert never adds
a record) -> fingerprint tag (last). Schema and profile are computed by the destination server from
the records it holds.
"""

from __future__ import annotations

from syncer.apply.context import Context
from syncer.apply.runs import RunStats
from syncer.apply.units import Units
from syncer.backends.calls import call
from syncer.core.actions import Action, Op
from syncer.core.snapshot import TAG_FINGERPRINT, TAG_SOURCE, user_tags
from syncer.kinds.datasets.api import (
    dataset_experiments,
    dataset_records,
    delete_records,
    upsert_records,
)
from syncer.kinds.datasets.snapshot import (
    TAG_SOURCE_DATASET,
    DatasetSnap,
    RecordSnap,
    merge_needs_reset,
)
from syncer.state.store import IN_PROGRESS


def _dest_experiments(ctx: Context, ds: DatasetSnap) -> list[str]:
    return sorted({d for d in (ctx.dest_id("experiment", e) for e in ds.experiment_ids) if d})


def _create(ctx: Context, ds: DatasetSnap, action: Action) -> str:
    tags = {**user_tags(ds.tags), TAG_SOURCE_DATASET: ds.dataset_id, TAG_SOURCE: ctx.src.identity}
    ctx.guard()
    created = call(
        ctx.dst,
        "create_dataset",
        lambda: ctx.dst.client.create_dataset(
            ds.name, experiment_id=_dest_experiments(ctx, ds), tags=tags
        ),
    )
    ctx.state.record("dataset", ds.dataset_id, created.dataset_id, IN_PROGRESS)
    for key in sorted(
        set(created.tags or {}) - set(tags)
    ):  # MLflow's client adds `mlflow.user` when absent
        call(
            ctx.dst,
            "delete_dataset_tag",
            lambda k=key: ctx.dst.client.delete_dataset_tag(created.dataset_id, k),
        )
    return created.dataset_id


def _links(ctx: Context, ds: DatasetSnap, dest_id: str) -> None:
    have = set(dataset_experiments(ctx.dst, dest_id))
    missing = [e for e in _dest_experiments(ctx, ds) if e not in have]
    if missing:
        ctx.guard()
        call(
            ctx.dst,
            "add_dataset_to_experiments",
            lambda: ctx.dst.client.add_dataset_to_experiments(dest_id, missing),
        )


def _tags(ctx: Context, ds: DatasetSnap, dest_id: str, action: Action) -> int:
    want = user_tags(ds.tags)
    changed = {k: want[k] for k in action.details.get("tags", []) if k in want}
    ctx.guard()
    if changed:
        call(ctx.dst, "set_dataset_tags", lambda: ctx.dst.client.set_dataset_tags(dest_id, changed))
    for key in action.details.get("tags_removed", []):
        call(
            ctx.dst,
            "delete_dataset_tag",
            lambda k=key: ctx.dst.client.delete_dataset_tag(dest_id, k),
        )
    return len(changed)


def _records(ctx: Context, source_id: str, dest_id: str) -> int:
    """Make the destination's records equal to the source's; returns how many were written."""
    want = {r.key: r for _id, r in dataset_records(ctx.src, source_id)}
    have: dict[str, tuple[str, RecordSnap]] = {
        r.key: (rid, r) for rid, r in dataset_records(ctx.dst, dest_id)
    }
    stale = [
        rid for key, (rid, r) in have.items() if key not in want or merge_needs_reset(want[key], r)
    ]
    todo = [
        r
        for key, r in want.items()
        if key not in have or have[key][0] in stale or have[key][1].content != r.content
    ]
    ctx.guard()
    delete_records(ctx.dst, dest_id, stale)
    upsert_records(ctx.dst, dest_id, todo)
    return len(todo)


def copy_dataset(ctx: Context, action: Action) -> tuple[str, RunStats]:
    """Create or complete the copy of one source dataset. Returns the destination dataset id."""
    ds = ctx.src_snap.part("dataset")[action.source_id]
    stats = RunStats()
    if action.op is Op.CREATE:
        dest_id = _create(ctx, ds, action)
        stats.tags = len(user_tags(ds.tags))
    else:
        dest_id = action.dest_id or ""
        _links(ctx, ds, dest_id)
        stats.tags = _tags(ctx, ds, dest_id, action)
    ctx.map_id("dataset", ds.dataset_id, dest_id)
    _records(ctx, ds.dataset_id, dest_id)
    ctx.guard()
    call(
        ctx.dst,
        "set_dataset_tags",
        lambda: ctx.dst.client.set_dataset_tags(
            dest_id, {TAG_FINGERPRINT: action.fingerprint or ""}
        ),
    )
    return dest_id, stats


def apply_datasets(ctx: Context, actions: list[Action], units: Units) -> None:
    """Apply the dataset actions, one after another (datasets are few; records are paged)."""
    for a in actions:
        if a.dest_id and a.source_id and a.op is Op.SAME:
            ctx.map_id("dataset", a.source_id, a.dest_id)
    for a in actions:
        if a.mutates:
            units.run_and_record(a, lambda a=a: copy_dataset(ctx, a))
