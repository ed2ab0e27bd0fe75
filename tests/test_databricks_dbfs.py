"""Databricks `dbfs:/databricks/mlflow-tracking/...` artifacts, read through batched SAS URLs.

The Databricks-like gateway (tests/emulators/dbfs.py) hides its Azurite root behind dbfs:/ URIs and
hands out short-lived SAS URLs, as Azure Databricks does. Into an Azure Blob destination every file
is copied by the storage service itself; into any other destination it is downloaded from the SAS
URL.

Where the other checks are, on migrations made anyway: into Azure Blob storage, every file a storage
copy and one batch of signed URLs per run, tests/test_databricks_to_azureml.py
(`test_dbfs_files_are_copied_by_the_storage_service`); exact after expired signed URLs were renewed,
a second pass and `--verify` clean, tests/test_conformance.py (`databricks-azureml` profile); into a
plain server, a URL refused twice, then the rerun's expired URL renewed and the rerun exact, below.
"""

from __future__ import annotations

from mlflow import MlflowClient

from syncer.backends.endpoint import Endpoint
from syncer.config import EndpointConfig, Settings
from syncer.engine.sync import sync
from tests.compare import assert_same
from tests.test_databricks_to_azureml import USER


def test_the_emulated_workspace_hands_out_dbfs_uris(databricks_env, unique_name):
    server = MlflowClient(databricks_env.server.url)
    exp_id = server.create_experiment(f"{USER}/{unique_name}/alpha")
    run_id = server.create_run(exp_id).info.run_id
    seen = Endpoint("databricks", "databricks").client.get_run(run_id).info.artifact_uri
    assert seen == f"dbfs:/databricks/mlflow-tracking/{exp_id}/{run_id}/artifacts"


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

    # the rerun's first signed URLs come expired: renewed, the download goes through
    databricks_env.dbfs.expired_to_hand_out = 1
    try:
        second = sync(settings)
    finally:
        left, databricks_env.dbfs.expired_to_hand_out = databricks_env.dbfs.expired_to_hand_out, 0
    assert left == 0 and not second.failed
    assert_same(src, MlflowClient(dest_server.url), w.experiments)
