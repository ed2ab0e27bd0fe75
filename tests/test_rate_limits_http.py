"""Rate limits count HTTP requests, not API calls: with mlflow-syncer's limits equal to the
workspace's, a `migrate` through the Databricks emulator (which answers 429 above its limits) never
gets a 429, and the workspace never sees more requests of a class within one second than the limit
allows (rate + burst).

Requests MLflow makes inside one API call (the run read before an artifact listing, each folder of a
tree, read credentials) and urllib3's own retries all take a token (syncer.backends.http_meter
meters the sessions MLflow hands out).
"""

from __future__ import annotations

from collections import Counter

import requests
from mlflow import MlflowClient

from syncer.backends import http_meter
from syncer.backends.ratelimit import RateLimiter
from syncer.core.capabilities import RateLimits
from syncer.core.snapshot import TAG_FINGERPRINT
from tests.compare import snapshot
from tests.emulators.databricks import RATES as DEFAULT_RATES
from tests.emulators.databricks import most_within
from tests.fixtures.cli import cli_env, run_forked, write_config
from tests.fixtures.workload import make_workload
from tests.test_databricks_to_azureml import USER

# Low enough that the copy is held back by them (it reads a few searches and about 60 other requests
# from the source, with 8 workers; log batches go to the destination), high enough that waiting
# them out takes seconds, not tens of them.
RATES = {"experiments": 3.0, "search": 3.0, "log_batch": 3.0, "other": 6.0}
DEST_RATES = {"experiments": 20.0, "search": 20.0, "log_batch": 10.0, "other": 50.0}


def test_migrate_at_the_workspace_limits_gets_no_429(
    databricks_env, dest_server, unique_name, tmp_path
):
    rules, gateway = databricks_env.rules, databricks_env.gateway
    src = MlflowClient(databricks_env.server.url)  # filled directly, not through the gateway
    names = make_workload(src, f"{USER}/{unique_name}/w", runs_per_experiment=3).experiments
    expected = snapshot(src, names, dest=False)
    config = write_config(
        tmp_path / "c.yaml",
        source={"tracking_uri": "databricks", "registry_uri": "databricks", "rate_limits": RATES},
        # log_batch the scarcer class: a run's lone marker goes as a set_tag (other)
        destination={"tracking_uri": dest_server.url, "rate_limits": DEST_RATES},
        experiments=[f"{USER}/{unique_name}/*"],
        state=f"sqlite:///{tmp_path / 'state.db'}",
        workers=8,
    )
    before = Counter(gateway.counts)
    rules.set_rates(RATES)
    try:
        result = run_forked(
            "migrate",
            "--config",
            str(config),
            "--no-progress",
            env=cli_env(DATABRICKS_HOST=databricks_env.url, DATABRICKS_TOKEN=databricks_env.token),
        )
        busiest = rules.busiest_second()
    finally:
        rules.set_rates(DEFAULT_RATES)
    assert result.returncode == 0, result.stderr
    counts = gateway.counts - before
    assert {k: n for k, n in counts.items() if k.startswith("429")} == {}
    assert counts["class search"] >= 1 and counts["class experiments"] >= 1
    assert counts["class other"] >= 50
    # A bucket of `rate` per second holding at most `rate` tokens lets at most 2 x rate through in
    # one second.
    assert {cls: n <= 2 * RATES[cls] for cls, n in busiest.items()} == {c: True for c in busiest}, (
        busiest
    )
    assert (
        busiest["other"] >= RATES["other"]
    )  # the limit did bind: requests were held back, not too few
    dst = MlflowClient(dest_server.url)
    dest_names = [n.removeprefix(f"{USER}/") for n in names]
    got = snapshot(dst, dest_names, dest=True)
    assert [got[d] for d in dest_names] == [expected[s] for s in names]
    copies = [
        r
        for n in dest_names
        for r in dst.search_runs([dst.get_experiment_by_name(n).experiment_id])
    ]
    assert copies and all(r.data.tags.get(TAG_FINGERPRINT) for r in copies)  # complete, marked


def test_every_attempt_to_a_registered_host_takes_a_token_and_other_hosts_none(databricks_env):
    """urllib3's own retries take a token each; a request to another origin (same host, other port)
    takes none, and neither does a session nobody metered (nothing of urllib3 is patched)."""
    limiter = RateLimiter(RateLimits(experiments=1000.0, other=1000.0))
    taken: Counter = Counter()
    for name, bucket in limiter.buckets.items():
        bucket.acquire = lambda n=name, a=bucket.acquire: (taken.update([n]), a())[1]  # type: ignore[method-assign]
    # installed again by register: once per process all the same (3 tokens, not 6)
    http_meter.install()
    http_meter.register(databricks_env.url, limiter)
    try:
        session = requests.Session()
        session.mount(
            "http://",
            requests.adapters.HTTPAdapter(
                max_retries=requests.adapters.Retry(
                    total=2,
                    status_forcelist=[429],
                    backoff_factor=0,
                    respect_retry_after_header=False,
                    allowed_methods=None,
                    raise_on_status=False,
                )
            ),
        )
        http_meter.meter_session(
            http_meter.meter_session(session)
        )  # as MLflow's sessions are, once
        databricks_env.rules.always_429.add("experiments")
        try:
            got = session.post(
                f"{databricks_env.url}/api/2.0/mlflow/experiments/search",
                json={},
                headers={"Authorization": f"Bearer {databricks_env.token}"},
            )
        finally:
            databricks_env.rules.always_429.clear()
        assert got.status_code == 429
        session.get(f"{databricks_env.server.url}/health")  # the server itself: another origin
        requests.post(
            f"{databricks_env.url}/api/2.0/mlflow/experiments/search",
            json={},
            headers={"Authorization": f"Bearer {databricks_env.token}"},
        )  # not metered
    finally:
        http_meter.unregister(databricks_env.url)
    assert taken == {"experiments": 3}  # the first attempt and two retries
    assert http_meter.installed() and most_within([0.0, 0.5, 1.0, 1.01], 1.0) == 3
