"""Plain-data pictures of MLflow 3 evaluation datasets (`mlflow.genai.datasets`) and their
records."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

TAG_SOURCE_DATASET = "mlflow_syncer.source_dataset_id"


@dataclass
class DatasetSnap:
    """One evaluation dataset as its search shows it, with the experiments it is linked to.

    Records are not part of the snapshot: they are read when the dataset is copied (the source's
    `last_update_time` changes with every record written, so the plan needs no record).
    """

    dataset_id: str
    name: str
    last_update_time: int = 0
    tags: dict[str, str] = field(default_factory=dict)
    experiment_ids: tuple[str, ...] = ()
    schema: str | None = None
    profile: str | None = None


@dataclass(frozen=True)
class RecordSnap:
    """One dataset record: `inputs` identify it (MLflow upserts records by their inputs)."""

    inputs: dict
    outputs: object = None
    expectations: dict | None = None
    tags: dict | None = None
    source: dict | None = None

    @property
    def key(self) -> str:
        """The record's identity in its dataset: its inputs, canonically."""
        return canonical(self.inputs)

    @property
    def content(self) -> str:
        """Everything but the inputs, canonically (what a copy must hold)."""
        return canonical(
            {
                "outputs": self.outputs,
                "expectations": self.expectations or {},
                "tags": self.tags or {},
                "source": self.source,
            }
        )

    def as_upsert(self) -> dict:
        """The record as MLflow's upsert takes it."""
        record: dict = {"inputs": self.inputs, "outputs": self.outputs}
        for name in ("expectations", "tags", "source"):
            value = getattr(self, name)
            if value:
                record[name] = value
        return record


def canonical(data: object) -> str:
    """Canonical JSON of plain data."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)


def merge_needs_reset(want: RecordSnap, have: RecordSnap) -> bool:
    """Whether `have` holds expectation or tag keys that `want` lacks: an upsert only adds and
    replaces keys, so such a record must be deleted and written again."""
    return bool(
        set(have.expectations or {}) - set(want.expectations or {})
        or set(have.tags or {}) - set(want.tags or {})
    )
