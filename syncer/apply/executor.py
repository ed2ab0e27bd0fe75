"""The executor: apply a plan's actions in dependency order, one committed unit of work at a time."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from itertools import groupby
from uuid import uuid4

import structlog

from syncer.apply.context import Context
from syncer.apply.exactly_once import create_experiment_once
from syncer.apply.models import apply_models
from syncer.apply.runs import RunStats, copy_run
from syncer.backends import telemetry
from syncer.backends.calls import call
from syncer.backends.classify import classify, describe
from syncer.backends.metric_history import HistoryReader
from syncer.core.actions import Action, Op, Plan
from syncer.core.errors import Cancelled, FatalError, Kind
from syncer.core.snapshot import TAG_SOURCE, TAG_SOURCE_EXPERIMENT_ID, user_tags
from syncer.state.store import DONE

log = structlog.get_logger("syncer.apply.executor")


@dataclass
class Outcome:
    """What happened to one planned action."""

    action: Action
    ok: bool
    dest_id: str | None = None
    error: str | None = None
    status: str | None = None
    stats: RunStats = field(default_factory=RunStats)


Progress = Callable[[Outcome], None]


def _experiment(ctx: Context, action: Action) -> str:
    exp = ctx.src_snap.experiments[action.source_id]
    client = ctx.dst.client
    ctx.guard()
    dest_id = action.dest_id
    if action.op is Op.CREATE:
        tags = {**user_tags(exp.tags), TAG_SOURCE: ctx.src.identity, TAG_SOURCE_EXPERIMENT_ID: exp.experiment_id}
        location = f"{ctx.dst.artifact_root.rstrip('/')}/{uuid4().hex}" if ctx.dst.artifact_root else None
        dest_id = create_experiment_once(ctx, action.label, exp.experiment_id, lambda: client.create_experiment(
            action.label, artifact_location=location, tags=tags))
    else:
        for key in action.details.get("tags", []):
            call(ctx.dst, "set_experiment_tag",
                 lambda key=key: client.set_experiment_tag(dest_id, key, exp.tags[key]))
    return dest_id


def _delete_experiment(ctx: Context, action: Action) -> None:
    ctx.guard()
    dest_id = ctx.dest_id("experiment", action.source_id)
    call(ctx.dst, "delete_experiment", lambda: ctx.dst.client.delete_experiment(dest_id))


def _run(ctx: Context, action: Action) -> tuple[str, RunStats]:
    if action.op is Op.DELETE:
        ctx.guard()
        call(ctx.dst, "delete_run", lambda: ctx.dst.client.delete_run(action.dest_id))
        return action.dest_id, RunStats()
    dest_exp = ctx.dest_id("experiment", action.experiment)
    if dest_exp is None:
        raise FatalError(f"experiment of run {action.label} was not created")
    return copy_run(ctx, action, dest_exp)


def _unit(ctx: Context, action: Action, work: Callable[[], tuple[str | None, RunStats]]) -> Outcome:
    """Run one unit of work and commit its result (or its failure) to the state store."""
    try:
        dest_id, stats = work()
    except Cancelled:
        return Outcome(action, ok=False, error="abandoned: shutting down", status="cancelled")
    except Exception as exc:  # noqa: BLE001
        kind = classify(exc)
        message = describe(exc)
        if kind is Kind.FATAL:
            raise FatalError(message) from exc
        telemetry.ERRORS.labels(kind.value).inc()
        status = ctx.state.record_failure(action.kind, action.key[1], message)
        log.warning("object failed", kind=action.kind, object=action.label, error=message, status=status)
        return Outcome(action, ok=False, error=message, status=status)
    if action.source_id is not None:
        ctx.state.record(action.kind, action.source_id, dest_id, DONE, action.fingerprint)
    telemetry.OBJECTS.labels(action.kind, action.op.value, "ok").inc()
    return Outcome(action, ok=True, dest_id=dest_id, stats=stats)


def apply(ctx: Context, plan: Plan, workers: int, progress: Progress = lambda o: None) -> list[Outcome]:
    """Apply every mutating action of a plan. Runs go parent-first, in parallel within a depth."""
    ctx.guard()
    outcomes: list[Outcome] = []
    for a in plan.actions:
        if a.kind == "experiment" and a.dest_id:
            ctx.map_id("experiment", a.source_id, a.dest_id)
        if a.kind == "run" and a.dest_id and a.source_id and a.op is Op.SAME:
            ctx.map_id("run", a.source_id, a.dest_id)

    def record(outcome: Outcome) -> None:
        outcomes.append(outcome)
        progress(outcome)

    for a in plan.actions:
        if a.kind == "experiment" and a.op in (Op.CREATE, Op.UPDATE):
            outcome = _unit(ctx, a, lambda a=a: (_experiment(ctx, a), RunStats()))
            if outcome.ok:
                ctx.map_id("experiment", a.source_id, outcome.dest_id)
            record(outcome)
    failed_exps = {o.action.source_id for o in outcomes if not o.ok}
    runs = [a for a in plan.actions if a.kind == "run" and a.mutates and a.experiment not in failed_exps]
    ctx.history = HistoryReader(ctx.src, [ctx.src_snap.runs[a.source_id] for a in runs
                                          if a.op is not Op.DELETE and a.source_id in ctx.src_snap.runs])
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="sync") as pool:
        for _depth, group in groupby(runs, key=lambda a: a.depth):
            futures = [pool.submit(_unit, ctx, a, lambda a=a: _run(ctx, a)) for a in group]
            for fut in as_completed(futures):
                record(fut.result())
    apply_models(ctx, plan.actions, lambda a, work: _unit(ctx, a, work), record, workers)
    for a in plan.actions:
        if a.kind == "experiment" and a.details.get("delete") and a.source_id not in failed_exps:
            record(_unit(ctx, a, lambda a=a: (_delete_experiment(ctx, a), RunStats())))
    return outcomes
