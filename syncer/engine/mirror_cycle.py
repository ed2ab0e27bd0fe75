"""One incremental mirror cycle: scan both sides, plan, copy what changed, then (only if asked, only
if the cycle was clean, only up to a limit) delete destination runs whose source is gone.

Replication lag (the `mlflow_syncer_replication_lag_seconds` gauge) is defined as
`now - min(last_change(run))` over the source runs that are not yet in the destination as they are
in the source, where `last_change(run) = max(start_time, end_time, timestamp of each latest metric)`
as reported by `search_runs` (RunSnap.last_change). It is 0 when nothing is pending. At scan time it
measures what the cycle found behind; after the cycle, what is still behind (failed or abandoned
runs). A cycle that could not finish (an end or the state store away) knows nothing newer than the
last cycle that did: the lag is then measured from that cycle (`Cycle.lag_now`), and
`pending_objects` keeps what was last known (NaN when nothing is), never 0.
Metric timestamps come from the training client's clock, so the value is only as good as that clock.

RUNNING runs are revisited every cycle (new artifacts leave no trace in search_runs) while their
last change is less than `mirror.follow_running_hours` old: a crashed job's run that stays RUNNING
forever stops costing artifact listings after that.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import structlog
from prometheus_client import Counter, Gauge

from syncer.apply.units import Outcome
from syncer.backends import telemetry
from syncer.backends.calls import revive
from syncer.backends.classify import describe
from syncer.backends.endpoint import Endpoint
from syncer.config import Settings
from syncer.core import cycle_options
from syncer.core.actions import Action, Op
from syncer.core.errors import Cancelled, FatalError
from syncer.core.snapshot import Snapshot
from syncer.engine import ray_budget, ray_units
from syncer.engine.sync import PassOptions, SyncResult, run_pass
from syncer.kinds.runs.stream import RUNS_LOOKBACK_MS
from syncer.plan.uncopied import by_kind_and_reason, uncopied_total
from syncer.state.store import StateStore

log = structlog.get_logger("syncer.engine.mirror_cycle")

CYCLES = Counter("mlflow_syncer_cycles_total", "Mirror cycles by result", ["result"])
DELETES_REFUSED = Counter(
    "mlflow_syncer_deletes_refused_total", "Deletions refused by the guard rails", ["reason"]
)
LAG_AT_SCAN = Gauge(
    "mlflow_syncer_replication_lag_at_scan_seconds",
    "Replication lag found by the last cycle's scan, before it copied anything",
)
# start (ms) of the last clean cycle: later cycles read runs ended since
RUNS_CURSOR = "runs:end_time"
RUNS_ROUND = "runs:round"  # "<change-only cycles since the last clean full one> <selection hash>"
PENDING = Gauge(
    "mlflow_syncer_pending_objects", "Objects still behind the source after the last cycle"
)


@dataclass
class CycleReport:
    """What one cycle did, for logs, /readyz and the exit code of `mirror --once`."""

    started: float
    ended: float = 0.0
    ok: bool = False
    error: str | None = None
    copied: int = 0
    failed: int = 0
    cancelled: int = 0
    conflicts: int = 0
    deleted: int = 0
    delete_refused: str | None = None
    unchanged: int = 0
    uncopied: int = 0  # source objects not copied: listed with the reason; `mirror --once` exits 1
    not_copied: list[tuple[str, int, str]] = field(default_factory=list)  # (kind, objects, reason)
    lag_at_scan: float = 0.0
    lag: float = 0.0
    warnings: list[str] = field(
        default_factory=list
    )  # filters that match nothing (also in `status`)
    outcomes: list[Outcome] = field(default_factory=list, repr=False)

    @property
    def seconds(self) -> float:
        return max(0.0, self.ended - self.started)

    def as_log(self) -> dict:
        """The report as log fields: ISO times, durations in seconds; fields with nothing to say
        (None, an empty list) are left out."""
        fields = {
            k: v for k, v in self.__dict__.items() if k != "outcomes" and v is not None and v != []
        }
        return fields | {
            "started": iso(self.started),
            "ended": iso(self.ended),
            "seconds": round(self.seconds, 3),
            "lag": round(self.lag, 3),
            "lag_at_scan": round(self.lag_at_scan, 3),
        }


def iso(epoch: float) -> str:
    """An epoch time as ISO 8601 UTC, to the second."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


# state store cursor: this cycle's warnings, JSON (report.status shows them)
WARNINGS = "mirror:warnings"


def _is_pending(action: Action) -> bool:
    return (
        action.kind == "run"
        and action.op in (Op.CREATE, Op.UPDATE)
        and not action.details.get("follow")
    )


def replication_lag(
    actions: Iterable[Action], since: Snapshot | Mapping[str, int | None], now: float
) -> float:
    """Seconds since the oldest change (see the module docstring) among `actions` still to be
    copied.

    `since` maps source run ids to their last change (Plan.pending_since), or is the source
    snapshot."""
    if isinstance(since, Snapshot):
        since = {rid: r.last_change for rid, r in since.runs.items()}
    times = [since[a.source_id] for a in actions if _is_pending(a) and a.source_id in since]
    known = [t for t in times if t is not None]
    return max(0.0, now - min(known) / 1000.0) if known else 0.0


@dataclass
class Cycle:
    """Everything a cycle needs; one instance is reused by every cycle of the service."""

    settings: Settings
    src: Endpoint
    dst: Endpoint
    state: StateStore
    delete: bool = False
    max_delete: int = 100
    stop: threading.Event = field(default_factory=threading.Event)
    cycles: int = 0
    # the last cycle that ran to its end (failed objects or not)
    last_good: CycleReport | None = None
    pending_known: float = math.nan  # objects behind as this cycle's plan found them, NaN before it
    failing: bool = False  # the last cycle could not finish
    _born: float = field(default_factory=time.time)

    def lag_now(self, now: float | None = None) -> float:
        """The replication lag as far as anyone knows now: what the last finished cycle left behind,
        plus the time since it started (before any, since this service or the last clean cycle
        began)."""
        now = now or time.time()
        good = self.last_good
        if good is not None:
            return (
                max(now - good.started, good.lag + now - good.ended)
                if good.lag
                else now - good.started
            )
        return now - self._clean_since()

    def _clean_since(self) -> float:
        try:
            cursor = self.state.get_cursor(RUNS_CURSOR)
        except Exception:  # the state store may be the end that is away
            cursor = None
        return int(cursor) / 1000 if cursor and cursor.isdigit() else self._born

    def run(self) -> CycleReport:
        """Run one cycle. Never raises for a failed cycle: the report says what went wrong. Ends
        found unreachable by an earlier cycle are tried again."""
        revive(self.src, self.dst)
        self.pending_known = math.nan  # until this cycle's plan says
        report = CycleReport(started=time.time())
        t0 = time.monotonic()
        try:
            self._run(report)
        except Cancelled:
            report.error = "stopped before the cycle finished"
        except FatalError as exc:
            report.error = str(exc)
            telemetry.ERRORS.labels("fatal").inc()
        except Exception as exc:
            report.error = describe(exc)
            telemetry.ERRORS.labels("unexpected").inc()
        report.ended = time.time()
        report.ok = report.error is None and not (
            report.failed or report.cancelled or report.conflicts or report.delete_refused
        )
        self.failing = report.error is not None
        if report.error is None:
            self.last_good = report
        else:
            report.lag = self.lag_now(report.ended)
            PENDING.set(self.pending_known)
        self._publish(report, time.monotonic() - t0)
        return report

    def _run(self, report: CycleReport) -> None:
        self.cycles += 1
        every = self.settings.mirror.verify_every

        def at_plan(result: SyncResult) -> None:
            plan = result.plan
            report.lag_at_scan = replication_lag(plan.actions, plan.pending_since, time.time())
            LAG_AT_SCAN.set(report.lag_at_scan)
            self.pending_known = float(len(plan.pending_since))

        started_ms = int(report.started * 1000)
        verify = bool(every) and self.cycles % every == 0  # a verifying cycle reads every run
        since = None if verify else self._runs_since()
        units = (
            self._ray_units() if since is None and self.settings.scale_out.engine == "ray" else None
        )
        result = run_pass(
            self.settings,
            self.src,
            self.dst,
            self.state,
            PassOptions(
                verify=verify,
                delete_extra=self.delete,
                max_delete=self.max_delete,
                follow_running_since=self._follow_since(),
                on_plan=at_plan,
                stop=self.stop,
                **cycle_options.for_cycle(self.settings, self.cycles),
                runs_since=since,  # (strict_filters: False, the default: mirror warns)
                **({} if units is None or verify else units.settled_options()),
            ),
        )
        self._warn(report, result.unmatched)
        counts = result.plan.counts()
        report.unchanged = sum(n for (_k, op), n in counts.items() if op == Op.SAME.value)
        report.conflicts = sum(
            n for (_k, op), n in counts.items() if op in (Op.CONFLICT.value, Op.ERROR.value)
        )
        report.uncopied = uncopied_total(result.plan.actions)
        report.not_copied = by_kind_and_reason(result.plan.actions)
        report.outcomes = result.outcomes
        self._count(report)
        if units is not None:  # what the units did on Ray before the pass (they are in sync for it)
            report.copied += units.total("created") + units.total("updated")
            units.settle(result)  # their failed objects were planned again: the pass counted them
            report.failed += len(units.unsettled_units)
        if result.delete_refused is not None:
            report.delete_refused = result.delete_refused
            DELETES_REFUSED.labels(
                "errors" if "errors" in result.delete_refused else "max_delete"
            ).inc()
        pending = [o.action for o in report.outcomes if not o.ok]
        report.lag = replication_lag(pending, result.plan.pending_since, time.time())
        PENDING.set(len(pending))
        self.pending_known = float(len(pending))
        clean = not (pending or report.conflicts or result.delete_refused)
        if clean:
            self.state.set_cursor(RUNS_CURSOR, str(started_ms))
        self._count_round(full=since is None, clean=clean)

    def _ray_units(self) -> ray_units.RayTotals:
        """`--engine ray`: a cycle reading every run first runs the units on the Ray cluster, then
        its own pass (syncer.engine.ray_units); a cycle reading changes only runs here."""
        totals = ray_units.run_units(self.settings, self.src, self.dst, self.stop)
        ray_budget.share(self.src, self.dst)
        return totals

    def _runs_since(self) -> int | None:
        """None: this cycle reads every run; else the time (ms) from which ended runs are read: the
        last clean cycle's start, minus a look-back window. Every run is read when no cycle was
        clean yet, when the selection (endpoints, experiment filters, `deleted`) changed since the
        last full cycle, and after `runs_full_every - 1` change-only cycles. The count lives in the
        state store, so that `mirror --once` run by a timer (one cycle per process) gets change-only
        cycles too."""
        every = self.settings.mirror.runs_full_every
        cursor = self.state.get_cursor(RUNS_CURSOR)
        done, scope = self._round()
        if cursor is None or every == 1 or scope != self._scope() or (every and done + 1 >= every):
            return None
        return max(0, int(cursor) - RUNS_LOOKBACK_MS)

    def _round(self) -> tuple[int, str | None]:
        """Change-only cycles since the last clean full cycle, and that cycle's selection hash."""
        value = self.state.get_cursor(RUNS_ROUND)
        if not value or " " not in value:
            return 0, None
        done, scope = value.split(" ", 1)
        return (int(done), scope) if done.isdigit() else (0, None)

    def _count_round(self, full: bool, clean: bool) -> None:
        done, scope = self._round()
        if full and clean:
            self.state.set_cursor(RUNS_ROUND, f"0 {self._scope()}")
        elif not full and scope is not None:
            self.state.set_cursor(RUNS_ROUND, f"{done + 1} {scope}")

    def _scope(self) -> str:
        """A hash of what selects the runs a cycle reads (no secrets: endpoint identities are
        secret-free)."""
        s = self.settings
        chosen = [
            self.src.identity,
            self.dst.identity,
            s.experiments,
            [r.model_dump(mode="json") for r in s.experiment_names],
            s.deleted,
        ]
        return hashlib.sha256(json.dumps(chosen, sort_keys=True, default=str).encode()).hexdigest()[
            :16
        ]

    def _warn(self, report: CycleReport, warnings: list[str]) -> None:
        """Log each warning of this cycle and keep them for `status` (a failed write is only
        logged)."""
        report.warnings = list(warnings)
        for text in warnings:
            log.warning("filter matches nothing", detail=text)
        try:
            self.state.set_cursor(WARNINGS, json.dumps(report.warnings))
        except Exception as exc:
            log.warning("could not record the warnings in the state store", error=str(exc)[:200])

    def _follow_since(self) -> int | None:
        hours = self.settings.mirror.follow_running_hours
        return None if hours is None else int((time.time() - hours * 3600) * 1000)

    def _count(self, report: CycleReport) -> None:
        # A followed RUNNING run in which nothing new turned up was checked, not copied.
        report.deleted = sum(o.ok and o.action.op is Op.DELETE for o in report.outcomes)
        report.copied = sum(
            o.ok
            and o.action.op is not Op.DELETE
            and not (o.action.details.get("follow") and not o.stats.artifact_files)
            for o in report.outcomes
        )
        report.cancelled = sum(o.status == "cancelled" for o in report.outcomes)
        report.failed = sum(not o.ok for o in report.outcomes) - report.cancelled

    @staticmethod
    def _publish(report: CycleReport, seconds: float) -> None:
        telemetry.CYCLE_SECONDS.observe(seconds)
        telemetry.LAST_CYCLE_END.set(report.ended)
        telemetry.LAST_CYCLE_OK.set(1 if report.ok else 0)
        telemetry.LAG_SECONDS.set(report.lag)
        CYCLES.labels("ok" if report.ok else "error").inc()
        event = log.info if report.ok else log.warning
        event("cycle ended", **report.as_log())
