"""One engine for every mode: scan both sides, plan, then (unless dry) apply. migrate, mirror and diff
all go through `sync`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import structlog

from syncer import scan as scanner
from syncer.apply import Outcome, Progress, apply
from syncer.capabilities import Capabilities, RateLimits, capabilities_for
from syncer.config import EndpointConfig, Settings, dest_name
from syncer.context import Context
from syncer.endpoint import Endpoint
from syncer.errors import FatalError, configure_http_retries, describe
from syncer.plan import Options, Plan, make_plan
from syncer.snapshot import Snapshot
from syncer.state import StateStore, default_state_url

log = structlog.get_logger("syncer.engine")


@dataclass
class SyncResult:
    """The plan, what applying it did, and the snapshots it was made from."""

    plan: Plan
    outcomes: list[Outcome] = field(default_factory=list)
    src: Snapshot | None = None
    dst: Snapshot | None = None
    seconds: float = 0.0
    dry_run: bool = False

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]


def endpoints(settings: Settings) -> tuple[Endpoint, Endpoint]:
    """Build the source and destination endpoints from the settings."""
    if settings.source is None or settings.destination is None:
        missing = "source" if settings.source is None else "destination"
        raise FatalError(f"no {missing} given: use --{'source' if missing == 'source' else 'dest'} or the "
                         f"'{missing}' option of the config file")
    src = Endpoint(settings.source.tracking_uri, settings.source.registry_uri, role="source",
                   caps=_caps(settings.source))
    dst = Endpoint(settings.destination.tracking_uri, settings.destination.registry_uri,
                   artifact_root=settings.destination.artifact_root, role="destination",
                   caps=_caps(settings.destination))
    return src, dst


def _caps(config: EndpointConfig) -> Capabilities:
    """The backend's capability record, with the rate limits the user configured (if any)."""
    caps = capabilities_for(config.tracking_uri)
    if config.rate_limits is None:
        return caps
    return caps.with_overrides(rate_limits=RateLimits(**config.rate_limits.model_dump()))


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


def scan_and_plan(settings: Settings, src: Endpoint, dst: Endpoint, state: StateStore,
                  delete_extra: bool = False) -> tuple[Snapshot, Snapshot, Plan]:
    """Read both sides and plan the sync (pure planning on the two snapshots and the state)."""
    include_deleted = settings.deleted == "mirror"
    src_snap = _scan(src, "source", experiment_filter=settings.experiments, include_deleted=include_deleted)
    names = {eid: dest_name(e.name, settings.experiment_names) for eid, e in src_snap.experiments.items()}
    dst_snap = _scan(dst, "destination", names=set(names.values()), include_deleted=True)
    options = Options(deleted=settings.deleted, delete_extra=delete_extra, quarantined=state.quarantined())
    return src_snap, dst_snap, make_plan(src_snap, dst_snap, names, dst.caps, options)


def sync(settings: Settings, dry_run: bool = False, config_path: str | None = None,
         progress: Progress | None = None, on_plan=None, delete_extra: bool = False) -> SyncResult:  # noqa: ANN001
    """Scan, plan and (unless `dry_run`) apply: the one path behind migrate, mirror and diff."""
    configure_http_retries()
    started = time.monotonic()
    src, dst = endpoints(settings)
    state = open_state(settings, src, dst, read_only=dry_run, config_path=config_path)
    try:
        if not dry_run:
            state.acquire_lock(holder="mlflow-syncer")
        src_snap, dst_snap, plan = scan_and_plan(settings, src, dst, state, delete_extra)
        log.info("planned", **{f"{k}_{op}": n for (k, op), n in sorted(plan.counts().items())})
        if on_plan is not None:
            on_plan(plan)
        result = SyncResult(plan=plan, src=src_snap, dst=dst_snap, dry_run=dry_run)
        if not dry_run and plan.mutating():
            ctx = Context(src=src, dst=dst, src_snap=src_snap, dst_snap=dst_snap, state=state)
            workers = min(settings.workers, dst.caps.max_workers or settings.workers)
            result.outcomes = apply(ctx, plan, workers, progress or (lambda o: None))
        result.seconds = time.monotonic() - started
        return result
    finally:
        if not dry_run:
            state.release_lock()
        state.close()
