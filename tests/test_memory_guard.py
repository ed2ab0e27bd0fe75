"""Memory guard (issue 14): `diff` over a 50,000-run source and its copy stays under a bounded peak
RSS.

The stores are generated in seconds by bench/scale_source.py (MLflow's own SQLite schema, rows
written by SQLite itself): 100 experiments of 500 finished runs (10 params, 6 tags, 3 metrics each)
and the destination a finished `migrate` would have left (the runs under their own ids, with the
provenance tags and the fingerprint the planner computes). `mlflow-syncer diff --format json` runs
as a user runs it, in its own process under bench/peak_rss.py, which reads that process's peak RSS
alone and kills it above the bound (so an engine that holds everything fails in seconds instead of
growing for minutes).

The bound, 400 MB: issue 14 asks for under 600 MB with a 1,000,000-run source. What does not depend
on the run count is measured at 287 MB (a `diff` of two empty stores; 227 MB of it is importing
mlflow and the syncer) and 317 MB with 1,000 runs. An engine that streams per experiment holds one
experiment's runs of each side at a time, so its peak barely moves with the run count; an engine
holding a snapshot of every run of both sides peaked at 1,211 MB with 100,000 runs (main at
0e16e71), ~9.2 KB per run pair above the floor: ~750 MB with the 50,000 runs here, so it is still
killed at the bound. 400 MB leaves room for ~1.7 KB per run of anything else that grows with the
source. The test cannot prove the 1,000,000-run target (bench/scale.py measures it); it guards
against memory growing with the whole source again. (It used 100,000 runs until issue 30: twice the
time for a margin the bound did not need.)

One experiment of 25,000 runs: the run step reads an experiment above `CHUNK_RUNS` (5,000) in
start-time windows of about `WINDOW_RUNS` (1,000) runs on both sides
(syncer.scan.runs.iter_windows), so the bound holds whatever one experiment holds. Measured with
100,000 runs in one experiment on a loaded machine: 364 MB peak; with the experiment held whole on
both sides (main at 9bb747a) 1,259 MB, i.e. ~9.7 KB per run pair above the floor: 25,000 runs held
whole need ~530 MB, so the guard still fails an engine that holds one experiment whole, at a quarter
of the cost of 50,000 (a page's query scans the experiment: SQLite has no index on start time, so
the time grows with the square of the experiment's size).
"""

from __future__ import annotations

import json

import pytest

from bench.peak_rss import measure
from bench.scale_source import DEST_SIDE, SOURCE_SIDE, Shape, generate_pair, run_id
from tests.fixtures.cli import SYNCER, cli_env

RUNS = 50_000
EXPERIMENTS = 100
# held whole on both sides, ~530 MB (9.7 KB per run pair above the floor)
ONE_EXPERIMENT_RUNS = 25_000
BOUND_MB = 400
# a hang guard only: under load the wall time is many times the CPU time (~100 s)
HANG_SECONDS = 3600


def _diff_json(tmp_path, source, dest, cap_mb: float | None) -> tuple[dict, dict | None]:
    """Run `diff --format json` in its own process; (its rc, seconds, peak RSS), the report when
    written."""
    report, log = tmp_path / "diff.json", tmp_path / "diff.log"
    cmd = [
        SYNCER,
        "diff",
        "--source",
        f"sqlite:///{source}",
        "--dest",
        f"sqlite:///{dest}",
        "--state",
        f"sqlite:///{tmp_path / 'state.db'}",
        "--format",
        "json",
        "--output",
        str(report),
        "--log-level",
        "warning",
    ]
    with open(log, "w") as out:
        m = measure(
            cmd, tmp_path / "rss.json", cap_mb, HANG_SECONDS, stdout=out, stderr=out, env=cli_env()
        )
    m["log"] = log.read_text()[-2000:]
    return m, json.loads(report.read_text()) if report.exists() and m["rc"] == 0 else None


def _assert_in_sync(doc: dict, shape: Shape) -> None:
    """Every run and experiment `=`, each run matched to its own copy: exact counts and ids."""
    experiments = shape.experiments + 1  # and MLflow's Default experiment
    assert doc["in_sync"] is True
    summary = doc["summary"]
    assert summary["by_kind"] == {"experiment": {"same": experiments}, "run": {"same": shape.runs}}
    assert (
        summary["objects"],
        summary["to_apply"],
        summary["errors"],
        summary["uncopied_objects"],
    ) == (shape.runs + experiments, 0, 0, 0)
    assert [
        (e["name"], e["in_sync"], e["pending"], e["extra"], e["errors"]) for e in doc["experiments"]
    ] == [("Default", 1, 0, 0, 0)] + [
        (shape.experiment_name(e), shape.slice_size(e) + 1, 0, 0, 0)
        for e in range(shape.experiments)
    ]
    runs = {
        o["source_id"]: o["dest_id"]
        for o in doc["objects"]
        if o["kind"] == "run" and o["sigil"] == "="
    }
    assert runs == {run_id(SOURCE_SIDE, i): run_id(DEST_SIDE, i) for i in range(shape.runs)}


def test_the_generated_copy_is_what_the_planner_expects(tmp_path):
    """The generator itself checked on a small pair: a copy the planner does not find in sync would
    fail the guard below for the wrong reason."""
    shape = Shape(2_000, 7)
    stores = generate_pair(tmp_path, shape)
    m, doc = _diff_json(tmp_path, stores["source"], stores["mirrored"], None)
    assert m["rc"] == 0, m["log"]
    _assert_in_sync(doc, shape)


@pytest.mark.timeout(
    HANG_SECONDS + 600
)  # pytest's 900 s stopped the 50,000 runs at load 20 (~100 s idle)
@pytest.mark.parametrize(
    ("runs", "experiments"),
    [(RUNS, EXPERIMENTS), (ONE_EXPERIMENT_RUNS, 1)],
    ids=["50k-runs-100-experiments", "25k-runs-one-experiment"],
)
def test_diff_over_many_runs_and_their_copies_peaks_under_400_mb(tmp_path, runs, experiments):
    shape = Shape(runs, experiments)
    stores = generate_pair(tmp_path, shape)
    m, doc = _diff_json(tmp_path, stores["source"], stores["mirrored"], BOUND_MB)
    assert not m["capped"], f"peak RSS went above {BOUND_MB} MB: diff killed after {m['seconds']} s"
    assert m["rc"] == 0, m["log"]
    _assert_in_sync(doc, shape)
    assert m["peak_mb"] < BOUND_MB
