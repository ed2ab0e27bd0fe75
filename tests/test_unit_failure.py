"""A unit that fails after it ran (Units.fail) is reported as failed, not a TypeError: the duplicate
check that follows a batch of run creates cannot read the destination (every search answered 500
once creates began), so each created run is turned into a failure. The rerun completes the copies
exactly."""

from __future__ import annotations

import uuid

from mlflow import MlflowClient

from syncer.core.exit_codes import EXIT_OK, EXIT_PARTIAL
from tests.compare import snapshot
from tests.fixtures.cli import cli_env, run_forked, write_config
from tests.fixtures.faultproxy import FaultConfig, Rule
from tests.fixtures.workload import make_workload


def test_failed_duplicate_check_is_reported_then_rerun_converges(
    source_server, dest_server, fault_proxy, tmp_path
):
    prefix = f"fail-{uuid.uuid4().hex[:8]}"
    src = MlflowClient(source_server.url)
    w = make_workload(src, prefix, runs_per_experiment=1)
    expected = snapshot(src, w.experiments, dest=False)
    proxy = fault_proxy(
        dest_server.url,
        FaultConfig(rules=[Rule("/runs/search", "500", times=10_000, after="/runs/create")]),
    )
    config = write_config(
        tmp_path / "c.yaml",
        source={"tracking_uri": source_server.url},
        destination={"tracking_uri": proxy.url},
        state=f"sqlite:///{tmp_path / 's.db'}",
        experiments=[f"{prefix}/*"],
        log_level="error",
    )
    # one attempt, no wait: a process of its own (a knob read at import); the rerun is forked
    env = cli_env(MLFLOW_SYNCER_RETRY_ATTEMPTS="1", MLFLOW_HTTP_REQUEST_MAX_RETRIES="0")
    first = run_forked("migrate", "--config", str(config), "--no-progress", env=env)
    assert first.returncode == EXIT_PARTIAL, first.stdout + first.stderr
    assert "Traceback" not in first.stderr and "TypeError" not in first.stdout + first.stderr
    assert proxy.faults["500"] > 0
    problems = [line for line in first.stdout.splitlines() if line.startswith("! run ")]
    assert len(problems) == 3, first.stdout  # parent, a-0, b-0: every run created in the pass
    assert all("duplicate check after create failed" in line for line in problems), problems

    proxy.configure(FaultConfig())
    second = run_forked("migrate", "--config", str(config), "--no-progress")
    assert second.returncode == EXIT_OK, second.stdout + second.stderr
    got = snapshot(MlflowClient(dest_server.url), w.experiments, dest=True)
    assert got == expected
