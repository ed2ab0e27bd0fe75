"""MLflow's REST bodies written compactly (syncer.backends.compact_json) are the same JSON values
MLflow's own `message_to_json` writes: int64 fields as numbers, NaN and infinities spelled as
MLflow spells them, maps, unicode, empty messages. The copies the rest of the suite compares go
through it (every Endpoint installs it)."""

from __future__ import annotations

import json
import math

import pytest
from mlflow.entities import Metric, Param, RunTag
from mlflow.protos import service_pb2 as pb
from mlflow.utils import proto_json_utils

from syncer.backends import compact_json

ORIGINAL = compact_json._ORIGINAL
BIG = 2**62 + 7


def _batch() -> pb.LogBatch:
    values = [0.0, -0.0, 1.5, 1e308, -1e-308, math.nan, math.inf, -math.inf, 123456789.123456789]
    metrics = [
        Metric(f"m{i} ✓", v, BIG - i, -i if i % 2 else BIG, model_id="m-1" if i == 1 else None)
        for i, v in enumerate(values)
    ]
    return pb.LogBatch(
        run_id="r1",
        metrics=[m.to_proto() for m in metrics],
        params=[Param("p", "ü" * 300).to_proto(), Param("q", "").to_proto()],
        tags=[RunTag("mlflow.note.content", '"quoted"\n\\ back').to_proto()],
    )


MESSAGES = [
    _batch(),
    pb.LogBatch(),
    pb.CreateRun(
        experiment_id="1", start_time=BIG, run_name="r", tags=[RunTag("a", "b").to_proto()]
    ),
    pb.SearchRuns(
        experiment_ids=["1", "2"], filter="tags.x = 'y'", max_results=1000, page_token="t"
    ),
    pb.UpdateRun(run_id="r", status=3, end_time=BIG),
    pb.TraceInfoV3(trace_id="tr-1", trace_metadata={"k": "v", "ü": "✓"}, tags={"t": "1"}),
    pb.MetricDataPoint(dimensions={"a": "b"}, values={"x": 1.0, "nan": math.nan}),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_the_compact_body_is_the_value_mlflow_writes(message) -> None:
    ours, theirs = compact_json.compact(message), ORIGINAL(message)
    assert json.loads(ours) == json.loads(theirs)  # NaN and infinities are strings in both
    assert "\n" not in ours and len(ours) <= len(theirs)


def test_int64_fields_are_numbers_and_doubles_keep_mlflow_spelling() -> None:
    value = json.loads(compact_json.compact(_batch()))
    first = value["metrics"][0]
    assert first["timestamp"] == BIG and first["step"] == BIG  # numbers, not strings
    assert [m["value"] for m in value["metrics"]][5:8] == ["NaN", "Infinity", "-Infinity"]


def test_install_rebinds_mlflow_modules_once() -> None:
    from mlflow.store.tracking import rest_store

    compact_json.install()
    compact_json.install()
    assert proto_json_utils.message_to_json is compact_json.compact
    assert rest_store.message_to_json is compact_json.compact
