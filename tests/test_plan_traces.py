"""The pure trace planner: matching by provenance, fingerprints, duplicates, run links, no trace
API."""

from __future__ import annotations

from syncer.core.actions import Op
from syncer.core.capabilities import AZURE_ML, PLAIN_MLFLOW
from syncer.core.snapshot import ExperimentSnap, Snapshot
from syncer.kinds.traces.plan import plan_traces
from syncer.kinds.traces.snapshot import UNLINKED, TraceSnap, dest_trace_id, trace_fingerprint


def _snaps() -> tuple[Snapshot, Snapshot]:
    src = Snapshot("src", experiments={"1": ExperimentSnap("1", "genai", "active")})
    dst = Snapshot("dst", experiments={"9": ExperimentSnap("9", "genai", "active")})
    for i in range(4):
        src.part("trace")[f"t{i}"] = TraceSnap(
            f"t{i}", "1", 1000 + i, "OK", f"fp{i}", source_run="r1" if i == 0 else None
        )
    return src, dst


def _copy(
    dst: Snapshot, source: str, fp: str | None, trace_id: str | None = None, state: str = "OK"
) -> None:
    trace_id = trace_id or dest_trace_id(source, "9")
    dst.part("trace")[trace_id] = TraceSnap(
        trace_id, "9", 0, state, "x", source_trace_id=source, copy_fingerprint=fp
    )


def test_same_create_update_and_duplicates():
    src, dst = _snaps()
    _copy(dst, "t0", "fp0")
    _copy(dst, "t1", "old", state="IN_PROGRESS")
    _copy(dst, "t2", "fp2")
    _copy(dst, "t2", "fp2", trace_id="tr-other")
    actions = {
        a.source_id: a for a in plan_traces(src, dst, {"1": "genai"}, PLAIN_MLFLOW, {"1"}, {"r1"})
    }
    assert actions["t0"].op is Op.SAME and actions["t0"].details["link"] == "r1"
    assert actions["t1"].op is Op.UPDATE and actions["t1"].details["spans"] is True
    assert actions["t2"].op is Op.UPDATE and actions["t2"].details["retire"] == ["tr-other"]
    assert actions["t2"].dest_id == dest_trace_id("t2", "9")
    assert actions["t3"].op is Op.CREATE and actions["t3"].details["request_time"] == 1003


def test_unlinked_copy_is_completed_and_unplanned_run_is_not_linked():
    src, dst = _snaps()
    _copy(dst, "t0", UNLINKED)
    actions = {
        a.source_id: a for a in plan_traces(src, dst, {"1": "genai"}, PLAIN_MLFLOW, {"1"}, set())
    }
    assert actions["t0"].op is Op.UPDATE and actions["t0"].details["link"] is None
    assert actions["t0"].details["changed"] == "unlinked run"


def test_quarantined_and_unplannable_experiments():
    src, dst = _snaps()
    actions = plan_traces(
        src, dst, {"1": "genai"}, PLAIN_MLFLOW, {"1"}, set(), frozenset({("trace", "t1")})
    )
    assert [a.op for a in actions if a.source_id == "t1"] == [Op.ERROR]
    assert plan_traces(src, dst, {"1": "genai"}, PLAIN_MLFLOW, set(), set()) == []


def test_destination_without_trace_api_gets_one_count_per_experiment():
    src, dst = _snaps()
    [action] = plan_traces(src, dst, {"1": "genai"}, AZURE_ML, {"1"}, set())
    assert action.op is Op.UNCOPIED and action.kind == "trace" and action.label == "genai/traces"
    assert (action.details["count"], action.details["reason"]) == (
        4,
        "destination has no trace API: azureml",
    )


def test_fingerprint_ignores_server_owned_and_provenance_tags():
    info = {
        "request_time": 5,
        "state": "OK",
        "tags": {"a": "1"},
        "trace_metadata": {"m": "2"},
        "assessments": [],
    }
    copy = {
        **info,
        "tags": {"a": "1", "mlflow.artifactLocation": "x", "mlflow_syncer.source_trace_id": "t"},
        "trace_metadata": {"m": "2", "mlflow.trace.infoFinalized": "true"},
    }
    assert trace_fingerprint(info) == trace_fingerprint(copy)
    assert trace_fingerprint(info) != trace_fingerprint({**info, "tags": {"a": "2"}})


def test_batches_are_bounded_by_count_and_bytes():
    from syncer.kinds.traces.snapshot import batches

    assert batches(list(range(5)), [1] * 5, 2, 100) == [[0, 1], [2, 3], [4]]
    assert batches(["a", "b", "c", "d"], [60, 50, 200, 10], 50, 100) == [["a"], ["b"], ["c"], ["d"]]
    assert batches(["a", "b", "c"], [30, 30, 30], 50, 100) == [["a", "b", "c"]]
