"""The destination side of the run step: which destination experiments a chunk reads, and the copies
of its source runs (every run of those experiments, a start-time window's, or in a change-only cycle
the copies of the changed runs)."""

from __future__ import annotations

from dataclasses import dataclass, field

from syncer.core.snapshot import TAG_SOURCE_RUN_ID, RunSnap, retired
from syncer.core.windows import Window, WindowTaker
from syncer.scan import runs as run_scanner
from syncer.scan.run_changes import changed_runs, copies_of


@dataclass
class DestReads:
    """The destination reads of one pass's run step (`job`: syncer.kinds.base.Job)."""

    job: object
    taken: set[str] = field(default_factory=set)  # destination experiments read by a chunk
    # the destination experiments of the windows being read
    window_dest: list[str] = field(default_factory=list)
    taker: WindowTaker = field(default_factory=lambda: WindowTaker(iter(())))  # its runs, by start

    def first_lo(self) -> int | None:
        """The lower bound of an experiment's first window: its range's (a range unit), or none."""
        return None if self.job.options.run_window is None else self.job.options.run_window[0]

    def ids(
        self, exp_ids: list[str], window: Window | None, dest_by_name: dict[str, str]
    ) -> list[str]:
        """The destination experiments of a chunk (each read by one chunk, or by every window of
        one)."""
        job = self.job
        if window is not None and window[0] != self.first_lo():
            return self.window_dest
        dest_ids = sorted(
            {dest_by_name[n] for n in (job.dest_names[e] for e in exp_ids) if n in dest_by_name}
            - self.taken
        )
        self.taken.update(dest_ids)
        self.window_dest = dest_ids
        return dest_ids

    def runs(
        self,
        dest_ids: list[str],
        window: Window | None,
        runs: list[RunSnap],
        found: list[RunSnap] | None = None,
    ) -> list[RunSnap]:
        """The destination runs of a chunk: every run of its experiments, or those of its window
        (plus copies the state store maps to its source runs that the window did not return). A
        range unit's windows take their runs in turn from one stream of the range's destination runs
        ordered by start time (read once, paged, beside the source's: syncer.engine.ray_units); on
        one machine each window is one filtered search (bench/range_reads.py: as many requests, as
        much work at a SQL store); `found`: that search's runs, read ahead."""
        job = self.job
        if found is not None:
            pass
        elif window is None or job.options.run_window is None:
            found = run_scanner.window_runs(job.dst, dest_ids, window, True)
        else:
            if window[0] == self.first_lo():
                copies = run_scanner.ordered_runs(job.dst, dest_ids, job.options.run_window)
                self.taker = WindowTaker(copies if dest_ids else iter(()))
            found = self.taker.take(window[1])
        if window is None or job.state is None or not dest_ids:
            return found
        have = {r.tags.get(TAG_SOURCE_RUN_ID) for r in found if not retired(r.tags)}
        known = set(
            job.state.dest_ids("run", (r.run_id for r in runs if r.run_id not in have)).values()
        )
        known -= {r.run_id for r in found}
        return found + (run_scanner.fetch_runs(job.dst, dest_ids, known) if known else [])

    def changed(self, dest_ids: list[str], runs: list[RunSnap], since: int) -> list[RunSnap]:
        """The copies of the changed source runs: those the same change signals find (copies keep
        the times), then by the state store's ids (one search per 100), then by provenance tag (one
        search per run)."""
        job = self.job
        found = {
            r.run_id: r for _ids, rs in changed_runs(job.dst, dest_ids, since, True) for r in rs
        }
        have = {r.tags.get(TAG_SOURCE_RUN_ID) for r in found.values()}
        missing = [r.run_id for r in runs if r.run_id not in have]
        known = (
            set(job.state.dest_ids("run", missing).values())
            if job.state is not None and missing
            else set()
        )
        found.update(
            (r.run_id, r) for r in run_scanner.fetch_runs(job.dst, dest_ids, known) if known
        )
        have = {r.tags.get(TAG_SOURCE_RUN_ID) for r in found.values()}
        for sid in (sid for sid in missing if sid not in have):
            found.update((r.run_id, r) for r in copies_of(job.dst, dest_ids, sid))
        return list(found.values())
