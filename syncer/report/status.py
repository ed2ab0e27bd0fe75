"""`mlflow-syncer status`: what a running or stopped mirror did last and does next, from its state
store.

`view` reads the state store (opened read-only by the caller) into plain, JSON-ready data: the lock
and its holder, the cycle in progress, the last finished cycle, replication lag, the next scheduled
cycle, pending and quarantined objects with their reasons.
`text_lines` renders that data for people.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator

from syncer.core.errors import FatalError
from syncer.core.redact import redact
from syncer.kinds.inventory.visibility import VISIBILITY
from syncer.report import human
from syncer.state import cycles
from syncer.state.store import FAILED, QUARANTINED, StateStore

WAITING_CURSOR = "mirror:waiting"  # written by the mirror's monitor (syncer.service.watch)

# seconds without a heartbeat after which a lock holder on another host is presumed gone
STALE_AFTER = 120.0
LISTED = 20  # objects listed per section in text (JSON lists them all)
STATUS_TIMEOUT = float(os.environ.get("MLFLOW_SYNCER_STATUS_TIMEOUT", "20"))


def read_within(url: str, seconds: float = STATUS_TIMEOUT) -> dict:
    """Open the state store at `url` read-only and read its `view`, giving up after `seconds`: a
    state store that hangs gets one line, not a command that never ends."""
    found: list = []

    def read() -> None:
        try:
            store = StateStore(url, pair="", read_only=True)
            try:
                found.append(view(store) if store.engine is not None else None)
            finally:
                store.close()
        except Exception as exc:  # handed to the caller's thread
            found.append(exc)

    reader = threading.Thread(target=read, name="status", daemon=True)
    reader.start()
    reader.join(seconds)
    if not found:
        raise FatalError(
            f"the state store {redact(url)} did not answer within {seconds:g} s "
            "(MLFLOW_SYNCER_STATUS_TIMEOUT)"
        )
    if isinstance(found[0], BaseException):
        raise found[0]
    if found[0] is None:
        raise FatalError(
            f"no state store at {redact(url)}: no mirror has run with it (use --config or --state)"
        )
    return found[0]


def _lock(store: StateStore, now: float) -> dict:
    holder = cycles.lock_holder(store)
    if holder is None:
        return {"held": False, "running": False}
    age = holder.age(now)
    gone = holder.alive is False or (holder.alive is None and age > STALE_AFTER)
    return {
        "held": True,
        "running": not gone,
        "stale": gone,
        "holder": holder.holder,
        "host": holder.host,
        "pid": holder.pid,
        "heartbeat": human.iso(holder.heartbeat),
        "heartbeat_age_seconds": round(age, 1),
    }


def _cycle(row: cycles.CycleRecord | None, now: float) -> dict | None:
    if row is None:
        return None
    out = {"started": human.iso(row.started), "started_age_seconds": round(now - row.started, 1)}
    if row.ended is None:
        return out | {"running_seconds": round(now - row.started, 1)}
    return out | {
        "ended": human.iso(row.ended),
        "ended_age_seconds": round(now - row.ended, 1),
        "seconds": round(row.ended - row.started, 3),
        "ok": bool(row.ok),
        "error": row.error,
        "copied": row.copied,
        "unchanged": row.unchanged,
        "failed": row.failed,
        "conflicts": row.conflicts,
        "deleted": row.deleted,
        "lag_seconds": row.lag,
        "lag_at_scan_seconds": row.lag_at_scan,
        "host": row.host,
        "pid": row.pid,
    }


def _objects(store: StateStore, status: str) -> list[dict]:
    return [
        {"kind": f.kind, "source_id": f.source_id, "attempts": f.attempts, "reason": f.error}
        for f in store.failures()
        if f.status == status
    ]


def _waiting(store: StateStore, in_progress: cycles.CycleRecord | None, now: float) -> dict:
    """What the cycle in progress waits on, as its mirror's monitor noted (`service.watch`)."""
    note = store.get_cursor(WAITING_CURSOR) if in_progress is not None else None
    try:
        found = json.loads(note) if note else None
    except ValueError:
        found = None
    if not found or abs(found.get("cycle_started", 0) - in_progress.started) > 1:
        return {}
    return {
        "waiting_on": found["on"],
        "waiting_op": found["op"],
        "waiting_since": human.iso(found["since"]),
        "waiting_seconds": round(now - found["since"], 1),
    }


def view(store: StateStore, now: float | None = None) -> dict:
    """The status of the mirror behind `store`, as JSON-ready data (times in UTC ISO 8601, ages in
    seconds)."""
    now = now or time.time()
    lock = _lock(store, now)
    latest = next(iter(cycles.last_cycles(store, 1)), None)
    last = cycles.last_finished(store)
    in_progress = (
        latest if latest is not None and latest.ended is None and lock["running"] else None
    )
    next_run = latest.next_run if latest is not None and lock["running"] else None
    pending, quarantined = _objects(store, FAILED), _objects(store, QUARANTINED)
    waiting = _waiting(store, in_progress, now)
    return {
        "tool": "mlflow-syncer",
        "state": redact(store.url),
        "pair": cycles.recorded_pair(store),
        "running": lock["running"],
        "lock": lock,
        "cycle_in_progress": _cycle(in_progress, now) | waiting if in_progress else None,
        "last_cycle": _cycle(last, now),
        "replication_lag_seconds": last.lag if last is not None else None,
        "next_cycle": human.iso(next_run),
        "next_cycle_in_seconds": None if next_run is None else round(next_run - now, 1),
        "objects": cycles.count_by_status(store),
        "pending": {"count": len(pending), "objects": pending},
        "quarantined": {"count": len(quarantined), "objects": quarantined},
        "warnings": _warnings(store),
    }


def _warnings(store: StateStore) -> list[str]:
    """Why the source's listings may be incomplete, and the last mirror cycle's warnings (none from
    a store without the cursor table)."""
    if "cursors" not in store.tables():
        return []
    seen = [w for w in (store.get_cursor(VISIBILITY),) if w]
    return seen + json.loads(store.get_cursor("mirror:warnings") or "[]")


def _lock_line(lock: dict) -> str:
    if not lock["held"]:
        return "stopped: no process holds the lock"
    beat = human.ago(lock["heartbeat_age_seconds"])
    who = f"{lock['holder']!r}, pid {lock['pid']} on {lock['host']}, heartbeat {beat}"
    return (
        f"running: {who}"
        if lock["running"]
        else f"stopped: stale lock of {who} (the process is gone)"
    )


def _last_line(last: dict | None) -> str:
    if last is None:
        return "none recorded"
    result = "ok" if last["ok"] else f"errors: {last['error']}" if last["error"] else "errors"
    return (
        f"ended {last['ended']} ({human.ago(last['ended_age_seconds'])}), took "
        f"{human.duration(last['seconds'])}"
        f": {result}; copied {last['copied']}, unchanged {last['unchanged']}, failed "
        f"{last['failed']}, "
        f"conflicts {last['conflicts']}, deleted {last['deleted']}"
    )


def _listed(section: dict) -> Iterator[str]:
    for o in section["objects"][:LISTED]:
        yield f"    ! {o['kind']} {o['source_id']} (attempts {o['attempts']}): {o['reason']}"
    if section["count"] > LISTED:
        yield f"    ... and {section['count'] - LISTED} more (--format json lists them all)"


def text_lines(v: dict) -> Iterator[str]:
    """The status for people."""
    yield f"mlflow-syncer status of {v['state']}"
    yield f"  pair          {v['pair'] or 'unknown (no writing command has run yet)'}"
    yield f"  mirror        {_lock_line(v['lock'])}"
    if v["cycle_in_progress"]:
        c = v["cycle_in_progress"]
        yield (
            f"  cycle         in progress since {c['started']} "
            f"({human.duration(c['running_seconds'])})"
        )
        if "waiting_on" in c:
            yield (
                f"  waiting       on {c['waiting_on']} ({c['waiting_op']}) since "
                f"{c['waiting_since']} "
                f"({human.duration(c['waiting_seconds'])})"
            )
    yield f"  last cycle    {_last_line(v['last_cycle'])}"
    lag = v["replication_lag_seconds"]
    yield (
        f"  lag           {'unknown' if lag is None else human.duration(lag)} (replication lag "
        f"after the last cycle)"
    )
    nxt = "none: the mirror is not running" if not v["running"] else "not scheduled (--once)"
    if v["next_cycle"]:
        nxt = f"{v['next_cycle']} ({human.ago(-v['next_cycle_in_seconds'])})"
    yield f"  next cycle    {nxt}"
    counts = ", ".join(f"{k} {n:,}" for k, n in sorted(v["objects"].items())) or "none recorded"
    yield f"  objects       {counts}"
    yield (
        f"  pending       {v['pending']['count']} (failed on their last attempt; retried next "
        f"cycle)"
    )
    yield from _listed(v["pending"])
    yield (
        f"  quarantined   {v['quarantined']['count']} (`mlflow-syncer state release` gives them "
        f"another chance)"
    )
    yield from _listed(v["quarantined"])
    for text in v.get("warnings", []):
        yield f"  warning       {text}"
