"""`mlflow-syncer status` lists the scale-out jobs' work units: per job pending, leased (holder, lease end), lease
ended, done and failed, in text and in `--format json`, read from a real PostgreSQL state store."""

from __future__ import annotations

import json
import re

from syncer.report.human import iso
from syncer.state import leases
from syncer.state.store import StateStore
from tests.fixtures.cli import run_cli

ERROR = "1 objects failed, 0 conflicts or errors"


def _jobs(url: str) -> tuple[dict[str, dict[str, leases.WorkUnit]], dict[str, float]]:
    """Two jobs: `old` in its second round, nothing claimed; `nightly` with a unit in each state."""
    store = StateStore(url, pair="a -> b")
    try:
        assert leases.seed(store, "old", ["7"], "w0")
        for unit in ("experiment:7", "registry"):
            assert leases.claim(store, "old", "w0", lease=300).unit == unit
            assert leases.finish(store, "old", unit, "w0")
        assert leases.new_round(store, "old", ["7", "8"], "w0") == 2  # round 2, nothing claimed yet
        assert leases.seed(store, "nightly", ["1", "2", "3", "4"], "w0")
        assert leases.claim(store, "nightly", "w1", lease=300).unit == "experiment:1"  # leased
        assert leases.claim(store, "nightly", "w3", lease=300).unit == "experiment:2"
        assert leases.finish(store, "nightly", "experiment:2", "w3", error=ERROR)
        assert leases.claim(store, "nightly", "w3", lease=300).unit == "experiment:3"
        assert leases.finish(store, "nightly", "experiment:3", "w3")
        assert leases.claim(store, "nightly", "w2", lease=-60).unit == "experiment:4"  # w2 died a minute ago
        jobs = leases.jobs(store)
        return {j.job: {u.unit: u for u in leases.units(store, j.job)} for j in jobs}, {j.job: j.created for j in jobs}
    finally:
        store.close()


def _unit(unit: str, state: str, holder: str | None = None, lease_until: float | None = None,
          attempts: int = 0, error: str | None = None) -> dict:
    return {"unit": unit, "state": state, "holder": holder, "lease_until": iso(lease_until), "attempts": attempts,
            "error": error}


def test_status_lists_each_jobs_work_units(postgres_server, pg_database):
    url = postgres_server.url(pg_database())
    rows, seeded = _jobs(url)
    done = run_cli("status", "--state", url, "--format", "json")
    assert done.returncode == 0, done.stderr
    work = json.loads(done.stdout)["work"]
    left = {u["unit"]: u.pop("lease_left_seconds") for job in work for u in job["units"]}
    nightly = rows["nightly"]
    assert work == [
        {"job": "old", "round": 2, "seeded": iso(seeded["old"]), "seeded_by": "w0",
         "counts": {"pending": 3, "leased": 0, "lease_ended": 0, "done": 0, "failed": 0},
         "units": [_unit("experiment:7", "pending"), _unit("experiment:8", "pending"), _unit("registry", "pending")]},
        {"job": "nightly", "round": 1, "seeded": iso(seeded["nightly"]), "seeded_by": "w0",
         "counts": {"pending": 1, "leased": 1, "lease_ended": 1, "done": 1, "failed": 1},
         "units": [_unit("experiment:1", "leased", "w1", nightly["experiment:1"].lease_until, 1),
                   _unit("experiment:2", "failed", attempts=1, error=ERROR),
                   _unit("experiment:3", "done", attempts=1),
                   _unit("experiment:4", "lease_ended", "w2", nightly["experiment:4"].lease_until, 1),
                   _unit("registry", "pending")]}]
    assert 0 < left.pop("experiment:1") <= 300 and -120 < left.pop("experiment:4") <= -60
    assert left == dict.fromkeys(["experiment:7", "experiment:8", "registry", "experiment:2", "experiment:3"])

    text = run_cli("status", "--state", url)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("  work units"))
    one, four = iso(nightly["experiment:1"].lease_until), iso(nightly["experiment:4"].lease_until)
    expected = [
        rf"  work units    job 'old' round 2 \(seeded {re.escape(work[0]['seeded'])}\): pending 3, leased 0, "
        r"lease ended 0, done 0, failed 0",
        rf"  work units    job 'nightly' round 1 \(seeded {re.escape(work[1]['seeded'])}\): pending 1, leased 1, "
        r"lease ended 1, done 1, failed 1",
        rf"    experiment:1 leased by w1 until {re.escape(one)} \(in \d+ min \d+ s\)",
        rf"    ! experiment:2 failed \(attempts 1\): {ERROR}",
        rf"    experiment:4 lease of w2 ended {re.escape(four)} \((\d+ min )?\d+(\.\d)? s ago\): "
        r"the next claim takes it over"]
    assert len(lines) == at + len(expected), lines[at:]
    for line, pattern in zip(lines[at:], expected, strict=True):
        assert re.fullmatch(pattern, line), (line, pattern)
