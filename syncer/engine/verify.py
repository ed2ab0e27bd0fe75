"""`--verify`: find what the fast plan cannot see and turn it into repairs.

The fast plan compares what search_runs returns, so an artifact added to a finished run, or a metric
point logged below the latest step, leaves a run looking in sync. Verification inspects every run
that looks in sync (every metric point, every artifact checksum; read-only, see
syncer.engine.deep_compare) and plans an update with a full re-check for each one found different.
"""

from __future__ import annotations

from dataclasses import replace

from syncer.backends.endpoint import Endpoint
from syncer.core.actions import Op, Plan
from syncer.core.snapshot import Snapshot
from syncer.engine.deep_compare import Inspection, inspect_plan
from syncer.state.store import StateStore

WRITE_ONCE = (
    "artifact files differ in the destination, which keeps artifacts write-once: they cannot be "
    "replaced; delete the run's copy to copy it again"
)


def repair_plan(plan: Plan, inspection: Inspection, write_once: bool = False) -> Plan:
    """The plan with every run that inspection found different turned into a full-check update
    (pure). On a destination whose artifacts are write-once, a run with files of other bytes is a
    conflict instead: a repair would be refused on every pass."""
    actions = []
    for action in plan.actions:
        if action.key in inspection.differs:
            details = {
                k: v for k, v in inspection.details.get(action.key, {}).items() if k != "note"
            }
            if write_once and details.get("artifacts_checksum_differs"):
                action = replace(action, op=Op.CONFLICT, details={**details, "reason": WRITE_ONCE})
            else:
                action = replace(
                    action, op=Op.UPDATE, details={**details, "resume": True, "repair": True}
                )
        actions.append(action)
    return replace(plan, actions=actions)


def verify(
    plan: Plan,
    src: Endpoint,
    dst: Endpoint,
    src_snap: Snapshot,
    dst_snap: Snapshot,
    state: StateStore,
    workers: int,
) -> Plan:
    """Inspect every run planned `=` deeply and return the plan with repairs for those that
    differ."""
    same = replace(plan, actions=[a for a in plan.actions if a.kind == "run" and a.op is Op.SAME])
    inspection = inspect_plan(same, src, dst, src_snap, dst_snap, state, deep=True, workers=workers)
    return repair_plan(plan, inspection, dst.caps.artifacts_write_once)
