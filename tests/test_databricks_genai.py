"""A Databricks workspace as the source of MLflow 3 objects: traces (spans in trace data files read
through signed URLs), Unity Catalog prompts (`catalog.schema.name`) and standalone logged models,
into a plain MLflow server and into an Azure-ML-like workspace. The workspace is emulated at the
HTTP level in front of a real `mlflow server` (tests/emulators/: databricks, dbfs, dbx_traces,
uc_prompts); the tests write the source objects to that server.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import mlflow.genai.datasets
import pytest
from mlflow import MlflowClient

from syncer.cli import app as cli
from syncer.config import EndpointConfig, Settings
from syncer.core.actions import Op
from syncer.engine.sync import sync
from syncer.kinds.inventory.listing import INVENTORY
from syncer.kinds.prompts.snapshot import uc_schemas
from syncer.plan.uncopied import is_unlisted
from tests.compare import assert_same_traces, logged_model_records, prompt_record
from tests.emulators.databricks import API, DatabricksRules
from tests.emulators.dbfs import DbfsArtifacts
from tests.emulators.dbx_traces import V3, DatabricksTraces
from tests.emulators.gateway import Gateway
from tests.emulators.managed_evals import PATH as DATASETS
from tests.emulators.managed_evals import ManagedEvalsDatasets
from tests.emulators.uc_prompts import UnityCatalogPrompts
from tests.fixtures.azure import ACCOUNT, KEY, Azurite, Emulated, blob_server, point_sdk_at
from tests.fixtures.models import tracking
from tests.fixtures.traces import T0_NS, rich_trace, simple_trace
from tests.test_logged_models_datasets import add_logged_model

USER = "/Users/alice@corp.com"
SPANS = "trace data credentials"  # the gateway's count of trace data files handed out
CHAT = [{"role": "system", "content": "Tu es bref ✓"}, {"role": "user", "content": "{{question}}"}]


@pytest.fixture(scope="session")
def genai_workspace(
    tmp_path_factory: pytest.TempPathFactory, azurite: Azurite
) -> Iterator[Emulated]:
    """A Databricks-like workspace serving traces, Unity Catalog prompts and dbfs:/ artifacts, on
    its own server."""
    server = blob_server(tmp_path_factory.mktemp("dbx-genai"), azurite, "dbx-genai")
    token = f"dapi{uuid.uuid4().hex}"
    rules = DatabricksRules(token)
    rules.apis = (API, V3, DATASETS)
    blobs = f"http://127.0.0.1:{azurite.port}/{ACCOUNT}"
    dbfs = DbfsArtifacts(azurite.wasbs("dbx-genai", "artifacts"), blobs, ACCOUNT, KEY)
    traces = DatabricksTraces(azurite.connection_string, blobs, ACCOUNT, KEY)
    gateway = Gateway(
        server.url, [rules, dbfs, traces, UnityCatalogPrompts(), ManagedEvalsDatasets()]
    ).start()
    yield Emulated(server, gateway, rules, token, dbfs)
    gateway.stop()
    server.stop()


@pytest.fixture
def genai_env(genai_workspace: Emulated, monkeypatch: pytest.MonkeyPatch) -> Emulated:
    return point_sdk_at(genai_workspace, monkeypatch)


@dataclass
class Source:
    """What `build_source` wrote into the workspace."""

    experiment: str  # the workspace path
    experiment_id: str
    run_id: str
    traces: list[str]
    prompt: str  # catalog.schema.name
    schema: str  # catalog.schema
    model_id: str


def build_source(url: str, unique: str) -> Source:
    """An experiment with a run, two traces (one nested, with assessments, linked to the run), a
    standalone logged model with files, and a Unity Catalog prompt with 3 versions (text and chat)
    and 2 aliases."""
    client = MlflowClient(url)
    name = f"{USER}/{unique}/agent"
    exp_id = client.create_experiment(name)
    run_id = client.create_run(exp_id, run_name="eval", start_time=T0_NS // 1_000_000).info.run_id
    model_id = add_logged_model(
        client,
        exp_id,
        run_id,
        "agent-model",
        {"MLmodel": b"flavors: {}\n", "weights/w.bin": bytes(range(256)) * 300},
    )
    client.set_terminated(run_id, "FINISHED", end_time=T0_NS // 1_000_000 + 10)
    traces = [
        rich_trace(url, exp_id, T0_NS, run_id=run_id),
        simple_trace(url, exp_id, T0_NS + 10**9, "second"),
    ]
    schema = f"main.s{unique.replace('-', '_')}"
    prompt = f"{schema}.qa"
    client.create_prompt(prompt, description="answers questions", tags={"team": "search"})
    client.create_prompt_version(
        prompt,
        "Answer: {{question}}",
        description="first",
        tags={"author": "ann"},
        model_config={"model_name": "m", "temperature": 0.1},
        response_format={"type": "object"},
    )
    client.create_prompt_version(prompt, "Answer briefly: {{question}}", description="shorter")
    client.create_prompt_version(prompt, CHAT, description="chat", tags={"stage": "beta"})
    client.set_prompt_alias(prompt, "production", 2)
    client.set_prompt_alias(prompt, "staging", 3)
    return Source(name, exp_id, run_id, traces, prompt, schema, model_id)


def settings(dest: EndpointConfig, state: str, src: Source, unique: str) -> Settings:
    return Settings(
        source=EndpointConfig(tracking_uri="databricks", registry_uri="databricks"),
        destination=dest,
        state=state,
        experiments=[f"{USER}/{unique}/*"],
        prompts=[f"{src.schema}.*"],
    )


def test_the_workspace_serves_traces_and_prompts_as_databricks_does(genai_env, unique_name):
    src = build_source(genai_env.server.url, unique_name)
    client = MlflowClient("databricks", registry_uri="databricks-uc")
    before = genai_env.gateway.counts.copy()
    found = client.search_traces(locations=[src.experiment_id], include_spans=True)
    assert sorted(t.info.trace_id for t in found) == sorted(src.traces)
    assert all(
        t.info.tags["mlflow.artifactLocation"]
        == f"dbfs:/databricks/mlflow-tracking/{src.experiment_id}/{t.info.trace_id}/artifacts"
        for t in found
    )
    assert sorted(len(t.data.spans) for t in found) == [2, 4]
    assert (
        genai_env.gateway.counts["trace data credentials"] - before["trace data credentials"] == 2
    )
    assert (
        genai_env.gateway.counts["POST /api/4.0/mlflow/traces/search-long-running"] >= 1
    )  # then the v3 fallback
    assert [
        p.name for p in client.search_prompts(f"catalog = 'main' AND schema = '{src.schema[5:]}'")
    ] == [src.prompt]
    chat = client.load_prompt(f"prompts:/{src.prompt}@staging")
    assert (chat.version, chat.template, chat.commit_message) == (3, CHAT, "chat")
    assert client.get_prompt_version(src.prompt, 1).model_config == {
        "model_name": "m",
        "temperature": 0.1,
    }


def test_traces_uc_prompts_and_logged_models_into_a_plain_server(
    genai_env, dest_server, unique_name, tmp_path
):
    src = build_source(genai_env.server.url, unique_name)
    conf = settings(
        EndpointConfig(tracking_uri=dest_server.url),
        f"sqlite:///{tmp_path / 's.db'}",
        src,
        unique_name,
    )
    counts = genai_env.gateway.counts
    before = Counter(counts)
    first = sync(conf)
    assert not first.failed, [o.error for o in first.failed]
    assert (
        counts[SPANS] - before[SPANS] == 2
    )  # each trace's spans read once, through its trace data file
    created = Counter(o.action.kind for o in first.outcomes if o.ok and o.action.op is Op.CREATE)
    assert created == {
        "experiment": 1,
        "run": 1,
        "trace": 2,
        "logged_model": 1,
        "prompt": 1,
        "prompt_version": 3,
    }

    upstream, dst = MlflowClient(genai_env.server.url), MlflowClient(dest_server.url)
    dest_name = f"{unique_name}/agent"  # Databricks' default name rule drops /Users/<user>/
    assert assert_same_traces(MlflowClient("databricks"), dst, {src.experiment: dest_name}) == 2
    assert prompt_record(dst, src.prompt, dest=True) == prompt_record(
        upstream, src.prompt, dest=False
    )
    dest_exp = dst.get_experiment_by_name(dest_name).experiment_id
    assert logged_model_records(dest_server.url, [dest_exp], dest=True) == logged_model_records(
        genai_env.server.url, [src.experiment_id], dest=False
    )

    before = Counter(counts)
    second = sync(conf)
    assert second.outcomes == [] and not second.failed
    assert counts[SPANS] - before[SPANS] == 0  # nothing to copy: no span read
    assert all(a.op is Op.SAME or is_unlisted(a) for a in second.plan.actions), [
        (a.kind, a.op, a.label) for a in second.plan.actions if a.op is not Op.SAME
    ]
    assert (
        cli.main(
            [
                "diff",
                "--no-progress",
                "--source",
                "databricks",
                "--source-registry",
                "databricks",
                "--dest",
                dest_server.url,
                "--state",
                f"sqlite:///{tmp_path / 's.db'}",
                "--experiments",
                f"{USER}/{unique_name}/*",
                "--prompts",
                f"{src.schema}.*",
            ]
        )
        == 0
    )


def test_into_azure_ml_what_it_cannot_hold_is_counted(
    genai_env, azureml_dest, unique_name, tmp_path
):
    src = build_source(genai_env.server.url, unique_name)
    with tracking(
        genai_env.server.url
    ):  # on Databricks: a Unity Catalog table, listed by the managed-evals API
        ds = mlflow.genai.datasets.create_dataset(
            name=f"{unique_name}-qa", experiment_id=src.experiment_id
        )
        ds.merge_records([{"inputs": {"q": "2+2?"}, "expectations": {"a": "4"}}])
    conf = settings(
        EndpointConfig(tracking_uri=azureml_dest.url, profile="azureml"),
        f"sqlite:///{tmp_path / 's.db'}",
        src,
        unique_name,
    )
    result = sync(conf)
    assert not result.failed, [o.error for o in result.failed]
    uncopied = sorted(
        (a.kind, a.details["count"], a.details["reason"])
        for a in result.plan.actions
        if a.op is Op.UNCOPIED and not is_unlisted(a)
    )
    assert uncopied == [
        ("logged_model", 1, "destination has no logged model API: azureml"),
        ("prompt", 1, "destination has no prompt API: azureml"),
        ("prompt_version", 3, "destination has no prompt API: azureml"),
        ("trace", 2, "destination has no trace API: azureml"),
        ("uc_dataset", 1, INVENTORY["uc_dataset"].reason),
    ]
    assert sync(conf).outcomes == []  # nothing to copy: the same rows, counted again


def test_a_prompt_glob_without_catalog_and_schema_is_reported_not_skipped(
    genai_env, dest_server, unique_name, tmp_path
):
    build_source(genai_env.server.url, unique_name)
    conf = Settings(
        source=EndpointConfig(tracking_uri="databricks", registry_uri="databricks"),
        destination=EndpointConfig(tracking_uri=dest_server.url),
        state=f"sqlite:///{tmp_path / 's.db'}",
        experiments=[f"{USER}/{unique_name}/*"],
    )  # prompts: ["*"], the default
    plan = sync(conf, dry_run=True).plan
    rows = [a for a in plan.actions if a.kind == "prompt"]
    assert len(rows) == 1 and is_unlisted(rows[0])
    assert "searched per catalog.schema; * names none" in rows[0].details["reason"]


def test_only_globs_with_a_literal_catalog_and_schema_can_be_searched():
    assert uc_schemas(
        ["main.genai.*", "main.genai.qa", "dev.x.t?", "*", "main.*.qa", "main.genai", "a.b.c.d"]
    ) == ([("main", "genai"), ("dev", "x")], ["*", "main.*.qa", "main.genai", "a.b.c.d"])
