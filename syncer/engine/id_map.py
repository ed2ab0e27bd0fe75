"""The id map: which destination object copies which source object, read from the state store
(streamed) or rebuilt from the destination's provenance tags by the planner (read-only: nothing is
written anywhere)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass

from syncer.backends.auth import check as check_auth
from syncer.backends.endpoint import Endpoint
from syncer.config import Settings
from syncer.core.actions import Action, Op, Plan
from syncer.core.errors import FatalError
from syncer.core.model_snapshot import dest_version_ref
from syncer.core.redact import redact
from syncer.engine.sync import scan_and_plan
from syncer.kinds import registry
from syncer.kinds.registry import COPIED as KINDS
from syncer.state.store import DONE, IN_PROGRESS, StateStore

FIELDS = ("kind", "source_id", "dest_id", "name", "status", "source", "destination")


@dataclass(frozen=True)
class IdRow:
    """One source object and its destination copy. Model versions are 'name/number' on both sides;
    `name` is the object as reports name it (destination experiment, 'experiment/run', model,
    'model/v<n>')."""

    kind: str
    source_id: str
    dest_id: str
    name: str
    status: str
    source: str
    destination: str

    def as_dict(self) -> dict[str, str]:
        """The row as FIELDS -> value."""
        return asdict(self)


def kinds_in_order(kinds: Iterable[str] | None) -> list[str]:
    """The kinds asked for (all when None), in dependency order."""
    wanted = set(kinds or [k.name for k in KINDS])
    return [k.name for k in KINDS if k.name in wanted]


def mapped_actions(plan: Plan) -> Iterator[tuple[Action, str, str]]:
    """Every planned object that has a destination copy: (action, status, destination id as the
    state store keeps it). In sync: done; anything else: in progress (the next pass completes
    it)."""
    for a in plan.actions:
        if a.source_id is None or a.dest_id is None:
            continue
        ref = dest_version_ref(a) if a.kind == "model_version" else a.dest_id
        yield a, DONE if a.op is Op.SAME else IN_PROGRESS, ref


def from_state(
    store: StateStore, src: Endpoint, dst: Endpoint, kinds: Iterable[str] | None = None
) -> Iterator[IdRow]:
    """The map the state store holds, kind by kind, streamed. Refuses a store of another
    source/destination."""
    if store.engine is None:
        raise FatalError(
            f"no state store at {redact(store.url)}: give --state, or read the map from the "
            "destination with --from-destination"
        )
    pair = store.recorded_pair()
    if pair is not None and pair not in (store.pair, *store.former_pairs):
        raise FatalError(
            f"state store {redact(store.url)} belongs to another sync ({pair}); use another --state"
        )
    for kind in kinds_in_order(kinds):
        for r in store.mapped(kind):
            yield IdRow(
                kind,
                r.source_id,
                r.dest_id or "",
                r.name or "",
                r.status,
                src.identity,
                dst.identity,
            )


def from_destination(
    settings: Settings, src: Endpoint, dst: Endpoint, kinds: Iterable[str] | None = None
) -> Iterator[IdRow]:
    """The map read from the destination's provenance tags (the scan and plan of `state rebuild`, no
    state store), in the order of `from_state`."""
    check_auth(src)
    check_auth(dst)
    _, _, plan = scan_and_plan(settings, src, dst, None)
    order = {k: i for i, k in enumerate(kinds_in_order(kinds))}
    rows = [
        IdRow(a.kind, a.source_id or "", ref, a.label, status, src.identity, dst.identity)
        for a, status, ref in mapped_actions(plan)
        if a.kind in order
    ]
    yield from sorted(rows, key=lambda r: (order[r.kind], r.source_id))


def kind_rows(
    settings: Settings, store: StateStore | None, src: Endpoint, dst: Endpoint
) -> Iterator[IdRow]:
    """The rows the kinds add to the id map (`Kind.id_rows`: the principal map and the grants made,
    when permissions are copied)."""
    for row in registry.id_rows(settings, store):
        yield IdRow(*row, src.identity, dst.identity)
