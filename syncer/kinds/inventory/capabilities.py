"""Which ends can hold each inventory kind: the kinds' part of syncer.core.capabilities, looked up
there by kind name (`supports`, `absent_kinds`)."""

from __future__ import annotations

from syncer.core.capabilities import API, Capabilities, KindCaps, declare, supports
from syncer.kinds.inventory.listing import INVENTORY_KINDS, InventoryKind


def _declared(kind: InventoryKind) -> KindCaps:
    if kind.only_on:
        return KindCaps(kind.name, profiles={kind.only_on: {API: True}}, defaults={API: False})
    # Webhooks, the AI gateway, MCP servers, scorers, label schemas, review queues, issues: later
    # MLflow 3.x releases brought them (an MLflow 2.x server holds none); MLflow's legacy file
    # store implements none of them (MlflowNotImplementedException), whatever wrote it. A kind that
    # a listed kind copies (scorers) declares the same itself.
    return KindCaps(kind.name, since=3, absent_from=("file-store",))


DECLARED = tuple(declare(_declared(k)) for k in INVENTORY_KINDS)


def holds(caps: Capabilities, kind: InventoryKind) -> bool:
    """Whether an end of `caps` can hold objects of `kind` (else they are never asked for)."""
    return supports(caps, kind.name)
