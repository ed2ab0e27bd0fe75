"""The objects a sync could not bring in line, one line each: conflicts, failures, quarantined
objects."""

from __future__ import annotations

from syncer.core.actions import Op
from syncer.engine.sync import SyncResult
from syncer.report.diff_summary import notes
from syncer.report.text import note_line, uncopied_line
from syncer.state.store import QUARANTINED


def problem_lines(result: SyncResult) -> list[str]:
    """`! kind label: what: why` for every conflict, planning error, failed or quarantined object,
    and `! traces 3 (group) [why]` for source objects not copied; then each standing limit once, as
    a note."""
    out = []
    limits = []
    for a in result.plan.actions:
        if a.unlisted:
            limits.append(a)
            continue
        if a.op is Op.CONFLICT:
            out.append(f"! {a.kind} {a.label}: conflict: {a.details.get('reason', 'differs')}")
        elif a.op is Op.ERROR:
            reason = a.details.get("reason", "error")
            what = "quarantined" if "quarantined" in reason else "not copied"
            out.append(f"! {a.kind} {a.label}: {what}: {reason}")
        elif a.op is Op.UNCOPIED:
            d = a.details
            out.append(uncopied_line(a.kind, d.get("count"), d.get("reason", ""), d.get("group")))
    for o in result.failed:
        what = "quarantined" if o.status == QUARANTINED else "failed"
        out.append(f"! {o.action.kind} {o.action.label}: {what}: {o.error}")
    return out + [note_line(n["kind"], n["note"], n["group"]) for n in notes(limits)]
