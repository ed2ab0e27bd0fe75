"""The permissions kind's rows of an exported id map: the principal map and the grants made."""

from __future__ import annotations

from collections.abc import Iterator

from syncer.config import Settings
from syncer.kinds.permissions.grants import REVOKED
from syncer.kinds.permissions.step import principal_map
from syncer.state.store import StateStore


def permission_rows(settings: Settings, store: StateStore | None) -> Iterator[tuple[str, ...]]:
    """With permissions copied: the principal map applied (`principal` rows, source -> destination
    principal; `*` -> the default principal under `unmapped: default`), then each grant this tool
    made (`permission` rows, `type|resource|principal` on both sides, status done or revoked) from
    the state store."""
    if not settings.permissions.enabled:
        return
    pmap = principal_map(settings)
    for source, dest in sorted(pmap.mapping.items()):
        yield ("principal", source, dest, source, "mapped")
    if pmap.unmapped == "default" and pmap.default:
        yield ("principal", "*", pmap.default, "unmapped", "default")
    for r in store.mapped("permission") if store is not None else ():
        status = "revoked" if r.fingerprint == REVOKED else r.status
        yield ("permission", r.source_id, r.dest_id or "", r.name or "", status)
