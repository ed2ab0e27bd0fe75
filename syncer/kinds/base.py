"""What a kind is to the engine: a frozen `Kind` record naming its objects, its dependencies and its
steps, and the typed values its steps take and return.

A pass's inputs are one frozen `Job` (settings, both ends, state store, options), built once. What
the steps so far established is one frozen `Known` (both snapshots, destination experiment names,
the experiments that may be planned, the source runs that have or get a copy, the filters that
matched nothing), handed explicitly from step to step. The steps are named functions:
`scan(job, known) -> Known` fills the kind's part of both snapshots (`Snapshot.parts`) and returns
what the next steps read; `plan(job, known, out) -> Planned` returns the kind's actions from its
pure planner (the run step hands its chunks to `out.emit` as it goes); `apply(ctx, actions, units)`
applies them (each action one `Units.run`); `finish` runs after every kind was applied (experiment
deletions wait for their runs); `archiver` writes the kind's objects a destination cannot hold into
the archive and restores them. `after` names the kinds whose steps must run first; the registry
orders kinds by it.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

from syncer.apply.context import Context
from syncer.apply.units import Units
from syncer.backends.classify import describe
from syncer.backends.endpoint import Endpoint
from syncer.config import Settings
from syncer.core.actions import Action, Plan, runs_named
from syncer.core.archive import Archiver
from syncer.core.errors import FatalError
from syncer.core.kinds import KindInfo
from syncer.core.snapshot import Snapshot
from syncer.core.windows import Window
from syncer.plan.runs import Options
from syncer.state.store import StateStore

if TYPE_CHECKING:
    from syncer.kinds.runs.stream import RunStream

WORKSPACE = "workspace"  # planned by full passes only
# also by a scale-out unit restricted to some experiments (syncer.engine.ray_units)
EXPERIMENT = "experiment"
RANGE = "range"  # also by a range unit: one experiment's runs within a start-time range


@dataclass(frozen=True)
class Job:
    """One pass's inputs, built once and never changed: the settings, both ends, the state store
    (None: nothing quarantined, nothing recorded) and the pass's options."""

    settings: Settings
    src: Endpoint
    dst: Endpoint
    state: StateStore | None
    options: Options


@dataclass(frozen=True)
class Known:
    """What the steps so far established, the input of the next step.

    Each scan fills its kind's part of both snapshots (`Snapshot.parts`); the experiment step
    replaces the snapshots and sets `dest_names`, the run step narrows `plannable` and sets
    `copied_runs`; a scan whose filter matches nothing adds to `unmatched`."""

    src_snap: Snapshot
    dst_snap: Snapshot
    dest_names: Mapping[str, str] = field(default_factory=dict)  # source experiment -> dest name
    plannable: AbstractSet[str | None] = frozenset()  # source experiments not in error
    copied_runs: Container[str] = frozenset()  # source runs that have or get a copy
    unmatched: tuple[str, ...] = ()  # the user's filters that matched nothing


@dataclass(frozen=True)
class Planned:
    """A plan step's output: its actions (the run step emits its own, chunk by chunk), what the
    next steps read, and what the plan and the apply pass keep of the run step."""

    actions: list[Action]
    known: Known
    stream: RunStream | None = None  # the run step's stream: facts and runs kept for applying
    extra_groups: Mapping[str, str] = field(default_factory=dict)  # dest-only run -> experiment


OnChunk = Callable[[list[Action], Snapshot, Snapshot], list[Action]]


class Emitter:
    """Where one kind's planned actions go: each call one segment of the plan, named by the kind.

    `on_chunk(actions, src, dst)` sees each non-empty chunk with the snapshots it was planned from
    and returns the actions the plan keeps (verify repairs, dry-run inspection)."""

    def __init__(self, plan: Plan, kind: str, on_chunk: OnChunk | None = None) -> None:
        self.plan, self.kind, self.on_chunk = plan, kind, on_chunk

    def emit(
        self,
        actions: list[Action],
        experiments: tuple[str, ...] | None,
        src: Snapshot,
        dst: Snapshot,
        window: Window | None = None,
    ) -> None:
        """Add `actions`, planned from `src` and `dst` (a chunk of `experiments`, or of a
        start-time `window` of one), to the plan."""
        if self.on_chunk is not None and actions:
            actions = self.on_chunk(actions, src, dst)
        if experiments:
            wanted = runs_named(actions)
            self.plan.held.keep(len(self.plan.segments), wanted, src.runs, dst.runs)
        self.plan.add(actions, self.kind, experiments, window)


Applier = Callable[[Context, list[Action], Units], None]
Scan = Callable[[Job, Known], Known]
PlanStep = Callable[[Job, Known, Emitter], Planned]


def apply_nothing(ctx: Context, actions: list[Action], units: Units) -> None:
    """Kinds that are counted and reported, never copied."""


@dataclass(frozen=True)
class Kind:
    """One kind (or one family of kinds read by the same searches, such as models and their
    versions).

    `objects` are the `Action.kind` values its planner emits, with their report plurals, provenance
    tags and capability fields; `name` names the kind in `after` and in plan segments.
    """

    name: str
    objects: tuple[KindInfo, ...]
    scan: Scan
    plan: PlanStep
    apply: Applier = apply_nothing
    finish: Applier | None = None
    after: tuple[str, ...] = ()
    scope: str = WORKSPACE
    archiver: Archiver | None = None  # `unsupported: archive` and `restore` (syncer.engine.archive)
    # The source runs whose copies the kind's applier looks up by id (kept in the id map while
    # applying).
    linked_runs: Callable[[Snapshot], Iterable[str]] | None = None
    # The source -> destination principal names it maps; the destination's `mlflow.user` follows.
    principals: Callable[[Settings], Mapping[str, str]] | None = None
    # `check-config`: what is wrong with the kind's own settings (config file paths; the
    # destination, None when offline), one line each.
    checks: Callable[[Settings, str | None, Endpoint | None], list[str]] | None = None
    # `state export`: rows the kind adds to the id map (kind, source id, destination id, name,
    # status), from the settings and the state store (None: read from the destination).
    id_rows: Callable[[Settings, StateStore | None], Iterable[tuple[str, ...]]] | None = None
    # It writes nothing and no kind reads what it finds: a pass that applies plans it while
    # applying (syncer.engine.beside); such kinds come last.
    beside_apply: bool = False

    @property
    def names(self) -> tuple[str, ...]:
        """The `Action.kind` values of this kind."""
        return tuple(o.name for o in self.objects)


def reading(endpoint: Endpoint, what: str, read: Callable[[], object]) -> object:
    """Run a scan read; any failure but a fatal one becomes fatal, naming the side that was read."""
    try:
        return read()
    except FatalError:
        raise
    except Exception as exc:
        raise FatalError(f"cannot read the {what} ({endpoint.identity}): {describe(exc)}") from None


def unmatched(job: Job, known: Known, flag: str, patterns: list[str], names: list[str]) -> Known:
    """`known` noting each of the user's patterns (a bare `*` aside) that matches none of the
    source's `names`."""
    return replace(
        known,
        unmatched=known.unmatched
        + tuple(
            f"--{flag} {p!r} matches no {flag[:-1]} in the source ({job.src.identity})"
            for p in patterns
            if p != "*" and not any(fnmatchcase(n, p) for n in names)
        ),
    )
