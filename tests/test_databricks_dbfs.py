"""Databricks `dbfs:/databricks/mlflow-tracking/...` artifacts, read through batched SAS URLs.

The Databricks-like gateway (tests/emulators/dbfs.py) hides its Azurite root behind dbfs:/ URIs and
hands out short-lived SAS URLs, as Azure Databricks does. Into an Azure Blob destination every file
is copied by the storage service itself; into any other destination it is downloaded from the SAS
URL.
"""

from __future__ import annotations

from collections import Counter

from azure.storage.blob import BlobServiceClient
from mlflow import MlflowClient

from syncer.backends.azure_blob import BlobLocation
from syncer.backends.endpoint import Endpoint
from syncer.config import EndpointConfig, Settings
from syncer.core.actions import Op
from syncer.engine.sync import sync
from syncer.plan.uncopied import is_unlisted
from tests.compare import assert_same
from tests.test_databricks_to_azureml import USER, settings_for

READ = "POST /api/2.0/mlflow/artifacts/credentials-for-read"


def _files_per_run(client: MlflowClient, names: list[str]) -> dict[str, int]:
    exp_ids = [client.get_experiment_by_name(n).experiment_id for n in names]
    out = {}
    for run in client.search_runs(exp_ids):
        stack, count = [None], 0
        while stack:
            for f in client.list_artifacts(run.info.run_id, stack.pop()):
                if f.is_dir:
                    stack.append(f.path)
                else:
                    count += 1
        out[run.info.run_id] = count
    return out


def test_the_emulated_workspace_hands_out_dbfs_uris(databricks_env, workload_factory, unique_name):
    w = workload_factory(MlflowClient(databricks_env.server.url), f"{USER}/{unique_name}")
    seen = Endpoint("databricks", "databricks").client.get_run(w.runs["a-0"]).info.artifact_uri
    exp_id = (
        MlflowClient(databricks_env.server.url)
        .get_experiment_by_name(w.experiments[0])
        .experiment_id
    )
    assert seen == f"dbfs:/databricks/mlflow-tracking/{exp_id}/{w.runs['a-0']}/artifacts"


def test_dbfs_artifacts_into_azure_blob_are_copied_by_the_storage_service(
    databricks_env, azureml_dest, azurite, workload_factory, unique_name, tmp_path
):
    src = MlflowClient(databricks_env.server.url)
    w = workload_factory(src, f"{USER}/{unique_name}")
    files = _files_per_run(src, w.experiments)
    before = Counter(databricks_env.gateway.counts)
    result = sync(
        settings_for(
            azureml_dest.url, f"sqlite:///{tmp_path / 's.db'}", [f"{USER}/{unique_name}/*"]
        )
    )
    assert not result.failed, [o.error for o in result.failed]
    asked = databricks_env.gateway.counts[READ] - before[READ]
    assert asked == sum(
        1 for n in files.values() if n
    )  # one batch per run with files, not one per file

    dst = MlflowClient(azureml_dest.url)
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    copied = 0
    for name in (f"{unique_name}/alpha", f"{unique_name}/beta"):
        for run in dst.search_runs([dst.get_experiment_by_name(name).experiment_id]):
            loc = BlobLocation.parse(run.info.artifact_uri)
            for b in service.get_container_client(loc.container).list_blobs(
                name_starts_with=loc.path + "/"
            ):
                props = service.get_blob_client(loc.container, b.name).get_blob_properties()
                assert props.copy.status == "success" and "/databricks/" in props.copy.source, (
                    b.name
                )
                copied += 1
    assert copied == sum(files.values()) > 0


def test_dbfs_artifacts_into_a_plain_server_are_exact_and_expired_sas_urls_are_renewed(
    databricks_env, dest_server, workload_factory, unique_name, tmp_path
):
    src = MlflowClient(databricks_env.server.url)
    w = workload_factory(src, unique_name)
    files = _files_per_run(src, w.experiments)
    before = Counter(databricks_env.gateway.counts)
    databricks_env.dbfs.expired_to_hand_out = 3
    settings = Settings(
        source=EndpointConfig(tracking_uri="databricks", registry_uri="databricks"),
        destination=EndpointConfig(tracking_uri=dest_server.url),
        state=f"sqlite:///{tmp_path / 's.db'}",
        experiments=[f"{unique_name}/*"],
    )
    first = sync(settings)
    assert not first.failed, [o.error for o in first.failed]
    assert databricks_env.dbfs.expired_to_hand_out == 0
    batches = sum(1 for n in files.values() if n)
    assert (
        databricks_env.gateway.counts[READ] - before[READ] == batches + 3
    )  # storage refused 3, renewed once each
    assert_same(
        src, MlflowClient(dest_server.url), w.experiments
    )  # every artifact byte, every metric point

    second = sync(settings)
    assert second.outcomes == [] and all(
        a.op is Op.SAME or is_unlisted(a) for a in second.plan.actions
    )
    deep = sync(settings, verify=True)  # reads every dbfs:/ file back and compares it with the copy
    assert deep.outcomes == [] and deep.failed == []


def test_a_signed_url_refused_twice_fails_that_run_only_and_a_rerun_completes_it(
    databricks_env, dest_server, workload_factory, unique_name, tmp_path
):
    src = MlflowClient(databricks_env.server.url)
    w = workload_factory(src, unique_name, runs_per_experiment=1)
    blocked = w.runs["a-0"]
    databricks_env.dbfs.unreadable.add(
        blocked
    )  # its SAS URLs lack the read permission, even renewed
    settings = Settings(
        source=EndpointConfig(tracking_uri="databricks", registry_uri="databricks"),
        destination=EndpointConfig(tracking_uri=dest_server.url),
        state=f"sqlite:///{tmp_path / 's.db'}",
        experiments=[f"{unique_name}/*"],
    )
    try:
        first = sync(settings)
    finally:
        databricks_env.dbfs.unreadable.discard(blocked)
    assert [o.action.source_id for o in first.failed] == [blocked]
    assert "storage refused a fresh signed URL" in first.failed[0].error
    assert "sig=" not in first.failed[0].error  # no SAS token in what is recorded and reported
    assert sum(o.ok and o.action.kind == "run" for o in first.outcomes) == len(w.runs) - 1

    second = sync(settings)
    assert not second.failed
    assert_same(src, MlflowClient(dest_server.url), w.experiments)
