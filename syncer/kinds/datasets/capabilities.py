"""What each endpoint profile does with evaluation datasets: the kind's part of
syncer.core.capabilities, looked up there by kind name (`supports(caps, KIND)`)."""

from __future__ import annotations

from syncer.core.capabilities import API, KindCaps, declare

KIND = "dataset"

DATASETS = declare(
    KindCaps(
        KIND,
        profiles={
            # Evaluation datasets are Unity Catalog tables: MLflow's Databricks store lists them one
            # experiment at a time (GET /api/2.0/managed-evals/datasets) but reads neither their
            # records nor their tags: counted, not copied (syncer.kinds.inventory `uc_dataset`).
            "databricks": {API: False},
            # /api/3.0/mlflow/datasets is documented nowhere for Azure ML: taken as absent.
            "azureml": {API: False},
        },
        # They came with MLflow 3 (they need a SQL tracking store); MLflow's legacy file store
        # implements none of their API (MlflowNotImplementedException), whatever wrote it.
        since=3,
        absent_from=("file-store",),
    )
)
