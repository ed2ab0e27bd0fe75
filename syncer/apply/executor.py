"""The appliers of experiments and runs: experiments first, runs parent-first in parallel waves,
experiment deletions last. Each action is one committed unit of work (syncer.apply.units)."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from itertools import groupby
from uuid import uuid4

from syncer.apply.context import Context
from syncer.apply.exactly_once import Settlement, create_experiment_once
from syncer.apply.experiment_tags import keep_full_values
from syncer.apply.read_ahead import ReadAhead
from syncer.apply.runs import Lanes, RunStats, copy_run
from syncer.apply.units import Outcome, Units
from syncer.backends.calls import call
from syncer.backends.metric_history import HistoryReader
from syncer.core.actions import Action, Op
from syncer.core.errors import FatalError
from syncer.core.fitting import fit_experiment_tags
from syncer.core.snapshot import TAG_SOURCE, TAG_SOURCE_EXPERIMENT_ID, user_tags

WRITES_PER_RUN = 3  # a run's writes beside its metric batches: artifacts, dataset inputs, status


def _experiment(ctx: Context, action: Action) -> str:
    exp = ctx.src_snap.experiments[action.source_id]
    client = ctx.dst.client
    ctx.guard()
    dest_id = action.dest_id
    fitted = fit_experiment_tags(user_tags(exp.tags), ctx.dst.caps)
    keep_full_values(ctx, exp, action.label, fitted)
    if action.op is Op.CREATE:
        tags = {
            **fitted.tags,
            TAG_SOURCE: ctx.src.identity,
            TAG_SOURCE_EXPERIMENT_ID: exp.experiment_id,
        }
        location = (
            f"{ctx.dst.artifact_root.rstrip('/')}/{uuid4().hex}" if ctx.dst.artifact_root else None
        )
        dest_id = create_experiment_once(
            ctx,
            action.label,
            exp.experiment_id,
            lambda: client.create_experiment(action.label, artifact_location=location, tags=tags),
        )
    else:
        for key in action.details.get("tags", []):
            call(
                ctx.dst,
                "set_experiment_tag",
                lambda key=key: client.set_experiment_tag(dest_id, key, fitted.tags[key]),
            )
    return dest_id


def _delete_experiment(ctx: Context, action: Action) -> None:
    ctx.guard()
    dest_id = ctx.dest_id("experiment", action.source_id)
    call(ctx.dst, "delete_experiment", lambda: ctx.dst.client.delete_experiment(dest_id))


def _run(ctx: Context, action: Action, lanes: Lanes) -> tuple[str, RunStats]:
    if action.op is Op.DELETE:
        ctx.guard()
        call(ctx.dst, "delete_run", lambda: ctx.dst.client.delete_run(action.dest_id))
        return action.dest_id, RunStats()
    dest_exp = ctx.dest_id("experiment", action.experiment)
    if dest_exp is None:
        raise FatalError(f"experiment of run {action.label} was not created")
    return copy_run(ctx, action, dest_exp, lanes)


def apply_experiments(ctx: Context, actions: list[Action], units: Units) -> None:
    """Create or update experiments one by one (runs need their destination ids)."""
    for a in actions:
        if a.dest_id:
            ctx.map_id("experiment", a.source_id, a.dest_id)
    for a in actions:
        if a.op in (Op.CREATE, Op.UPDATE):
            outcome = units.run_and_record(a, lambda a=a: (_experiment(ctx, a), RunStats()))
            if outcome.ok:
                ctx.map_id("experiment", a.source_id, outcome.dest_id)


def apply_runs(ctx: Context, actions: list[Action], units: Units) -> None:
    """Copy, update or delete runs: parents before children, in parallel within one depth.

    Each run's independent destination writes go side by side on threads lent for them, the source
    reads of the runs to create are done ahead (syncer.apply.read_ahead), and answered creates are
    checked for duplicates together once the runs are applied
    (syncer.apply.exactly_once.Settlement).
    """
    # copies a child may link to: unchanged runs and copies of runs deleted in the source
    for a in actions:
        if a.dest_id and a.source_id and a.op in (Op.SAME, Op.EXTRA):
            ctx.map_id("run", a.source_id, a.dest_id)
    failed_exps = units.failed("experiment")
    runs = [a for a in actions if a.mutates and a.experiment not in failed_exps]
    ctx.history = HistoryReader(
        ctx.src,
        [
            ctx.src_snap.runs[a.source_id]
            for a in runs
            if a.op is not Op.DELETE and a.source_id in ctx.src_snap.runs
        ],
    )
    settlement = Settlement()
    settlement.expect(a.source_id or "" for a in runs)
    settling: list[Future] = []
    workers = max(1, units.workers)
    with (
        ReadAhead(ctx, runs, threads=workers, window=2 * workers) as ahead,
        ThreadPoolExecutor(
            max_workers=WRITES_PER_RUN * workers, thread_name_prefix="sync-writes"
        ) as writes,
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sync") as pool,
    ):

        def past_create(a: Action) -> None:  # the check starts beside the last runs' writes
            if settlement.answered(a.source_id or "") and not _stopped(ctx):
                settling.append(writes.submit(settlement.settle, ctx))

        def unit(a: Action) -> Outcome:
            lanes = Lanes(
                writes=writes,
                ahead=lambda: ahead.take(a),
                settlement=settlement,
                created=lambda: past_create(a),
            )
            try:
                return units.run(a, lambda: _run(ctx, a, lanes))
            finally:
                ahead.release(a)
                past_create(a)

        for _depth, group in groupby(runs, key=lambda a: a.depth):
            futures = [pool.submit(unit, a) for a in group]
            for fut in as_completed(futures):
                units.record(fut.result())
    _settle(ctx, settlement, units, settling)


def _stopped(ctx: Context) -> bool:
    return ctx.stop is not None and ctx.stop.is_set()


def _settle(ctx: Context, settlement: Settlement, units: Units, settling: list[Future]) -> None:
    """Retire the duplicates left by creates sent twice; a run whose check failed is reported as
    failed. The check starts once every run is past its create (`settling`), or here."""
    if _stopped(ctx) and not settling:
        return  # the next pass's planner retires them
    failed = settling[0].result() if settling else settlement.settle(ctx)
    for source_id, error in failed.items():
        units.fail("run", source_id, error)


def delete_experiments(ctx: Context, actions: list[Action], units: Units) -> None:
    """Delete the experiments deleted in the source, once their runs were applied."""
    failed_exps = units.failed("experiment")
    for a in actions:
        if a.details.get("delete") and a.source_id not in failed_exps:
            units.run_and_record(a, lambda a=a: (_delete_experiment(ctx, a), RunStats()))
