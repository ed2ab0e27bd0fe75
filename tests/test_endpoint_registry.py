"""The registry an endpoint talks to is its own, whatever MLflow's process-wide defaults say."""

from __future__ import annotations

from syncer.backends.endpoint import Endpoint


def test_registry_defaults_to_the_tracking_uri_not_the_environment(monkeypatch):
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", "sqlite:////nonexistent/elsewhere.db")
    endpoint = Endpoint("http://127.0.0.1:1")
    assert endpoint.client._registry_uri == "http://127.0.0.1:1"
    assert Endpoint(
        "http://127.0.0.1:1", registry_uri="http://127.0.0.1:2"
    ).client._registry_uri == ("http://127.0.0.1:2")
