"""The test oracle: a deep comparison of a source and a destination, independent of the syncer.

Nothing here imports `syncer`: every rule is restated from MLflow's public behaviour (MlflowClient),
and the provenance tags are spelled out literally, so that a bug in the syncer's own normalisation
(`syncer.core.fitting`, `syncer.core.snapshot`, ...) cannot make both sides agree.

What is compared, within the experiments a test names (shared session servers hold other tests'
experiments, so an experiment outside them is never called foreign):
- experiments: name, tags, lifecycle stage;
- runs: name, status, start and end time, lifecycle, params, tags, the parent (mapped back to its
  source id), dataset inputs, every metric's full history as a multiset of (step, timestamp, value),
  and every artifact file by path and sha256 of its bytes;
- registered models linked to those runs (a version made from one of them) or named by the test:
  description, tags, aliases (naming source versions), and per version: description, tags, stage,
  status, the source run it was made from and its files by path and sha256;
- logged models, traces (spans, assessments, run links) and evaluation datasets (records, experiment
  links) of those experiments; prompts through `prompt_record` / `assert_same_prompts`.
A destination object that is not the copy of a source object (no provenance tag naming one) is a
difference, reported as "only in the destination"; so is a second copy of one source object.

What is deliberately ignored, and why:
- `mlflow_syncer.*` tags: the syncer's own provenance, not user data; destination runs the syncer
  makes for itself (archive holder runs, model-file holder runs, tagged as such) are not copies;
- ids, version numbers, artifact locations, creation/update timestamps of experiments, models and
  versions: the destination assigns its own (copies are matched by provenance tag instead);
- `mlflow.modelVersions` on logged models (the destination server writes it when a version is
  registered); in `mlflow.log-model.history` a copy names itself, so its own run id reads as its
  source's;
- a run's MLflow 3 model inputs and outputs (logged-model links): the logged models themselves are
  compared, with their source runs;
- a RUNNING run's end time (MLflow leaves it unset or moving while the run is live);
- trace tags and metadata the destination server sets itself (artifact location, spans location,
  `mlflow.trace.infoFinalized`) and the trace id inside span attributes (copies get new ids).
Value rules restated from MLflow: SQL stores hold +/-inf metric values as +/-DBL_MAX and NaN as NaN;
a stage is kept as the tag `mlflow_syncer.source_stage` where a destination has no stages (Azure ML,
Unity Catalog), so that tag reads as the version's stage; a file store holds no evaluation
datasets (MLflow refuses them there), so none are compared where one end is one.

Every read is paged to the end (no max_results ceiling) and any read error raises `ReadError`
naming the side and the object: a side that cannot be read is never "equal". `assert_same` also
fails when it compared fewer runs than `min_runs` (default 1): an empty comparison proves nothing.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from mlflow import MlflowClient
from mlflow.entities import ViewType
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

# The contract, stated independently of syncer/: the tags a copy carries to name what it copies.
PROVENANCE = "mlflow_syncer."
SOURCE_RUN = "mlflow_syncer.source_run_id"
SOURCE_VERSION = "mlflow_syncer.source_version"
SOURCE_STAGE = "mlflow_syncer.source_stage"
SOURCE_MODEL_ID = "mlflow_syncer.source_model_id"
SOURCE_TRACE = "mlflow_syncer.source_trace_id"
SOURCE_DATASET = "mlflow_syncer.source_dataset_id"
SOURCE_PROMPT_VERSION = "mlflow_syncer.source_prompt_version"
# Destination runs the syncer makes for itself (archives, model files).
HOLDER_TAGS = ("mlflow_syncer.archive.source", "mlflow_syncer.holds_model_version")
HISTORY = "mlflow.log-model.history"  # the models a run logged, each entry naming the run
ONLY_IN_DEST = "only in the destination: "
KINDS = ("models", "logged_models", "traces", "datasets")
PAGE = 1000


def _value(v: float) -> str:
    # MLflow's SQL stores hold +/-inf as +/-DBL_MAX; a file-store source keeps real infinities.
    if math.isinf(v):
        v = math.copysign(sys.float_info.max, v)
    return "nan" if math.isnan(v) else repr(v)


def _user_tags(tags: dict | None, *skip: str) -> dict[str, str]:
    return {k: v for k, v in (tags or {}).items() if not k.startswith(PROVENANCE) and k not in skip}


class ReadError(Exception):
    """The oracle could not read one side: never a reason to call the two sides equal."""


def _side(dest: bool) -> str:
    return "destination" if dest else "source"


def _read(side: str, what: str, call: Callable, *args, **kwargs):
    """Call one MLflow read; any exception: a ReadError naming side and object."""
    try:
        return call(*args, **kwargs)
    except Exception as exc:
        raise ReadError(
            f"compare: cannot read {what} from the {side}: {type(exc).__name__}: {exc}"
        ) from exc


def _pages(side: str, what: str, call: Callable, **kwargs) -> list:
    """Every item of a paged MLflow search, page after page until the server gives no next token."""
    found: list = []
    token, seen = None, set()
    while True:
        page = _read(side, what, call, page_token=token, **kwargs)
        found.extend(page)
        token = getattr(page, "token", None)
        if not token:
            return found
        if token in seen:
            raise ReadError(f"compare: {what} from the {side}: the page token {token!r} came twice")
        seen.add(token)


def _key(dest: bool, tags: dict | None, tag: str, own_id: str) -> str:
    """The source id an object stands for: its own id on a source, its
    provenance tag on a destination.

    A destination object without the tag is no copy: it is keyed (and reported) as only there."""
    if not dest:
        return own_id
    return (tags or {}).get(tag) or ONLY_IN_DEST + own_id


def _tracking_uri(client: MlflowClient) -> str:
    return client._tracking_client.tracking_uri


def _history(
    client: MlflowClient, run_id: str, key: str, side: str, collapse: bool = False
) -> list[tuple]:
    """(step, timestamp, value) of every point, sorted: a multiset.
    MlflowClient pages the history itself.

    `collapse`: exact duplicates as one (a SQL store keeps one of several identical points)."""
    points = _read(
        side, f"run {run_id} metric {key!r} history", client.get_metric_history, run_id, key
    )
    found = [(m.step, m.timestamp, _value(m.value)) for m in points]
    return sorted(set(found) if collapse else found)


def _artifact_files(repo, run_id: str, side: str) -> list[str]:
    """Every file below the repository's root, listed recursively (no files: [], not an error)."""
    files, folders = [], [None]
    while folders:
        folder = folders.pop()
        where = f"run {run_id} artifact listing of {folder or '<root>'!r}"
        for info in _read(side, where, repo.list_artifacts, folder):
            (folders if info.is_dir else files).append(info.path)
    return sorted(files)


def _files_at(client: MlflowClient, uri: str, side: str, owner: str) -> dict[str, str]:
    """path -> sha256 of every file below an artifact URI, via MLflow's artifact repositories."""
    repo = _read(
        side,
        f"{owner} artifact location {uri}",
        get_artifact_repository,
        uri,
        tracking_uri=_tracking_uri(client),
    )
    tree = {}
    with tempfile.TemporaryDirectory() as tmp:
        for path in _artifact_files(repo, owner, side):
            local = _read(side, f"{owner} artifact {path!r}", repo.download_artifacts, path, tmp)
            tree[path] = hashlib.sha256(Path(local).read_bytes()).hexdigest()
    return tree


def _artifact_tree(client: MlflowClient, run, side: str) -> dict[str, str]:
    """path -> sha256 of every artifact file of the run; {} for a run without artifacts.

    Read from the run's own artifact location (not `runs:/`, which also lists logged models)."""
    return _files_at(client, run.info.artifact_uri, side, f"run {run.info.run_id}")


def _inputs(run) -> list[tuple]:
    return sorted(
        (
            d.dataset.name,
            d.dataset.digest,
            d.dataset.source,
            d.dataset.source_type,
            tuple(sorted((t.key, t.value) for t in d.tags)),
        )
        for d in (run.inputs.dataset_inputs if run.inputs else [])
    )


def _model_history(value: str | None, run_id: str, key: str) -> object:
    """`mlflow.log-model.history` as data: a JSON list of the models the run logged,
    each naming the run; a copy names itself, so its own id reads as the source run's (`key`).
    Anything else: the raw value."""
    try:
        entries = json.loads(value) if value is not None else None
    except ValueError:
        return value
    if not isinstance(entries, list):
        return value
    return [
        {**e, "run_id": key} if isinstance(e, dict) and e.get("run_id") == run_id else e
        for e in entries
    ]


def run_record(
    client: MlflowClient,
    run,
    id_to_source: dict[str, str],
    side: str = "source",
    collapse: bool = False,
    histories: bool = True,
) -> dict:
    """Everything a user relies on about one run, as comparable data (`histories` False: the
    metric keys alone, each history None, read with no request)."""
    info, data = run.info, run.data
    tags = _user_tags(data.tags)
    parent = tags.pop("mlflow.parentRunId", None)
    key = data.tags.get(SOURCE_RUN, info.run_id) if side == "destination" else info.run_id
    history = _model_history(tags.pop(HISTORY, None), info.run_id, key)
    return {
        "name": info.run_name,
        "status": info.status,
        "start_time": info.start_time,
        "end_time": info.end_time if info.status != "RUNNING" else None,
        "lifecycle": info.lifecycle_stage,
        "params": dict(data.params),
        "tags": tags,
        "model_history": history,
        "parent": id_to_source.get(parent, parent) if parent else None,
        "metrics": {
            k: _history(client, info.run_id, k, side, collapse) if histories else None
            for k in sorted(data.metrics)
        },
        "inputs": _inputs(run),
        "artifacts": _artifact_tree(client, run, side),
    }


def _runs(client: MlflowClient, experiment_ids: list[str], view: int, side: str, what: str) -> list:
    return _pages(
        side,
        what,
        client.search_runs,
        experiment_ids=experiment_ids,
        run_view_type=view,
        max_results=PAGE,
    )


def experiment_records(
    client: MlflowClient, names: list[str], view: int = ViewType.ACTIVE_ONLY, side: str = "source"
) -> dict:
    """name -> {exp, runs} for the named experiments (every run, paged; a destination's holder runs
    left out: the syncer makes them for itself, they copy no source run)."""
    out = {}
    for name in names:
        exp = _read(side, f"experiment {name!r}", client.get_experiment_by_name, name)
        if exp is None:
            raise AssertionError(f"experiment {name} missing in the {side}")
        runs = _runs(client, [exp.experiment_id], view, side, f"the runs of experiment {name!r}")
        if side == "destination":
            runs = [r for r in runs if not any(t in r.data.tags for t in HOLDER_TAGS)]
        out[name] = {"exp": exp, "runs": runs}
    return out


def _snapshot(
    client: MlflowClient, names: list[str], dest: bool, view: int, collapse: bool
) -> tuple[dict, dict[str, str]]:
    side = _side(dest)
    exps = experiment_records(client, names, view, side)
    id_to_source = {
        r.info.run_id: _key(dest, r.data.tags, SOURCE_RUN, r.info.run_id)
        for e in exps.values()
        for r in e["runs"]
    }
    result = {}
    for name, e in exps.items():
        runs: dict[str, dict] = {}
        for r in e["runs"]:
            key = id_to_source[r.info.run_id]
            if key in runs:
                raise AssertionError(f"duplicate run for source {key} in {name} ({side})")
            runs[key] = run_record(client, r, id_to_source, side, collapse)
        result[name] = {
            "tags": _user_tags(e["exp"].tags),
            "runs": runs,
            "lifecycle": e["exp"].lifecycle_stage,
        }
    return result, id_to_source


def snapshot(
    client: MlflowClient,
    names: list[str],
    dest: bool,
    view: int = ViewType.ACTIVE_ONLY,
    all_clients_runs: dict | None = None,
    collapse: bool = False,
) -> dict:
    """A deep, comparable picture of the named experiments' runs. Destination runs are keyed by
    source id; a destination run that copies no source run is keyed "only in the destination:
    <id>"."""
    return _snapshot(client, names, dest, view, collapse)[0]


def _diff_keys(what: str, a: Iterable[str], b: Iterable[str]) -> None:
    missing, extra = sorted(set(a) - set(b)), sorted(set(b) - set(a))
    if missing or extra:
        raise AssertionError(
            f"{what} differ: missing in the destination {missing}, only in the destination {extra}"
        )


def _assert_runs(a: dict, b: dict, names: list[str], min_runs: int) -> None:
    compared = 0
    for name in names:
        _diff_keys(f"runs of {name}", a[name]["runs"], b[name]["runs"])
        for rid, rec in a[name]["runs"].items():
            other = b[name]["runs"][rid]
            for key in rec:
                assert rec[key] == other[key], (
                    f"{name} run {rec['name']} ({rid}): field {key} differs"
                )
            compared += 1
        assert a[name]["tags"] == b[name]["tags"], f"experiment tags differ in {name}"
        assert a[name]["lifecycle"] == b[name]["lifecycle"], (
            f"experiment lifecycle differs in {name}"
        )
    assert a == b
    assert compared >= min_runs, (
        f"compared {compared} runs, fewer than {min_runs}: nothing was proven"
    )


def assert_same(
    src: MlflowClient,
    dst: MlflowClient,
    names: list[str],
    view: int = ViewType.ACTIVE_ONLY,
    collapse: bool = False,
    *,
    min_runs: int = 1,
    kinds: Iterable[str] = KINDS,
    models: Iterable[str] = (),
) -> None:
    """Assert that the destination holds exactly the source's named experiments: runs, metrics,
    artifacts, and (`kinds`) the registered models made from those runs or named in `models`, the
    logged models, traces and evaluation datasets of those experiments. Objects only in the
    destination are differences. Fails when fewer than `min_runs` runs were compared.

    `collapse`: the destination keeps one of several exact duplicate metric points (MLflow's SQL
    stores), so the source's duplicates count once. `kinds`: leave out those one end cannot hold
    (the source's MLflow
    version, an emulated service without that API)."""
    a, src_ids = _snapshot(src, names, False, view, collapse)
    b, dst_ids = _snapshot(dst, names, True, view, False)
    _assert_runs(a, b, names, min_runs)
    kinds = set(kinds)
    unknown = kinds - set(KINDS)
    assert not unknown, f"compare: unknown kinds {sorted(unknown)}"
    if "models" in kinds:
        assert_same_models(src, dst, set(src_ids), dst_ids, models)
    src_exps = [e.experiment_id for e in _experiments(src, names, "source")]
    dst_exps = [e.experiment_id for e in _experiments(dst, names, "destination")]
    if "logged_models" in kinds:
        _assert_equal(
            "logged models",
            _logged_models(src, src_exps, False),
            _logged_models(dst, dst_exps, True),
        )
    if "datasets" in kinds and _holds_datasets(dst):
        had = _datasets(src, src_exps, False) if _holds_datasets(src) else {}
        _assert_equal("evaluation datasets", had, _datasets(dst, dst_exps, True))
    if "traces" in kinds:
        assert_same_traces(src, dst, {name: name for name in names})


def _holds_datasets(client: MlflowClient) -> bool:
    """MLflow keeps evaluation datasets in SQL stores only: a file store (path, file: URI) has
    none."""
    return urlparse(_tracking_uri(client)).scheme not in ("", "file")


def _experiments(client: MlflowClient, names: list[str], side: str) -> list:
    return [
        _read(side, f"experiment {name!r}", client.get_experiment_by_name, name) for name in names
    ]


def _assert_equal(what: str, a: dict[str, dict], b: dict[str, dict]) -> None:
    """Two keyed record sets: the same keys (none only in the destination), each record equal."""
    _diff_keys(what, a, b)
    for key, rec in a.items():
        for field in rec:
            assert rec[field] == b[key][field], f"{what}: {key}: {field} differs"
    assert a == b


# -- registered models and versions ----------------------------------------------------------------


def _run_source(
    client: MlflowClient, run_id: str | None, dest: bool, known: dict[str, str]
) -> str | None:
    """The source run a (destination) run id stands for; runs outside the compared
    experiments are read."""
    run_id = run_id or None  # a server answers "" where a direct store says None
    if not dest or run_id is None:
        return run_id
    if run_id not in known:
        run = _read("destination", f"run {run_id}", client.get_run, run_id)
        known[run_id] = _key(True, run.data.tags, SOURCE_RUN, run_id)
    return known[run_id]


def _version_record(
    client: MlflowClient, name: str, number: str, dest: bool, runs: dict[str, str]
) -> tuple[str, dict]:
    side = _side(dest)
    v = _read(side, f"model {name} version {number}", client.get_model_version, name, number)
    stage = v.current_stage or "None"
    if dest and stage == "None":  # a destination without stages keeps the source's as this tag
        stage = (v.tags or {}).get(SOURCE_STAGE, stage)
    run = _run_source(client, v.run_id, dest, runs)
    if run is None and dest:  # a version whose run was not copied names the source run in a tag
        run = (v.tags or {}).get(SOURCE_RUN)
    where = _read(
        side,
        f"model {name} version {number} download URI",
        client.get_model_version_download_uri,
        name,
        number,
    )
    return _key(dest, v.tags, SOURCE_VERSION, str(number)), {
        "description": v.description or "",
        "tags": _user_tags(v.tags),
        "stage": stage,
        "status": v.status,
        "run": run,
        "files": _files_at(client, where, side, f"model {name} v{number}"),
    }


def model_record(
    client: MlflowClient, name: str, dest: bool, runs: dict[str, str] | None = None
) -> dict:
    """One registered model as comparable data: versions keyed by the source version they copy,
    aliases naming those keys, each version's run named by its source id."""
    side = _side(dest)
    model = _read(side, f"registered model {name!r}", client.get_registered_model, name)
    numbers = [
        v.version
        for v in _pages(
            side,
            f"the versions of model {name!r}",
            client.search_model_versions,
            filter_string=f"name = '{name}'",
            max_results=PAGE,
        )
    ]
    versions, keys = {}, {}
    for number in sorted(numbers, key=int):
        key, rec = _version_record(
            client, name, str(number), dest, runs if runs is not None else {}
        )
        if key in versions:
            raise AssertionError(f"model {name} ({side}): two copies of version {key}")
        versions[key], keys[str(number)] = rec, key
    aliases = {alias: keys.get(str(n), f"? v{n}") for alias, n in (model.aliases or {}).items()}
    return {
        "description": model.description or "",
        "tags": _user_tags(model.tags),
        "aliases": aliases,
        "versions": versions,
    }


def _linked_models(client: MlflowClient, run_ids: set[str], dest: bool) -> set[str]:
    """Registered models with a version made from one of the runs; on a destination also a version
    naming one of them as its uncopied source run. Prompts (tagged as such) left out.

    Read from the versions: `search_registered_models` adds a prompt filter Azure ML refuses."""
    side = _side(dest)
    found = set()
    for v in _pages(side, "the model versions", client.search_model_versions, max_results=PAGE):
        if (v.run_id or "") in run_ids or (v.tags or {}).get(SOURCE_RUN) in run_ids:
            found.add(v.name)
    models = {
        n: _read(side, f"registered model {n!r}", client.get_registered_model, n) for n in found
    }
    return {n for n, m in models.items() if (m.tags or {}).get("mlflow.prompt.is_prompt") != "true"}


def assert_same_models(
    src: MlflowClient,
    dst: MlflowClient,
    src_runs: set[str],
    dst_runs: dict[str, str] | set[str],
    named: Iterable[str] = (),
    renamed: dict[str, str] | None = None,
) -> int:
    """Assert the destination holds exactly the source's registered models made from `src_runs` (or
    named), and no other model made from `dst_runs` (dest id -> source id); returns the count."""
    renamed = renamed or {}
    runs = dict(dst_runs) if isinstance(dst_runs, dict) else {}
    wanted = _linked_models(src, src_runs, False) | set(named)
    expected = {renamed.get(n, n): n for n in wanted}
    linked = _linked_models(dst, set(runs) | src_runs, True)
    extra = sorted(linked - set(expected))
    assert not extra, f"registered models only in the destination: {extra}"
    for dest_name, name in sorted(expected.items()):
        a = model_record(src, name, False)
        b = model_record(dst, dest_name, True, runs)
        _assert_equal(f"versions of model {name}", a["versions"], b["versions"])
        for field in a:
            assert a[field] == b[field], f"model {name}: {field} differs"
    return len(expected)


# -- prompts ---------------------------------------------------------------------------------------


def prompt_record(client: MlflowClient, name: str, dest: bool) -> dict:
    """One prompt as comparable data, read through MLflow's prompt API; any read failure raises.

    Destination versions are keyed by the source version they copy (their provenance tag) and
    aliases name those keys, so a source and its copy give equal records even when version numbers
    differ; destination versions that copy nothing are listed under "foreign", and "numbers" maps
    each version number to its key
    (both differ between the two sides). Experiment links are experiment names.
    """
    side = _side(dest)
    prompt = _read(side, f"prompt {name!r}", client.get_prompt, name)
    assert prompt is not None, f"prompt {name}: not found in the {side}"
    listed = _pages(
        side,
        f"the versions of prompt {name!r}",
        client.search_prompt_versions,
        name=name,
        max_results=PAGE,
    )
    assert listed, f"prompt {name}: no version read from the {side}"
    versions: dict[str, dict] = {}
    aliases: dict[str, str] = {}
    foreign: list[str] = []
    numbers: dict[str, str] = {}
    for number in sorted(int(pv.version) for pv in listed):
        pv = _read(side, f"prompt {name} v{number}", client.get_prompt_version, name, number)
        assert pv is not None, f"prompt {name} v{number}: cannot be read from the {side}"
        key = pv._tags.get(SOURCE_PROMPT_VERSION) if dest else str(number)
        if key is None:
            foreign.append(str(number))
            continue
        assert key not in versions, f"prompt {name}: two copies of source version {key}"
        numbers[str(number)] = key
        versions[key] = {
            "template": pv.template,
            "text": pv.is_text_prompt,
            "commit_message": pv.commit_message,
            "tags": _user_tags(pv.tags),
            "model_config": pv.model_config,
            "response_format": pv.response_format,
        }
        aliases.update({alias: key for alias in pv.aliases})
    tags = _user_tags(prompt.tags)
    experiments = sorted(
        _read(side, f"experiment {i}", client.get_experiment, i).name
        for i in tags.pop("_mlflow_experiment_ids", "").split(",")
        if i
    )
    return {
        "tags": tags,
        "experiments": experiments,
        "aliases": aliases,
        "versions": versions,
        "foreign": foreign,
        "numbers": numbers,
    }


def assert_same_prompts(src: MlflowClient, dst: MlflowClient, names: Iterable[str]) -> None:
    """Assert each named prompt's copy holds exactly its versions, aliases, tags and links."""
    for name in names:
        a, b = prompt_record(src, name, False), prompt_record(dst, name, True)
        assert not b["foreign"], f"prompt {name}: versions only in the destination: {b['foreign']}"
        for field in ("tags", "experiments", "aliases", "versions"):
            assert a[field] == b[field], f"prompt {name}: {field} differs"


def prompt_links(
    client: MlflowClient, experiment: str, dest: bool, keys: dict[str, dict[str, str]]
) -> dict:
    """Source run id -> [(prompt, source version)] of every run of `experiment` naming
    prompt versions.

    `keys` maps each prompt name to {version number on this side -> source version} (identity for a
    source).
    """
    side = _side(dest)
    exp = _read(side, f"experiment {experiment!r}", client.get_experiment_by_name, experiment)
    assert exp is not None, f"experiment {experiment} missing in the {side}"
    out = {}
    for run in _runs(
        client, [exp.experiment_id], ViewType.ACTIVE_ONLY, side, f"the runs of {experiment!r}"
    ):
        value = run.data.tags.get("mlflow.linkedPrompts")
        if value is None:
            continue
        run_key = _key(dest, run.data.tags, SOURCE_RUN, run.info.run_id)
        out[run_key] = sorted(
            (e["name"], keys[e["name"]][str(e["version"])]) for e in json.loads(value)
        )
    return out


# -- logged models ---------------------------------------------------------------------------------


def logged_model_files(
    tracking_uri: str, artifact_location: str, side: str = "source"
) -> dict[str, str]:
    """Relative path -> sha256 of every file of a logged model ({} for none; read errors raise)."""
    return _files_at(
        MlflowClient(tracking_uri), artifact_location, side, f"logged model at {artifact_location}"
    )


def _logged_models(client: MlflowClient, experiment_ids: list[str], dest: bool) -> dict[str, dict]:
    side, runs = _side(dest), {}
    out: dict[str, dict] = {}
    found = _pages(
        side,
        f"the logged models of experiments {experiment_ids}",
        client.search_logged_models,
        experiment_ids=experiment_ids,
        max_results=100,
    )
    for lm in found:
        key = _key(dest, lm.tags, SOURCE_MODEL_ID, lm.model_id)
        assert key not in out, f"two copies of logged model {key} in the {side}"
        out[key] = {
            "name": lm.name,
            "model_type": lm.model_type or None,
            "status": str(lm.status),
            "params": dict(lm.params or {}),
            "tags": _user_tags(lm.tags, "mlflow.modelVersions"),
            "source_run": _run_source(client, lm.source_run_id, dest, runs),
            "metrics": sorted(
                (
                    m.key,
                    _value(m.value),
                    m.timestamp,
                    m.step,
                    m.dataset_name,
                    m.dataset_digest,
                    _run_source(client, m.run_id, dest, runs),
                )
                for m in (lm.metrics or [])
            ),
            "files": logged_model_files(_tracking_uri(client), lm.artifact_location, side),
        }
    return out


def logged_model_records(
    tracking_uri: str, experiment_ids: list[str], dest: bool
) -> dict[str, dict]:
    """Every logged model of the experiments as comparable data, keyed by the source model id (on a
    destination: its provenance tag, or "only in the destination: <id>"; a second copy of one
    source model
    fails). Runs are named by source id."""
    return _logged_models(MlflowClient(tracking_uri), experiment_ids, dest)


# -- evaluation datasets ---------------------------------------------------------------------------


def _record(r) -> tuple:
    def dump(value: object) -> str:
        return json.dumps(value, sort_keys=True)

    return (
        dump(r.inputs),
        dump(r.outputs),
        dump(r.expectations or {}),
        dump(r.tags or {}),
        dump(r.source.to_dict() if r.source else None),
    )


def _dataset_rows(store: Any, dataset_id: str, side: str) -> list:
    rows, token = [], None
    while True:
        page, token = _read(
            side,
            f"the records of dataset {dataset_id}",
            store._load_dataset_records,
            dataset_id,
            max_results=PAGE,
            page_token=token,
        )
        rows.extend(page)
        if not token:
            return rows


def _datasets(client: MlflowClient, experiment_ids: list[str], dest: bool) -> dict[str, dict]:
    side = _side(dest)
    store = client._tracking_client.store
    out: dict[str, dict] = {}
    found = _pages(
        side,
        f"the evaluation datasets of experiments {experiment_ids}",
        client.search_datasets,
        experiment_ids=experiment_ids,
        max_results=PAGE,
    )
    for ds in found:
        key = _key(dest, ds.tags, SOURCE_DATASET, ds.dataset_id)
        assert key not in out, f"two copies of dataset {key} in the {side}"
        exps = _read(
            side,
            f"the experiments of dataset {ds.dataset_id}",
            store.get_dataset_experiment_ids,
            ds.dataset_id,
        )
        out[key] = {
            "name": ds.name,
            "tags": _user_tags(ds.tags),
            "schema": json.loads(ds.schema) if ds.schema else None,
            "profile": json.loads(ds.profile) if ds.profile else None,
            "experiments": sorted(
                _read(side, f"experiment {e}", client.get_experiment, e).name for e in exps
            ),
            "records": sorted(_record(r) for r in _dataset_rows(store, ds.dataset_id, side)),
        }
    return out


def dataset_records(tracking_uri: str, experiment_ids: list[str], dest: bool) -> dict[str, dict]:
    """Every evaluation dataset linked to the experiments, with its records, keyed by the
    source dataset id
    (provenance tag on a destination); experiments are named by name (read errors raise)."""
    return _datasets(MlflowClient(tracking_uri), experiment_ids, dest)


# -- traces (deep comparison: info, span trees, assessments, run links) ----------------------------

_TRACE_SERVER_TAGS = {"mlflow.artifactLocation", "mlflow.trace.spansLocation"}
_TRACE_SERVER_METADATA = {"mlflow.trace.infoFinalized"}


def _trace_span_record(span: dict) -> dict:
    """A span as canonical data: everything but the trace id (copies keep span
    and parent ids)."""
    attributes = {k: v for k, v in span["attributes"].items() if k != "mlflow.traceRequestId"}
    return {
        "span_id": span["span_id"],
        "parent": span["parent_span_id"],
        "name": span["name"],
        "start": int(span["start_time_unix_nano"]),
        "end": int(span["end_time_unix_nano"]),
        "status": span["status"],
        "attributes": attributes,
        "events": span["events"],
        "links": span.get("links", []),
    }


def _trace_record(trace, run_to_source: dict[str, str]) -> dict:
    info = trace.info.to_dict()
    meta = {
        k: v for k, v in info.get("trace_metadata", {}).items() if k not in _TRACE_SERVER_METADATA
    }
    if "mlflow.sourceRun" in meta:
        meta["mlflow.sourceRun"] = run_to_source.get(
            meta["mlflow.sourceRun"], meta["mlflow.sourceRun"]
        )
    # `valid` absent is True (MLflow's Assessment.from_dictionary): a server's REST answer leaves it
    # out of expectations that its database holds as valid, a direct store's read says True.
    assessments = sorted(
        (
            {
                "valid": True,
                **{
                    k: v
                    for k, v in a.items()
                    if k not in ("trace_id", "assessment_id", "overrides")
                },
            }
            for a in info.get("assessments", [])
        ),
        key=lambda a: (a["assessment_name"], a["create_time"]),
    )
    spans = sorted(
        (_trace_span_record(s.to_dict()) for s in trace.data.spans), key=lambda s: s["span_id"]
    )
    assert spans, f"trace {trace.info.trace_id} has no spans"
    return {
        "request_time": info["request_time"],
        "duration": info.get("execution_duration_ms"),
        "state": info["state"],
        "request_preview": info.get("request_preview"),
        "response_preview": info.get("response_preview"),
        "metadata": meta,
        "assessments": assessments,
        "tags": _user_tags(info.get("tags"), *_TRACE_SERVER_TAGS),
        "spans": spans,
    }


def trace_records(
    client: MlflowClient, experiment_name: str, dest: bool, through: dict[str, str] | None = None
) -> dict[str, dict]:
    """Every trace of an experiment, read whole (spans and assessments), keyed by (source) trace id.

    Read errors raise: a trace that cannot be read fails the test. In a destination, run links are
    mapped back to the source run ids (by the run provenance tag; `through` maps the ids of runs
    that were copies themselves, source -> intermediate -> destination, on to the source's) and
    traces are keyed by their
    provenance tag ("only in the destination: <id>" without one).
    """
    side = _side(dest)
    exp = _read(
        side, f"experiment {experiment_name!r}", client.get_experiment_by_name, experiment_name
    )
    assert exp is not None, f"no experiment {experiment_name} in the {side}"
    run_to_source = {}
    if dest:
        for r in _runs(
            client, [exp.experiment_id], ViewType.ALL, side, f"the runs of {experiment_name!r}"
        ):
            copied_from = _key(True, r.data.tags, SOURCE_RUN, r.info.run_id)
            run_to_source[r.info.run_id] = (through or {}).get(copied_from, copied_from)
    records: dict[str, dict] = {}
    hits = _pages(
        side,
        f"the traces of {experiment_name}",
        client.search_traces,
        locations=[exp.experiment_id],
        include_spans=False,
        max_results=500,
    )
    for hit in hits:
        trace = _read(side, f"trace {hit.info.trace_id}", client.get_trace, hit.info.trace_id)
        key = _key(dest, trace.info.tags, SOURCE_TRACE, trace.info.trace_id)
        assert key not in records, f"two copies of trace {key} in {experiment_name} ({side})"
        records[key] = _trace_record(trace, run_to_source)
    return records


def assert_same_traces(
    src: MlflowClient,
    dst: MlflowClient,
    pairs: dict[str, str],
    through: dict[str, str] | None = None,
) -> int:
    """Assert each destination experiment (value) holds exactly the traces of
    its source (key); returns the count."""
    count = 0
    for src_name, dst_name in pairs.items():
        a, b = (
            trace_records(src, src_name, dest=False),
            trace_records(dst, dst_name, dest=True, through=through),
        )
        _assert_equal(f"traces of {src_name} -> {dst_name}", a, b)
        count += len(a)
    return count
