"""What each endpoint profile does with logged models: the kind's part of
syncer.core.capabilities, looked up there by kind name (`supports(caps, KIND)`)."""

from __future__ import annotations

from syncer.core.capabilities import API, KindCaps, declare

KIND = "logged_model"

LOGGED_MODELS = declare(
    KindCaps(
        KIND,
        # Azure ML's MLflow endpoint answers the logged-models API with 404
        # (Azure/azure-sdk-for-python#44896; tests/emulators/azureml.py answers the same).
        profiles={"azureml": {API: False}},
        since=3,  # MLflow 3.0: an MLflow 2.x server holds none
    )
)
