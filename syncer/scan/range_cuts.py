"""One experiment's runs cut into start-time ranges of about `range_runs` runs (the range units of
syncer.engine.ray_units), without reading every run of a big experiment.

Any cut is an exact boundary: a range `[lo, hi)` holds the runs whose start time is in it, so the
ranges are gap-free and overlap-free whatever the cuts; only their sizes depend on where the cuts
fall. Up to `EXACT_RUNS` runs the experiment is read whole (one page) and cut exactly where the
count reaches `range_runs`. A bigger one (a million runs is a thousand pages, hours on one
driver) is sampled: its first page, its last start time and whether any run of it is nested (one
search each), then up to `PROBES` searches of `SAMPLE` runs, each at the start of a half of the
part whose count is the least certain (`Segment.estimate`: a part's known runs, the rest
extrapolated from their spacing). The cuts fall where the count so estimated reaches each range's
share: balanced where runs are spread evenly within the sampled parts, never lost or doubled where
they are not. The first range is then the first page alone: an experiment's first range runs before
its others (it creates the destination experiment), so it is kept short.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from mlflow.entities import Run
from mlflow.exceptions import MlflowException

from syncer.backends.calls import call
from syncer.backends.endpoint import Endpoint
from syncer.core.snapshot import PARENT_TAG
from syncer.core.windows import Window, window_filter
from syncer.scan.run_search import search_all, view

# up to this many runs an experiment is read whole and cut exactly (one more tells whether more
# follow: 999 + 1 is one page of 1,000, not a second page read for one run)
EXACT_RUNS = 999
SAMPLE = 100  # runs read by one probe
PROBES = 64  # probes per experiment above EXACT_RUNS
ASC = ["attributes.start_time ASC"]
NESTED = f"tags.`{PARENT_TAG}` LIKE '%'"


@dataclass(frozen=True)
class Segment:
    """The start times `[lo, hi)` of an experiment: the first runs' starts in it (ascending), all of
    them unless `full` (a probe's page was full: more may follow)."""

    lo: int
    hi: int
    starts: tuple[int, ...]
    full: bool

    def estimate(self) -> float:
        """Its runs: those known, and after the last known start as many as their spacing says."""
        known = len(self.starts)
        if not self.full:
            return float(known)
        first, last = self.starts[0], self.starts[-1]
        return known + (known - 1) / max(last - first, 1) * (self.hi - last)

    def splittable(self) -> bool:
        """Whether the part after its last known start can be halved."""
        return self.full and self.hi - self.starts[-1] >= 2


def start_ranges(
    endpoint: Endpoint,
    experiment_id: str,
    include_deleted: bool,
    range_runs: int,
    exact_runs: int = EXACT_RUNS,
    probes: int = PROBES,
) -> list[Window]:
    """The experiment's start-time ranges, the first without a lower bound, the last without an
    upper one, a cut only between runs of different start times. One range `(None, None)` when the
    experiment is small, or when a run of it is nested (a child whose parent lies in another range
    is never planned apart from it)."""
    shown = view(include_deleted)
    found = search_all(endpoint, [experiment_id], shown, "", order_by=ASC)
    head: list[int | None] = []
    nested = False
    for run in found:
        nested = nested or PARENT_TAG in run.data.tags
        head.append(run.info.start_time)
        if len(head) > exact_runs:
            break
    else:
        return [(None, None)] if nested else _ranges(exact_cuts(head, range_runs))
    if None in head:  # runs without a start time (sorted last by the store): read every run
        return _read_whole(found, head, nested, range_runs)
    try:
        nested = nested or _any_nested(endpoint, experiment_id, shown)
    except MlflowException:  # a server that cannot filter tags with LIKE: read every run
        return _read_whole(found, head, nested, range_runs)
    if nested:
        return [(None, None)]
    page = [s for s in head if s is not None]
    segments = _sample(endpoint, experiment_id, shown, page, probes, range_runs)
    cuts = estimated_cuts(segments, range_runs)
    if cuts and page[0] < page[-1] < cuts[0]:
        cuts.insert(0, page[-1])  # the first range runs alone (it creates the experiment): a page
    return _ranges(cuts)


def _read_whole(
    found: Iterator[Run], head: list[int | None], nested: bool, range_runs: int
) -> list[Window]:
    for run in found:
        nested = nested or PARENT_TAG in run.data.tags
        head.append(run.info.start_time)
    return [(None, None)] if nested else _ranges(exact_cuts(head, range_runs))


def _ranges(cuts: list[int]) -> list[Window]:
    if not cuts:
        return [(None, None)]
    return list(zip([None, *cuts], [*cuts, None], strict=True))


def exact_cuts(starts: list[int | None], range_runs: int) -> list[int]:
    """Cuts of ascending start times (those without one last): a new range at the first start
    change once a range holds `range_runs` runs; never at a missing start."""
    cuts: list[int] = []
    count, last = 0, None
    for start in starts:
        if count >= range_runs and start is not None and start != last:
            cuts.append(start)
            count = 0
        count, last = count + 1, start
    return cuts


def _search(endpoint: Endpoint, eid: str, shown: int, text: str, order: list[str], n: int) -> list:
    return list(
        call(
            endpoint,
            "search_runs",
            lambda: endpoint.client.search_runs(
                [eid], filter_string=text, run_view_type=shown, max_results=n, order_by=order
            ),
        )
    )


def _any_nested(endpoint: Endpoint, eid: str, shown: int) -> bool:
    return bool(_search(endpoint, eid, shown, NESTED, ASC, 1))


def probe(endpoint: Endpoint, eid: str, shown: int, lo: int, hi: int) -> Segment:
    """The first `SAMPLE` runs' start times of `[lo, hi)`."""
    runs = _search(endpoint, eid, shown, window_filter((lo, hi)), ASC, SAMPLE)
    starts = tuple(r.info.start_time or 0 for r in runs)
    return Segment(lo, hi, starts, full=len(starts) >= SAMPLE)


def _sample(
    endpoint: Endpoint, eid: str, shown: int, head: list[int], probes: int, range_runs: int
) -> list[Segment]:
    """The experiment as segments: the first page exactly, the rest probed."""
    newest = _search(endpoint, eid, shown, "", ["attributes.start_time DESC"], 1)
    edge = head[-1]
    last = newest[0].info.start_time or 0 if newest else edge
    known = tuple(s for s in head if s < edge)
    segments = [Segment(head[0], edge, known, full=False)]
    if last >= edge:
        segments.append(probe(endpoint, eid, shown, edge, last + 1))
    for _ in range(probes // 2):
        open_ = [s for s in segments if s.splittable()]
        worst = max(open_, key=Segment.estimate, default=None)
        if worst is None or worst.estimate() <= max(range_runs / 4, SAMPLE):
            break
        i = segments.index(worst)
        segments[i : i + 1] = refine(endpoint, eid, shown, worst)
    return segments


def refine(endpoint: Endpoint, eid: str, shown: int, seg: Segment) -> list[Segment]:
    """A full segment as its known runs (exactly) and its rest halved, each half probed."""
    edge = seg.starts[-1]
    mid = edge + (seg.hi - edge) // 2
    known = tuple(s for s in seg.starts if s < edge)
    return [
        Segment(seg.lo, edge, known, full=False),
        probe(endpoint, eid, shown, edge, mid),
        probe(endpoint, eid, shown, mid, seg.hi),
    ]


def estimated_cuts(segments: list[Segment], range_runs: int) -> list[int]:
    """Cuts where the count estimated from the segments (a piecewise-linear count through every
    known start) reaches each range's share; strictly ascending, after the first start and up to
    the last segment's end, so that no range is empty by construction."""
    anchors: list[tuple[int, float]] = []
    base = 0.0
    for seg in segments:
        anchors += [(s, base + i) for i, s in enumerate(seg.starts)]
        base += seg.estimate()
        anchors.append((seg.hi, base))
    if not anchors or base <= range_runs:
        return []
    ranges = max(1, round(base / range_runs))
    first, end = anchors[0][0], anchors[-1][0]
    cuts: list[int] = []
    j = 0
    for k in range(1, ranges):
        target = k * base / ranges
        while anchors[j][1] < target:
            j += 1
        (t0, c0), (t1, c1) = anchors[max(j - 1, 0)], anchors[j]
        at = t1 if c1 <= c0 else t0 + (target - c0) / (c1 - c0) * (t1 - t0)
        cut = math.ceil(at)
        if first < cut < end and (not cuts or cut > cuts[-1]):
            cuts.append(cut)
    return cuts
