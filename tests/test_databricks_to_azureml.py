"""Databricks-like source -> Azure-ML-like destination, both emulated (tests/emulators/): real
MLflow servers with artifacts in Azurite, behind gateways that behave like the services at the HTTP
level.
"""

from __future__ import annotations

import copy
import csv
import io
import json
from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag

from syncer.backends import azure_blob as blob
from syncer.backends.azure_blob import BlobLocation
from syncer.config import EndpointConfig, Settings
from syncer.core.actions import Op
from syncer.engine.deep_compare import Inspection
from syncer.engine.sync import sync
from syncer.plan.uncopied import is_unlisted
from syncer.report.json_format import write as write_json
from syncer.report.model import Report
from syncer.report.summary import summarize
from syncer.report.text import lines
from tests.compare import snapshot
from tests.fixtures.workload import T0

USER = "/Users/alice@corp.com"
LONG_VALUE = "v" * 2500
LONG_KEY = "k" * 150


def settings_for(dest_url: str, state: str, experiments: list[str], **kw) -> Settings:
    return Settings(
        source=EndpointConfig(tracking_uri="databricks", registry_uri="databricks"),
        destination=EndpointConfig(tracking_uri=dest_url, profile="azureml"),
        state=state,
        experiments=experiments,
        **kw,
    )


def add_policy_run(client: MlflowClient, experiment_name: str) -> str:
    """A run that does not fit Azure ML: long tag value and keys, mlflow.user, 60 tags, 55 metric
    names."""
    exp = client.get_experiment_by_name(experiment_name)
    run = client.create_run(
        exp.experiment_id,
        start_time=T0,
        run_name="too-big",
        tags={"mlflow.user": "alice@corp.com", "mlflow.source.name": "big.py"},
    )
    rid = run.info.run_id
    tags = [RunTag(f"tag_{i:02d}", f"value {i}") for i in range(60)]
    tags += [RunTag("long_value", LONG_VALUE), RunTag(LONG_KEY, "long key")]
    client.log_batch(rid, tags=tags[:50])
    client.log_batch(
        rid, tags=tags[50:], params=[Param("p" * 120, "long param key"), Param("ok", "1")]
    )
    metrics = [
        Metric(f"m{i:02d}", float(i * s), T0 + s, s) for i in range(55) for s in range(6)
    ]  # 300 kept: 2 batches
    client.log_batch(rid, metrics=metrics)
    client.set_terminated(rid, "FINISHED", end_time=T0 + 99)
    return rid


def fitted_record(rec: dict) -> tuple[dict, dict]:
    """The documented Azure ML policy, written out independently of syncer/adapt.py: what the copy
    of a source run record must look like, and the policy artifacts it must carry."""
    rec = copy.deepcopy(rec)
    files: dict[str, str] = {}
    tags = {k: v for k, v in rec["tags"].items() if k != "mlflow.user"}
    dropped = {k: tags.pop(k) for k in list(tags) if len(k) > 100}
    if dropped:
        files["mlflow_syncer/dropped_tags.json"] = json.dumps(dropped, indent=1, sort_keys=True)
    for k, v in list(tags.items()):
        if len(v) > 1000:
            files[f"mlflow_syncer/truncated_tags/{k}.txt"] = v
            tags[k] = v[: 1000 - len("...[truncated]")] + "...[truncated]"
    order = sorted(tags, key=lambda k: (not k.startswith("mlflow."), k))
    if len(order) > 43:  # 50 per run, 7 for mlflow.runName/user/parentRunId and provenance
        files["mlflow_syncer/overflow_tags.json"] = json.dumps(
            {k: tags[k] for k in order[43:]}, indent=1, sort_keys=True
        )
        tags = {k: tags[k] for k in order[:43]}
    rec["tags"] = tags
    params = rec["params"]
    dropped_params = {k: params.pop(k) for k in list(params) if len(k) > 100}
    if dropped_params:
        files["mlflow_syncer/dropped_params.json"] = json.dumps(
            dropped_params, indent=1, sort_keys=True
        )
    metrics = rec["metrics"]
    for k in sorted(metrics)[50:]:
        files[f"mlflow_syncer/dropped_metrics/{k}.csv"] = metrics.pop(k)
    return rec, files


def assert_fitted_copy(
    src: MlflowClient, dst: MlflowClient, src_names: list[str], dst_names: list[str]
) -> None:
    """Deep comparison, adjusted only for the documented policies."""
    a = snapshot(src, src_names, dest=False)
    b = snapshot(dst, dst_names, dest=True)
    exp_ids = [dst.get_experiment_by_name(n).experiment_id for n in dst_names]
    dest_id = {
        r.data.tags["mlflow_syncer.source_run_id"]: r.info.run_id for r in dst.search_runs(exp_ids)
    }
    for s_name, d_name in zip(src_names, dst_names, strict=True):
        assert a[s_name]["tags"] == b[d_name]["tags"]
        assert sorted(a[s_name]["runs"]) == sorted(b[d_name]["runs"])
        for rid, rec in a[s_name]["runs"].items():
            want, files = fitted_record(rec)
            got = b[d_name]["runs"][rid]
            policy_files = {
                p: h for p, h in got["artifacts"].items() if p.startswith("mlflow_syncer/")
            }
            got["artifacts"] = {p: h for p, h in got["artifacts"].items() if p not in policy_files}
            assert sorted(policy_files) == sorted(files), rec["name"]
            for key in [k for k in want if k != "metrics"] + ["metrics"]:
                assert want[key] == got[key], f"{rec['name']}: {key} differs"
            for path, expected in files.items():
                check_policy_file(dst, dest_id[rid], path, expected)


def check_policy_file(dst: MlflowClient, run_id: str, path: str, expected) -> None:
    text = Path(dst.download_artifacts(run_id, path)).read_text(encoding="utf-8")
    if path.endswith(".csv"):
        rows = [
            (int(r["step"]), int(r["timestamp"]), r["value"])
            for r in csv.DictReader(io.StringIO(text))
        ]
        assert rows == [tuple(x) for x in expected]
    elif path.endswith(".json"):
        assert json.loads(text) == json.loads(expected)
    else:
        assert text == expected


def test_databricks_to_azureml_copies_workload_with_documented_policies(
    databricks_env, azureml_dest, workload_factory, unique_name, tmp_path
):
    src_direct = MlflowClient(databricks_env.server.url)
    w = workload_factory(src_direct, f"{USER}/{unique_name}")
    policy_run = add_policy_run(src_direct, w.experiments[0])
    settings = settings_for(
        azureml_dest.url, f"sqlite:///{tmp_path / 'state.db'}", [f"{USER}/{unique_name}/*"]
    )

    first = sync(settings)
    assert not first.failed, [o.error for o in first.failed]
    created = [a for a in first.plan.actions if a.kind == "run" and a.op is Op.CREATE]
    assert len(created) == len(w.runs) + 1
    dst_names = [
        f"{unique_name}/alpha",
        f"{unique_name}/beta",
    ]  # default mapping strips /Users/<user>/
    assert sorted(a.label for a in first.plan.actions if a.kind == "experiment") == dst_names

    notes = next(a for a in first.plan.actions if a.source_id == policy_run).details["policy"]
    assert "tag mlflow.user dropped: not settable on azureml" in notes
    assert any(n.startswith("tag long_value truncated to 1000 characters") for n in notes)
    assert any(n.startswith("tag kkkk") and "key longer than 100" in n for n in notes)
    assert any(n.startswith("param pppp") for n in notes)
    # 60 tag_xx, long_value, mlflow.source.name and mlflow.runName fit the other rules; 43 may stay
    assert any(n.startswith("20 tags not logged") for n in notes)
    assert sum(n.startswith("metric m5") for n in notes) == 5
    report = "\n".join(lines(Report(first, Inspection())))
    assert "policy: param pppp" in report and "(+" in report  # rendered, with the count of the rest
    assert summarize(first).policy_decisions == len(notes)
    report_obj = Report(first, Inspection())
    buffer = io.StringIO()
    write_json(report_obj, report_obj.summary(), buffer)
    reported = next(
        o for o in json.loads(buffer.getvalue())["objects"] if o["source_id"] == policy_run
    )
    assert reported["details"]["policy"] == notes  # the JSON report carries every decision

    dst = MlflowClient(azureml_dest.url)
    assert_fitted_copy(src_direct, dst, w.experiments, dst_names)
    a0 = next(
        r
        for r in dst.search_runs([dst.get_experiment_by_name(dst_names[0]).experiment_id])
        if r.info.run_name == "a-0"
    )
    copied = blob.blob_client(BlobLocation.parse(a0.info.artifact_uri).child("deep/er/data.bin"))
    props = copied.get_blob_properties()
    assert (
        props.copy.status == "success" and "/databricks/" in props.copy.source
    )  # storage-side copy

    second = sync(settings)
    assert second.outcomes == [] and all(
        a.op is Op.SAME or is_unlisted(a) for a in second.plan.actions
    )


def test_emulated_azureml_enforces_its_limits(azureml_dest, unique_name):
    """The destination gateway really rejects what does not fit, and drops mlflow.source.* on
    create."""
    client = MlflowClient(azureml_dest.url)
    exp = client.create_experiment(f"{unique_name}/limits")
    run = client.create_run(exp, tags={"mlflow.source.name": "x.py", "ok": "1"})
    assert "mlflow.source.name" not in client.get_run(run.info.run_id).data.tags
    rid = run.info.run_id
    for bad in (
        {"tags": [RunTag("t", "x" * 1001)]},
        {"tags": [RunTag("k" * 101, "x")]},
        {"metrics": [Metric("m", 1.0, T0, s) for s in range(251)]},
        {"tags": [RunTag(f"t{i}", "x") for i in range(50)]},
        {"tags": [RunTag("mlflow.user", "x")]},
    ):
        try:
            client.log_batch(rid, **bad)
        except Exception as exc:
            assert "INVALID_PARAMETER_VALUE" in str(exc)
        else:
            raise AssertionError(f"accepted {list(bad)}")
