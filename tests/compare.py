"""Deep comparison of a source and a destination, written independently of the syncer's own code."""

from __future__ import annotations

import hashlib
import math
import sys
import tempfile
from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities import ViewType

PROVENANCE = "mlflow_syncer."
SKIP_TAGS = {"mlflow.log-model.history"}


def _value(v: float) -> str:
    # MLflow's SQL stores hold +/-inf as +/-DBL_MAX; a file-store source keeps real infinities.
    if math.isinf(v):
        v = math.copysign(sys.float_info.max, v)
    return "nan" if math.isnan(v) else repr(v)


def _history(client: MlflowClient, run_id: str, key: str) -> list[tuple]:
    return sorted((m.step, m.timestamp, _value(m.value)) for m in client.get_metric_history(run_id, key))


def _artifact_tree(client: MlflowClient, run_id: str) -> dict[str, str]:
    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = Path(client.download_artifacts(run_id, "", tmp))
        except Exception:  # noqa: BLE001
            return {}
        return {str(p.relative_to(local)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in local.rglob("*") if p.is_file()}


def run_record(client: MlflowClient, run, id_to_source: dict[str, str]) -> dict:
    """Everything a user relies on about one run, as comparable data."""
    info, data = run.info, run.data
    tags = {k: v for k, v in data.tags.items() if not k.startswith(PROVENANCE) and k not in SKIP_TAGS}
    parent = tags.pop("mlflow.parentRunId", None)
    return {
        "name": info.run_name,
        "status": info.status,
        "start_time": info.start_time,
        "end_time": info.end_time if info.status != "RUNNING" else None,
        "lifecycle": info.lifecycle_stage,
        "params": dict(data.params),
        "tags": tags,
        "parent": id_to_source.get(parent, parent) if parent else None,
        "metrics": {k: _history(client, info.run_id, k) for k in sorted(data.metrics)},
        "inputs": sorted((d.dataset.name, d.dataset.digest, d.dataset.source, d.dataset.source_type,
                          tuple(sorted((t.key, t.value) for t in d.tags)))
                         for d in (run.inputs.dataset_inputs if run.inputs else [])),
        "artifacts": _artifact_tree(client, info.run_id),
    }


def experiment_records(client: MlflowClient, names: list[str], view: int = ViewType.ACTIVE_ONLY,
                       as_dest: bool = False) -> dict:
    """name -> {tags, runs: {source run id -> record}} for the named experiments."""
    out = {}
    for name in names:
        exp = client.get_experiment_by_name(name)
        assert exp is not None, f"experiment {name} missing"
        runs = client.search_runs([exp.experiment_id], run_view_type=view, max_results=50000)
        out[name] = {"exp": exp, "runs": runs}
    return out


def snapshot(client: MlflowClient, names: list[str], dest: bool, view: int = ViewType.ACTIVE_ONLY,
             all_clients_runs: dict | None = None) -> dict:
    """A deep, comparable picture of the named experiments. Destination runs are keyed by source id."""
    exps = experiment_records(client, names, view)
    id_to_source: dict[str, str] = {}
    if dest:
        for e in exps.values():
            for r in e["runs"]:
                id_to_source[r.info.run_id] = r.data.tags.get(PROVENANCE + "source_run_id", "?")
    result = {}
    for name, e in exps.items():
        tags = {k: v for k, v in e["exp"].tags.items() if not k.startswith(PROVENANCE)}
        runs = {}
        for r in e["runs"]:
            key = id_to_source[r.info.run_id] if dest else r.info.run_id
            assert key not in runs, f"duplicate run for source {key} in {name}"
            runs[key] = run_record(client, r, id_to_source)
        result[name] = {"tags": tags, "runs": runs, "lifecycle": e["exp"].lifecycle_stage}
    return result


def assert_same(src: MlflowClient, dst: MlflowClient, names: list[str], view: int = ViewType.ACTIVE_ONLY) -> None:
    """Assert that the destination holds exactly the source's experiments, runs, metrics and artifacts."""
    a = snapshot(src, names, dest=False, view=view)
    b = snapshot(dst, names, dest=True, view=view)
    for name in names:
        assert sorted(a[name]["runs"]) == sorted(b[name]["runs"]), f"run sets differ in {name}"
        for rid, rec in a[name]["runs"].items():
            other = b[name]["runs"][rid]
            for key in rec:
                assert rec[key] == other[key], f"{name} run {rec['name']} ({rid}): field {key} differs"
        assert a[name]["tags"] == b[name]["tags"], f"experiment tags differ in {name}"
    assert a == b


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*")
            if p.is_file()}


def logged_model_files(tracking_uri: str, artifact_location: str) -> dict[str, str]:
    """Relative path -> sha256 of every file of a logged model (read errors raise)."""
    import mlflow.artifacts

    with tempfile.TemporaryDirectory() as tmp:
        local = mlflow.artifacts.download_artifacts(artifact_uri=artifact_location, dst_path=tmp,
                                                    tracking_uri=tracking_uri)
        return _tree(Path(local))


def logged_model_records(tracking_uri: str, experiment_ids: list[str], dest: bool) -> dict[str, dict]:
    """Every logged model of the experiments as comparable data, keyed by the source model id (on a
    destination: its provenance tag; a second copy of one source model fails). Runs are named by source id."""
    client = MlflowClient(tracking_uri)
    out: dict[str, dict] = {}
    for lm in client.search_logged_models(experiment_ids, max_results=1000):
        key = lm.tags.get(PROVENANCE + "source_model_id") if dest else lm.model_id
        assert key is not None, f"logged model {lm.model_id} carries no provenance tag"
        assert key not in out, f"two copies of logged model {key}"

        def source_run(run_id: str | None) -> str | None:
            if not dest or run_id is None:
                return run_id
            return client.get_run(run_id).data.tags.get(PROVENANCE + "source_run_id", run_id)

        out[key] = {
            "name": lm.name, "model_type": lm.model_type, "status": str(lm.status),
            "params": dict(lm.params or {}),
            "tags": {k: v for k, v in (lm.tags or {}).items()
                     if not k.startswith(PROVENANCE) and k not in ("mlflow.user", "mlflow.modelVersions")},
            "source_run": source_run(lm.source_run_id),
            "metrics": sorted((m.key, _value(m.value), m.timestamp, m.step, m.dataset_name, m.dataset_digest,
                               source_run(m.run_id)) for m in (lm.metrics or [])),
            "files": logged_model_files(tracking_uri, lm.artifact_location),
        }
    return out


def _record(r) -> tuple:  # noqa: ANN001
    import json

    def dump(value: object) -> str:
        return json.dumps(value, sort_keys=True)

    return (dump(r.inputs), dump(r.outputs), dump(r.expectations or {}), dump(r.tags or {}),
            dump(r.source.to_dict() if r.source else None))


def dataset_records(tracking_uri: str, experiment_ids: list[str], dest: bool) -> dict[str, dict]:
    """Every evaluation dataset linked to the experiments, with its records, keyed by the source dataset id
    (provenance tag on a destination); experiments are named by name (read errors raise)."""
    import json

    client = MlflowClient(tracking_uri)
    store = client._tracking_client.store
    out: dict[str, dict] = {}
    for ds in client.search_datasets(experiment_ids=experiment_ids, max_results=1000):
        key = ds.tags.get(PROVENANCE + "source_dataset_id") if dest else ds.dataset_id
        assert key is not None, f"dataset {ds.dataset_id} carries no provenance tag"
        assert key not in out, f"two copies of dataset {key}"
        records, _ = store._load_dataset_records(ds.dataset_id, max_results=None)
        exps = store.get_dataset_experiment_ids(ds.dataset_id)
        out[key] = {
            "name": ds.name,
            "tags": {k: v for k, v in (ds.tags or {}).items() if not k.startswith(PROVENANCE)},
            "schema": json.loads(ds.schema) if ds.schema else None,
            "profile": json.loads(ds.profile) if ds.profile else None,
            "experiments": sorted(client.get_experiment(e).name for e in exps),
            "records": sorted(_record(r) for r in records),
        }
    return out
