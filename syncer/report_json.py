"""The JSON diff report: a stable, versioned schema for CI gates (see docs/REPORTS.md)."""

from __future__ import annotations

from syncer.engine import SyncResult

SCHEMA_VERSION = 1


def to_json(result: SyncResult) -> dict:
    """The plan as plain JSON-able data."""
    plan = result.plan
    return {
        "schema_version": SCHEMA_VERSION,
        "in_sync": plan.in_sync,
        "source": result.src.identity if result.src else None,
        "destination": result.dst.identity if result.dst else None,
        "summary": {f"{kind}.{op}": n for (kind, op), n in sorted(plan.counts().items())},
        "objects": [
            {
                "sigil": a.sigil, "kind": a.kind, "op": a.op.value, "label": a.label,
                "source_id": a.source_id, "dest_id": a.dest_id, "details": a.details,
            }
            for a in plan.actions
        ],
    }
