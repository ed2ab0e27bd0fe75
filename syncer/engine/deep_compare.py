"""Field-level detail for a diff report: what exactly a sync would copy, and (--deep) hidden
differences.

The planner (plan.py) stays pure and works from the two snapshots only. This module makes the
per-run calls a report needs, read-only, and returns the extra details keyed by action key:

- runs planned `*`: points missing per metric key (histories fetched only for the keys the executor
  would fetch) and artifact files missing or of another size, mirroring what syncer.apply.runs would
  do;
- with `deep`: runs planned `+` get exact point and byte counts, and runs planned `=` get every
  metric point and every artifact checksum (sha256 after download) compared; differences found there
  are reported although a sync would not repair them (the copy carries the current fingerprint).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from syncer.backends import artifacts as art
from syncer.backends.calls import call
from syncer.backends.classify import classify, describe
from syncer.backends.endpoint import Endpoint
from syncer.core.actions import Action, Op, Plan
from syncer.core.errors import FatalError, Kind
from syncer.core.fitting import POLICY_DIR
from syncer.core.metric_points import missing_points
from syncer.core.snapshot import RunSnap, Snapshot
from syncer.state.store import StateStore

Key = tuple[str, str]


@dataclass
class Inspection:
    """Extra details per action key, and the totals a sync would copy."""

    deep: bool = False
    details: dict[Key, dict] = field(default_factory=dict)
    differs: set[Key] = field(default_factory=set)  # `=` runs where --deep found differences
    errors: dict[Key, str] = field(default_factory=dict)
    metric_points: int = 0
    artifact_files: int = 0
    artifact_bytes: int = 0
    uncounted_runs: int = 0  # runs to create whose points and bytes were not counted (no --deep)


@dataclass
class _Sides:
    src: Endpoint
    dst: Endpoint
    src_snap: Snapshot
    dst_snap: Snapshot
    state: StateStore | None


def _history(endpoint: Endpoint, run_id: str, key: str) -> list:
    return call(
        endpoint, "get_metric_history", lambda: endpoint.client.get_metric_history(run_id, key)
    )


def _listing(endpoint: Endpoint, run: RunSnap) -> dict[str, int | None]:
    return art.listing(endpoint, endpoint.artifact_repo(run.artifact_uri))


def _dest_listing(s: _Sides, src_run: RunSnap, dest: RunSnap) -> dict[str, int | None]:
    """What the executor treats as present in the destination (recorded uploads where sizes are
    unknown)."""
    have = _listing(s.dst, dest)
    if s.dst.caps.artifact_sizes:
        return have
    recorded = s.state.uploaded_artifacts(src_run.run_id) if s.state else {}
    return {p: recorded[p] for p in have if p in recorded}


def _artifact_gap(
    source: dict[str, int | None], dest: dict[str, int | None]
) -> tuple[list, list, int]:
    """Files the executor would copy: (missing paths, paths of another size, bytes), as copy_tree
    decides."""
    missing = sorted(p for p in source if p not in dest)
    resized = sorted(
        p
        for p, size in source.items()
        if p in dest and None not in (size, dest[p]) and size != dest[p]
    )
    size = sum(source[p] or 0 for p in missing + resized)
    return missing, resized, size


def _put_artifacts(out: dict, missing: list, resized: list) -> None:
    if missing:
        out["artifacts_missing"] = missing
    if resized:
        out["artifacts_size_differs"] = resized


def _inspect_update(s: _Sides, action: Action) -> dict:
    """Mirror syncer.apply.runs: histories of keys whose latest value differs (all keys when
    resuming), listings."""
    run, dest = s.src_snap.runs[action.source_id], s.dst_snap.runs[action.dest_id]
    full = bool(action.details.get("resume"))
    points: dict[str, int] = {}
    for key in sorted(run.metrics):
        if not full and dest.metrics.get(key) == run.metrics[key]:
            continue
        n = len(
            missing_points(
                _history(s.src, run.run_id, key),
                _history(s.dst, dest.run_id, key),
                s.dst.caps.collapses_duplicate_points,
            )
        )
        if n:
            points[key] = n
    missing, resized, size = _artifact_gap(_listing(s.src, run), _dest_listing(s, run, dest))
    out: dict = {"metric_points_missing": points} if points else {}
    _put_artifacts(out, missing, resized)
    out["_points"], out["_files"], out["_bytes"] = (
        sum(points.values()),
        len(missing) + len(resized),
        size,
    )
    return out


def _inspect_create(s: _Sides, action: Action) -> dict:
    run = s.src_snap.runs[action.source_id]
    points = sum(len(_history(s.src, run.run_id, key)) for key in run.metrics)
    listing = _listing(s.src, run)
    size = sum(v or 0 for v in listing.values())
    return {
        "metric_points": points,
        "artifact_files": len(listing),
        "artifact_bytes": size,
        "_points": points,
        "_files": len(listing),
        "_bytes": size,
    }


def _sha256(endpoint: Endpoint, run: RunSnap, path: str) -> str:
    tmp = tempfile.mkdtemp(prefix="mlflow-syncer-diff-")
    try:
        local = os.path.join(tmp, "file")
        art.fetch_file(endpoint, endpoint.artifact_repo(run.artifact_uri), path, local)
        digest = hashlib.sha256()
        with open(local, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _deep_metrics(s: _Sides, run: RunSnap, dest: RunSnap) -> tuple[dict, dict]:
    missing, extra = {}, {}
    for key in sorted(set(run.metrics) | set(dest.metrics)):
        src_hist = _history(s.src, run.run_id, key) if key in run.metrics else []
        dst_hist = _history(s.dst, dest.run_id, key) if key in dest.metrics else []
        if n := len(missing_points(src_hist, dst_hist, s.dst.caps.collapses_duplicate_points)):
            missing[key] = n
        if n := len(missing_points(dst_hist, src_hist)):
            extra[key] = n
    return missing, extra


def _inspect_same(s: _Sides, action: Action) -> dict:
    """--deep on a run that looks in sync: every point, every file, every checksum."""
    run, dest = s.src_snap.runs[action.source_id], s.dst_snap.runs[action.dest_id]
    points, extra = _deep_metrics(s, run, dest)
    source, have = _listing(s.src, run), _listing(s.dst, dest)
    missing, resized, _ = _artifact_gap(source, have)
    checksum = sorted(
        p
        for p in source
        if p in have and p not in resized and _sha256(s.src, run, p) != _sha256(s.dst, dest, p)
    )
    out: dict = {}
    if points:
        out["metric_points_missing"] = points
    if extra:
        out["metric_points_only_in_destination"] = extra
    _put_artifacts(out, missing, resized)
    if checksum:
        out["artifacts_checksum_differs"] = checksum
    # the fitting policy's own files (syncer.core.fitting) are expected there
    if extra_files := sorted(
        p for p in have if p not in source and not p.startswith(f"{POLICY_DIR}/")
    ):
        out["artifacts_only_in_destination"] = extra_files
    if out:
        out["note"] = (
            "found by --deep; a sync leaves this run alone (its copy carries the current "
            "fingerprint)"
        )
    return out


def _worker(s: _Sides, deep: bool) -> Callable[[Action], dict | None]:
    def inspect_one(action: Action) -> dict | None:
        if action.kind != "run" or action.source_id not in s.src_snap.runs:
            return None
        if action.op is Op.UPDATE and action.dest_id in s.dst_snap.runs:
            return _inspect_update(s, action)
        if deep and action.op is Op.CREATE:
            return _inspect_create(s, action)
        if deep and action.op is Op.SAME and action.dest_id in s.dst_snap.runs:
            return _inspect_same(s, action)
        return None

    return inspect_one


def inspect_plan(
    plan: Plan,
    src: Endpoint,
    dst: Endpoint,
    src_snap: Snapshot,
    dst_snap: Snapshot,
    state: StateStore | None = None,
    deep: bool = False,
    workers: int = 4,
) -> Inspection:
    """Enrich a plan with field-level details (read-only). Only runs planned `*` are fetched unless
    `deep`."""
    sides = _Sides(src, dst, src_snap, dst_snap, state)
    result = Inspection(deep=deep)
    todo = [
        a
        for a in plan.actions
        if a.kind == "run"
        and a.source_id
        and (a.op is Op.UPDATE or (deep and a.op in (Op.CREATE, Op.SAME)))
    ]
    result.uncounted_runs = (
        0 if deep else sum(1 for a in plan.actions if a.kind == "run" and a.op is Op.CREATE)
    )
    one = _worker(sides, deep)

    def guarded(action: Action) -> tuple[Action, dict | None, str | None]:
        try:
            return action, one(action), None
        except Exception as exc:
            if isinstance(exc, FatalError) or classify(exc) is Kind.FATAL:
                raise FatalError(f"cannot inspect {action.label}: {describe(exc)}") from None
            return action, None, describe(exc)

    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="inspect") as pool:
        for action, extra, error in pool.map(guarded, todo):
            _collect(result, action, extra, error)
    return result


def _collect(result: Inspection, action: Action, extra: dict | None, error: str | None) -> None:
    if error is not None:
        result.errors[action.key] = error
        return
    if not extra:
        return
    counts = Counter({k: extra.pop(k) for k in ("_points", "_files", "_bytes") if k in extra})
    if action.op is not Op.SAME:
        result.metric_points += counts["_points"]
        result.artifact_files += counts["_files"]
        result.artifact_bytes += counts["_bytes"]
    elif extra:
        result.differs.add(action.key)
    if extra:
        result.details[action.key] = extra
