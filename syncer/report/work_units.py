"""The scale-out section of `mlflow-syncer status`: per job, its work units pending, leased (holder, lease end),
done and failed (docs/SCALE_OUT.md).

A running unit whose lease has ended belongs to a worker that stopped without handing it back: the next claim
takes it over (`lease ended`). `view` returns JSON-ready data listing every unit; `text_lines` counts each
status and lists the leased, lease-ended and failed units.
"""

from __future__ import annotations

from collections.abc import Iterator

from syncer.report import human
from syncer.state import leases
from syncer.state.store import StateStore

LISTED = 20  # units listed per job in text (JSON lists them all)
STATES = ("pending", "leased", "lease_ended", "done", "failed")


def _state(unit: leases.WorkUnit, now: float) -> str:
    if unit.status == leases.RUNNING:
        return "leased" if (unit.lease_until or 0) >= now else "lease_ended"
    return unit.status


def _unit(unit: leases.WorkUnit, now: float) -> dict:
    running = unit.status == leases.RUNNING
    return {"unit": unit.unit, "state": _state(unit, now), "holder": unit.owner if running else None,
            "lease_until": human.iso(unit.lease_until) if running else None,
            "lease_left_seconds": round(unit.lease_until - now, 1) if running and unit.lease_until else None,
            "attempts": unit.attempts, "error": unit.error}


def view(store: StateStore, now: float) -> list[dict]:
    """Every scale-out job of the store with its units (times in UTC ISO 8601, seconds left on each lease)."""
    out = []
    for job in leases.jobs(store):
        units = [_unit(u, now) for u in leases.units(store, job.job)]
        counts = dict.fromkeys(STATES, 0)
        for u in units:
            counts[u["state"]] += 1
        out.append({"job": job.job, "round": leases.job_round(store, job.job), "seeded": human.iso(job.created),
                    "seeded_by": job.seeded_by, "counts": counts, "units": units})
    return out


def _unit_line(u: dict) -> str:
    if u["state"] == "failed":
        return f"    ! {u['unit']} failed (attempts {u['attempts']}): {u['error']}"
    left = u["lease_left_seconds"]
    if u["state"] == "leased":
        return f"    {u['unit']} leased by {u['holder']} until {u['lease_until']} ({human.ago(-left)})"
    return (f"    {u['unit']} lease of {u['holder']} ended {u['lease_until']} ({human.ago(-left)}): "
            "the next claim takes it over")


def text_lines(work: list[dict]) -> Iterator[str]:
    """The scale-out jobs for people: one line per job, then its leased, lease-ended and failed units."""
    if not work:
        yield "  work units    none (no scale-out worker has used this state store)"
        return
    for job in work:
        counts = ", ".join(f"{state.replace('_', ' ')} {n}" for state, n in job["counts"].items())
        yield f"  work units    job '{job['job']}' round {job['round']} (seeded {job['seeded']}): {counts}"
        shown = [u for u in job["units"] if u["state"] in ("leased", "lease_ended", "failed")]
        yield from (_unit_line(u) for u in shown[:LISTED])
        if len(shown) > LISTED:
            yield f"    ... and {len(shown) - LISTED} more (--format json lists them all)"
