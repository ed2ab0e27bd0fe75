"""The one engine pass behind every mode: scan both sides, plan, then inspect (dry run, diff) or
apply.

`sync` opens the ends and the state store and runs one pass: migrate, diff, migrate --dry-run and
--verify call it; each mirror cycle calls `run_pass` on the ends and state it keeps open.
Kinds are scanned, planned and applied in the order of syncer.kinds.registry.KINDS.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from syncer.apply.context import Context
from syncer.apply.units import Outcome, Progress, Started, Units
from syncer.backends import basic_creds, source_line
from syncer.backends.auth import check as check_auth
from syncer.backends.auth import check_registry
from syncer.backends.calls import configure_http_retries
from syncer.backends.endpoint import Endpoint
from syncer.backends.same_store import refuse_same_facts, refuse_same_uris
from syncer.backends.source_store import check_source_store
from syncer.backends.store_identity import store_key
from syncer.config import EndpointConfig, Settings
from syncer.core.actions import Action, Op, Plan
from syncer.core.capabilities import Capabilities
from syncer.core.capabilities import resolve as resolve_caps
from syncer.core.errors import FatalError
from syncer.core.snapshot import Snapshot
from syncer.core.windows import Window
from syncer.engine import verify as repair
from syncer.engine.apply_pass import apply_plan
from syncer.engine.archive import archive_uncopied, count_archived
from syncer.engine.notes import pass_notes
from syncer.kinds.base import Job
from syncer.kinds.models.kind import model_options
from syncer.kinds.permissions.step import principal_map
from syncer.kinds.registry import steps_for
from syncer.plan.runs import Options
from syncer.state.connect import refuse_mlflow_database
from syncer.state.store import StateStore, default_state_url

log = structlog.get_logger("syncer.engine.sync")

# Sees each planned chunk of a dry run: (chunk plan, src, dst, src snapshot, dst snapshot, state
# store).
Inspector = Callable[[Plan, Endpoint, Endpoint, Snapshot, Snapshot, StateStore], None]


@dataclass
class SyncResult:
    """The plan, what applying it did, and the snapshots it was made from."""

    plan: Plan
    outcomes: list[Outcome] = field(default_factory=list)
    src: Snapshot | None = None
    dst: Snapshot | None = None
    seconds: float = 0.0
    dry_run: bool = False
    delete_refused: str | None = None  # why planned deletions were not done
    unmatched: list[str] = field(
        default_factory=list
    )  # filters that matched nothing (mirror: a warning)

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
    traces_incremental: bool = (
        False  # read traces from the mirror cursors only (syncer.kinds.traces.step)
    )
    runs_since: int | None = (
        None  # read only runs ended since (ms) or RUNNING (syncer.kinds.runs.stream)
    )
    progress: Progress | None = None
    on_start: Started | None = None  # an action's unit of work begins
    on_plan: Callable[[SyncResult], None] | None = None
    inspector: Inspector | None = (
        None  # dry run: inspector(chunk plan, src, dst, src_snap, dst_snap, state) per chunk
    )
    stop: threading.Event | None = None
    experiment_ids: frozenset[str] | None = (
        None  # only these source experiments' own kinds (scale-out units)
    )
    run_window: Window | None = (
        None  # with one experiment id: only its runs started within (a range unit)
    )
    strict_filters: bool = (
        False  # a filter that matches nothing stops the pass (migrate, diff; mirror warns)
    )


def endpoints(settings: Settings, *, one_store_ok: bool = False) -> tuple[Endpoint, Endpoint]:
    """Build the source and destination endpoints from the settings; refused when they are one
    store, unless `one_store_ok` (`restore`: an archive is restored into the destination that holds
    it, a legitimate use)."""
    if settings.source is None or settings.destination is None:
        missing = "source" if settings.source is None else "destination"
        raise FatalError(
            f"no {missing} given: use --{'source' if missing == 'source' else 'dest'} or the "
            f"'{missing}' option of the config file"
        )
    src, dst = settings.source, settings.destination
    ends = (
        Endpoint(src.tracking_uri, src.registry_uri, caps=_caps(src), role="source"),
        Endpoint(
            dst.tracking_uri,
            dst.registry_uri,
            caps=_caps(dst).with_overrides(user_map=_users(settings)),
            artifact_root=dst.artifact_root,
            role="destination",
        ),
    )
    for cfg, end in zip((src, dst), ends, strict=True):
        if (
            cfg.credentials is not None
        ):  # before any request: MLflow's stores ask for creds each call
            basic_creds.use(
                end.role,
                end.tracking_uri,
                cfg.credentials.username_env,
                cfg.credentials.password_env,
            )
    for end in ends:
        check_registry(end)  # a registry list no end can hold is said before anything else
    if not one_store_ok:
        refuse_same_uris(*ends)
    for uri in ends[0].store_uris():
        check_source_store(uri)
    return ends


def _users(settings: Settings) -> tuple[tuple[str, str], ...]:
    """The principal map's explicit entries, for `mlflow.user` (only when permissions are
    copied)."""
    return (
        tuple(sorted(principal_map(settings).mapping.items()))
        if settings.permissions.enabled
        else ()
    )


def _caps(cfg: EndpointConfig) -> Capabilities:
    limits = cfg.rate_limits.model_dump() if cfg.rate_limits else None
    return resolve_caps(cfg.tracking_uri, cfg.profile, limits)


def state_url(
    settings: Settings, src: Endpoint, dst: Endpoint, config_path: str | None = None
) -> str:
    """The state store's URL, refused (read-only look) when it is either end's MLflow database."""
    url = settings.state or default_state_url(config_path, f"{src.store_key} -> {dst.store_key}")
    taken = {store_key(url)} & (src.store_keys() | dst.store_keys())
    if taken:
        end = "source" if taken & src.store_keys() else "destination"
        raise FatalError(
            f"the state store is the {end}'s MLflow database ({taken.pop()}); "
            "give --state a database of its own"
        )
    refuse_mlflow_database(url)
    return url


def open_state(
    settings: Settings,
    src: Endpoint,
    dst: Endpoint,
    read_only: bool,
    config_path: str | None = None,
) -> StateStore:
    """Open the state store belonging to this source->destination pair (keyed by the stores'
    identities; a store recorded under the URI text by an older version is taken over)."""
    return StateStore(
        state_url(settings, src, dst, config_path),
        pair=f"{src.store_key} -> {dst.store_key}",
        read_only=read_only,
        quarantine_after=settings.quarantine_after,
        former_pairs=(f"{src.identity} -> {dst.identity}",),
    )


def plan_pass(
    settings: Settings,
    src: Endpoint,
    dst: Endpoint,
    state: StateStore | None,
    options: Options,
    on_chunk: Callable[[list[Action], Snapshot, Snapshot], list[Action]] | None = None,
    strict_filters: bool = False,
) -> tuple[Job, Plan]:
    """Scan and plan kind after kind (the planners are pure); runs a chunk at a time
    (syncer.kinds.runs.stream).

    `on_chunk(actions, src, dst)` sees each planned chunk with the snapshots it was planned from,
    before they are dropped, and returns the actions the plan keeps (verify turns some into
    repairs). `options.experiment_ids` restricts the pass to those source experiments' own kinds (a
    scale-out unit). With `strict_filters`, a filter that matches nothing stops the pass before
    anything is written (FatalError, naming it)."""
    source_line.detect(src)  # an MLflow 2.x server is never asked for the kinds of MLflow 3
    job = Job(
        settings,
        src,
        dst,
        state,
        options,
        Snapshot(identity=src.identity),
        Snapshot(identity=dst.identity),
    )
    plan = Plan(actions=[], dest_names={})
    plan.notes.extend(pass_notes(src, dst))
    step_name: str | None = None

    def emit(
        actions: list[Action],
        experiments: tuple[str, ...] | None,
        s: Snapshot,
        d: Snapshot,
        window: Window | None = None,
    ) -> None:
        plan.add(
            on_chunk(actions, s, d) if on_chunk is not None and actions else actions,
            step_name,
            experiments,
            window,
        )

    job.emit = emit
    for step in steps_for(options.experiment_ids, ranged=options.run_window is not None):
        step_name = step.name  # emit reads it: segments name their kind
        step.scan(job)
        if strict_filters and job.unmatched:
            raise FatalError("; ".join(job.unmatched) + "; nothing was done")
        emit(step.plan(job), None, job.src_snap, job.dst_snap)
    plan.dest_names, plan.extra_groups = job.dest_names, job.extra_groups
    plan.pending_since = job.runs.facts.pending_since if job.runs is not None else {}
    return job, plan


def _options(
    settings: Settings,
    state: StateStore | None,
    delete_extra: bool = False,
    follow_running_since: int | None = None,
    traces_incremental: bool = False,
    runs_since: int | None = None,
    pass_opts: PassOptions | None = None,
) -> Options:
    """The pass's one frozen options value, built once from the settings and the pass's own
    options."""
    return Options(
        deleted=settings.deleted,
        delete_extra=delete_extra,
        follow_running_since=follow_running_since,
        quarantined=state.quarantined() if state is not None else frozenset(),
        traces_incremental=traces_incremental,
        runs_since=runs_since,
        experiment_ids=pass_opts.experiment_ids if pass_opts else None,
        run_window=pass_opts.run_window if pass_opts else None,
    )


def scan_and_plan(
    settings: Settings,
    src: Endpoint,
    dst: Endpoint,
    state: StateStore | None,
    delete_extra: bool = False,
    follow_running_since: int | None = None,
    traces_incremental: bool = False,
) -> tuple[Snapshot, Snapshot, Plan]:
    """Read both sides and plan the sync (`plan_pass`). Without a state store (None), nothing is
    quarantined. The snapshots hold the experiments and the few runs kept whole, not every run."""
    job, plan = plan_pass(
        settings,
        src,
        dst,
        state,
        _options(settings, state, delete_extra, follow_running_since, traces_incremental),
    )
    return job.src_snap, job.dst_snap, plan


def run_pass(
    settings: Settings, src: Endpoint, dst: Endpoint, state: StateStore, opts: PassOptions
) -> SyncResult:
    """Scan, plan (optionally verifying each chunk), then inspect (dry run) or apply: the one path
    of every mode."""
    started = time.monotonic()
    refuse_same_facts(src, dst)

    def on_chunk(actions: list[Action], s: Snapshot, d: Snapshot) -> list[Action]:
        if opts.verify and any(a.kind == "run" and a.op is Op.SAME for a in actions):
            actions = list(
                repair.verify(Plan(actions, {}), src, dst, s, d, state, settings.workers).actions
            )
        if opts.dry_run and opts.inspector is not None:
            opts.inspector(Plan(actions, {}), src, dst, s, d, state)
        return actions

    job, plan = plan_pass(
        settings,
        src,
        dst,
        state,
        _options(
            settings,
            state,
            opts.delete_extra,
            opts.follow_running_since,
            opts.traces_incremental,
            opts.runs_since,
            opts,
        ),
        on_chunk,
        opts.strict_filters,
    )
    log.info("planned", **{f"{k}_{op}": n for (k, op), n in sorted(plan.counts().items())})
    result = SyncResult(
        plan=plan, src=job.src_snap, dst=job.dst_snap, dry_run=opts.dry_run, unmatched=job.unmatched
    )
    if opts.on_plan is not None:
        opts.on_plan(result)
    if not opts.dry_run and plan.mutating_count:
        ctx = Context(
            src=src,
            dst=dst,
            src_snap=job.src_snap,
            dst_snap=job.dst_snap,
            state=state,
            stop=opts.stop,
            model_options=model_options(settings),
        )
        workers = min(settings.workers, dst.caps.max_workers or settings.workers)
        units = Units(
            ctx,
            workers,
            opts.progress or (lambda o: None),
            started=opts.on_start or (lambda a: None),
        )
        result.delete_refused = apply_plan(ctx, plan, units, opts.max_delete, job.runs)
        result.outcomes = units.outcomes
    if settings.unsupported == "archive" and opts.experiment_ids is None:
        if opts.dry_run:
            count_archived(src, dst, plan)
        else:
            archive_uncopied(src, dst, plan, job.src_snap)
    result.seconds = time.monotonic() - started
    return result


def sync(
    settings: Settings,
    dry_run: bool = False,
    config_path: str | None = None,
    progress: Progress | None = None,
    on_plan: Callable[[SyncResult], None] | None = None,
    delete_extra: bool = False,
    inspector: Callable | None = None,
    verify: bool = False,
    on_start: Started | None = None,
    stop: threading.Event | None = None,
    strict_filters: bool = False,
    before_pass: Callable[[Endpoint, Endpoint], None] | None = None,
) -> SyncResult:
    """Open both ends and the state store, then run one pass (`run_pass`): migrate, diff and dry
    runs.

    A dry run opens the state store read-only and calls `inspector` with each planned chunk and the
    snapshots it was planned from (diff reports). `verify` inspects every run that looks in sync and
    repairs those that differ (syncer.engine.verify). Once `stop` is set, each unit in flight stops
    before its next write. With `strict_filters` (the CLI's migrate and diff), a filter that matches
    nothing stops the pass (FatalError). `before_pass(src, dst)` runs before the pass, under the
    writer lock unless a dry run (`--engine ray`: the units on Ray; a diff's tasks join the
    cluster).
    """
    configure_http_retries()
    src, dst = endpoints(settings)
    check_auth(src)
    check_auth(dst)
    state = open_state(settings, src, dst, read_only=dry_run, config_path=config_path)
    try:
        if not dry_run:
            state.acquire_lock(holder="mlflow-syncer")
        if before_pass is not None:
            before_pass(src, dst)
        return run_pass(
            settings,
            src,
            dst,
            state,
            PassOptions(
                dry_run=dry_run,
                verify=verify,
                delete_extra=delete_extra,
                progress=progress,
                on_plan=on_plan,
                inspector=inspector,
                on_start=on_start,
                stop=stop,
                strict_filters=strict_filters,
            ),
        )
    finally:
        if not dry_run:
            state.release_lock()
        state.close()
