"""The pure planner: (source snapshot, destination snapshot, state view) -> a list of actions.

Nothing here performs I/O. A dry run is this plan; a diff report is this plan rendered; the executor
applies exactly these actions.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass

from syncer.core.actions import Action, Op, Plan
from syncer.core.capabilities import Capabilities
from syncer.core.fitting import fit_run
from syncer.core.snapshot import (
    TAG_FINGERPRINT,
    TAG_SOURCE_RUN_ID,
    RunSnap,
    Snapshot,
    comparable,
    fingerprint,
    retired,
    user_tags,
)
from syncer.core.windows import Window
from syncer.plan.copies import split_copies
from syncer.plan.experiments import plan_experiments, plannable_experiments
from syncer.plan.extra_runs import ExtraCandidate, extra_candidates, plan_extra_runs


@dataclass(frozen=True)
class Options:
    """What the user asked for and what one pass covers: built once per pass (syncer.engine.sync),
    read by every kind's steps and the planners."""

    deleted: str = "skip"
    delete_extra: bool = False
    # mirror: revisit RUNNING runs changed since this time (ms) every cycle: artifacts are not
    # fingerprinted
    follow_running_since: int | None = None
    quarantined: frozenset[tuple[str, str]] = frozenset()
    # mirror: the kinds read only from their cursors this cycle (syncer.core.cycle_options)
    incremental: frozenset[str] = frozenset()
    # mirror: read only the runs that ended at or after this time (ms) or are RUNNING
    # (syncer.kinds.runs.stream)
    runs_since: int | None = None
    # a scale-out unit: only these source experiments (exact ids)
    experiment_ids: frozenset[str] | None = None
    # a range unit: only the runs of one experiment started within it
    run_window: Window | None = None
    # after Ray units: experiments whose runs their range units settled (none of them read again),
    # the destination-only runs those units found, and which of those runs' sources are deleted
    settled_runs: frozenset[str] = frozenset()
    settled_extras: tuple[ExtraCandidate, ...] = ()
    settled_deleted: frozenset[str] = frozenset()


def make_plan(
    src: Snapshot,
    dst: Snapshot,
    dest_names: dict[str, str],
    caps: Capabilities,
    options: Options | None = None,
) -> Plan:
    """Plan a sync of `src` into `dst`. `dest_names` maps source experiment ids to destination
    names."""
    options = options or Options()
    actions = plan_experiments(src, dst, dest_names, caps, options.quarantined)
    actions.extend(plan_runs(src, dst, caps, options, plannable_experiments(actions)))
    return Plan(actions=actions, dest_names=dest_names)


def _depths(runs: dict[str, RunSnap]) -> dict[str, int]:
    depth: dict[str, int] = {}
    for run_id in runs:
        chain, cur = [], run_id
        while cur in runs and cur not in depth and cur not in chain:
            chain.append(cur)
            cur = runs[cur].parent_id or ""
        base = depth.get(cur, -1) if cur in runs else -1
        for i, rid in enumerate(reversed(chain)):
            depth[rid] = base + 1 + i
    return depth


def plan_runs(
    src: Snapshot,
    dst: Snapshot,
    caps: Capabilities,
    options: Options,
    planned_experiments: set[str | None],
    extras: bool = True,
    linked: Container[str] = (),
    to_source: dict[str, str] | None = None,
) -> list[Action]:
    """Runs of the plannable experiments, parents first, then destination runs no source run
    explains.

    When runs are planned a chunk of experiments at a time (syncer.kinds.runs.stream), `linked`
    holds the source runs of other chunks that have or get a copy, `to_source` the source ids of
    destination copies in other chunks, and `extras=False` leaves the destination-only runs to
    `plan_extra_runs` at the end.
    """
    wanted = {
        rid: r
        for rid, r in src.runs.items()
        if r.experiment_id in planned_experiments and (options.deleted == "mirror" or not r.deleted)
    }
    dest_copies = copies_by_source(dst)
    local = {
        r.run_id: sid for sid, copies in dest_copies.items() for r in copies if not retired(r.tags)
    }
    to_source = {**(to_source or {}), **local}
    depths = _depths(wanted)
    here = set(wanted) | {
        sid for sid, copies in dest_copies.items() if any(not c.deleted for c in copies)
    }
    actions = [
        _plan_run(
            run,
            dest_copies.get(rid, []),
            to_source,
            caps,
            options,
            depths[rid],
            src,
            run.parent_id if run.parent_id in here or run.parent_id in linked else None,
        )
        for rid, run in sorted(
            wanted.items(), key=lambda kv: (depths[kv[0]], kv[1].start_time or 0, kv[0])
        )
    ]
    if extras:
        known = {rid: r.deleted for rid, r in src.runs.items()}
        actions.extend(
            plan_extra_runs(extra_candidates(dst, local, set(wanted)), options.delete_extra, known)
        )
    return actions


def copies_by_source(dst: Snapshot) -> dict[str, list[RunSnap]]:
    """Destination runs carrying a source run id, by that id."""
    dest_copies: dict[str, list[RunSnap]] = {}
    for r in dst.runs.values():
        if TAG_SOURCE_RUN_ID in r.tags:
            dest_copies.setdefault(r.tags[TAG_SOURCE_RUN_ID], []).append(r)
    return dest_copies


def _plan_run(
    run: RunSnap,
    copies: list[RunSnap],
    to_source: dict[str, str],
    caps: Capabilities,
    options: Options,
    depth: int,
    src: Snapshot,
    parent: str | None,
) -> Action:
    expected = comparable(run, parent)
    fitted = fit_run(expected["params"], expected["tags"], list(expected["metrics"]), caps)
    expected.update(
        params=fitted.params,
        tags=fitted.tags,
        metrics={k: expected["metrics"][k] for k in fitted.metrics},
    )
    action = _decide_run(run, expected, copies, to_source, options, depth, src)
    if fitted.notes:
        action.details["policy"] = fitted.notes
    return action


def _decide_run(
    run: RunSnap,
    expected: dict,
    copies: list[RunSnap],
    to_source: dict[str, str],
    options: Options,
    depth: int,
    src: Snapshot,
) -> Action:
    fp = fingerprint(expected)
    exp = src.experiments[run.experiment_id]
    base = dict(
        kind="run",
        label=f"{exp.name}/{run.name or run.run_id}",
        source_id=run.run_id,
        experiment=run.experiment_id,
        depth=depth,
        fingerprint=fp,
    )
    if ("run", run.run_id) in options.quarantined:
        return Action(
            op=Op.ERROR, details={"reason": "quarantined after repeated failures"}, **base
        )
    copies, duplicates = split_copies(copies)
    # a live copy set aside before its deletion landed: deleted once the new one exists
    if not copies:
        extra = {"duplicates": duplicates} if duplicates else {}
        return Action(op=Op.CREATE, details={**_create_details(run), **extra}, **base)
    if len(copies) > 1:
        return Action(
            op=Op.CONFLICT,
            dest_id=copies[0].run_id,
            details={
                "reason": f"{len(copies)} copies in the destination",
                "dest_ids": sorted(c.run_id for c in copies),
            },
            **base,
        )
    return _against_copy(run, copies[0], expected, to_source, options, duplicates, base)


def _against_copy(
    run: RunSnap,
    dest: RunSnap,
    expected: dict,
    to_source: dict[str, str],
    options: Options,
    duplicates: list[str],
    base: dict,
) -> Action:
    """The action of a run with one live copy: same, update (resume, changed, followed) or
    conflict."""
    fp = base["fingerprint"]
    base["dest_id"] = dest.run_id
    if dest.deleted and not run.deleted:
        return Action(op=Op.CONFLICT, details={"reason": "deleted in the destination"}, **base)
    actual = comparable(dest, to_source.get(dest.parent_id or "", dest.parent_id))
    diff = _run_diff(expected, actual)
    if run.deleted and not dest.deleted:
        diff["delete"] = True
    marker = dest.tags.get(TAG_FINGERPRINT)
    if duplicates:
        diff["duplicates"] = duplicates
    if not diff and marker == fp:
        since = options.follow_running_since
        if since is not None and run.status == "RUNNING" and (run.last_change or 0) >= since:
            return Action(op=Op.UPDATE, details={"follow": True}, **base)
        return Action(op=Op.SAME, **base)
    if marker == fp and diff and not diff.keys() <= {"delete", "duplicates"}:
        return Action(
            op=Op.CONFLICT, details={"reason": "edited in the destination", **diff}, **base
        )
    if marker is None:
        diff["resume"] = True
    return Action(op=Op.UPDATE, details=diff, **base)


def _create_details(run: RunSnap) -> dict:
    return {
        "params": len(run.params),
        "tags": len(user_tags(run.tags)),
        "metrics": sorted(run.metrics),
        "status": run.status,
        **({"delete": True} if run.deleted else {}),
    }


def _run_diff(expected: dict, actual: dict) -> dict:
    diff: dict = {}
    for field_name in ("name", "status", "start_time", "end_time", "parent"):
        if expected[field_name] != actual[field_name]:
            diff.setdefault("fields", []).append(field_name)
    for section in ("params", "tags", "metrics"):
        want, have = expected[section], actual[section]
        missing = sorted(k for k in want if k not in have)
        changed = sorted(k for k in want if k in have and have[k] != want[k])
        if missing:
            diff[f"{section}_missing"] = missing
        if changed:
            diff[f"{section}_changed"] = changed
    if expected["inputs"] != actual["inputs"]:
        diff["inputs"] = True
    return diff
