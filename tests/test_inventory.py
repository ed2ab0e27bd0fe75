"""Kinds mlflow-syncer never copies (webhooks, label schemas, review queues, issues, MCP servers, AI
gateway): counted in the source by the scan, listed by `diff` and `migrate` with the reason, exit 1.
A source that cannot list a kind reports `cannot be listed here` and is not failed for it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
from mlflow import MlflowClient
from mlflow.entities.webhook import WebhookEvent
from mlflow.exceptions import MlflowException
from mlflow.genai.label_schemas.label_schemas import InputPassFail
from mlflow.genai.scorers import Guidelines
from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore as RegistryStore

from syncer.backends.endpoint import Endpoint
from syncer.kinds.inventory import scan as inventory
from syncer.kinds.inventory.listing import Listed
from tests.fixtures.cli import run_forked, write_config


def _seed(client: MlflowClient, name: str) -> str:
    """An experiment holding 1 issue, 1 extra label schema, 2 scorers and 1 custom review queue."""
    eid = client.create_experiment(name)
    store = client._tracking_client.store
    store.create_issue(eid, "wrong answers", "answers are wrong")
    store.create_label_schema(
        eid, name="correct", type="feedback", input=InputPassFail("yes", "no")
    )
    for n in ("polite", "concise"):
        store.register_scorer(
            eid, n, json.dumps(Guidelines(name=n, guidelines=f"be {n}").model_dump())
        )
    store.create_review_queue(eid, name="triage", queue_type="custom")
    return eid


@pytest.fixture
def webhook(source_server, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A webhook written into the source's database (the server checks that URLs are public),
    deleted after the test: webhooks are workspace-wide, and other tests expect the shared source to
    hold none. Without a secret: one encrypted by this process could not be decrypted by the server,
    whose listing would then fail."""
    monkeypatch.setenv("MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS", "true")
    store = RegistryStore(source_server.backend_uri)
    hook = store.create_webhook(
        f"hook-{uuid.uuid4().hex[:6]}",
        "https://127.0.0.1/hook",
        [WebhookEvent.from_str("registered_model.created")],
    )
    yield
    store.delete_webhook(hook.webhook_id)


def test_diff_and_migrate_list_every_kind_that_is_never_copied(
    source_server, dest_server, unique_name, tmp_path, webhook
):
    client = MlflowClient(source_server.url)
    eid = _seed(client, f"{unique_name}-genai")
    store = client._tracking_client.store
    schemas = store.list_label_schemas(eid)
    assert [s.name for s in schemas if s.is_default] == [
        "Feedback"
    ]  # every experiment has it: not counted
    expected = {
        "issue": 1,
        "label_schema": len(schemas) - 1,
        "review_queue": len(store.list_review_queues(eid)),
    }
    assert expected["label_schema"] == 1 and expected["review_queue"] >= 1
    webhooks = len(client.list_webhooks(max_results=1000))
    common = [
        "--source",
        source_server.url,
        "--dest",
        dest_server.url,
        "--experiments",
        f"{unique_name}-genai",
        "--state",
        f"sqlite:///{tmp_path / 'state.db'}",
    ]
    diff = run_forked("diff", *common, "--format", "json")
    assert diff.returncode == 1, diff.stderr
    doc = json.loads(diff.stdout)
    listed = {(u["kind"], u["group"]): u for u in doc["summary"]["uncopied"]}
    for kind, n in expected.items():
        assert listed[(kind, f"{unique_name}-genai")]["count"] == n
    assert listed[("webhook", None)] == {
        "kind": "webhook",
        "count": webhooks,
        "group": None,
        "reason": "not copied: secrets cannot be read back",
    }
    assert doc["summary"]["by_kind"]["scorer"] == {
        "create": 2
    }  # a kind of its own (syncer.kinds.scorers)
    migrate = run_forked("migrate", *common, "--no-progress")
    assert migrate.returncode == 1, migrate.stderr
    assert f"! webhooks {webhooks} [not copied: secrets cannot be read back]" in migrate.stdout
    assert "scorers not copied" not in migrate.stdout and "failed" in migrate.stdout
    text = run_forked("diff", *common)
    assert text.returncode == 1 and "in sync" not in text.stdout.splitlines()[-1]


def test_a_plain_experiment_holds_nothing_uncopied(
    source_server, dest_server, unique_name, tmp_path
):
    """The default label schema of every experiment is not reported: a plain copy is in sync, exit
    0."""
    MlflowClient(source_server.url).create_experiment(f"{unique_name}-plain")
    common = [
        "--source",
        source_server.url,
        "--dest",
        dest_server.url,
        "--experiments",
        f"{unique_name}-plain",
        "--state",
        f"sqlite:///{tmp_path / 'state.db'}",
    ]
    assert run_forked("migrate", *common, "--no-progress").returncode == 0
    diff = run_forked("diff", *common)
    assert diff.returncode == 0 and diff.stdout.splitlines()[-1] == "in sync", diff.stdout


def test_a_listing_the_source_does_not_offer_is_recorded_not_fatal(monkeypatch):
    def missing(endpoint, experiment, token):
        raise MlflowException(
            "API request to endpoint /api/3.0/mlflow/label-schemas/list failed with error code 404 "
            "!= 200. Response body: '<html>Not Found</html>'"
        )

    calls = []

    def answered(endpoint, experiment, token):
        calls.append(token)
        return ([1, 2], "next") if token is None else ([3], None)

    monkeypatch.setattr(
        inventory,
        "LISTERS",
        {
            **{k: lambda e, x, t: ([], None) for k in inventory.LISTERS},
            "label_schema": missing,
            "issue": answered,
        },
    )
    found = inventory.scan_inventory(Endpoint("http://127.0.0.1:9"), ["1", "2"])
    scorers = [f for f in found if f.kind == "label_schema"]
    assert scorers == [
        Listed("label_schema", None, None, why=scorers[0].why)
    ]  # asked once, not once per experiment
    assert "404" in scorers[0].why
    assert [f.count for f in found if f.kind == "issue"] == [3, 3] and calls == [
        None,
        "next",
        None,
        "next",
    ]


def test_a_listing_that_fails_costs_one_call_and_is_recorded(monkeypatch):
    calls = []

    def broken(endpoint, experiment, token):
        calls.append(1)
        raise MlflowException("webhook secret cannot be decrypted", error_code="INTERNAL_ERROR")

    monkeypatch.setattr(
        inventory,
        "LISTERS",
        {**{k: lambda e, x, t: ([], None) for k in inventory.LISTERS}, "webhook": broken},
    )
    found = inventory.scan_inventory(Endpoint("http://127.0.0.1:9"), [])
    assert [f for f in found if f.kind == "webhook"] == [
        Listed("webhook", None, why="webhook secret cannot be decrypted")
    ] and calls == [1]


def test_azure_ml_like_ends_list_everything_skipped(
    source_server, dest_server, azureml_dest, unique_name, tmp_path, webhook
):
    """To an Azure-ML-like destination every kind never copied is listed with exit 1; read from one,
    each listing it does not offer (404 like the service) is `cannot be listed here`, and the scan
    goes on."""
    name = f"{unique_name}-genai"
    _seed(MlflowClient(source_server.url), name)
    to_azure = write_config(
        tmp_path / "to-azure.yaml",
        experiments=[name],
        state=f"sqlite:///{tmp_path / 'a.db'}",
        source={"tracking_uri": source_server.url},
        destination={"tracking_uri": azureml_dest.url, "profile": "azureml"},
    )
    migrate = run_forked("migrate", "--config", str(to_azure), "--no-progress")
    assert migrate.returncode == 1, migrate.stdout + migrate.stderr
    for line in (
        f"! scorers 2 ({name})",
        f"! issues 1 ({name})",
        f"! label schemas 1 ({name})",
        "! webhooks ",
    ):
        assert line in migrate.stdout
    diff = run_forked("diff", "--config", str(to_azure), "--format", "json")
    assert diff.returncode == 1
    kinds = {u["kind"] for u in json.loads(diff.stdout)["summary"]["uncopied"]}
    assert {"scorer", "issue", "label_schema", "review_queue", "webhook"} <= kinds
    from_azure = write_config(
        tmp_path / "from-azure.yaml",
        experiments=[name],
        state=f"sqlite:///{tmp_path / 'b.db'}",
        destination={"tracking_uri": dest_server.url},
        source={"tracking_uri": azureml_dest.url, "profile": "azureml"},
    )
    diff = run_forked("diff", "--config", str(from_azure), "--format", "json")
    assert diff.returncode == 1, diff.stderr  # the runs are new there; the listings are no error
    unlisted = {u["kind"]: u for u in json.loads(diff.stdout)["notes"]}
    assert set(unlisted) == {
        "webhook",
        "gateway_secret",
        "gateway_endpoint",
        "mcp_server",
        "scorer",
        "label_schema",
        "review_queue",
        "issue",
    }
    assert all(u["note"].startswith("cannot be listed here: ") for u in unlisted.values())
    assert "not supported by Azure Machine Learning" in unlisted["scorer"]["note"]
