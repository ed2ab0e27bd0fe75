"""How an object kind is named, as plain data: its `Action.kind`, report plural and provenance tag.

Each kind package declares its `KindInfo`s in its `Kind` record; `syncer.kinds.registry` lists the
kinds and records their names here (`known`), so that modules below it (planners' `!` rows,
warnings) can name any kind in words through `plural`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class KindInfo:
    """One object kind: its `Action.kind`, its name in reports, and the destination tag naming its
    source.

    `capability` names the kind whose API an end must have to hold objects of this kind
    (`syncer.core.capabilities.supports`; None: every end can). Kinds never copied have no
    provenance tag ("").
    """

    name: str
    plural: str
    provenance_tag: str = ""
    capability: str | None = None
    # counted and reported, not copied (until a kind that copies it is listed)
    inventoried: bool = False


BY_NAME: dict[
    str, KindInfo
] = {}  # every kind the registry lists, in its order (syncer.kinds.registry)


def known(infos: Iterable[KindInfo]) -> None:
    """Record the kinds' names (the registry calls this once, at import)."""
    BY_NAME.update((k.name, k) for k in infos)


def copied(kind: str) -> bool:
    """Whether a listed kind copies objects of `kind` (the inventory then stops counting them)."""
    info = BY_NAME.get(kind)
    return info is not None and not info.inventoried


def plural(kind: str) -> str:
    """How reports name several objects of `kind` (else `kind` + s, in words)."""
    info = BY_NAME.get(kind)
    return info.plural if info else kind.replace("_", " ") + "s"
