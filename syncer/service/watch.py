"""The mirror's monitor: a thread that watches the cycle loop, never the network or the database
itself.

- A cycle running longer than one period is reported (log line `cycle waiting`: which end or the
  state store, which call, since when; repeated every `NOTICE_EVERY` seconds at most) and noted in
  the state store for `mlflow-syncer status` (cursor `mirror:waiting`), unless the state store is
  what it waits on.
- While no cycle finishes, the replication-lag gauge keeps counting from the last cycle that did,
  and `pending_objects` says what the cycle in flight planned, or NaN (unknown) when it planned
  nothing yet or nothing at all, never the last cycle's 0.
- The systemd watchdog is fed only while the loop moves: between cycles, or while the cycle in
  flight finished a call (an API call or a state-store statement) within `STALL_SECONDS`. A process
  wedged on a call that never returns stops feeding it, and systemd restarts it.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time

import structlog

from syncer.backends import telemetry
from syncer.core import waits
from syncer.engine.mirror_cycle import PENDING, Cycle, iso
from syncer.report.status import WAITING_CURSOR
from syncer.service import sd_notify as sdnotify

log = structlog.get_logger("syncer.service.watch")

STALL_SECONDS = float(os.environ.get("MLFLOW_SYNCER_STALL_SECONDS", "900"))
NOTICE_EVERY = 30.0


class Monitor:
    """Watches the cycles of one mirror service (see the module docstring)."""

    def __init__(self, cycle: Cycle, period: float, stop: threading.Event) -> None:
        self.cycle, self.period, self.stop = cycle, period, stop
        self.started: float | None = None  # the cycle in flight began (epoch seconds)
        self._told = 0.0
        self._told_on: str | None = None
        self._noted = False
        self._writer: threading.Thread | None = None
        self._stalled = False

    def start(self) -> None:
        """Run the monitor in a daemon thread until `stop` is set."""
        threading.Thread(target=self._loop, name="monitor", daemon=True).start()

    def cycle_began(self) -> None:
        """A cycle starts now."""
        self.started = time.time()

    def cycle_ended(self) -> None:
        """The cycle in flight ended; clear the waiting note it left."""
        self.started = None
        self._told, self._told_on = 0.0, None
        if self._noted:
            self._noted = False
            self._note("")

    def turning(self, now: float) -> bool:
        """Does the loop move: no cycle in flight, or one that finished a call recently?"""
        started = self.started
        return started is None or now - max(started, waits.last_progress()) < STALL_SECONDS

    def _loop(self) -> None:
        armed = sdnotify.watchdog_interval()
        every = min(5.0, armed) if armed else 5.0  # `armed` is half of WatchdogSec already
        while not self.stop.wait(every):
            now = time.time()
            self._feed(now)
            started = self.started
            late = started is not None and now - started > self.period
            if late:  # a late cycle that planned nothing is no proof that nothing is pending now
                PENDING.set(self.cycle.pending_known or math.nan)
            if late or self.cycle.failing:
                telemetry.LAG_SECONDS.set(self.cycle.lag_now(now))
            if late:
                self._tell(started, now)

    def _feed(self, now: float) -> None:
        """Ping the watchdog while the loop moves; say so (STATUS=) when it stops and starts moving
        again."""
        if self.turning(now):
            if self._stalled:
                self._stalled = False
                sdnotify.notify("STATUS=the cycle moves again")
            sdnotify.notify("WATCHDOG=1")
            return
        if not self._stalled:
            self._stalled = True
            wait = waits.oldest()
            on = f"{wait.on} ({wait.op}) since {iso(wait.since)}" if wait else "nothing in flight"
            sdnotify.notify(
                f"STATUS=stalled: no call finished for {STALL_SECONDS:g} s; waiting on {on}"
            )
            log.error(
                "cycle stalled: the watchdog is no longer fed", waiting_on=on, stall_s=STALL_SECONDS
            )

    def _tell(self, started: float, now: float) -> None:
        wait = waits.oldest()
        on = wait.on if wait else "nothing in flight (between calls)"
        if now - self._told < NOTICE_EVERY and on == self._told_on:
            return
        self._told, self._told_on = now, on
        fields = (
            {
                "on": on,
                "op": wait.op,
                "since": iso(wait.since),
                "waiting_s": round(wait.seconds(now), 1),
            }
            if wait
            else {"on": on}
        )
        log.warning(
            "cycle waiting",
            cycle_started=iso(started),
            cycle_running_s=round(now - started, 1),
            period_s=self.period,
            stalled=not self.turning(now),
            **fields,
        )
        if wait is not None and not wait.on.startswith("the state store"):
            self._noted = True
            self._note(
                json.dumps(
                    {"on": wait.on, "op": wait.op, "since": wait.since, "cycle_started": started}
                )
            )

    def _note(self, value: str) -> None:
        """Write the waiting note in a thread of its own: the state store may be slow too."""
        if self._writer is not None and self._writer.is_alive():
            return

        def write() -> None:
            try:
                self.cycle.state.set_cursor(WAITING_CURSOR, value)
            except Exception as exc:
                log.debug("could not note the wait in the state store", error=type(exc).__name__)

        self._writer = threading.Thread(target=write, name="monitor-note", daemon=True)
        self._writer.start()
