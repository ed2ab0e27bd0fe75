"""Memory guard (issue 14): `diff` holds neither the whole source nor one whole experiment: its
peak RSS grows by less than half of what holding the added runs would cost.

The stores are generated in seconds by bench/scale_source.py (MLflow's own SQLite schema, rows
written by SQLite itself): finished runs (10 params, 6 tags, 3 metrics each) and the destination a
finished `migrate` would have left (the runs under their own ids, with the provenance tags and the
fingerprint the planner computes). `mlflow-syncer diff --format json` runs in a process of its own,
forked from one that imported the syncer and MLflow once (tests/fixtures/forked_rss.py: 4-7 s of
CPU less per diff than a process started anew), which reads that process's own peak RSS (`wait4`)
and kills it above 400 MB. A forked diff counts only the pages it touches, not the imports it shares
untouched: its peaks sit ~100 MB below a new process's (1,000 runs in 10 experiments: 238 MB
forked, 334 MB anew), the differences between two sizes are the same; the sizes and peaks below
were measured with processes started anew (bench/memory_guard.py, which the full-size benchmark
still uses).

Measured per-run cost of holding runs (bench/memory_guard.py): an engine holding a snapshot of every
run of both sides peaked ~9.2 KB per run pair above the floor (1,211 MB with 100,000 runs, main at
0e16e71); one holding one experiment whole on both sides ~9.7 KB per run pair (1,259 MB with one
experiment of 100,000 runs, main at 9bb747a). Each case measures two sizes:
- 1,000 runs in 10 experiments (one chunk), then 6,000 in 100: those hold more than `CHUNK_RUNS`
  (5,000), so they are read one experiment (60 runs) at a time; the 5,000 runs more, held, would
  add ~45 MB. Measured (load 25): 303 MB, then 315 MB; (load 15, 2026-12-07) 322.8, then 333.8.
- 6,000 runs in one experiment, then 9,000: above `CHUNK_RUNS`, an experiment is read in start-time
  windows of about `WINDOW_RUNS` (1,000) runs on both sides (syncer.scan.run_chunks.iter_windows),
  at a cost that does not grow with the experiment (the first windowed size is the baseline: the
  experiment's first read, up to `CHUNK_RUNS` + 1 runs, is in every windowed size's peak); held
  whole, the 3,000 runs more would add ~28 MB. Measured (load 15, 2026-12-07; each size run twice
  for the noise): 1,000 runs in one experiment (not windowed) 315.2 and 315.2 MB; 5,100: 360.8;
  6,000: 371.5 and 372.0; 8,100: 370.1 (earlier, load 25: 6,000 328.0, 11,000 328.3). So the
  margin, 14 MB either way, is over ten times the noise of a size run twice.
A case fails when the larger size peaks above the smaller by half of what holding the added runs
would cost, or either peaks at 400 MB. Each generated store starts from one empty store made per
module (`template`: MLflow's schema migrations run once, not four times). The smaller sizes' exact
in-sync reports also check the generator (a copy the planner did not find in sync would fail the
guard for the wrong reason). The full-size measurement (50,000 runs in 100 experiments, 25,000 in
one, under 400 MB) is a benchmark: `.venv/bin/python -m bench.memory_guard` (docs/BENCHMARKS.md).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.memory_guard import BOUND_MB, assert_in_sync, diff_peak
from bench.scale_source import Shape, empty_store
from tests.fixtures.cli import cli_env
from tests.fixtures.forked_rss import ForkedRss

# (smaller, larger, KB of RSS per run pair an engine holding them needs: the module docstring)
CASES = {
    "100-experiments": (Shape(1_000, 10), Shape(6_000, 100), 9.2),
    "one-experiment": (Shape(6_000, 1), Shape(9_000, 1), 9.7),
}


@pytest.fixture(scope="module")
def forked() -> Iterator[ForkedRss]:
    """The process each diff is forked from (started on first use), killed and reaped at the end."""
    server = ForkedRss(cli_env())
    yield server
    server.stop()


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory):
    """MLflow's schema in an empty store, made once: every generated store starts from a copy."""
    return empty_store(tmp_path_factory.mktemp("memory-guard") / "empty.db")


def _peak(folder, shape: Shape, template, forked: ForkedRss) -> float:
    """`diff` over `shape` and its copy: its peak RSS in MB, once it found them exactly in sync."""
    m, doc = diff_peak(folder, shape, BOUND_MB, cli_env(), template=template, run=forked.measure)
    assert not m["capped"], f"peak RSS went above {BOUND_MB} MB: diff killed after {m['seconds']} s"
    assert m["rc"] == 0, m["log"]
    assert_in_sync(doc, shape)
    assert m["peak_mb"] < BOUND_MB
    return m["peak_mb"]


@pytest.mark.timeout(
    1800
)  # a hang guard only: ~60 s of CPU, many times that in wall time under load
@pytest.mark.parametrize("case", list(CASES))
def test_diff_peak_does_not_grow_with_the_runs_it_has_read(tmp_path, case, template, forked):
    small, large, hold_kb = CASES[case]
    held_mb = (large.runs - small.runs) * hold_kb / 1024
    low = _peak(tmp_path / "small", small, template, forked)
    high = _peak(tmp_path / "large", large, template, forked)
    assert high - low < held_mb / 2, (
        f"{case}: {large.runs:,} runs peaked at {high} MB, {small.runs:,} at {low} MB: "
        f"+{high - low:.1f} MB for {large.runs - small.runs:,} runs more (held: {held_mb:.0f})"
    )
