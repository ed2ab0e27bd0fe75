"""Scale-out: one of several worker processes sharing a PostgreSQL state store (docs/SCALE_OUT.md).

Each worker claims work units with leases (syncer.state.leases): one unit per source experiment, copied by the
same engine pass as `migrate` restricted to that experiment (`PassOptions.experiment_ids`), then one final
`registry` unit, a full pass (models, prompts, datasets, inventory; everything else is in sync by then). A
heartbeat thread renews the worker's leases; a unit whose worker died is taken over once its lease ends. Every
worker draws its API calls from rate buckets kept in the state store, so the configured limits hold for all
workers together. On SQLite only one worker runs, under the exclusive writer lock.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from dataclasses import dataclass, field

import structlog

from syncer.backends.auth import check as check_auth
from syncer.backends.calls import configure_http_retries
from syncer.backends.endpoint import Endpoint
from syncer.config import Settings
from syncer.core.actions import Op
from syncer.core.errors import Cancelled, FatalError
from syncer.core.redact import redact
from syncer.engine.sync import PassOptions, endpoints, open_state, run_pass
from syncer.scan import runs as run_scanner
from syncer.state import leases
from syncer.state.rate_budget import StateRateBudget
from syncer.state.store import StateStore

log = structlog.get_logger("syncer.engine.workers")


@dataclass(frozen=True)
class WorkerOptions:
    """Which job this worker helps with, and how long a claimed unit stays its own without a heartbeat."""

    job: str = "migrate"
    lease: float = 60.0
    max_claims: int = 3  # a unit whose workers kept dying is failed after this many claims

    @property
    def poll(self) -> float:
        """Seconds between looks for claimable units while other workers hold the rest."""
        return max(0.2, min(5.0, self.lease / 4))


@dataclass
class WorkerReport:
    """What this worker did, and where the job stands when it leaves."""

    owner: str
    done: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    taken_over: list[tuple[str, str]] = field(default_factory=list)  # (unit, the worker whose lease ran out)
    job_counts: dict[str, int] = field(default_factory=dict)
    round: int = 1  # the job's round this worker joined
    copied: int = 0  # objects created or updated by this worker's passes

    @property
    def job_failed(self) -> int:
        return self.job_counts.get(leases.FAILED, 0)


def worker_name() -> str:
    """This worker as other workers and `migrate` name it: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


def share_rate_limits(state: StateStore, *ends: Endpoint) -> None:
    """Draw every end's API calls from buckets in the state store, shared with the other workers."""
    budget = StateRateBudget(state)
    for end in ends:
        end.limiter.share(budget, end.identity)


def _seed(settings: Settings, src: Endpoint, state: StateStore, job: str, owner: str) -> int:
    """Seed the job, or start its next round when every unit of the last one is finished (docs/SCALE_OUT.md);
    returns the round this worker joins. A round still open is joined as it is."""
    exists = leases.job_exists(state, job)
    if exists and _open(leases.counts(state, job)):
        return leases.job_round(state, job)
    snap = run_scanner.scan_experiments(src, settings.experiments, include_deleted=settings.deleted == "mirror")
    experiment_ids = sorted(snap.experiments, key=_numeric_first)
    if not exists and leases.seed(state, job, experiment_ids, owner):
        log.info("job seeded", job=job, experiments=len(experiment_ids))
    elif exists and (number := leases.new_round(state, job, experiment_ids, owner)) is not None:
        log.info("job started again", job=job, round=number, experiments=len(experiment_ids))
    return leases.job_round(state, job)


def _open(counts: dict[str, int]) -> bool:
    return bool(counts.get(leases.PENDING) or counts.get(leases.RUNNING))


def _numeric_first(experiment_id: str) -> tuple[int, str]:
    return (int(experiment_id), "") if experiment_id.isdigit() else (0, experiment_id)


class _Heartbeat:
    """Renews this worker's leases every third of a lease. Sets `unit_stop` (the engine stops the unit at its
    next write) when the unit in hand was taken over (`lost`) or the worker is asked to stop."""

    def __init__(self, state: StateStore, opts: WorkerOptions, owner: str, stop: threading.Event,
                 exclusive: bool) -> None:
        self.state, self.opts, self.owner, self.stop, self.exclusive = state, opts, owner, stop, exclusive
        self.unit: str | None = None
        self.unit_stop = threading.Event()
        self.lost = False
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True, name="lease-heartbeat")

    def hold(self, unit: str | None) -> threading.Event:
        """Start (or, with None, end) holding a unit; returns the event that stops its pass."""
        self.unit, self.lost, self.unit_stop = unit, False, threading.Event()
        return self.unit_stop

    def _beat(self) -> None:
        due = time.monotonic() + self.opts.lease / 3
        while not self.done.wait(min(0.5, self.opts.lease / 6)):
            if self.stop.is_set():
                self.unit_stop.set()
            if time.monotonic() < due:
                continue
            due = time.monotonic() + self.opts.lease / 3
            unit, unit_stop = self.unit, self.unit_stop  # claimed before this renewal: it must be among `held`
            try:
                held = leases.renew(self.state, self.opts.job, self.owner, self.opts.lease, self.exclusive)
            except Exception as exc:  # noqa: BLE001 - a database hiccup: the next beat tries again
                log.warning("lease renewal failed", error=redact(str(exc).splitlines()[0]))
                continue
            if unit is not None and unit not in held and unit == self.unit:
                log.warning("lease lost; abandoning the unit", unit=unit)
                self.lost = True
                unit_stop.set()


def _unit_problem(settings: Settings, src: Endpoint, dst: Endpoint, state: StateStore, unit: str,
                  stop: threading.Event, report: WorkerReport) -> str | None:
    """Run one unit's pass, counting what it copied; what went wrong in it (None: nothing)."""
    eid = leases.experiment_of(unit)
    result = run_pass(settings, src, dst, state, PassOptions(
        experiment_ids=frozenset({eid}) if eid is not None else None, stop=stop))
    report.copied += sum(1 for o in result.outcomes if o.ok and o.action.op in (Op.CREATE, Op.UPDATE))
    conflicts = sum(1 for a in result.plan.actions if a.op in (Op.CONFLICT, Op.ERROR))
    if result.failed or conflicts:
        return f"{len(result.failed)} objects failed, {conflicts} conflicts or errors"
    return None


def _work(settings: Settings, src: Endpoint, dst: Endpoint, state: StateStore, opts: WorkerOptions,
          report: WorkerReport, stop: threading.Event, exclusive: bool) -> None:
    beat = _Heartbeat(state, opts, report.owner, stop, exclusive)
    beat.thread.start()
    try:
        while not stop.is_set():
            got = leases.claim(state, opts.job, report.owner, opts.lease, opts.max_claims, exclusive)
            if got is None:
                if not _open(leases.counts(state, opts.job)):
                    return
                stop.wait(opts.poll)
                continue
            if got.taken_over:
                report.taken_over.append((got.unit, got.taken_over))
            log.info("unit claimed", unit=got.unit, attempt=got.attempts, taken_over_from=got.taken_over)
            cancelled = False
            try:
                problem = _unit_problem(settings, src, dst, state, got.unit, beat.hold(got.unit), report)
            except Cancelled:  # stopped before a write: the unit goes back below
                problem, cancelled = None, True
            except FatalError:
                leases.release(state, opts.job, got.unit, report.owner)
                raise
            stopped = cancelled or beat.unit_stop.is_set()
            beat.hold(None)
            if stopped:  # taken over, or asked to stop: the unit goes back to the others as it is
                leases.release(state, opts.job, got.unit, report.owner)
                continue
            leases.finish(state, opts.job, got.unit, report.owner, problem)
            if problem:
                report.failed.append((got.unit, problem))
            else:
                report.done.append(got.unit)
    finally:
        beat.done.set()


def run_worker(settings: Settings, opts: WorkerOptions, config_path: str | None = None,
               stop: threading.Event | None = None) -> WorkerReport:
    """Claim and copy units of the job `opts.job` until none is left (or `stop` is set); see the module doc."""
    configure_http_retries()
    src, dst = endpoints(settings)
    check_auth(src)
    check_auth(dst)
    state = open_state(settings, src, dst, read_only=False, config_path=config_path)
    exclusive = not leases.concurrent(state)
    report, stop = WorkerReport(owner=worker_name()), stop or threading.Event()
    try:
        if exclusive:
            state.acquire_lock(holder="mlflow-syncer worker")
        else:
            leases.refuse_while_locked(state)
            share_rate_limits(state, src, dst)
        report.round = _seed(settings, src, state, opts.job, report.owner)
        started = time.monotonic()
        _work(settings, src, dst, state, opts, report, stop, exclusive)
        report.job_counts = leases.counts(state, opts.job)
        log.info("worker finished", units_done=len(report.done), units_failed=len(report.failed),
                 seconds=round(time.monotonic() - started, 1),
                 **{f"job_{status}": n for status, n in report.job_counts.items()})
        return report
    finally:
        if exclusive:
            state.release_lock()
        state.close()
