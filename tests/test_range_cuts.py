"""The start-time ranges of a big experiment, cut from sampled start times (syncer.scan.range_cuts):
against a real MLflow SQLite store, every run falls in exactly one range, whatever the spread of the
start times, and the ranges hold about `range_runs` runs each."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from syncer.backends.endpoint import Endpoint
from syncer.core.capabilities import resolve
from syncer.scan.range_cuts import Segment, estimated_cuts, exact_cuts, start_ranges
from tests.fixtures.bulk import T0, seed_runs
from tests.fixtures.sqlite_stores import sqlite_store

RUNS = 3000
RANGE_RUNS = 250
EXACT = 200  # read whole up to this many runs (1,000 in the product): these experiments are sampled


def _starts(spread: str) -> list[int]:
    """Start times of RUNS runs: evenly spaced; a dense burst between two sparse stretches; or
    with 40 runs logged without a start time (0, as MLflow answers for them) first."""
    if spread == "even":
        return [T0 + 1000 * i for i in range(RUNS)]
    if spread == "burst":
        sparse = RUNS // 6
        return (
            [T0 + 60_000 * i for i in range(sparse)]
            + [T0 + 60_000 * sparse + i for i in range(RUNS - 2 * sparse)]
            + [T0 + 10**9 + 60_000 * i for i in range(sparse)]
        )
    return [0] * 40 + [T0 + 1000 * i for i in range(RUNS - 40)]


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> tuple[Endpoint, dict[str, str], Path]:
    """One store, one experiment per spread (start times set in SQL after the bulk rows)."""
    db = tmp_path_factory.mktemp("cuts") / "s.db"
    uri = sqlite_store(db)
    ids = {}
    for spread in ("even", "burst", "unstarted"):
        eid = seed_runs(db, spread, RUNS, points=1)
        with sqlite3.connect(db) as con:
            uuids = [
                r
                for (r,) in con.execute(
                    "SELECT run_uuid FROM runs WHERE experiment_id = ? ORDER BY start_time",
                    (int(eid),),
                )
            ]
            con.executemany(
                "UPDATE runs SET start_time = ? WHERE run_uuid = ?",
                zip(_starts(spread), uuids, strict=True),
            )
        ids[spread] = eid
    return Endpoint(uri, caps=resolve(uri)), ids, db


def _sizes(db: Path, eid: str, ranges: list) -> list[int]:
    with sqlite3.connect(db) as con:
        return [
            con.execute(
                "SELECT COUNT(*) FROM runs WHERE experiment_id = ?"
                + ("" if lo is None else f" AND start_time >= {lo}")
                + ("" if hi is None else f" AND start_time < {hi}"),
                (int(eid),),
            ).fetchone()[0]
            for lo, hi in ranges
        ]


@pytest.mark.parametrize("spread", ["even", "burst", "unstarted"])
def test_sampled_cuts_put_every_run_in_one_range(store, spread):
    endpoint, ids, db = store
    ranges = start_ranges(endpoint, ids[spread], False, RANGE_RUNS, exact_runs=EXACT)
    # gap-free and overlap-free: unbounded at both ends, each range starting where the last ended
    assert ranges[0][0] is None and ranges[-1][1] is None
    cuts = [hi for _, hi in ranges[:-1]]
    assert cuts == sorted(set(cuts)) and cuts == [lo for lo, _ in ranges[1:]], ranges
    sizes = _sizes(db, ids[spread], ranges)
    assert sum(sizes) == RUNS and min(sizes) > 0, sizes
    # the first page alone first (that range runs before the others), then balanced: the probes go
    # where the count is least certain (the burst and around it)
    assert sizes[0] == EXACT and len(ranges) == RUNS // RANGE_RUNS + 1, sizes
    shares = [sizes[0] + sizes[1], *sizes[2:]]
    assert all(0.8 * RANGE_RUNS <= n <= 1.2 * RANGE_RUNS for n in shares), sizes


def test_an_experiment_read_whole_is_cut_exactly(store):
    endpoint, ids, db = store
    ranges = start_ranges(endpoint, ids["even"], False, RANGE_RUNS, exact_runs=RUNS)
    assert _sizes(db, ids["even"], ranges) == [RANGE_RUNS] * (RUNS // RANGE_RUNS)


def test_a_nested_run_keeps_a_big_experiment_whole(store):
    endpoint, ids, db = store
    with sqlite3.connect(db) as con:
        (child,) = con.execute(
            "SELECT run_uuid FROM runs WHERE experiment_id = ? ORDER BY start_time DESC LIMIT 1",
            (int(ids["burst"]),),
        ).fetchone()
        con.execute(
            "INSERT INTO tags (key, value, run_uuid) VALUES ('mlflow.parentRunId', 'x', ?)",
            (child,),
        )
    try:
        assert start_ranges(endpoint, ids["burst"], False, RANGE_RUNS, exact_runs=EXACT) == [
            (None, None)
        ]
    finally:
        with sqlite3.connect(db) as con:
            con.execute("DELETE FROM tags WHERE key = 'mlflow.parentRunId'")


def test_estimated_cuts_follow_the_known_starts_then_the_spacing():
    # 10 known runs one ms apart, then a part whose first 10 runs are 10 ms apart up to 1,090
    segments = [
        Segment(0, 10, tuple(range(10)), full=False),
        Segment(10, 1090, tuple(range(10, 110, 10)), full=True),
    ]
    assert segments[1].estimate() == pytest.approx(10 + 9 / 90 * 990)
    cuts = estimated_cuts(segments, 30)
    # 119 runs: 4 ranges of ~29.75, the first cut in the second part at about the 30th run (t=200)
    assert len(cuts) == 3 and cuts == sorted(cuts) and 190 <= cuts[0] <= 210, cuts
    assert estimated_cuts(segments, 200) == []  # fewer runs than one range: no cut


def test_no_cut_falls_at_a_missing_start_time():
    # a store that sorts runs without a start time last: they stay in the last range
    assert exact_cuts([1, 2, 3, 3, 5, None, None], 2) == [3, 5]
    assert exact_cuts([1, 2, None, None, None], 2) == []
