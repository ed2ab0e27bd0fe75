"""MLflow's client asks a server its version once per process before it writes spans
(`RestStore.log_spans`: GET /version, 3 s timeout, no retry) and caches a failed answer. Seen in
bench/traces.py on a busy machine: the probe timed out and 50 traces failed with "log_spans is not
supported: could not identify MLflow server version". A failed probe must be retried like any
transient failure, never remembered."""

from __future__ import annotations

from mlflow import MlflowClient

from syncer.config import EndpointConfig, Settings
from syncer.engine.sync import sync
from tests.compare import assert_same_traces
from tests.fixtures.faultproxy import FaultConfig, Rule
from tests.fixtures.traces import T0_NS, simple_trace

HOUR = 3600 * 1_000_000_000


def test_a_failed_version_probe_is_retried_and_every_trace_copied(
    source_server, dest_server, fault_proxy, unique_name, tmp_path
):
    name = f"{unique_name}/probe"
    exp = MlflowClient(source_server.url).create_experiment(name)
    for i in range(3):
        simple_trace(source_server.url, exp, T0_NS + i * HOUR, f"call-{i}")
    proxy = fault_proxy(
        dest_server.url, FaultConfig(rules=[Rule("/version", "503", times=2, method="GET")])
    )
    settings = Settings(
        source=EndpointConfig(tracking_uri=source_server.url),
        destination=EndpointConfig(tracking_uri=proxy.url),
        state=f"sqlite:///{tmp_path / 's.db'}",
        experiments=[name],
        copy_models=False,
        prompts=[],
    )
    result = sync(settings)
    assert [o.error for o in result.outcomes if not o.ok] == []
    assert sorted((o.action.kind, o.action.op.value) for o in result.outcomes) == [
        ("experiment", "create"),
        *[("trace", "create")] * 3,
    ]
    assert [(kind, path) for kind, _method, path in proxy.fault_log] == [("503", "/version")] * 2
    assert (
        assert_same_traces(
            MlflowClient(source_server.url), MlflowClient(dest_server.url), {name: name}
        )
        == 3
    )
