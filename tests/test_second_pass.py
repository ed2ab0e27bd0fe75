"""A second pass plans nothing, for every kind, to every kind of destination (issue 21 item 3).

One source scenario holds every kind the syncer copies: runs, registered models and versions
(tests.fixtures.models), traces, a standalone logged model, an evaluation dataset and prompts
(tests.fixtures.genai_roundtrip), plus a prompt registered with no experiment set (MLflow links it
to `Default`). It is migrated with the real command into a server and into a SQLite store; then the
second pass's plan (`diff`, the same plan a `migrate` would apply) holds only `=` rows and no `!`
row, `diff` exits 0, its one standing limit is a note said once, and both sides are deeply equal.
The standard run workload's (tests.fixtures.workload) second pass into a server and into a SQLite
store is tests/test_conformance.py's (`mlflow-server`, `sqlite` profiles).
"""

from __future__ import annotations

import json
import tempfile
import threading
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient

from syncer.scan.artifact_reach import local_path
from tests.compare import (
    assert_same,
    assert_same_traces,
    dataset_records,
    logged_model_records,
    prompt_record,
)
from tests.fixtures import genai_roundtrip
from tests.fixtures.cli import run_forked, write_config
from tests.fixtures.models import make_models, tracking
from tests.fixtures.procs import MlflowServer


def _wait_for_prompt_links() -> None:
    """MLflow links a new prompt version to the active experiment in a thread: wait for those
    threads."""
    for t in threading.enumerate():
        if t.name.startswith("link_prompt_to_experiment_thread"):
            t.join(timeout=30)


def _seed(url: str, prefix: str) -> dict:
    """Every kind, under `prefix`; returns the selection (experiments, models, prompts) and what was
    made."""
    m = make_models(url, f"{prefix}-m")
    genai_roundtrip.build(url, prefix)
    with tracking(url):  # no experiment set: MLflow links the prompt to `Default`
        mlflow.genai.register_prompt(f"{prefix}-p-plain", "Say {{x}}", commit_message="plain")
    _wait_for_prompt_links()
    client = MlflowClient(url)
    genai = client.get_experiment_by_name(genai_roundtrip.experiments(prefix)[0]).experiment_id
    ann = client.create_logged_model(
        genai, name="by-ann", tags={"mlflow.user": "ann"}
    )  # not the syncer's user
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "MLmodel").write_text("flavors: {}\n")
        client.log_model_artifacts(ann.model_id, tmp)
    client.finalize_logged_model(ann.model_id, "READY")
    # a dataset without `mlflow.user` (MLflow's client adds the caller's on create when it is
    # absent)
    client._tracking_client.store.create_dataset(
        name=f"{prefix}-bare", tags=None, experiment_ids=[genai]
    )
    experiments = [
        m.experiment,
        f"{prefix}-m/other",
        *genai_roundtrip.experiments(prefix),
    ]
    return {
        "experiments": experiments,
        "models": [m.churn, m.loose],
        "prompts": [f"{prefix}-p-qa", f"{prefix}-p-chat", f"{prefix}-p-plain"],
    }


@pytest.fixture(scope="module")
def source_server(prompt_source) -> MlflowServer:
    """The prompt servers, not the session's `source_server`/`dest_server`: prompts are
    workspace-wide, and the other tests of those servers count what they find there."""
    return prompt_source


@pytest.fixture(scope="module")
def dest_server(prompt_dest) -> MlflowServer:
    return prompt_dest


@pytest.fixture(scope="module")
def scenario(source_server, tmp_path_factory) -> dict:
    prefix = f"s2-{tmp_path_factory.getbasetemp().name[-6:]}"
    return {"prefix": prefix, **_seed(source_server.url, prefix)}


def _config(tmp: Path, src: str, dst: dict, sel: dict) -> Path:
    return write_config(
        tmp / "config.yaml",
        source={"tracking_uri": src},
        destination=dst,
        state=f"sqlite:///{tmp / 'state.db'}",
        experiments=sel["experiments"],
        models=sel["models"],
        prompts=sel["prompts"],
    )


def ann_model(client: MlflowClient, names: list[str]) -> str:
    """The id of the source's logged model `by-ann`."""
    ids = [client.get_experiment_by_name(n).experiment_id for n in names]
    (model,) = [m for m in client.search_logged_models(ids) if m.name == "by-ann"]
    return model.model_id


def _diff(config: Path) -> tuple[int, dict, list[dict], str]:
    done = run_forked("diff", "--config", str(config), "--format", "json")
    report = json.loads(done.stdout) if done.stdout.strip().startswith("{") else {}
    rows = report.get("objects", [])
    return done.returncode, report, rows, done.stdout[-3000:] + done.stderr[-3000:]


@pytest.mark.parametrize("kind", ["server", "sqlite"])
def test_second_pass_plans_nothing(scenario, source_server, dest_server, tmp_path, kind):
    src = source_server.url
    dst = (
        {"tracking_uri": dest_server.url}
        if kind == "server"
        else {
            "tracking_uri": f"sqlite:///{tmp_path / 'dest.db'}",
            "artifact_root": str(tmp_path / "dest-art"),
        }
    )
    config = _config(tmp_path, src, dst, scenario)
    first = run_forked("migrate", "--config", str(config), "--no-progress")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "!" not in first.stdout and first.stdout.count("note: trace run links") == 1, (
        first.stdout
    )

    rc, report, rows, text = _diff(config)  # the plan of the second pass
    pending = [(r["sigil"], r["kind"], r["label"], r["details"]) for r in rows if r["sigil"] != "="]
    assert pending == [], pending
    assert report["summary"]["to_apply"] == 0 and rc == 0, text
    assert [n["kind"] for n in report["notes"]] == ["trace_run_link"], report["notes"]

    a, b = MlflowClient(src), MlflowClient(dst["tracking_uri"])
    names = scenario["experiments"]
    assert_same(a, b, names)
    assert assert_same_traces(a, b, {n: n for n in names}) == 4
    want = logged_model_records(
        src, [a.get_experiment_by_name(n).experiment_id for n in names], False
    )
    have = logged_model_records(
        dst["tracking_uri"], [b.get_experiment_by_name(n).experiment_id for n in names], True
    )
    assert want == have and want[ann_model(a, names)]["tags"] == {"mlflow.user": "ann"}
    want = dataset_records(src, [a.get_experiment_by_name(n).experiment_id for n in names], False)
    have = dataset_records(
        dst["tracking_uri"], [b.get_experiment_by_name(n).experiment_id for n in names], True
    )
    assert want == have and len(want) == 2
    for name in scenario["prompts"]:
        want, have = prompt_record(a, name, dest=False), prompt_record(b, name, dest=True)
        for record in (want, have):  # links to experiments not selected are not copied
            record["experiments"] = [e for e in record["experiments"] if e in names]
        assert want == {**have, "numbers": want["numbers"]}, name


def _cycle(src: str, dst: str, tmp: Path, experiment: str) -> dict:
    """One mirror cycle (change-only once a clean full one ran: runs_full_every 10); its report and
    calls."""
    from syncer.backends.telemetry import api_call_counts
    from syncer.config import EndpointConfig, Settings
    from syncer.engine.mirror_cycle import Cycle
    from syncer.engine.sync import endpoints, open_state

    settings = Settings(
        source=EndpointConfig(tracking_uri=src),
        destination=EndpointConfig(tracking_uri=dst, artifact_root=str(tmp / "dest-art")),
        state=f"sqlite:///{tmp / 'state.db'}",
        experiments=[experiment],
        mirror={"runs_full_every": 10},
    )
    ends = endpoints(settings)
    state = open_state(settings, *ends, read_only=False)
    try:
        before = api_call_counts()
        report = Cycle(settings, *ends, state).run()
        after = api_call_counts()
    finally:
        state.close()
    return {
        "report": report,
        "calls": {
            f"{k[0]}:{k[1]}": int(v - before.get(k, 0))
            for k, v in after.items()
            if v - before.get(k, 0)
        },
    }


def _registry(client: MlflowClient, name: str) -> dict:
    model = client.get_registered_model(name)
    versions = {
        v.version: (
            v.description,
            {k: x for k, x in v.tags.items() if not k.startswith("mlflow_syncer.")},
        )
        for v in client.search_model_versions(f"name='{name}'")
    }
    return {
        "description": model.description,
        "aliases": dict(model.aliases),
        "tags": {k: v for k, v in model.tags.items() if not k.startswith("mlflow_syncer.")},
        "versions": versions,
    }


def test_change_only_cycles_find_model_and_version_edits_at_page_cost(tmp_path):
    src_uri, dst_uri = f"sqlite:///{tmp_path / 'src.db'}", f"sqlite:///{tmp_path / 'dst.db'}"
    src, dst = MlflowClient(src_uri), MlflowClient(dst_uri)
    exp = src.create_experiment("reg", artifact_location=str(tmp_path / "src-art"))
    run = src.create_run(exp, run_name="train", start_time=1_700_000_000_000)
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "MLmodel").write_text("flavors: {}\n")
    src.log_artifacts(run.info.run_id, str(tmp_path / "m"), "model")
    src.set_terminated(
        run.info.run_id, end_time=1_700_000_060_000
    )  # long before the cycles' look-back
    src.create_registered_model("churn", tags={"team": "risk"}, description="churn")
    src.create_model_version(
        "churn", f"{run.info.artifact_uri}/model", run_id=run.info.run_id, description="first"
    )
    src.set_registered_model_alias("churn", "champion", "1")

    first = _cycle(src_uri, dst_uri, tmp_path, "reg")
    assert first["report"].ok and _registry(dst, "churn") == _registry(src, "churn")

    idle = _cycle(src_uri, dst_uri, tmp_path, "reg")  # change-only, nothing changed
    assert idle["report"].ok and idle["report"].copied == 0
    per_model = {
        k: n
        for k, n in idle["calls"].items()
        if k.startswith("destination:") and ("registered_model" in k or "model_version" in k)
    }
    assert per_model == {}, idle["calls"]

    src.set_registered_model_tag(
        "churn", "team", "fraud"
    )  # no last_updated_timestamp move in MLflow
    src.update_model_version("churn", "1", description="first, reviewed")
    edited = _cycle(src_uri, dst_uri, tmp_path, "reg")
    assert edited["report"].ok and edited["report"].copied == 2, edited["report"].as_log()
    assert _registry(dst, "churn") == _registry(src, "churn")

    src.set_registered_model_tag("churn", "stage", "beta")  # a tag edit alone
    tagged = _cycle(src_uri, dst_uri, tmp_path, "reg")
    assert tagged["report"].ok and tagged["report"].copied == 1
    assert _registry(dst, "churn")["tags"] == {"team": "fraud", "stage": "beta"}

    again = _cycle(src_uri, dst_uri, tmp_path, "reg")
    assert again["report"].ok and again["report"].copied == 0
    assert not [k for k in again["calls"] if k.startswith("destination:") and "model" in k], again[
        "calls"
    ]


def test_a_prompt_linked_to_default_settles(tmp_path):
    """A prompt registered with no experiment set is linked to `Default`, which every store holds
    already (so its copy is matched by name and carries no provenance tag): the second pass plans
    nothing."""
    src_uri, dst_uri = f"sqlite:///{tmp_path / 'src.db'}", f"sqlite:///{tmp_path / 'dst.db'}"
    src = MlflowClient(src_uri)
    src.create_run("0", run_name="in-default")
    # the store's artifact root, which MLflow makes only with a first file (files out of reach stop
    # a pass)
    Path(local_path(src.get_experiment("0").artifact_location)).mkdir(parents=True, exist_ok=True)
    with tracking(src_uri):
        mlflow.genai.register_prompt("plain", "Say {{x}}", commit_message="plain")
    _wait_for_prompt_links()
    assert src.get_prompt("plain").tags["_mlflow_experiment_ids"] == ",0,"
    config = _config(
        tmp_path,
        src_uri,
        {"tracking_uri": dst_uri, "artifact_root": str(tmp_path / "dest-art")},
        {"experiments": ["Default"], "models": [], "prompts": ["plain"]},
    )
    done = run_forked("migrate", "--config", str(config), "--no-progress")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rc, report, rows, text = _diff(config)  # the plan of the second pass
    assert [r for r in rows if r["sigil"] != "="] == [] and rc == 0, text
    dst = MlflowClient(dst_uri)
    assert dst.get_prompt("plain").tags["_mlflow_experiment_ids"] == ",0,"
    assert prompt_record(src, "plain", dest=False)["experiments"] == ["Default"]
    assert prompt_record(dst, "plain", dest=True)["experiments"] == ["Default"]
