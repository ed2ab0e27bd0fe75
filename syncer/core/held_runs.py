"""The runs the first chunks of a plan name, kept from planning for applying.

Applying reads a chunk's runs again from both sides (syncer.engine.apply_pass), so that a plan of a
million runs holds none of them. The first chunks' runs are still in hand when they are planned:
while a small budget of runs lasts, those the chunk's writes name are kept, and applying that chunk
takes them instead of searching again (on Databricks a search of runs is the scarcest call, 7/s).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from syncer.core.snapshot import RunSnap

# runs (source and destination together) kept from planning; about one page of a search
HOLD_RUNS = 1000
Runs = dict[str, "RunSnap"]


@dataclass
class HeldRuns:
    """Per plan segment (its index), the source and destination runs its writes name."""

    budget: int = 0
    chunks: dict[int, tuple[Runs, Runs]] = field(default_factory=dict)

    def keep(
        self,
        index: int,
        wanted: tuple[set[str], set[str]],
        src_runs: Mapping[str, RunSnap],
        dst_runs: Mapping[str, RunSnap],
    ) -> None:
        """Keep the source and destination runs segment `index`'s writes name (`wanted`:
        syncer.core.actions.runs_named), when the chunk holds them all and the budget allows."""
        want_src, want_dst = wanted
        size = len(want_src) + len(want_dst)
        if not size or size > self.budget:
            return
        if not (want_src <= src_runs.keys() and want_dst <= dst_runs.keys()):
            return
        self.budget -= size
        self.chunks[index] = (
            {k: src_runs[k] for k in want_src},
            {k: dst_runs[k] for k in want_dst},
        )

    def take(self, index: int) -> tuple[Runs, Runs] | None:
        """The runs kept for segment `index` (once), or None: read them again."""
        return self.chunks.pop(index, None)
