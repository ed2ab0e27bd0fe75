"""The object kinds mlflow-syncer knows, as plain data: how people call them and how a copy is matched.

The order is the dependency order the engine applies them in (syncer.engine.kinds.STEPS follows it).
"""

from __future__ import annotations

from dataclasses import dataclass

from syncer.core.dataset_snapshot import TAG_SOURCE_DATASET
from syncer.core.inventory import INVENTORY
from syncer.core.model_snapshot import TAG_SOURCE_MODEL, TAG_SOURCE_MODEL_ID, TAG_SOURCE_VERSION
from syncer.core.prompt_snapshot import TAG_SOURCE_PROMPT, TAG_SOURCE_PROMPT_VERSION
from syncer.core.snapshot import TAG_SOURCE_EXPERIMENT_ID, TAG_SOURCE_RUN_ID
from syncer.core.trace_snapshot import TAG_SOURCE_TRACE_ID


@dataclass(frozen=True)
class KindInfo:
    """One object kind: its `Action.kind`, its name in reports, and the destination tag naming its source.

    `capability` names the `Capabilities` field that says whether an end can hold objects of this kind
    (None: every end can).
    """

    name: str
    plural: str
    provenance_tag: str
    capability: str | None = None


KINDS: tuple[KindInfo, ...] = (
    KindInfo("experiment", "experiments", TAG_SOURCE_EXPERIMENT_ID),
    KindInfo("dataset", "evaluation datasets", TAG_SOURCE_DATASET, capability="datasets"),
    KindInfo("run", "runs", TAG_SOURCE_RUN_ID),
    KindInfo("logged_model", "logged models", TAG_SOURCE_MODEL_ID, capability="logged_models"),
    KindInfo("model", "models", TAG_SOURCE_MODEL),
    KindInfo("model_version", "model versions", TAG_SOURCE_VERSION),
    KindInfo("prompt", "prompts", TAG_SOURCE_PROMPT, "prompts"),
    KindInfo("prompt_version", "prompt versions", TAG_SOURCE_PROMPT_VERSION, "prompts"),
    KindInfo("trace", "traces", TAG_SOURCE_TRACE_ID, capability="traces"),
)
BY_NAME = {k.name: k for k in KINDS}


def plural(kind: str) -> str:
    """How reports name several objects of `kind` (copied or inventory kinds; else `kind` + s, in words)."""
    info = BY_NAME.get(kind) or INVENTORY.get(kind)
    return info.plural if info else kind.replace("_", " ") + "s"
