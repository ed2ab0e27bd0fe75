"""Scale-out on Ray (`migrate --engine ray`, docs/SCALE_OUT.md). Imported only with `--engine ray`.

The driver plans units: one per source experiment, or, for an experiment above
`scale_out.range_runs` runs, one per start-time range of its runs (syncer.scan.range_cuts:
gap-free and overlap-free, so every run is in exactly one range; a big experiment's cuts from
sampled start times, not from reading every run). Each unit is a Ray task running
the engine pass of `migrate` restricted to its experiment (and range, `PassOptions.run_window`). Ray
schedules the tasks over the cluster's nodes and runs a task again when its worker process or node
dies (`max_retries`). The state store stays the checkpoint: a unit run again plans against what the
destination and the state store hold, and provenance matching (the source run id tag set by
`create_run`) keeps every run copied once. The first range of an experiment runs before its others
(it creates the destination experiment). Every API call of every task draws from one rate budget per
endpoint, a named Ray actor (syncer.engine.ray_budget). Once every unit is finished, the caller runs
the full pass of `migrate` (models, prompts, datasets, the ranged experiments' logged models and
traces, experiments not ranged), where what the units copied plans as `=`. A range unit finds the
destination-only runs of its range itself (those whose start time is in it: every destination run is
in exactly one range); when every range of an experiment ended clean and sure of them
(`range_findings`), the full pass takes them from the units and reads none of its runs again
(`RayTotals.settled_options`); otherwise it reads and plans that experiment's runs as on one
machine.
"""

from __future__ import annotations

import os
import resource
import threading
import time
from collections.abc import Callable, Container
from dataclasses import dataclass, field

import structlog

from syncer.backends.calls import configure_http_retries
from syncer.backends.endpoint import Endpoint
from syncer.config import Settings
from syncer.core.actions import Op
from syncer.core.errors import Cancelled
from syncer.core.windows import Window
from syncer.engine import ray_budget
from syncer.engine.sync import PassOptions, SyncResult, endpoints, open_state, run_pass
from syncer.plan.extra_runs import DELETED, GONE, ExtraCandidate
from syncer.scan import range_cuts
from syncer.scan import runs as run_scanner

log = structlog.get_logger("syncer.engine.ray_units")

NAMESPACE = "mlflow-syncer"
MAX_RETRIES = 3  # a unit whose worker process (or node) died is run again up to this many times


@dataclass(frozen=True)
class Unit:
    """One experiment, or the runs of one experiment that started within `window` (a range)."""

    experiment_id: str
    window: Window | None = None

    @property
    def label(self) -> str:
        """`experiment:ID` or `experiment:ID[lo,hi)` (an empty bound: unbounded)."""
        if self.window is None:
            return f"experiment:{self.experiment_id}"
        lo, hi = ("" if b is None else str(b) for b in self.window)
        return f"experiment:{self.experiment_id}[{lo},{hi})"


@dataclass(frozen=True)
class UnitDone:
    """What one unit's pass did (as the task that finished it reports)."""

    unit: Unit
    created: int
    updated: int
    unchanged: int
    failed: int
    conflicts: int
    pid: int  # the Ray worker process that ran it (the last attempt's)
    failed_keys: tuple[tuple[str, str], ...] = ()  # (kind, source id): failed, conflicting
    peak_mb: float = 0.0  # its worker's peak RSS when the unit ended (it may have run others)
    # a range unit that ended clean and sure of its destination-only runs (`range_findings`): them,
    # and the source ids of those whose source run is deleted
    settled: bool = False
    extras: tuple[ExtraCandidate, ...] = ()
    deleted_sources: tuple[str, ...] = ()


@dataclass
class RayTotals:
    """What every unit did together, and which units failed (as the driver counts them)."""

    units: int = 0
    ranges: int = 0
    done: list[UnitDone] = field(default_factory=list)
    failed_units: list[tuple[str, str]] = field(default_factory=list)  # (unit, why)
    settled: int | None = None  # after the full pass: the units' failed objects it has in sync
    unsettled_units: list[str] = field(default_factory=list)  # failed units whose experiment fails
    planned: list[Unit] = field(default_factory=list)
    settled_experiments: int | None = None  # ranged experiments whose runs the full pass skips

    def total(self, what: str) -> int:
        """Sum of one count (created, updated, unchanged, failed, conflicts) over the finished
        units."""
        return sum(getattr(d, what) for d in self.done)

    def settle(self, result: SyncResult) -> None:
        """Once the full pass has run (it plans every object of every unit again): which of the
        units' failed or conflicting objects it found in sync (`=`) or copied (`settled`), and which
        failed units' experiments still hold an object that failed or conflicts there
        (`unsettled_units`). What still fails is the pass's own to count: not counted twice."""
        failed = {key for d in self.done for key in d.failed_keys}
        ok = {a.key for a in result.plan.actions if a.op is Op.SAME and a.key in failed}
        ok |= {o.action.key for o in result.outcomes if o.ok and o.action.key in failed}
        ok -= {o.action.key for o in result.outcomes if not o.ok}
        self.settled = len(ok)
        bad = {o.action.experiment for o in result.outcomes if not o.ok}
        bad |= {a.experiment for a in result.plan.actions if a.op in (Op.CONFLICT, Op.ERROR)}
        bad |= {
            a.source_id
            for a in result.plan.actions
            if a.kind == "experiment" and a.op in (Op.CONFLICT, Op.ERROR)
        }
        self.unsettled_units = [
            label
            for label, _why in self.failed_units
            if label.split(":", 1)[1].split("[", 1)[0] in bad
        ]

    def settled_options(self) -> dict[str, object]:
        """The full pass's options (`Options.settled_runs`, ...): the ranged experiments whose every
        range unit finished settled (`UnitDone.settled`), and the destination-only runs they found.
        An experiment with a failed or unsure range is not among them: its runs are read again."""
        ranges: dict[str, list[str]] = {}
        for unit in self.planned:
            if unit.window is not None:
                ranges.setdefault(unit.experiment_id, []).append(unit.label)
        done = {d.unit.label: d for d in self.done}
        settled = [
            eid
            for eid, labels in ranges.items()
            if all(label in done and done[label].settled for label in labels)
        ]
        found = [done[label] for eid in settled for label in ranges[eid]]
        extras = {c.run_id: c for d in found for c in d.extras}
        self.settled_experiments = len(settled)
        log.info("units settled", experiments=len(settled), ranged=len(ranges), extras=len(extras))
        return {
            "settled_runs": frozenset(settled),
            "settled_extras": tuple(extras.values()),
            "settled_deleted": frozenset(s for d in found for s in d.deleted_sources),
        }


def range_findings(
    unit: Unit, result: SyncResult, deleted_here: Container[str] = ()
) -> tuple[bool, tuple[ExtraCandidate, ...], tuple[str, ...]]:
    """Whether a range unit's pass settled its runs for the full pass, and the destination-only
    runs it found (with the source ids of those whose source is deleted). Every destination run
    started within one range; the range's pass planned each against the source runs of the range
    (`-` when none explains it). Sure only if it planned nothing but `= + * -`, applied every
    action, kept no run whole for a later kind (prompt links), and each `-` names no source run (not
    created by the syncer) or one it read (deleted): a copy whose source run it did not read may be
    the copy of a run of another range (a start time changed in the destination, or stamped by an
    older syncer): only a pass over the whole experiment can tell, unless that source run is found
    deleted in the experiment (`deleted_here`: `deleted_sources`, read by id, with `deleted: skip`):
    no pass reads it, so the local engine too plans its copy `no longer in the source`."""
    plain = (Op.SAME, Op.CREATE, Op.UPDATE, Op.EXTRA)
    actions = list(result.plan.actions)
    extras = [a for a in actions if a.op is Op.EXTRA]
    sure = (
        unit.window is not None
        and not result.failed
        and not (result.src is not None and result.src.runs)
        and all(a.op in plain for a in actions)
        and all(
            a.kind == "run" and (a.details.get("reason") != GONE or a.source_id in deleted_here)
            for a in extras
        )
    )
    if not sure:
        return False, (), ()
    groups = result.plan.extra_groups
    found = tuple(
        ExtraCandidate(a.dest_id or "", a.label, groups.get(a.dest_id or "", "?"), a.source_id)
        for a in extras
    )
    deleted = tuple(
        a.source_id for a in extras if a.source_id and a.details.get("reason") == DELETED
    )
    return True, found, deleted


def deleted_sources(settings: Settings, src: Endpoint, unit: Unit, result: SyncResult) -> set[str]:
    """Of a range's destination-only runs whose source run it did not read, those whose source run
    is deleted in the unit's experiment (read by id, 100 a search). Only with `deleted: skip`: then
    no pass reads a deleted run, and its copy is `no longer in the source` on one machine too."""
    ids = {
        a.source_id
        for a in result.plan.actions
        if a.op is Op.EXTRA and a.source_id and a.details.get("reason") == GONE
    }
    if not ids or unit.window is None or settings.deleted != "skip":
        return set()
    found = run_scanner.fetch_runs(src, [unit.experiment_id], ids)
    return {r.run_id for r in found if r.deleted}


def plan_units(settings: Settings, src: Endpoint, dst: Endpoint) -> list[Unit]:
    """The units of a pass: each selected source experiment whole, or cut into start-time ranges
    where both ends read runs by start time (`Capabilities.run_windows`: a range is read on each end
    with a start-time filter, and its copies keep their source's start time; Azure ML: whole)."""
    deleted = settings.deleted == "mirror"
    snap = run_scanner.scan_experiments(src, settings.experiments, include_deleted=deleted)
    ranged = src.caps.run_windows and dst.caps.run_windows
    units: list[Unit] = []
    for eid in sorted(snap.experiments, key=_numeric_first):
        if not ranged:
            units.append(Unit(eid))
            continue
        ranges = range_cuts.start_ranges(src, eid, deleted, settings.scale_out.range_runs)
        units += [Unit(eid, None if r == (None, None) else r) for r in ranges]
    return units


def _numeric_first(experiment_id: str) -> tuple[int, str]:
    return (int(experiment_id), "") if experiment_id.isdigit() else (0, experiment_id)


def _unit_task(settings: Settings, unit: Unit, *_after: object) -> UnitDone:
    """Run one unit's pass in a Ray worker (`_after`: units this one waits for, by Ray's
    dependencies)."""
    configure_http_retries()
    src, dst = endpoints(settings)
    ray_budget.share(src, dst)
    state = open_state(settings, src, dst, read_only=False)
    try:
        result = run_pass(
            settings,
            src,
            dst,
            state,
            PassOptions(experiment_ids=frozenset({unit.experiment_id}), run_window=unit.window),
        )
        gone = deleted_sources(settings, src, unit, result)
    finally:
        state.close()
    settled, extras, deleted = range_findings(unit, result, gone)
    ok = [o for o in result.outcomes if o.ok]
    keys = {o.action.key for o in result.failed}
    keys |= {a.key for a in result.plan.actions if a.op in (Op.CONFLICT, Op.ERROR)}
    return UnitDone(
        unit=unit,
        created=sum(1 for o in ok if o.action.op is Op.CREATE),
        updated=sum(1 for o in ok if o.action.op is Op.UPDATE),
        unchanged=sum(1 for a in result.plan.actions if a.op is Op.SAME),
        failed=len(result.failed),
        conflicts=sum(1 for a in result.plan.actions if a.op in (Op.CONFLICT, Op.ERROR)),
        pid=os.getpid(),
        failed_keys=tuple(sorted(keys)),
        peak_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        settled=settled,
        extras=extras,
        deleted_sources=deleted,
    )


def connect(address: str | None) -> None:
    """Join the Ray cluster at `address` (None: RAY_ADDRESS, else a local one started for this
    command)."""
    import ray  # only with --engine ray

    if not ray.is_initialized():
        ray.init(address=address, namespace=NAMESPACE, log_to_driver=False, configure_logging=False)


def run_units(
    settings: Settings,
    src: Endpoint,
    dst: Endpoint,
    stop: threading.Event | None = None,
    on_done: Callable[[UnitDone, int, int], None] | None = None,
) -> RayTotals:
    """Plan the units, run them as Ray tasks, and count what each did as it finishes (`on_done(done,
    finished, units)`). The caller holds the state store's writer lock and runs the full pass
    afterwards."""
    import ray  # only with --engine ray

    connect(settings.scale_out.ray_address)
    ray_budget.create(src, dst)  # held by the driver: the budgets live as long as the command
    planning = time.monotonic()
    units = plan_units(settings, src, dst)
    totals = RayTotals(
        units=len(units), ranges=sum(1 for u in units if u.window is not None), planned=units
    )
    log.info(
        "units planned",
        units=totals.units,
        ranges=totals.ranges,
        seconds=round(time.monotonic() - planning, 1),
    )
    task = ray.remote(max_retries=MAX_RETRIES, retry_exceptions=False)(_unit_task)
    pending = _submit(task, settings, units)
    labels = {ref: unit.label for ref, unit in pending.items()}
    started = time.monotonic()
    while pending:
        if stop is not None and stop.is_set():
            for ref in pending:
                ray.cancel(ref)
            raise Cancelled("stopped while units ran on Ray")
        ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
        for ref in ready:
            pending.pop(ref)
            _collect(ref, labels[ref], totals)
            if on_done is not None and totals.done and totals.done[-1].unit.label == labels[ref]:
                on_done(totals.done[-1], len(totals.done) + len(totals.failed_units), totals.units)
    log.info(
        "units finished",
        seconds=round(time.monotonic() - started, 1),
        done=len(totals.done),
        failed=len(totals.failed_units),
    )
    return totals


def _submit(task: object, settings: Settings, units: list[Unit]) -> dict[object, Unit]:
    """Submit every unit; an experiment's first range first, its other ranges once it has
    finished."""
    refs: dict[object, Unit] = {}
    first: dict[str, object] = {}
    for unit in units:
        after = (
            () if unit.window is None or unit.window[0] is None else (first[unit.experiment_id],)
        )
        ref = task.remote(settings, unit, *after)  # type: ignore[attr-defined]
        if unit.window is not None and unit.window[0] is None:
            first[unit.experiment_id] = ref
        refs[ref] = unit
    return refs


def _collect(ref: object, label: str, totals: RayTotals) -> None:
    """Add a finished task's counts; a task that failed (after Ray's retries) fails its unit, the
    rest go on."""
    import ray  # only with --engine ray

    try:
        done: UnitDone = ray.get(ref)
    except ray.exceptions.RayError as exc:
        why = str(exc).strip().splitlines()[-1][:300] if str(exc).strip() else type(exc).__name__
        log.warning("unit failed", unit=label, error=why)
        totals.failed_units.append((label, why))
        return
    log.info(
        "unit done",
        unit=label,
        pid=done.pid,
        peak_mb=done.peak_mb,
        created=done.created,
        failed=done.failed,
    )
    totals.done.append(done)
