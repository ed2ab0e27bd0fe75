"""The one engine pass behind every mode: scan both sides, plan, then inspect (dry run, diff) or apply.

`sync` opens the ends and the state store and runs one pass: migrate, diff, migrate --dry-run and
--verify call it; each mirror cycle calls `run_pass` on the ends and state it keeps open.
Kinds are scanned, planned and applied in the order of syncer.engine.kinds.STEPS.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from syncer.apply.context import Context
from syncer.apply.units import Outcome, Progress, Started, Units
from syncer.backends.auth import check as check_auth
from syncer.backends.calls import configure_http_retries
from syncer.backends.endpoint import Endpoint
from syncer.config import EndpointConfig, Settings
from syncer.core.actions import Action, Op, Plan
from syncer.core.capabilities import Capabilities
from syncer.core.capabilities import resolve as resolve_caps
from syncer.core.errors import FatalError
from syncer.core.snapshot import Snapshot
from syncer.engine import verify as repair
from syncer.engine.archive import archive_uncopied, count_archived
from syncer.engine.kinds import STEPS, Job, model_options, steps_for
from syncer.plan.runs import Options
from syncer.state.leases import live_leases
from syncer.state.store import StateStore, default_state_url

log = structlog.get_logger("syncer.engine.sync")


@dataclass
class SyncResult:
    """The plan, what applying it did, and the snapshots it was made from."""

    plan: Plan
    outcomes: list[Outcome] = field(default_factory=list)
    src: Snapshot | None = None
    dst: Snapshot | None = None
    seconds: float = 0.0
    dry_run: bool = False
    inspection: object = None  # what a dry run's `inspector` returned (diff reports: deep_compare.Inspection)
    delete_refused: str | None = None  # why planned deletions were not done

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]


@dataclass
class PassOptions:
    """What one pass does besides scanning and planning."""

    dry_run: bool = False
    verify: bool = False  # inspect every run that looks in sync and repair those that differ
    delete_extra: bool = False  # plan deletion of destination runs whose source is gone
    max_delete: int | None = None  # refuse the deletions of a pass that plans more
    follow_running_since: int | None = None  # revisit RUNNING runs changed since (ms)
    traces_incremental: bool = False  # read traces from the mirror cursors only (syncer.engine.trace_step)
    progress: Progress | None = None
    on_start: Started | None = None  # an action's unit of work begins
    on_plan: Callable[[SyncResult], None] | None = None
    inspector: Callable | None = None  # dry run: inspector(result, src, dst, state) -> result.inspection
    stop: threading.Event | None = None
    experiment_ids: frozenset[str] | None = None  # only these source experiments' own kinds (scale-out units)


def endpoints(settings: Settings) -> tuple[Endpoint, Endpoint]:
    """Build the source and destination endpoints from the settings."""
    if settings.source is None or settings.destination is None:
        missing = "source" if settings.source is None else "destination"
        raise FatalError(f"no {missing} given: use --{'source' if missing == 'source' else 'dest'} or the "
                         f"'{missing}' option of the config file")
    src, dst = settings.source, settings.destination
    return (
        Endpoint(src.tracking_uri, src.registry_uri, caps=_caps(src), role="source"),
        Endpoint(dst.tracking_uri, dst.registry_uri, caps=_caps(dst), artifact_root=dst.artifact_root,
                 role="destination"),
    )


def _caps(cfg: EndpointConfig) -> Capabilities:
    limits = cfg.rate_limits.model_dump() if cfg.rate_limits else None
    return resolve_caps(cfg.tracking_uri, cfg.profile, limits)


def open_state(settings: Settings, src: Endpoint, dst: Endpoint, read_only: bool,
               config_path: str | None = None) -> StateStore:
    """Open the state store belonging to this source->destination pair."""
    url = settings.state or default_state_url(config_path)
    return StateStore(url, pair=f"{src.identity} -> {dst.identity}", read_only=read_only,
                      quarantine_after=settings.quarantine_after)


def scan_and_plan(settings: Settings, src: Endpoint, dst: Endpoint, state: StateStore | None,
                  delete_extra: bool = False, follow_running_since: int | None = None,
                  traces_incremental: bool = False, experiment_ids: frozenset[str] | None = None,
                  ) -> tuple[Snapshot, Snapshot, Plan]:
    """Read both sides and plan the sync, kind after kind (the planners are pure). Without a state store
    (None), nothing is quarantined. `experiment_ids` restricts the pass to those source experiments' own kinds."""
    options = Options(deleted=settings.deleted, delete_extra=delete_extra, follow_running_since=follow_running_since,
                      quarantined=state.quarantined() if state is not None else frozenset(),
                      traces_incremental=traces_incremental)
    job = Job(settings, src, dst, state, options, Snapshot(identity=src.identity), Snapshot(identity=dst.identity),
              experiment_ids=experiment_ids)
    for step in steps_for(experiment_ids):
        step.scan(job)
        job.actions.extend(step.plan(job))
    return job.src_snap, job.dst_snap, Plan(actions=job.actions, dest_names=job.dest_names)


def run_pass(settings: Settings, src: Endpoint, dst: Endpoint, state: StateStore, opts: PassOptions) -> SyncResult:
    """Scan, plan, optionally verify, then inspect (dry run) or apply: the one path of every mode."""
    started = time.monotonic()
    src_snap, dst_snap, plan = scan_and_plan(settings, src, dst, state, opts.delete_extra, opts.follow_running_since,
                                             opts.traces_incremental, opts.experiment_ids)
    if opts.verify:
        plan = repair.verify(plan, src, dst, src_snap, dst_snap, state, settings.workers)
    log.info("planned", **{f"{k}_{op}": n for (k, op), n in sorted(plan.counts().items())})
    result = SyncResult(plan=plan, src=src_snap, dst=dst_snap, dry_run=opts.dry_run)
    if opts.on_plan is not None:
        opts.on_plan(result)
    if opts.dry_run:
        if opts.inspector is not None:
            result.inspection = opts.inspector(result, src, dst, state)
    elif plan.mutating():
        ctx = Context(src=src, dst=dst, src_snap=src_snap, dst_snap=dst_snap, state=state, stop=opts.stop,
                      model_options=model_options(settings))
        workers = min(settings.workers, dst.caps.max_workers or settings.workers)
        units = Units(ctx, workers, opts.progress or (lambda o: None), started=opts.on_start or (lambda a: None))
        result.delete_refused = apply_plan(ctx, plan, units, opts.max_delete)
        result.outcomes = units.outcomes
    if settings.unsupported == "archive" and opts.experiment_ids is None:
        if opts.dry_run:
            count_archived(src, dst, plan)
        else:
            archive_uncopied(src, dst, plan, src_snap)
    result.seconds = time.monotonic() - started
    return result


def _of(step_kinds: tuple[str, ...], actions: list[Action]) -> list[Action]:
    return [a for a in actions if a.kind in step_kinds]


def apply_plan(ctx: Context, plan: Plan, units: Units, max_delete: int | None = None) -> str | None:
    """Apply a plan kind by kind; deletions last, only after a clean pass and within `max_delete`.

    Returns why the planned deletions were refused, or None.
    """
    ctx.guard()
    copies = [a for a in plan.actions if a.op is not Op.DELETE]
    deletes = [a for a in plan.actions if a.op is Op.DELETE]
    for step in STEPS:
        step.apply(ctx, _of(step.kinds, copies), units)
    for step in STEPS:
        if step.finish is not None:
            step.finish(ctx, _of(step.kinds, copies), units)
    if not deletes or (ctx.stop is not None and ctx.stop.is_set()):
        return None
    reason = _delete_guard(plan, units.outcomes, len(deletes), max_delete)
    if reason is not None:
        log.warning("deletions refused", count=len(deletes), reason=reason, runs=[a.label for a in deletes[:20]])
        return f"{len(deletes)} deletions not done: {reason}"
    for step in reversed(STEPS):
        step.apply(ctx, _of(step.kinds, deletes), units)
    return None


def _delete_guard(plan: Plan, outcomes: list[Outcome], count: int, max_delete: int | None) -> str | None:
    """Why the deletions of this pass must not happen (None: they may)."""
    if any(not o.ok for o in outcomes) or any(a.op in (Op.CONFLICT, Op.ERROR) for a in plan.actions):
        return "the cycle had errors"
    if max_delete is not None and count > max_delete:
        return f"{count} deletions exceed --max-delete {max_delete}"
    return None


def refuse_while_leased(state: StateStore) -> None:
    """Fail while scale-out workers hold work units of this state store (the caller releases its lock)."""
    held = live_leases(state)
    if held:
        owners = sorted({u.owner or "?" for u in held})
        raise FatalError(f"{len(held)} work units of job '{held[0].job}' are held by scale-out workers "
                         f"({', '.join(owners)}); wait for them to finish or stop them first")


def sync(settings: Settings, dry_run: bool = False, config_path: str | None = None,
         progress: Progress | None = None, on_plan: Callable[[SyncResult], None] | None = None,
         delete_extra: bool = False, inspector: Callable | None = None, verify: bool = False,
         on_start: Started | None = None) -> SyncResult:
    """Open both ends and the state store, then run one pass (`run_pass`): migrate, diff and dry runs.

    A dry run opens the state store read-only and calls `inspector(result, src, dst, state)`, keeping what it
    returns. `verify` inspects every run that looks in sync and repairs those that differ (syncer.engine.verify).
    """
    configure_http_retries()
    src, dst = endpoints(settings)
    check_auth(src)
    check_auth(dst)
    state = open_state(settings, src, dst, read_only=dry_run, config_path=config_path)
    try:
        if not dry_run:
            state.acquire_lock(holder="mlflow-syncer")
            refuse_while_leased(state)
        return run_pass(settings, src, dst, state, PassOptions(
            dry_run=dry_run, verify=verify, delete_extra=delete_extra, progress=progress, on_plan=on_plan,
            inspector=inspector, on_start=on_start))
    finally:
        if not dry_run:
            state.release_lock()
        state.close()
