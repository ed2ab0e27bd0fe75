"""Deep comparison of a source and a destination, written independently of the syncer's own code."""

from __future__ import annotations

import hashlib
import math
import sys
import tempfile
from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities import ViewType
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

PROVENANCE = "mlflow_syncer."
SKIP_TAGS = {"mlflow.log-model.history"}


def _value(v: float) -> str:
    # MLflow's SQL stores hold +/-inf as +/-DBL_MAX; a file-store source keeps real infinities.
    if math.isinf(v):
        v = math.copysign(sys.float_info.max, v)
    return "nan" if math.isnan(v) else repr(v)


class ReadError(Exception):
    """The oracle could not read one side: never a reason to call the two sides equal."""


def _read(side: str, what: str, call, *args, **kwargs):
    """Call one MLflow read; any exception becomes a ReadError naming the side and the object read."""
    try:
        return call(*args, **kwargs)
    except Exception as exc:
        raise ReadError(f"compare: cannot read {what} from the {side}: {type(exc).__name__}: {exc}") from exc


def _history(client: MlflowClient, run_id: str, key: str, side: str, collapse: bool = False) -> list[tuple]:
    """(step, timestamp, value) of every point; `collapse`: exact duplicates as one (a SQL store keeps one)."""
    points = _read(side, f"run {run_id} metric {key!r} history", client.get_metric_history, run_id, key)
    found = [(m.step, m.timestamp, _value(m.value)) for m in points]
    return sorted(set(found) if collapse else found)


def _artifact_files(repo, run_id: str, side: str) -> list[str]:
    """Every file below the run's artifact root, listed recursively (no files: an empty list, not an error)."""
    files, folders = [], [None]
    while folders:
        folder = folders.pop()
        where = f"run {run_id} artifact listing of {folder or '<root>'!r}"
        for info in _read(side, where, repo.list_artifacts, folder):
            (folders if info.is_dir else files).append(info.path)
    return sorted(files)


def _artifact_tree(client: MlflowClient, run, side: str) -> dict[str, str]:
    """path -> sha256 of every artifact file of the run; {} for a run without artifacts.

    Read from the run's own artifact location (not `runs:/`, which also lists logged models)."""
    run_id = run.info.run_id
    repo = _read(side, f"run {run_id} artifact location {run.info.artifact_uri}", get_artifact_repository,
                 run.info.artifact_uri, tracking_uri=client._tracking_client.tracking_uri)
    tree = {}
    with tempfile.TemporaryDirectory() as tmp:
        for path in _artifact_files(repo, run_id, side):
            local = _read(side, f"run {run_id} artifact {path!r}", repo.download_artifacts, path, tmp)
            tree[path] = hashlib.sha256(Path(local).read_bytes()).hexdigest()
    return tree


def run_record(client: MlflowClient, run, id_to_source: dict[str, str], side: str = "source",
               collapse: bool = False) -> dict:
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
        "metrics": {k: _history(client, info.run_id, k, side, collapse) for k in sorted(data.metrics)},
        "inputs": sorted((d.dataset.name, d.dataset.digest, d.dataset.source, d.dataset.source_type,
                          tuple(sorted((t.key, t.value) for t in d.tags)))
                         for d in (run.inputs.dataset_inputs if run.inputs else [])),
        "artifacts": _artifact_tree(client, run, side),
    }


def experiment_records(client: MlflowClient, names: list[str], view: int = ViewType.ACTIVE_ONLY,
                       side: str = "source") -> dict:
    """name -> {exp, runs} for the named experiments."""
    out = {}
    for name in names:
        exp = _read(side, f"experiment {name!r}", client.get_experiment_by_name, name)
        assert exp is not None, f"experiment {name} missing in the {side}"
        runs = _read(side, f"the runs of experiment {name!r}", client.search_runs, [exp.experiment_id],
                     run_view_type=view, max_results=50000)
        out[name] = {"exp": exp, "runs": runs}
    return out


def snapshot(client: MlflowClient, names: list[str], dest: bool, view: int = ViewType.ACTIVE_ONLY,
             all_clients_runs: dict | None = None, collapse: bool = False) -> dict:
    """A deep, comparable picture of the named experiments. Destination runs are keyed by source id."""
    side = "destination" if dest else "source"
    exps = experiment_records(client, names, view, side)
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
            runs[key] = run_record(client, r, id_to_source, side, collapse)
        result[name] = {"tags": tags, "runs": runs, "lifecycle": e["exp"].lifecycle_stage}
    return result


def assert_same(src: MlflowClient, dst: MlflowClient, names: list[str], view: int = ViewType.ACTIVE_ONLY,
                collapse: bool = False) -> None:
    """Assert that the destination holds exactly the source's experiments, runs, metrics and artifacts.

    `collapse`: the destination keeps one of several exact duplicate metric points (MLflow's SQL stores), so
    the source's duplicates count once."""
    a = snapshot(src, names, dest=False, view=view, collapse=collapse)
    b = snapshot(dst, names, dest=True, view=view)
    for name in names:
        assert sorted(a[name]["runs"]) == sorted(b[name]["runs"]), f"run sets differ in {name}"
        for rid, rec in a[name]["runs"].items():
            other = b[name]["runs"][rid]
            for key in rec:
                assert rec[key] == other[key], f"{name} run {rec['name']} ({rid}): field {key} differs"
        assert a[name]["tags"] == b[name]["tags"], f"experiment tags differ in {name}"
    assert a == b


def prompt_record(client: MlflowClient, name: str, dest: bool) -> dict:
    """One prompt as comparable data, read through MLflow's prompt API; any read failure raises.

    Destination versions are keyed by the source version they copy (their provenance tag) and aliases name
    those keys, so a source and its copy give equal records even when version numbers differ; destination
    versions that copy nothing are listed under "foreign", and "numbers" maps each version number to its key
    (both differ between the two sides). Experiment links are experiment names.
    """
    prompt = client.get_prompt(name)
    assert prompt is not None, f"prompt {name}: not found"
    listed = list(client.search_prompt_versions(name, max_results=1000))
    assert listed, f"prompt {name}: no version read"
    versions: dict[str, dict] = {}
    aliases: dict[str, str] = {}
    foreign: list[str] = []
    numbers: dict[str, str] = {}
    for number in sorted(int(pv.version) for pv in listed):
        pv = client.get_prompt_version(name, number)
        assert pv is not None, f"prompt {name} v{number}: cannot be read"
        key = pv._tags.get(PROVENANCE + "source_prompt_version") if dest else str(number)
        if key is None:
            foreign.append(str(number))
            continue
        assert key not in versions, f"prompt {name}: two copies of source version {key}"
        numbers[str(number)] = key
        versions[key] = {"template": pv.template, "text": pv.is_text_prompt, "commit_message": pv.commit_message,
                         "tags": {k: v for k, v in pv.tags.items() if not k.startswith(PROVENANCE)},
                         "model_config": pv.model_config, "response_format": pv.response_format}
        aliases.update({alias: key for alias in pv.aliases})
    tags = {k: v for k, v in prompt.tags.items() if not k.startswith(PROVENANCE)}
    experiments = sorted(client.get_experiment(i).name for i in tags.pop("_mlflow_experiment_ids", "").split(",") if i)
    return {"tags": tags, "experiments": experiments, "aliases": aliases, "versions": versions, "foreign": foreign,
            "numbers": numbers}


def prompt_links(client: MlflowClient, experiment: str, dest: bool, keys: dict[str, dict[str, str]]) -> dict:
    """Source run id -> [(prompt, source version)] of every run of `experiment` naming prompt versions.

    `keys` maps each prompt name to {version number on this side -> source version} (identity for a source).
    """
    import json

    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, f"experiment {experiment} missing"
    out = {}
    for run in client.search_runs([exp.experiment_id], max_results=50000):
        value = run.data.tags.get("mlflow.linkedPrompts")
        if value is None:
            continue
        run_key = run.data.tags[PROVENANCE + "source_run_id"] if dest else run.info.run_id
        out[run_key] = sorted((e["name"], keys[e["name"]][str(e["version"])]) for e in json.loads(value))
    return out


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
            run_id = run_id or None  # a server answers "" where a direct store says None
            if not dest or run_id is None:
                return run_id
            return client.get_run(run_id).data.tags.get(PROVENANCE + "source_run_id", run_id)

        out[key] = {
            "name": lm.name, "model_type": lm.model_type or None, "status": str(lm.status),
            "params": dict(lm.params or {}),
            "tags": {k: v for k, v in (lm.tags or {}).items()
                     if not k.startswith(PROVENANCE) and k != "mlflow.modelVersions"},
            "source_run": source_run(lm.source_run_id),
            "metrics": sorted((m.key, _value(m.value), m.timestamp, m.step, m.dataset_name, m.dataset_digest,
                               source_run(m.run_id)) for m in (lm.metrics or [])),
            "files": logged_model_files(tracking_uri, lm.artifact_location),
        }
    return out


def _record(r) -> tuple:
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
# -- traces (deep comparison: info, span trees, assessments, run links) ------------------------------------

_TRACE_SERVER_TAGS = {"mlflow.artifactLocation", "mlflow.trace.spansLocation"}
_TRACE_SERVER_METADATA = {"mlflow.trace.infoFinalized"}


def _trace_span_record(span: dict) -> dict:
    """A span as canonical data: everything but the trace id (ids of spans and parents are kept by copies)."""
    attributes = {k: v for k, v in span["attributes"].items() if k != "mlflow.traceRequestId"}
    return {"span_id": span["span_id"], "parent": span["parent_span_id"], "name": span["name"],
            "start": int(span["start_time_unix_nano"]), "end": int(span["end_time_unix_nano"]),
            "status": span["status"], "attributes": attributes, "events": span["events"],
            "links": span.get("links", [])}


def _trace_record(trace, run_to_source: dict[str, str]) -> dict:
    info = trace.info.to_dict()
    meta = {k: v for k, v in info.get("trace_metadata", {}).items() if k not in _TRACE_SERVER_METADATA}
    if "mlflow.sourceRun" in meta:
        meta["mlflow.sourceRun"] = run_to_source.get(meta["mlflow.sourceRun"], meta["mlflow.sourceRun"])
    # `valid` absent is True (MLflow's Assessment.from_dictionary): a server's REST answer leaves it out of
    # expectations that its database holds as valid, a direct store's read says True.
    assessments = sorted(
        ({"valid": True, **{k: v for k, v in a.items() if k not in ("trace_id", "assessment_id", "overrides")}}
         for a in info.get("assessments", [])), key=lambda a: (a["assessment_name"], a["create_time"]))
    spans = sorted((_trace_span_record(s.to_dict()) for s in trace.data.spans), key=lambda s: s["span_id"])
    assert spans, f"trace {trace.info.trace_id} has no spans"
    return {
        "request_time": info["request_time"], "duration": info.get("execution_duration_ms"),
        "state": info["state"], "request_preview": info.get("request_preview"),
        "response_preview": info.get("response_preview"), "metadata": meta, "assessments": assessments,
        "tags": {k: v for k, v in info.get("tags", {}).items()
                 if not k.startswith(PROVENANCE) and k not in _TRACE_SERVER_TAGS},
        "spans": spans,
    }


def trace_records(client: MlflowClient, experiment_name: str, dest: bool,
                  through: dict[str, str] | None = None) -> dict[str, dict]:
    """Every trace of an experiment, read whole (spans and assessments), keyed by (source) trace id.

    Read errors are not caught: a trace that cannot be read fails the test. In a destination, run links are
    mapped back to the source run ids (by the run provenance tag; `through` maps the ids of runs that were copies
    themselves, source -> intermediate -> destination, on to the source's) and traces are keyed by their
    provenance tag.
    """
    side = "destination" if dest else "source"
    exp = client.get_experiment_by_name(experiment_name)
    assert exp is not None, f"no experiment {experiment_name}"
    run_to_source = {}
    if dest:
        for r in client.search_runs([exp.experiment_id], run_view_type=ViewType.ALL):
            copied_from = r.data.tags.get(PROVENANCE + "source_run_id", "?")
            run_to_source[r.info.run_id] = (through or {}).get(copied_from, copied_from)
    records: dict[str, dict] = {}
    hits, token = [], None
    while True:
        page = _read(side, f"the traces of {experiment_name}", client.search_traces, locations=[exp.experiment_id],
                     include_spans=False, max_results=500, page_token=token)
        hits.extend(page)
        token = page.token
        if not token:
            break
    for hit in hits:
        trace = _read(side, f"trace {hit.info.trace_id}", client.get_trace, hit.info.trace_id)
        key = trace.info.tags.get(PROVENANCE + "source_trace_id", "?") if dest else trace.info.trace_id
        assert key not in records, f"two copies of trace {key} in {experiment_name}"
        records[key] = _trace_record(trace, run_to_source)
    return records


def assert_same_traces(src: MlflowClient, dst: MlflowClient, pairs: dict[str, str],
                       through: dict[str, str] | None = None) -> int:
    """Assert each destination experiment (value) holds exactly the traces of its source (key); returns the count."""
    count = 0
    for src_name, dst_name in pairs.items():
        a, b = trace_records(src, src_name, dest=False), trace_records(dst, dst_name, dest=True, through=through)
        assert sorted(a) == sorted(b), f"trace sets differ: {src_name} -> {dst_name}"
        for trace_id, rec in a.items():
            for key in rec:
                assert rec[key] == b[trace_id][key], f"trace {trace_id} ({src_name}): {key} differs"
        count += len(a)
    return count
