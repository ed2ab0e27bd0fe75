"""One engine for every mode: scan both sides, plan, then (unless dry) apply. migrate, mirror and diff
all go through `sync`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import structlog

from syncer.apply.context import Context
from syncer.apply.executor import Outcome, Progress, apply
from syncer.backends.auth import check as check_auth
from syncer.backends.calls import configure_http_retries
from syncer.backends.classify import describe
from syncer.backends.endpoint import Endpoint
from syncer.config import EndpointConfig, Settings, dest_name, name_rules
from syncer.core.actions import Plan
from syncer.core.capabilities import Capabilities
from syncer.core.capabilities import resolve as resolve_caps
from syncer.core.errors import FatalError
from syncer.core.snapshot import Snapshot
from syncer.engine import verify as repair
from syncer.engine.models_step import model_options, plan_models_step
from syncer.plan.runs import Options, make_plan
from syncer.scan import runs as scanner
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
    inspection: object = None  # what a dry run's `inspector` returned (diff reports: inspect_runs.Inspection)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]


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


def _scan(endpoint: Endpoint, what: str, **kwargs) -> Snapshot:  # noqa: ANN003
    try:
        return scanner.scan(endpoint, **kwargs)
    except FatalError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise FatalError(f"cannot read the {what} ({endpoint.identity}): {describe(exc)}") from None


def scan_and_plan(settings: Settings, src: Endpoint, dst: Endpoint, state: StateStore, delete_extra: bool = False,
                  follow_running_since: int | None = None) -> tuple[Snapshot, Snapshot, Plan]:
    """Read both sides and plan the sync (pure planning on the two snapshots and the state)."""
    include_deleted = settings.deleted == "mirror"
    src_snap = _scan(src, "source", experiment_filter=settings.experiments, include_deleted=include_deleted)
    rules = name_rules(settings.experiment_names, src.caps)
    names = {eid: dest_name(e.name, rules) for eid, e in src_snap.experiments.items()}
    dst_snap = _scan(dst, "destination", names=set(names.values()), include_deleted=True)
    options = Options(deleted=settings.deleted, delete_extra=delete_extra, follow_running_since=follow_running_since,
                      quarantined=state.quarantined())
    plan = make_plan(src_snap, dst_snap, names, dst.caps, options)
    plan.actions.extend(plan_models_step(settings, src, dst, src_snap, dst_snap, plan, options.quarantined))
    return src_snap, dst_snap, plan


def sync(settings: Settings, dry_run: bool = False, config_path: str | None = None,
         progress: Progress | None = None, on_plan=None, delete_extra: bool = False,  # noqa: ANN001
         inspector=None, verify: bool = False) -> SyncResult:  # noqa: ANN001
    """Scan, plan and (unless `dry_run`) apply: the one path behind migrate, mirror and diff.

    A dry run calls `inspector(result, src, dst, state)` (read-only state) and keeps what it returns.
    `verify` inspects every run that looks in sync and repairs those that differ (see syncer.engine.verify).
    """
    configure_http_retries()
    started = time.monotonic()
    src, dst = endpoints(settings)
    check_auth(src)
    check_auth(dst)
    state = open_state(settings, src, dst, read_only=dry_run, config_path=config_path)
    try:
        if not dry_run:
            state.acquire_lock(holder="mlflow-syncer")
        src_snap, dst_snap, plan = scan_and_plan(settings, src, dst, state, delete_extra)
        if verify:
            plan = repair.verify(plan, src, dst, src_snap, dst_snap, state, settings.workers)
        log.info("planned", **{f"{k}_{op}": n for (k, op), n in sorted(plan.counts().items())})
        if on_plan is not None:
            on_plan(plan)
        result = SyncResult(plan=plan, src=src_snap, dst=dst_snap, dry_run=dry_run)
        if dry_run and inspector is not None:
            result.inspection = inspector(result, src, dst, state)
        if not dry_run and plan.mutating():
            ctx = Context(src=src, dst=dst, src_snap=src_snap, dst_snap=dst_snap, state=state,
                          model_options=model_options(settings))
            workers = min(settings.workers, dst.caps.max_workers or settings.workers)
            result.outcomes = apply(ctx, plan, workers, progress or (lambda o: None))
        result.seconds = time.monotonic() - started
        return result
    finally:
        if not dry_run:
            state.release_lock()
        state.close()
