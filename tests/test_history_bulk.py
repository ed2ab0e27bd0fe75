"""Source metric histories read for many runs per request give exactly what get_metric_history
gives."""

from __future__ import annotations

import math

import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric

from syncer.backends import metric_history as history
from syncer.backends import telemetry
from syncer.backends.endpoint import Endpoint
from syncer.backends.metric_history import HistoryReader
from syncer.core.capabilities import PLAIN_MLFLOW
from syncer.core.snapshot import metric_value_key
from syncer.scan.run_search import run_snap

VALUES = [0.5, math.nan, math.inf, -math.inf, 1e-300, 123456789.123456789]


def _points(ms: list[Metric]) -> list[tuple]:
    return sorted((m.step, m.timestamp, metric_value_key(m.value)) for m in ms)


@pytest.fixture
def runs(source_server, unique_name):
    client = MlflowClient(source_server.url)
    exp = client.create_experiment(unique_name)
    ids = []
    for r in range(5):
        rid = client.create_run(exp).info.run_id
        metrics = [
            Metric("loss", VALUES[(i + r) % len(VALUES)], 1000 + i, i) for i in range(3 + 4 * r)
        ]
        metrics += [
            Metric("loss", 7.0, 1000, 0),
            Metric("acc", 0.1 * r, 5, 0),
        ]  # a repeated step, a 2nd key
        client.log_batch(rid, metrics=metrics)
        ids.append(rid)
    return client, [run_snap(client.get_run(rid)) for rid in ids]


def _calls() -> dict:
    return {op: n for (role, op), n in telemetry.api_call_counts().items() if role == "bulk-test"}


def _read_all(endpoint: Endpoint, snaps) -> dict:
    reader = HistoryReader(endpoint, snaps)
    return {
        (s.run_id, k): _points(reader.history(s.run_id, k))
        for s in snaps
        for k in sorted(s.metrics)
    }


def test_one_request_per_key_for_a_group_and_exact_points(source_server, runs):
    client, snaps = runs
    before = _calls()
    got = _read_all(Endpoint(source_server.url, role="bulk-test"), snaps)
    after = _calls()
    assert got == {
        (s.run_id, k): _points(client.get_metric_history(s.run_id, k))
        for s in snaps
        for k in sorted(s.metrics)
    }
    assert after.get("get_metric_history_bulk", 0) - before.get("get_metric_history_bulk", 0) == 2
    assert after.get("get_metric_history", 0) == before.get("get_metric_history", 0)


def test_a_full_answer_is_not_trusted_and_runs_are_read_alone(source_server, runs, monkeypatch):
    client, snaps = runs
    monkeypatch.setattr(history, "POINTS_PER_REQUEST", 8)
    before = _calls()
    got = _read_all(Endpoint(source_server.url, role="bulk-test"), snaps)
    assert got == {
        (s.run_id, k): _points(client.get_metric_history(s.run_id, k))
        for s in snaps
        for k in sorted(s.metrics)
    }
    assert (
        _calls()["get_metric_history"] - before.get("get_metric_history", 0) == 5
    )  # every 'loss' alone


def test_endpoints_without_the_bulk_route_read_run_by_run(source_server, runs):
    client, snaps = runs
    endpoint = Endpoint(
        source_server.url, role="bulk-test", caps=PLAIN_MLFLOW.with_overrides(history_bulk=False)
    )
    before = _calls()
    got = _read_all(endpoint, snaps)
    assert got == {
        (s.run_id, k): _points(client.get_metric_history(s.run_id, k))
        for s in snaps
        for k in sorted(s.metrics)
    }
    assert _calls()["get_metric_history"] - before.get("get_metric_history", 0) == 10
    assert _calls().get("get_metric_history_bulk", 0) == before.get("get_metric_history_bulk", 0)


def test_long_histories_come_in_pages_that_add_up_to_the_history(source_server, runs, monkeypatch):
    client, snaps = runs
    monkeypatch.setattr(history, "PAGE", 4)
    endpoint = Endpoint(
        source_server.url, role="bulk-test", caps=PLAIN_MLFLOW.with_overrides(history_bulk=False)
    )
    reader = HistoryReader(endpoint, snaps)
    longest = snaps[-1]  # 20 points of 'loss'
    pages = list(reader.pages(longest.run_id, "loss"))
    assert [len(p) for p in pages] == [4, 4, 4, 4, 4]
    assert _points([m for p in pages for m in p]) == _points(
        client.get_metric_history(longest.run_id, "loss")
    )
