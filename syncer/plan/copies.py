"""Which destination copies of a source run to plan with, and which are extra copies to retire
(pure)."""

from __future__ import annotations

from syncer.core.snapshot import TAG_FINGERPRINT, RunSnap, retired


def split_copies(copies: list[RunSnap]) -> tuple[list[RunSnap], list[str]]:
    """Split the destination copies of one source run into (copies to plan with, duplicates to
    retire).

    Copies already marked as duplicates are dropped (retired if still live). Several unmarked live
    copies are resolved when at most one of them is complete (carries a fingerprint): that one, or
    the one holding the most data, is kept. Several complete copies stay for the planner to report
    as a conflict.
    """
    retire = [c.run_id for c in copies if retired(c.tags) and not c.deleted]
    live = [c for c in copies if not retired(c.tags) and not c.deleted]
    rest = [c for c in copies if not retired(c.tags) and c.deleted]
    if len(live) <= 1 or sum(TAG_FINGERPRINT in c.tags for c in live) > 1:
        return live + rest, retire
    keep = max(
        live, key=lambda c: (TAG_FINGERPRINT in c.tags, _count(c), [-ord(ch) for ch in c.run_id])
    )
    return [keep], retire + sorted(c.run_id for c in live if c is not keep)


def _count(run: RunSnap) -> int:
    return len(run.metrics) + len(run.params) + len(run.tags)
