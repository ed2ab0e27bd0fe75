"""What each endpoint profile does with prompts: the kind's part of syncer.core.capabilities, looked
up there by kind name (`supports(caps, KIND)`, `supports(caps, KIND, REGISTRY)`)."""

from __future__ import annotations

from syncer.core.capabilities import API, KindCaps, declare

KIND = "prompt"
# As a source, where prompts are read instead of the end's own registry (None: its registry): a
# registry URI scheme such as "databricks-uc" (Unity Catalog prompts, searched per catalog.schema).
REGISTRY = "registry"

PROMPTS = declare(
    KindCaps(
        KIND,
        profiles={
            # Prompts live in Unity Catalog (`catalog.schema.name`; MLflow's `databricks-uc` store,
            # UnityCatalogPromptService): read as a source (syncer.kinds.prompts.uc_scan), not
            # written as a destination (listed `!`).
            "databricks": {API: False, REGISTRY: "databricks-uc"},
            # Prompts are tagged registered models and Azure ML's registry search takes no tag
            # filter (Azure ML docs, "Manage models registry with MLflow";
            # tests/emulators/azureml.py answers the same).
            "azureml": {API: False},
        },
    )
)
