"""Copy MLflow 3 logged models: standalone ones (`logged_model` actions) and those behind a model
version.

Both go through `ensure_logged_model`, which finds the destination copy by its provenance tag
(`mlflow_syncer.source_model_id`, set atomically by `create_logged_model`) or creates it, so a
logged model copied one way is never copied again the other way. Order of writes: create (PENDING,
with tags, params and the provenance tag) -> files -> tags, params, metric points (each logged
through the copy of the run that logged it) -> finalize with the source's status (last: a PENDING
copy is completed on the next pass).
"""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from uuid import uuid4

from syncer.apply.context import Context
from syncer.apply.runs import RunStats
from syncer.apply.units import Units
from syncer.backends import artifacts as art
from syncer.backends.calls import call
from syncer.core.actions import Action, Op
from syncer.core.snapshot import TAG_SOURCE, user_tags
from syncer.kinds.logged_models.api import (
    log_model_metrics,
    logged_model_snap,
    search_logged_models,
)
from syncer.kinds.logged_models.snapshot import TAG_SOURCE_MODEL_ID, LoggedMetric, LoggedModelSnap

PENDING = "PENDING"
# Models are copied in parallel: finding-or-creating a shared destination object happens one at a
# time.
FIND_OR_CREATE = threading.Lock()


def dest_run(ctx: Context, source_run_id: str | None) -> str | None:
    """The destination copy of a source run, if it was copied: in this pass, or before as the state
    store records (a cycle reading changes only does not read the runs that did not change)."""
    found = ctx.dest_id("run", source_run_id)
    if found is None and source_run_id and ctx.state is not None:
        found = ctx.state.copied_dest_id("run", source_run_id)
    return found


def copy_files(ctx: Context, src_repo, dest_uri: str, dest_exists: bool) -> art.CopyStats:
    """Copy every file of a source artifact repository to `dest_uri` (files already there are
    kept)."""
    dst_repo = ctx.dst.artifact_repo(dest_uri)
    existing = art.listing(ctx.dst, dst_repo) if dest_exists else {}
    if not ctx.dst.caps.artifact_sizes:
        existing = {}
    ctx.guard()
    return art.copy_tree(ctx.src, src_repo, ctx.dst, dst_repo, existing)


def dest_experiment(ctx: Context, source_experiment_id: str | None) -> str:
    """The destination experiment of a copied source experiment, else the model-files experiment."""
    mapped = ctx.dest_id("experiment", source_experiment_id) or ctx.dest_id("files_experiment", "")
    if mapped:
        return mapped
    with FIND_OR_CREATE:
        exp_id = ctx.dest_id("files_experiment", "") or _files_experiment(ctx)
        ctx.map_id("files_experiment", "", exp_id)
    return exp_id


def _files_experiment(ctx: Context) -> str:
    name = ctx.model_options.files_experiment
    client = ctx.dst.client
    exp = call(ctx.dst, "get_experiment_by_name", lambda: client.get_experiment_by_name(name))
    if exp is not None:
        if exp.lifecycle_stage == "deleted":
            call(
                ctx.dst, "restore_experiment", lambda: client.restore_experiment(exp.experiment_id)
            )
        return exp.experiment_id
    ctx.guard()
    location = (
        f"{ctx.dst.artifact_root.rstrip('/')}/{uuid4().hex}" if ctx.dst.artifact_root else None
    )
    return call(
        ctx.dst,
        "create_experiment",
        lambda: client.create_experiment(
            name, artifact_location=location, tags={TAG_SOURCE: ctx.src.identity}
        ),
    )


def _find_or_create(ctx: Context, lm: LoggedModelSnap) -> tuple[LoggedModelSnap, bool]:
    """The destination copy of `lm` and whether it existed before."""
    client = ctx.dst.client
    exp_id = dest_experiment(ctx, lm.experiment_id)
    where = {
        exp_id,
        ctx.dest_id("files_experiment", "") or exp_id,
    }  # a version's copy may be in the latter
    with FIND_OR_CREATE:
        found = list(
            search_logged_models(ctx.dst, where, f"tags.{TAG_SOURCE_MODEL_ID} = '{lm.model_id}'")
        )
        if found:
            return found[0], True
        ctx.guard()
        created = call(
            ctx.dst,
            "create_logged_model",
            lambda: client.create_logged_model(
                exp_id,
                name=lm.name,
                source_run_id=dest_run(ctx, lm.source_run_id),
                model_type=lm.model_type,
                tags={
                    **user_tags(lm.tags),
                    TAG_SOURCE_MODEL_ID: lm.model_id,
                    TAG_SOURCE: ctx.src.identity,
                },
                params=lm.params or None,
            ),
        )
        return logged_model_snap(created), False


def _missing_points(
    ctx: Context, lm: LoggedModelSnap, dest: LoggedModelSnap
) -> list[tuple[str, LoggedMetric]]:
    """The source's metric points the copy lacks, with the destination run to log each through."""
    have = Counter(m.point for m in dest.metrics)
    todo = []
    for m in lm.metrics:
        run = dest_run(ctx, m.run_id)
        if run is None:
            continue
        if have[m.point] > 0:
            have[m.point] -= 1
        else:
            todo.append((run, m))
    return todo


def _complete(ctx: Context, lm: LoggedModelSnap, dest: LoggedModelSnap, stats: RunStats) -> None:
    """Bring tags, params and metric points of an existing copy in line with the source."""
    client = ctx.dst.client
    have_tags = user_tags(dest.tags)
    want_tags = user_tags(lm.tags)
    tags = {k: v for k, v in want_tags.items() if have_tags.get(k) != v}
    ctx.guard()
    if tags:
        call(
            ctx.dst,
            "set_logged_model_tags",
            lambda: client.set_logged_model_tags(dest.model_id, tags),
        )
    for key in sorted(set(have_tags) - set(want_tags)):
        call(
            ctx.dst,
            "delete_logged_model_tag",
            lambda k=key: client.delete_logged_model_tag(dest.model_id, k),
        )
    params = {k: v for k, v in lm.params.items() if dest.params.get(k) != v}
    if params:
        call(ctx.dst, "log_model_params", lambda: client.log_model_params(dest.model_id, params))
    points = _missing_points(ctx, lm, dest)
    log_model_metrics(ctx.dst, dest.model_id, points)
    stats.tags += len(tags)
    stats.params += len(params)
    stats.metric_points += len(points)


def ensure_logged_model(
    ctx: Context, lm: LoggedModelSnap, known: LoggedModelSnap | None = None
) -> tuple[LoggedModelSnap, RunStats]:
    """Make the destination copy of a source logged model complete; return it (as it was found) and
    what was copied. `known` is the copy the plan saw (saves a search)."""
    dest, existed = (known, True) if known is not None else _find_or_create(ctx, lm)
    stats = RunStats()
    if dest.status == PENDING:
        files = copy_files(
            ctx,
            ctx.src.artifact_repo(lm.artifact_location),
            dest.artifact_location,
            dest_exists=existed,
        )
        stats.artifact_files, stats.artifact_bytes = files.files, files.bytes
    _complete(ctx, lm, dest, stats)
    status = "FAILED" if lm.status == "FAILED" else "READY"
    if dest.status != status:
        ctx.guard()
        call(
            ctx.dst,
            "finalize_logged_model",
            lambda: ctx.dst.client.finalize_logged_model(dest.model_id, status),
        )
    return dest, stats


def copy_logged_model(ctx: Context, action: Action) -> tuple[str, RunStats]:
    """Create or complete the copy of one source logged model. Returns the destination model id."""
    lm = ctx.src_snap.part("logged_model")[action.source_id]
    copies = (
        ctx.dst_snap.part("logged_model").get(action.source_id, [])
        if action.op is Op.UPDATE
        else []
    )
    dest, stats = ensure_logged_model(ctx, lm, copies[0] if copies else None)
    ctx.map_id("logged_model", lm.model_id, dest.model_id)
    return dest.model_id, stats


def apply_logged_models(ctx: Context, actions: list[Action], units: Units) -> None:
    """Apply the logged-model actions, in parallel; those of experiments that failed are left for
    later."""
    for a in actions:
        if a.dest_id and a.source_id and a.op is Op.SAME:
            ctx.map_id("logged_model", a.source_id, a.dest_id)
    failed_exps = units.failed("experiment")
    todo = [a for a in actions if a.mutates and a.experiment not in failed_exps]
    with ThreadPoolExecutor(
        max_workers=max(1, units.workers), thread_name_prefix="logged-models"
    ) as pool:
        for fut in as_completed(
            [pool.submit(units.run, a, lambda a=a: copy_logged_model(ctx, a)) for a in todo]
        ):
            units.record(fut.result())
