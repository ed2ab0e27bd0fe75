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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

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
from syncer.core.held_runs import HOLD_RUNS
from syncer.core.snapshot import Snapshot
from syncer.engine import verify as repair
from syncer.engine.apply_pass import apply_plan
from syncer.engine.archive import archive_uncopied, count_archived
from syncer.engine.beside import Beside, split_beside
from syncer.engine.notes import pass_notes
from syncer.kinds.base import Emitter, Job, Kind, Known, OnChunk, Planned
from syncer.kinds.models.kind import model_options
from syncer.kinds.registry import steps_for, user_map
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


@dataclass(frozen=True)
class PassOptions(Options):
    """The pass's one frozen options value: what it covers (`Options`, read by the kinds' steps and
    the planners; `deleted` and `quarantined` are set by `run_pass` from the settings and the state
    store) and what it does besides scanning and planning."""

    dry_run: bool = False
    verify: bool = False  # inspect every run that looks in sync and repair those that differ
    max_delete: int | None = None  # refuse the deletions of a pass that plans more
    progress: Progress | None = None
    on_start: Started | None = None  # an action's unit of work begins
    on_plan: Callable[[SyncResult], None] | None = None
    # dry run: inspector(chunk plan, src, dst, src_snap, dst_snap, state) per chunk
    inspector: Inspector | None = None
    stop: threading.Event | None = None
    # a filter that matches nothing stops the pass (migrate, diff; mirror warns)
    strict_filters: bool = False


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
            caps=_caps(dst).with_overrides(user_map=user_map(settings)),
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
    on_chunk: OnChunk | None = None,
    strict_filters: bool = False,
    hold_runs: int = 0,
    later: list[Beside] | None = None,
) -> tuple[Planned, Plan]:
    """Scan and plan kind after kind (the planners are pure); runs a chunk at a time
    (syncer.kinds.runs.stream). Returns what the steps established (`Planned.known`, with the run
    step's stream) and the plan.

    `on_chunk(actions, src, dst)` sees each planned chunk with the snapshots it was planned from,
    before they are dropped, and returns the actions the plan keeps (verify turns some into
    repairs). `options.experiment_ids` restricts the pass to those source experiments' own kinds (a
    scale-out unit). With `strict_filters`, a filter that matches nothing stops the pass before
    anything is written (FatalError, naming it). Up to `hold_runs` runs the first chunks' writes
    name are kept for applying them (`Plan.held`). Given a list `later`, the trailing kinds that may
    be planned while applying (`Kind.beside_apply`) are left out and a `Beside` planning them is
    appended to it."""
    source_line.detect(src)  # an MLflow 2.x server is never asked for the kinds of MLflow 3
    job = Job(settings, src, dst, state, options)
    done = Planned([], Known(Snapshot(identity=src.identity), Snapshot(identity=dst.identity)))
    plan = Plan(actions=[], dest_names={})
    plan.held.budget = hold_runs
    plan.notes.extend(pass_notes(src, dst))
    steps = steps_for(options.experiment_ids, ranged=options.run_window is not None)
    ahead, beside = split_beside(steps) if later is not None else (steps, ())

    def step(kind: Kind, done: Planned, plan: Plan) -> Planned:
        known = kind.scan(job, done.known)
        if strict_filters and known.unmatched:
            raise FatalError("; ".join(known.unmatched) + "; nothing was done")
        out = Emitter(plan, kind.name, on_chunk)
        planned = kind.plan(job, known, out)
        out.emit(planned.actions, None, planned.known.src_snap, planned.known.dst_snap)
        plan.extra_groups.update(planned.extra_groups)
        return Planned([], planned.known, planned.stream or done.stream)

    for kind in ahead:
        done = step(kind, done, plan)
    if later is not None:
        later.append(Beside(beside, step, done))
    plan.dest_names = dict(done.known.dest_names)
    plan.pending_since = done.stream.facts.pending_since if done.stream is not None else {}
    return done, plan


def _scoped(settings: Settings, state: StateStore | None, opts: PassOptions) -> PassOptions:
    """The pass's options with the settings' `deleted` and the state store's quarantine (none
    without a store)."""
    quarantined = state.quarantined() if state is not None else frozenset()
    return replace(opts, deleted=settings.deleted, quarantined=quarantined)


def scan_and_plan(
    settings: Settings, src: Endpoint, dst: Endpoint, state: StateStore | None
) -> tuple[Snapshot, Snapshot, Plan]:
    """Read both sides and plan the sync (`plan_pass`). Without a state store (None), nothing is
    quarantined. The snapshots hold the experiments and the few runs kept whole, not every run."""
    done, plan = plan_pass(settings, src, dst, state, _scoped(settings, state, PassOptions()))
    return done.known.src_snap, done.known.dst_snap, plan


@dataclass(frozen=True)
class ChunkCheck:
    """What each planned chunk goes through before the plan keeps it: `--verify` repairs runs that
    look in sync but differ, a dry run's inspector sees it (`Emitter.on_chunk`)."""

    settings: Settings
    src: Endpoint
    dst: Endpoint
    state: StateStore
    opts: PassOptions

    def __call__(self, actions: list[Action], s: Snapshot, d: Snapshot) -> list[Action]:
        """The chunk's actions the plan keeps."""
        src, dst, state, opts = self.src, self.dst, self.state, self.opts
        if opts.verify and any(a.kind == "run" and a.op is Op.SAME for a in actions):
            plan = repair.verify(Plan(actions, {}), src, dst, s, d, state, self.settings.workers)
            actions = list(plan.actions)
        if opts.dry_run and opts.inspector is not None:
            opts.inspector(Plan(actions, {}), src, dst, s, d, state)
        return actions


def run_pass(
    settings: Settings, src: Endpoint, dst: Endpoint, state: StateStore, opts: PassOptions
) -> SyncResult:
    """Scan, plan (optionally verifying each chunk), then inspect (dry run) or apply: the one path
    of every mode."""
    started = time.monotonic()
    with ThreadPoolExecutor(1, thread_name_prefix="version") as pool:
        version = pool.submit(source_line.detect, src)  # both are a pass's first reads
        refuse_same_facts(src, dst)
        version.result()
    opts = _scoped(settings, state, opts)
    check = ChunkCheck(settings, src, dst, state, opts)
    hold, later = 0 if opts.dry_run else HOLD_RUNS, []
    done, plan = plan_pass(settings, src, dst, state, opts, check, opts.strict_filters, hold, later)
    (beside,) = later
    if opts.dry_run:  # a dry run's plan is whole before anything sees it
        beside.join(plan)
    log.info("planned", **{f"{k}_{op}": n for (k, op), n in sorted(plan.counts().items())})
    known = done.known
    result = SyncResult(
        plan,
        src=known.src_snap,
        dst=known.dst_snap,
        dry_run=opts.dry_run,
        unmatched=list(known.unmatched),
    )
    beside.start()
    try:
        if opts.on_plan is not None:
            opts.on_plan(result)
        if not opts.dry_run and plan.mutating_count:
            _apply(settings, src, dst, state, opts, done, result, beside)
        beside.join(plan)
    finally:
        beside.close()
    if settings.unsupported == "archive" and opts.experiment_ids is None:
        if opts.dry_run:
            count_archived(src, dst, plan)
        else:
            archive_uncopied(src, dst, plan, known.src_snap)
    result.seconds = time.monotonic() - started
    return result


def _apply(
    settings: Settings,
    src: Endpoint,
    dst: Endpoint,
    state: StateStore,
    opts: PassOptions,
    done: Planned,
    result: SyncResult,
    beside: Beside,
) -> None:
    """Apply the result's plan with the pass's workers (the kinds planned `beside` join it before
    deletions); its outcomes and refused deletions go into `result`."""
    ctx = Context(
        src=src,
        dst=dst,
        src_snap=done.known.src_snap,
        dst_snap=done.known.dst_snap,
        state=state,
        stop=opts.stop,
        model_options=model_options(settings),
    )
    workers = min(settings.workers, dst.caps.max_workers or settings.workers)
    units = Units(
        ctx, workers, opts.progress or (lambda o: None), started=opts.on_start or (lambda a: None)
    )
    result.delete_refused = apply_plan(
        ctx, result.plan, units, opts.max_delete, done.stream, lambda: beside.join(result.plan)
    )
    result.outcomes = units.outcomes


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
    before_pass: Callable[[Endpoint, Endpoint], dict | None] | None = None,
) -> SyncResult:
    """Open both ends and the state store, then run one pass (`run_pass`): migrate, diff and dry
    runs.

    A dry run opens the state store read-only and calls `inspector` with each planned chunk and the
    snapshots it was planned from (diff reports). `verify` inspects every run that looks in sync and
    repairs those that differ (syncer.engine.verify). Once `stop` is set, each unit in flight stops
    before its next write. With `strict_filters` (the CLI's migrate and diff), a filter that matches
    nothing stops the pass (FatalError). `before_pass(src, dst)` runs before the pass, under the
    writer lock unless a dry run (`--engine ray`: the units on Ray; a diff's tasks join the
    cluster); what it returns are options of the pass (the runs the units settled: not read again,
    unless `verify`).
    """
    configure_http_retries()
    src, dst = endpoints(settings)
    check_auth(src)
    check_auth(dst)
    state = open_state(settings, src, dst, read_only=dry_run, config_path=config_path)
    try:
        if not dry_run:
            state.acquire_lock(holder="mlflow-syncer")
        found = before_pass(src, dst) if before_pass is not None else None
        settled = {} if verify or found is None else found  # --verify reads every run
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
                **settled,
            ),
        )
    finally:
        if not dry_run:
            state.release_lock()
        state.close()
