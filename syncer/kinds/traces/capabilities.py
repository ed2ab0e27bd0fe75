"""What each endpoint profile does with traces: the kind's part of syncer.core.capabilities, looked
up there by kind name (`supports(caps, KIND)`, `supports(caps, KIND, BATCH_READ)`)."""

from __future__ import annotations

from syncer.core.capabilities import API, KindCaps, declare

KIND = "trace"
# Whole traces (spans) read in batches (`batch_get_traces`); else one trace at a time (MLflow's
# `get_trace`).
BATCH_READ = "batch_read"

TRACES = declare(
    KindCaps(
        KIND,
        profiles={
            # Experiment traces keep their spans in a trace data file (`mlflow.artifactLocation`,
            # read through /api/2.0/mlflow/traces/<id>/credentials-for-data-download); MLflow's
            # Databricks store has no batch read for them (batch_get_trace_infos: not implemented;
            # batchGet is the v4 API of Unity Catalog trace tables).
            "databricks": {BATCH_READ: False},
            # The service's MLflow endpoint answers 403, "not supported in AML yet"
            # (azure-sdk-for-python#40261; tests/emulators/azureml.py answers the same).
            "azureml": {API: False},
        },
        defaults={BATCH_READ: True},
    )
)
