"""Everything an applier needs, in one object handed down the call chain."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from syncer.backends.endpoint import Endpoint
from syncer.backends.metric_history import HistoryReader
from syncer.core.errors import Cancelled
from syncer.core.model_snapshot import ModelOptions
from syncer.core.snapshot import Snapshot
from syncer.state.store import StateStore


@dataclass
class Context:
    """The two ends, their snapshots, the state store and the id map built while applying."""

    src: Endpoint
    dst: Endpoint
    src_snap: Snapshot
    dst_snap: Snapshot
    state: (
        StateStore | None
    )  # None: `restore`, which has no state store (traces are matched by provenance)
    id_map: dict[tuple[str, str], str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    model_options: ModelOptions = field(default_factory=ModelOptions)
    stop: threading.Event | None = None
    history: HistoryReader | None = None  # source histories batched across runs (set by apply)

    def map_id(self, kind: str, source_id: str, dest_id: str) -> None:
        with self.lock:
            self.id_map[(kind, source_id)] = dest_id

    def dest_id(self, kind: str, source_id: str | None) -> str | None:
        if source_id is None:
            return None
        with self.lock:
            return self.id_map.get((kind, source_id))

    def guard(self) -> None:
        """The shutdown gate: every mutation of the destination or the state passes here.

        A dry run never gets this far: it builds no Context and opens the state store read-only.
        """
        if self.stop is not None and self.stop.is_set():
            raise Cancelled("shutting down")
