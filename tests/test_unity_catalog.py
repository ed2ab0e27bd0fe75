"""Unity Catalog as a source registry, alone or together with the workspace registry of the same
Databricks-like workspace (tests/emulators/unity_catalog.py: the UC read API over a real mlflow
server, version files in Azurite read with temporary SAS credentials).
"""

from __future__ import annotations

import tempfile
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from sklearn.linear_model import LinearRegression, Ridge

from syncer.backends.auth import check_registry
from syncer.backends.azure_blob import BlobLocation
from syncer.backends.endpoint import Endpoint
from syncer.cli import app as cli
from syncer.config import EndpointConfig, NameRule, Settings, load_settings
from syncer.core.actions import Op
from syncer.core.capabilities import PLAIN_MLFLOW
from syncer.core.errors import FatalError
from syncer.core.model_snapshot import ModelSnap, VersionSnap
from syncer.core.snapshot import Snapshot
from syncer.engine.sync import endpoints, sync
from syncer.kinds.models.plan import plan_models
from syncer.kinds.models.scan import scan_source_models
from syncer.plan.uncopied import is_unlisted
from tests.fixtures.cli import run_forked, write_config
from tests.fixtures.models import REQUIREMENTS, X, _exported, model_files, predictions, tracking

USER = "/Users/alice@corp.com"
UC_API = "/api/2.0/mlflow/unity-catalog/"
WS_SEARCH = "GET /api/2.0/mlflow/registered-models/search"
BOTH = ["databricks", "databricks-uc"]


@dataclass
class Source:
    """What `build_source` made in the workspace."""

    schema: str
    uc_model: str  # catalog.schema.model
    ws_model: str
    ws_experiment: str


def publish(uc, name: str, version: str) -> None:
    """Put a version's files into its Unity Catalog storage location, as UC registration does."""
    with tempfile.TemporaryDirectory() as tmp, tracking(uc.server.url):
        root = mlflow.artifacts.download_artifacts(f"models:/{name}/{version}", dst_path=tmp)
        uc.rules.publish(name, version, Path(root))


def uc_model(uc, client: MlflowClient, name: str, experiment: str) -> None:
    """A UC model: v1 from an MLflow 3 logged model, v2 from a run's folder; tags, descriptions,
    aliases."""
    exp_id = client.create_experiment(experiment)
    run1, run2 = client.create_run(exp_id).info.run_id, client.create_run(exp_id).info.run_id
    with tracking(uc.server.url), mlflow.start_run(run_id=run1):
        info = mlflow.sklearn.log_model(
            LinearRegression().fit(X, X @ [1.5, -2.0] + 3),
            name="model",
            pip_requirements=REQUIREMENTS,
        )
    _exported(client, run2, Ridge(alpha=5.0).fit(X, np.sin(X[:, 0]) + X[:, 1]), "exported")
    client.set_terminated(run2)
    client.create_registered_model(name, tags={"team": "risk"}, description="churn, governed")
    client.create_model_version(
        name, info.model_uri, run_id=run1, tags={"quality": "ok"}, description="linear"
    )
    client.create_model_version(
        name,
        f"{client.get_run(run2).info.artifact_uri}/exported",
        run_id=run2,
        tags={"quality": "better"},
        description="ridge",
    )
    client.set_registered_model_alias(name, "champion", "2")
    client.set_registered_model_alias(name, "legacy", "1")
    for version in ("1", "2"):
        publish(uc, name, version)


def build_source(uc, unique: str) -> Source:
    """A UC model trained in an unselected experiment, and a workspace model from a selected run."""
    client = MlflowClient(uc.server.url)
    schema = unique.replace("-", "_")
    src = Source(schema, f"main.{schema}.churn", f"{unique}-ws", f"{USER}/{unique}/ws")
    uc_model(uc, client, src.uc_model, f"{USER}/{unique}/uc-training")
    exp_id = client.create_experiment(src.ws_experiment)
    run = client.create_run(exp_id).info.run_id
    _exported(client, run, LinearRegression().fit(X, X @ [0.5, 1.0]), "model")
    client.set_terminated(run)
    client.create_registered_model(src.ws_model, description="workspace model")
    client.create_model_version(
        src.ws_model, f"runs:/{run}/model", run_id=run, tags={"where": "workspace"}
    )
    return src


@pytest.fixture(scope="module")
def built(uc_workspace) -> Source:
    """The source of this module's migrations (each into a destination of its own), built once."""
    return build_source(uc_workspace, f"t-{uuid.uuid4().hex[:10]}")


def settings(dest: str, state: Path, registries: str | list[str], **kw) -> Settings:
    return Settings(
        source=EndpointConfig(tracking_uri="databricks", registry_uri=registries),
        destination=EndpointConfig(tracking_uri=dest, profile="azureml"),
        state=f"sqlite:///{state}",
        **kw,
    )


def user_tags(tags: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in tags.items() if not k.startswith("mlflow_syncer.")}


def assert_same_model(
    src: MlflowClient, dst: MlflowClient, name: str, src_url: str, dst_url: str
) -> None:
    want, have = src.get_registered_model(name), dst.get_registered_model(name)
    assert (have.description, have.aliases, user_tags(have.tags)) == (
        want.description,
        want.aliases,
        want.tags,
    )
    src_versions = {v.version: v for v in src.search_model_versions(f"name='{name}'")}
    dst_versions = {v.version: v for v in dst.search_model_versions(f"name='{name}'")}
    assert sorted(dst_versions) == sorted(src_versions)
    for number, v in src_versions.items():
        d = dst_versions[number]
        assert (d.description, user_tags(d.tags), d.current_stage) == (
            v.description,
            v.tags,
            "None",
        )
        got = model_files(dst_url, name, number)
        assert "MLmodel" in got and got == model_files(src_url, name, number)


def diff_lines(tmp_path: Path, dest: str, src: Source) -> list[str]:
    cfg = write_config(
        tmp_path / "diff.yaml",
        source={"tracking_uri": "databricks", "registry_uri": BOTH},
        destination={"tracking_uri": dest, "profile": "azureml"},
        state=f"sqlite:///{tmp_path / 'diff-state.db'}",
        experiments=[src.ws_experiment],
        models=[f"main.{src.schema}.*"],
    )
    out = run_forked("diff", "--config", str(cfg))
    assert out.returncode == 1, out.stderr
    return out.stdout.splitlines()


def assert_copied_by_storage(azurite, dst: MlflowClient, name: str, source_container: str) -> None:
    """Every file of every version of `name` in the destination was copied by the storage
    service."""
    service = azurite.service()
    for v in dst.search_model_versions(f"name='{name}'"):
        loc = BlobLocation.parse(v.source)
        blobs = list(
            service.get_container_client(loc.container).list_blobs(name_starts_with=f"{loc.path}/")
        )
        assert blobs, v.source
        for b in blobs:
            props = service.get_blob_client(loc.container, b.name).get_blob_properties()
            assert (
                props.copy.status == "success" and f"/{source_container}/" in props.copy.source
            ), b.name


def test_both_registries_into_azureml(uc_env, built, azureml_dest, azurite, tmp_path):
    src = built
    expected = {
        a: predictions(uc_env.server.url, f"models:/{src.uc_model}@{a}")
        for a in ("champion", "legacy")
    }
    lines = diff_lines(tmp_path, azureml_dest.url, src)
    for label in (src.uc_model, f"{src.uc_model}/v1", f"{src.uc_model}/v2", src.ws_model):
        assert any(line.startswith("+ model") and f" {label}" in line for line in lines), "\n".join(
            lines
        )

    unselected = f"main.{src.schema}_other.m"
    MlflowClient(uc_env.server.url).create_registered_model(unselected, tags={"not": "read"})
    s = settings(
        azureml_dest.url,
        tmp_path / "state.db",
        BOTH,
        experiments=[src.ws_experiment],
        models=[f"main.{src.schema}.*"],
    )
    before = Counter(uc_env.gateway.counts)
    first = sync(s)
    seen = uc_env.gateway.counts - before
    assert [o.error for o in first.outcomes if not o.ok] == []
    assert seen[f"GET {UC_API}registered-models/search"] and seen[WS_SEARCH]
    assert seen["uc read credentials"] == 2  # both UC versions read from their storage location
    files = {a.label: a.details["files"] for a in first.plan.actions if a.kind == "model_version"}
    assert files == {
        f"{src.uc_model}/v1": "holder",
        f"{src.uc_model}/v2": "holder",
        f"{src.ws_model}/v1": "run",
    }

    source, dst = MlflowClient(uc_env.server.url), MlflowClient(azureml_dest.url)
    assert_same_model(source, dst, src.uc_model, uc_env.server.url, azureml_dest.url)
    assert_same_model(source, dst, src.ws_model, uc_env.server.url, azureml_dest.url)
    for alias, want in expected.items():
        assert np.array_equal(
            predictions(azureml_dest.url, f"models:/{src.uc_model}@{alias}"), want
        )
    assert_copied_by_storage(
        azurite, dst, src.uc_model, "unity-catalog"
    )  # SAS URL -> blob, never via here

    again = Counter(uc_env.gateway.counts)
    second = sync(s)
    assert second.outcomes == [] and all(
        a.op is Op.SAME or is_unlisted(a) for a in second.plan.actions
    )
    idle = uc_env.gateway.counts - again
    assert idle["uc read credentials"] == 0
    # UC searches carry no tags or aliases: only the selected model and its versions are read in
    # full
    assert (
        idle[f"GET {UC_API}registered-models/get"],
        idle[f"GET {UC_API}model-versions/get"],
    ) == (1, 2)


def test_name_collision_between_registries_is_an_error_and_writes_nothing(
    uc_env, azureml_dest, unique_name, tmp_path
):
    client = MlflowClient(uc_env.server.url)
    schema = unique_name.replace("-", "_")
    uc_name, ws_name, loose = (
        f"main.{schema}.scorer",
        f"{unique_name}-scorer",
        f"{unique_name}-other",
    )
    exp_id = client.create_experiment(f"{USER}/{unique_name}/train")
    run = client.create_run(exp_id).info.run_id
    _exported(client, run, LinearRegression().fit(X, X @ [1.0, 1.0]), "model")
    for name in (uc_name, ws_name, loose):
        client.create_registered_model(name)
        client.create_model_version(name, f"runs:/{run}/model", run_id=run)
    publish(uc_env, uc_name, "1")
    rule = NameRule(
        match=rf"^main\.{schema}\.", replace=f"{unique_name}-"
    )  # UC scorer -> <unique>-scorer
    s = settings(
        azureml_dest.url,
        tmp_path / "state.db",
        BOTH,
        experiments=[f"{USER}/{unique_name}/none"],
        models=[f"main.{schema}.*", f"{unique_name}-*"],
        model_names=[rule],
    )

    result = sync(s)
    errors = {a.source_id: a.details["reason"] for a in result.plan.actions if a.op is Op.ERROR}
    assert set(errors) == {uc_name, ws_name}
    assert all(f"several source models map to '{ws_name}'" in r for r in errors.values())
    dst = MlflowClient(azureml_dest.url)
    assert (_registered(dst, ws_name), _registered(dst, loose)) == (False, True)

    cfg = write_config(
        tmp_path / "c.yaml",
        **s.model_dump(
            include={"source", "destination", "state", "models", "model_names"}, exclude_none=True
        ),
        experiments=[f"{USER}/{unique_name}/train"],
    )  # the CLI refuses a filter matching nothing
    out = run_forked("migrate", "--no-progress", "--config", str(cfg))
    assert out.returncode == 1, (
        out.stderr
    )  # partial: the rest is in sync, the collision is reported
    assert f"several source models map to '{ws_name}'" in out.stdout + out.stderr
    assert not _registered(dst, ws_name)


def _registered(dst: MlflowClient, name: str) -> bool:
    """Whether an Azure-ML-like registry holds a model (its search takes no tag filter, which MLflow
    3's search_registered_models always adds: azure-sdk-for-python#42155)."""
    try:
        return dst.get_registered_model(name).name == name
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        return False


def test_unity_catalog_alone_into_plain_mlflow(uc_env, built, dest_server, unique_name, tmp_path):
    src = built
    s = Settings(
        source=EndpointConfig(tracking_uri="databricks", registry_uri="databricks-uc"),
        destination=EndpointConfig(tracking_uri=dest_server.url),
        state=f"sqlite:///{tmp_path / 's.db'}",
        experiments=[f"{USER}/{unique_name}/none"],
        models=[f"main.{src.schema}.*", src.ws_model],
    )
    before = Counter(uc_env.gateway.counts)
    uc_env.rules.expired = 1  # the first credential is refused by the storage: asked for again
    try:
        first = sync(s)
    finally:
        uc_env.rules.expired = 0
    seen = uc_env.gateway.counts - before
    assert [o.error for o in first.outcomes if not o.ok] == []
    assert not seen[WS_SEARCH]  # the workspace registry is not read: its model is not found
    files = {a.label: a.details["files"] for a in first.plan.actions if a.kind == "model_version"}
    # plain MLflow has logged models: v1 becomes one (read from the workspace), v2 comes from UC
    # storage
    assert files == {f"{src.uc_model}/v1": "logged_model", f"{src.uc_model}/v2": "holder"}
    assert (seen["uc read credentials (expired)"], seen["uc read credentials"]) == (1, 1)
    dst = MlflowClient(dest_server.url)
    assert_same_model(
        MlflowClient(uc_env.server.url), dst, src.uc_model, uc_env.server.url, dest_server.url
    )
    assert dst.search_registered_models(f"name = '{src.ws_model}'") == []
    second = sync(s)
    assert second.outcomes == [] and all(
        a.op is Op.SAME or is_unlisted(a) for a in second.plan.actions
    )


def test_a_name_in_both_registries_is_an_error():
    model = ModelSnap(
        name="a.b.c",
        registry="databricks",
        clash=("databricks", "databricks-uc"),
        versions={"1": VersionSnap("1", "s3://bucket/m", None, "READY")},
    )
    src = Snapshot(identity="databricks", parts={"model": {model.name: model}})
    actions = plan_models(src, {}, {model.name: model.name}, set(), PLAIN_MLFLOW)
    assert [(a.kind, a.op) for a in actions] == [("model", Op.ERROR)]
    assert "is in 2 source registries (databricks, databricks-uc)" in actions[0].details["reason"]


def test_a_name_in_two_registries_is_found_by_the_scan(source_server, dest_server, unique_name):
    """Any two registries (here two plain servers) scanned as one source: a shared name is a
    clash."""
    for url in (source_server.url, dest_server.url):
        MlflowClient(url).create_registered_model(f"{unique_name}-dup")
    MlflowClient(dest_server.url).create_registered_model(f"{unique_name}-only")
    both = Endpoint(source_server.url, [source_server.url, dest_server.url], role="source")
    found = scan_source_models(both, Snapshot(identity="x"), [f"{unique_name}-*"])
    assert sorted(found) == [f"{unique_name}-dup", f"{unique_name}-only"]
    assert found[f"{unique_name}-dup"].clash == (source_server.url, dest_server.url)
    assert (found[f"{unique_name}-only"].registry, found[f"{unique_name}-only"].clash) == (
        dest_server.url,
        (),
    )
    assert both.for_registry(dest_server.url).limiter is both.limiter  # one rate budget for the end


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--source", "databricks", "--source-registry", "databricks,mlflow"],
            "source: choose the model registry explicitly: registry_uri 'databricks' or "
            "'databricks-uc' or both (got "
            "'mlflow')",
        ),
        (
            [
                "--source",
                "sqlite:///{tmp}/s.db",
                "--source-registry",
                "sqlite:///{tmp}/a.db,sqlite:///{tmp}/b.db",
            ],
            "source: registry_uri names 2 registries; only a Databricks source may read several",
        ),
        (
            ["--source", "databricks", "--source-registry", "databricks,databricks"],
            "option 'source.registry_uri': Value error, a registry is named twice",
        ),
    ],
)
def test_bad_registry_lists_fail_with_one_clear_line(argv, message, tmp_path, capsys):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert (
        cli.main(
            [
                "migrate",
                "--no-progress",
                "--state",
                f"sqlite:///{tmp_path}/st.db",
                "--dest",
                f"sqlite:///{tmp_path}/d.db",
                *argv,
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "d.db").exists()


def test_the_destination_takes_one_registry(tmp_path):
    cfg = write_config(
        tmp_path / "c.yaml",
        source={"tracking_uri": "databricks", "registry_uri": BOTH},
        destination={"tracking_uri": "http://127.0.0.1:1", "registry_uri": BOTH},
    )
    s = load_settings(str(cfg))
    assert s.source.registry_uris() == BOTH
    with pytest.raises(FatalError, match="destination: registry_uri names 2 registries"):
        endpoints(s)
    single = write_config(
        tmp_path / "d.yaml",
        source={"tracking_uri": "databricks", "registry_uri": BOTH},
        destination={"tracking_uri": "http://127.0.0.1:1"},
    )
    check_registry(endpoints(load_settings(str(single)))[0])  # the source may read both
