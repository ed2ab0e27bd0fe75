"""Traces as plain data: what the planner needs of each trace (no spans), and the pure rules of
copying them.

A trace is scanned from its `TraceInfo` only (search results carry no spans); the spans are read
when the trace is copied, in bounded batches. Each destination copy carries the source trace id
(`mlflow_syncer.source_trace_id`) and the fingerprint of the source content it was copied from, both
written by the same call that completes the copy. Its id is derived from the source trace id and the
destination experiment (`dest_trace_id`), so a write repeated after a lost answer or a kill lands on
the same trace.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from syncer.core.snapshot import PROVENANCE_PREFIX, TAG_FINGERPRINT, fingerprint

TAG_SOURCE_TRACE_ID = "mlflow_syncer.source_trace_id"
TAG_TRACE_FINGERPRINT = TAG_FINGERPRINT
META_SOURCE_RUN = "mlflow.sourceRun"
META_SIZE_BYTES = "mlflow.trace.sizeBytes"  # the spans' size as the recording client measured it
# Written by each server for itself: never copied, never compared.
SERVER_TRACE_TAGS = frozenset({"mlflow.artifactLocation", "mlflow.trace.spansLocation"})
SERVER_TRACE_METADATA = frozenset({"mlflow.trace.infoFinalized"})
# A copy whose run link could not be made yet carries this fingerprint: the next pass completes it.
UNLINKED = "unlinked"
# Incremental mirror cycles re-read the traces that started this long before the cursor (a trace is
# written when it ends, so one that started before the last cycle may have arrived after it).
CURSOR_LOOKBACK_MS = 15 * 60 * 1000


@dataclass(frozen=True)
class TraceSnap:
    """One trace as a search shows it, reduced to what planning needs."""

    trace_id: str
    experiment_id: str
    request_time: int
    state: str
    fingerprint: str  # of the comparable content (source side)
    source_run: str | None = None  # the run the trace was recorded in (`mlflow.sourceRun`)
    source_trace_id: str | None = None  # destination copies: the provenance tag
    copy_fingerprint: str | None = None  # destination copies: the fingerprint they were copied from
    # bytes of the spans, as the source recorded them (`mlflow.trace.sizeBytes`; 0: unknown)
    size: int = 0


def recorded_size(metadata: dict[str, str]) -> int:
    """The bytes of a trace's spans as its source recorded them (0: unknown)."""
    value = metadata.get(META_SIZE_BYTES)
    return int(value) if value and value.isdigit() else 0


def user_trace_tags(tags: dict[str, str]) -> dict[str, str]:
    """The trace tags that are copied and compared: without provenance and server-owned tags."""
    return {
        k: v
        for k, v in tags.items()
        if not k.startswith(PROVENANCE_PREFIX) and k not in SERVER_TRACE_TAGS
    }


def copied_metadata(metadata: dict[str, str]) -> dict[str, str]:
    """The trace metadata that is copied and compared (server-owned keys left out)."""
    return {k: v for k, v in metadata.items() if k not in SERVER_TRACE_METADATA}


def _assessment(a: dict) -> dict:
    kept = {k: v for k, v in a.items() if k not in ("trace_id", "assessment_id", "overrides")}
    return dict(sorted(kept.items()))


def trace_comparable(info: dict) -> dict:
    """What must be equal between a source trace and its copy, from `TraceInfo.to_dict()`, as
    canonical data."""
    return {
        "request_time": info.get("request_time"),
        "execution_duration": info.get("execution_duration_ms"),
        "state": info.get("state"),
        "client_request_id": info.get("client_request_id"),
        "request_preview": info.get("request_preview"),
        "response_preview": info.get("response_preview"),
        "tags": dict(sorted(user_trace_tags(info.get("tags") or {}).items())),
        "metadata": dict(sorted(copied_metadata(info.get("trace_metadata") or {}).items())),
        "assessments": sorted(
            (_assessment(a) for a in info.get("assessments") or []),
            key=lambda a: (str(a.get("assessment_name")), str(a.get("create_time"))),
        ),
    }


def trace_fingerprint(info: dict) -> str:
    """The fingerprint of a trace's comparable content."""
    return fingerprint(trace_comparable(info))


def dest_trace_hex(source_trace_id: str, dest_experiment_id: str) -> str:
    """The 128-bit OpenTelemetry trace id (32 hex digits) of the copy of a trace in a destination
    experiment."""
    return hashlib.sha256(f"{source_trace_id}|{dest_experiment_id}".encode()).hexdigest()[:32]


def dest_trace_id(source_trace_id: str, dest_experiment_id: str) -> str:
    """The MLflow trace id of the copy (`tr-` and the OpenTelemetry trace id), the same on every
    attempt."""
    return "tr-" + dest_trace_hex(source_trace_id, dest_experiment_id)


def dest_assessment_id(dest_trace: str, source_assessment_id: str) -> str:
    """The id of the copy of an assessment (ids are unique per server: a copy cannot keep the
    source's)."""
    return "a-" + hashlib.sha256(f"{dest_trace}|{source_assessment_id}".encode()).hexdigest()[:32]


def batches(items: list, sizes: list[int], most: int, budget: int) -> list[list]:
    """Consecutive groups of at most `most` items whose sizes add up to at most `budget` (an item
    alone may not)."""
    out: list[list] = []
    total = 0
    for item, size in zip(items, sizes, strict=True):
        if not out or len(out[-1]) >= most or total + size > budget:
            out.append([])
            total = 0
        out[-1].append(item)
        total += size
    return out


def cursor_name(source_experiment_id: str) -> str:
    """The state-store cursor holding the newest trace time copied from a source experiment."""
    return f"traces:{source_experiment_id}"
