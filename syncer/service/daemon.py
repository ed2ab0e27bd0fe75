"""The `mirror` service: schedule cycles, hold the state-store lock, serve status, stop gracefully.

One process holds the writer lock of its state store for its whole life (heartbeat in a thread).
APScheduler fires one cycle per tick (max_instances=1, coalesce: a late tick is merged, never
stacked). SIGTERM/SIGINT: the unit in flight stops at its next write (Context.stop), every finished
unit is already committed, the lock is released and the process exits within `shutdown_timeout`.

An outage of an end or of the state store is outlived: each cycle tries every end again
(`Cycle.run`). While a cycle runs longer than one period the monitor (`service.watch`) says what it
waits on and since when, keeps the lag gauge counting, and the systemd watchdog is fed only while
the loop moves.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import structlog
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from syncer.backends.calls import configure_http_retries
from syncer.backends.same_store import refuse_same_facts
from syncer.config import MirrorConfig, Settings
from syncer.core.errors import FatalError, Interrupted
from syncer.core.exit_codes import EXIT_ERROR, EXIT_OK, EXIT_PARTIAL
from syncer.engine.mirror_cycle import Cycle, CycleReport, iso
from syncer.engine.sync import endpoints, open_state
from syncer.service import sd_notify as sdnotify
from syncer.service.status_server import StatusServer
from syncer.service.watch import Monitor
from syncer.state import cycles
from syncer.state.connect import one_line

log = structlog.get_logger("syncer.service.daemon")

LOCK_HOLDER = "mlflow-syncer mirror"


def make_trigger(cfg: MirrorConfig) -> BaseTrigger:
    """An APScheduler trigger from `cron` (crontab syntax, UTC) or `interval` (seconds)."""
    if cfg.cron:
        try:
            return CronTrigger.from_crontab(cfg.cron, timezone="UTC")
        except ValueError as exc:
            raise FatalError(f"invalid --cron expression {cfg.cron!r}: {exc}") from None
    return IntervalTrigger(seconds=cfg.interval, timezone="UTC")


def period_seconds(trigger: BaseTrigger, now: float | None = None) -> float:
    """The time between two ticks of a trigger (for cron: between its next two fire times)."""
    if isinstance(trigger, IntervalTrigger):
        return trigger.interval.total_seconds()
    first = trigger.get_next_fire_time(
        None, datetime.fromtimestamp(now or time.time(), tz=timezone.utc)
    )
    second = trigger.get_next_fire_time(first, first + timedelta(seconds=1)) if first else None
    return (second - first).total_seconds() if first and second else 60.0


@dataclass
class Readiness:
    """What /readyz reports: the last cycle ended well, and recently enough."""

    period: float
    intervals: float
    last: CycleReport | None = None

    def __call__(self) -> tuple[bool, dict]:
        last = self.last
        if last is None:
            return False, {"reason": "no cycle has finished yet"}
        age = time.time() - last.ended
        detail = {
            "last_cycle_ok": last.ok,
            "last_cycle_age_seconds": round(age, 3),
            "max_age_seconds": self.period * self.intervals,
        }
        if not last.ok:
            return False, {
                **detail,
                "reason": last.error or last.delete_refused or "the last cycle had errors",
            }
        if age > self.period * self.intervals:
            return False, {**detail, "reason": "the last good cycle is too old"}
        return True, detail


class MirrorService:
    """The long-running (or `--once`) mirror process."""

    def __init__(self, settings: Settings, config_path: str | None, once: bool = False) -> None:
        self.settings = settings
        self.cfg = settings.mirror
        self.config_path = config_path
        self.once = once
        self.stop = threading.Event()
        self.idle = threading.Event()
        self.idle.set()
        self.trigger = make_trigger(self.cfg)
        self.ready = Readiness(period_seconds(self.trigger), self.cfg.ready_intervals)
        self.last: CycleReport | None = None
        self.http: StatusServer | None = None
        self.signalled: int | None = None
        self.scheduler: BackgroundScheduler | None = None

    # -- life cycle ----------------------------------------------------------------------------
    def run(self) -> int:
        """Open, serve until done or signalled, close. Returns the process exit code."""
        configure_http_retries()
        src, dst = endpoints(self.settings)
        state = open_state(self.settings, src, dst, read_only=False, config_path=self.config_path)
        try:
            state.acquire_lock(holder=LOCK_HOLDER)
            refuse_same_facts(
                src, dst, unreachable_ok=True
            )  # else the first cycle that reads checks
            self.cycle = Cycle(
                self.settings,
                src,
                dst,
                state,
                delete=self.cfg.delete,
                max_delete=self.cfg.max_delete,
                stop=self.stop,
            )
            self._install_signals()
            self._start_http()
            threading.Thread(
                target=self._heartbeat, args=(state,), name="heartbeat", daemon=True
            ).start()
            self.monitor = Monitor(self.cycle, self.ready.period, self.stop)
            self.monitor.start()
            code = self._serve()
            sdnotify.notify("STOPPING=1", "STATUS=stopped")
            return code
        finally:
            self.stop.set()
            for signum, handler in getattr(self, "_previous", {}).items():
                signal.signal(signum, handler)
            if self.http is not None:
                self.http.close()
            state.release_lock()
            state.close()

    def _install_signals(self) -> None:
        # The handler only stores the signal: taking a lock (Event.set, logging) inside a handler
        # can deadlock against the very lock the interrupted main thread holds.
        self._previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}

        def on_signal(signum: int, _frame: object) -> None:
            self.signalled = signum

        for signum in self._previous:
            signal.signal(signum, on_signal)

    def _wait_signal(self, until: Callable[[], bool] = lambda: False) -> bool:
        """Poll until a signal arrived (True) or `until()` holds (False); then set `stop` on a
        signal."""
        while self.signalled is None and not until():
            time.sleep(0.2)
        if self.signalled is None:
            return False
        log.info(
            "stopping",
            signal=signal.Signals(self.signalled).name,
            timeout=self.cfg.shutdown_timeout,
        )
        self.stop.set()
        return True

    def _start_http(self) -> None:
        if (
            self.cfg.http_port is None or self.once
        ):  # one cycle has nobody to probe it, and must not
            return  # take the port of a service beside it (the image's default config names 8080)
        try:
            self.http = StatusServer(self.cfg.http_host, self.cfg.http_port, self.ready).start()
        except OSError as exc:
            raise FatalError(
                f"cannot serve HTTP on {self.cfg.http_host}:{self.cfg.http_port}: "
                f"{exc.strerror or exc}"
            ) from None
        log.info("http status endpoint", host=self.cfg.http_host, port=self.http.port)

    def _heartbeat(self, state) -> None:
        """Keep the writer lock's heartbeat fresh (the watchdog is the monitor's: it watches the
        loop)."""
        while not self.stop.wait(30.0):
            try:
                state.heartbeat()
            except Exception as exc:
                log.warning("state store heartbeat failed", error=one_line(exc))

    # -- cycles --------------------------------------------------------------------------------
    def _tick(self) -> None:
        if self.stop.is_set():
            return
        self.idle.clear()
        self.monitor.cycle_began()
        try:
            cycle_id = self._record(
                lambda state: cycles.start_cycle(state, time.time(), self._next_run())
            )
            report = self.cycle.run()
            if cycle_id is not None:
                self._record(
                    lambda state: cycles.end_cycle(
                        state, cycle_id, cycle_end(report), self._next_run()
                    )
                )
            self.last = self.ready.last = report
            next_run = self._next_run()
            if next_run is not None:
                log.info(
                    "next cycle",
                    at=iso(next_run),
                    seconds_from_now=round(next_run - time.time(), 1),
                )
            state = (
                "ok"
                if report.ok
                else f"errors: {report.error or report.delete_refused or report.failed}"
            )
            sdnotify.notify(
                f"STATUS=last cycle {state}; copied {report.copied}, {report.seconds:.1f} s"
            )
        finally:
            self.monitor.cycle_ended()
            self.idle.set()

    def _record(self, write: Callable[..., int | None]) -> int | None:
        """Write a cycle record for `mlflow-syncer status`; a failed write is logged, never
        fatal."""
        try:
            return write(self.cycle.state)
        except Exception as exc:
            log.warning("could not record the cycle in the state store", error=one_line(exc))
            return None

    def _next_run(self) -> float | None:
        """When the scheduler fires next (None: --once, stopping, or no schedule yet)."""
        if self.once or self.scheduler is None or self.stop.is_set():
            return None
        job = self.scheduler.get_job("cycle")
        when = getattr(job, "next_run_time", None)
        return when.timestamp() if when else None

    def _serve(self) -> int:
        if self.once:
            worker = threading.Thread(target=self._tick, name="cycle")
            worker.start()
            if self._wait_signal(until=lambda: not worker.is_alive()):
                return max(EXIT_PARTIAL, self._shutdown(None))  # the one cycle did not complete
            return self._exit_code(self.last)
        logging.getLogger("apscheduler").setLevel(
            logging.ERROR
        )  # not a warning per tick skipped by a long cycle
        scheduler = self.scheduler = BackgroundScheduler(timezone="UTC")
        first = None if self.cfg.cron else _now()
        scheduler.add_job(
            self._tick,
            self.trigger,
            id="cycle",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
            next_run_time=first,
        )
        scheduler.start()
        sdnotify.notify("READY=1", "STATUS=mirroring")
        log.info("mirror started", schedule=self.cfg.cron or f"every {self.cfg.interval:g} s")
        self._wait_signal()
        return self._shutdown(scheduler)

    def _shutdown(self, scheduler: BackgroundScheduler | None) -> int:
        sdnotify.notify("STOPPING=1", "STATUS=stopping")
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        if self.idle.wait(self.cfg.shutdown_timeout):
            log.info("stopped cleanly")
            return EXIT_OK
        log.error(
            "the unit in flight did not stop in time; abandoning it (the next start resumes it)",
            timeout=self.cfg.shutdown_timeout,
        )
        return EXIT_PARTIAL

    @staticmethod
    def _exit_code(report: CycleReport | None) -> int:
        if report is None or report.error is not None:
            return EXIT_ERROR
        return EXIT_OK if report.ok and not report.uncopied else EXIT_PARTIAL


def cycle_end(report: CycleReport) -> cycles.CycleEnd:
    """What the state store keeps of a cycle report (a cycle that could not finish: the lag since
    the last one that did)."""
    lag = report.lag
    return cycles.CycleEnd(
        ended=report.ended,
        ok=report.ok,
        error=report.error or report.delete_refused,
        copied=report.copied,
        failed=report.failed + report.cancelled,
        conflicts=report.conflicts,
        deleted=report.deleted,
        unchanged=report.unchanged,
        lag=lag,
        lag_at_scan=None if report.error else report.lag_at_scan,
    )


def _now() -> datetime:
    return datetime.now(timezone.utc)


def run_mirror(
    settings: Settings, config_path: str | None, once: bool
) -> tuple[int, CycleReport | None]:
    """Run the mirror service: (exit code, last cycle report). A forced stop exits the process at
    once."""
    import sys

    service = MirrorService(settings, config_path, once)
    code = service.run()
    if not once or not service.idle.is_set():
        # State is committed and the lock released. Interpreter teardown (MLflow's exit hooks, a
        # worker stuck in I/O) must not stretch the shutdown bound: leave now.
        log.info("exiting", code=code)
        sys.stderr.flush()
        sys.stdout.flush()
        os._exit(code)
    if service.signalled is not None:
        raise Interrupted(
            service.signalled
        )  # --once stopped by a signal: one line, 130 or 143 (cli.app)
    return code, service.last
