"""The trace applier: copy traces in bounded batches, each trace one committed unit of work.

Per batch (one source experiment, at most `TRACE_BATCH` traces): the whole traces (info and spans)
are read with one batched read, the spans of every trace that needs them are written in OTLP
requests of bounded size (`log_spans`), then each trace's info is written with `start_trace`: times,
state, previews, tags, metadata and assessments, with the provenance tag and the fingerprint in that
same write. The copy's id is derived from the source trace id and the destination experiment
(kinds.traces.snapshot.dest_trace_id), and both writes are upserts on MLflow's SQL store: a write
repeated after a lost answer, or after a kill between the spans and the info, lands on the same
trace and completes it; a copy without the provenance tag is never taken as done. A trace's links to
prompt versions (MLflow's link records) are written before that info, where the store already holds
the trace (spans written to the tracking store), else right after it.
"""

from __future__ import annotations

import base64
import copy
import json
from concurrent.futures import ThreadPoolExecutor, as_completed
from itertools import groupby

from mlflow.entities import Span, Trace, TraceInfo, TraceLocation
from mlflow.entities.model_registry import PromptVersion
from mlflow.entities.span import SpanAttributeKey
from mlflow.exceptions import MlflowException

from syncer.apply.context import Context
from syncer.apply.runs import RunStats
from syncer.apply.units import Units
from syncer.backends.calls import call
from syncer.backends.endpoint import Endpoint
from syncer.core.actions import Action, Op
from syncer.core.errors import FatalError, Kind, SyncError
from syncer.core.snapshot import TAG_DUPLICATE_OF
from syncer.kinds.prompts.snapshot import LINKED_PROMPTS, linked_prompts
from syncer.kinds.traces.reads import read_traces
from syncer.kinds.traces.snapshot import (
    META_SOURCE_RUN,
    TAG_SOURCE_TRACE_ID,
    TAG_TRACE_FINGERPRINT,
    UNLINKED,
    copied_metadata,
    cursor_name,
    dest_assessment_id,
    dest_trace_hex,
    user_trace_tags,
)
from syncer.kinds.traces.snapshot import (
    batches as batched,
)

# traces read and written together (their spans are held in memory only for the batch)
TRACE_BATCH = 50
BATCH_BYTES = (
    64 * 1024 * 1024
)  # and at most this many span bytes per batch (as the source recorded them)
SPAN_REQUEST_BYTES = 4 * 1024 * 1024  # rough bound of one OTLP span request


def apply_traces(ctx: Context, actions: list[Action], units: Units) -> None:
    """Copy or complete the planned traces batch by batch (in parallel), then advance the mirror
    cursors."""
    failed_exps = units.failed("experiment")
    todo = [
        a for a in actions if a.op in (Op.CREATE, Op.UPDATE) and a.experiment not in failed_exps
    ]
    batches = [
        b
        for _, g in groupby(todo, key=lambda a: a.experiment)
        for group in [list(g)]
        for b in batched(
            group, [int(a.details.get("size") or 0) for a in group], TRACE_BATCH, BATCH_BYTES
        )
    ]
    with ThreadPoolExecutor(max_workers=max(1, units.workers), thread_name_prefix="traces") as pool:
        for fut in as_completed([pool.submit(_copy_batch, ctx, batch, units) for batch in batches]):
            fut.result()
    _advance_cursors(ctx, [a for a in actions if a.kind == "trace"], units)


def _copy_batch(ctx: Context, batch: list[Action], units: Units) -> None:
    dest_exp = ctx.dest_id("experiment", batch[0].experiment)
    try:
        if dest_exp is None:
            raise FatalError(f"experiment of trace {batch[0].label} was not created")
        traces = read_whole(ctx.src, [a.source_id for a in batch])
        write_spans(
            ctx,
            dest_exp,
            [(a, traces[a.source_id]) for a in batch if needs_spans(a) and a.source_id in traces],
        )
    except FatalError:
        raise
    except Exception as exc:
        for a in batch:
            units.record(units.run(a, lambda exc=exc: _raise(exc)))
        return
    for a in batch:
        units.record(
            units.run(
                a, lambda a=a: (finish_copy(ctx, a, traces.get(a.source_id), dest_exp), RunStats())
            )
        )


def _raise(exc: BaseException) -> tuple[str | None, RunStats]:
    raise exc


def needs_spans(action: Action) -> bool:
    return action.op is Op.CREATE or bool(action.details.get("spans"))


def read_whole(endpoint: Endpoint, trace_ids: list[str]) -> dict[str, Trace]:
    """Whole traces (info and spans) of one batch, by id (those gone are left out)."""
    return {t.info.trace_id: t for t in read_traces(endpoint, trace_ids)}


def _copy_id(action: Action, dest_exp: str) -> tuple[str, str]:
    """(MLflow trace id, OpenTelemetry trace id in hex) of the copy: the existing copy's, else the
    derived one."""
    if action.dest_id:
        return action.dest_id, action.dest_id.removeprefix("tr-")
    hex_id = dest_trace_hex(action.source_id or "", dest_exp)
    return f"tr-{hex_id}", hex_id


def copied_spans(trace: Trace, trace_id: str, hex_id: str) -> list[Span]:
    """The spans of a trace moved to another trace id: ids, parents, times, attributes, events,
    status kept."""
    spans = []
    for span in trace.data.spans:
        data = copy.deepcopy(span.to_dict())
        data["trace_id"] = base64.b64encode(bytes.fromhex(hex_id)).decode()
        data["attributes"][SpanAttributeKey.REQUEST_ID] = json.dumps(trace_id)
        spans.append(Span.from_dict(data))
    return spans


def write_spans(ctx: Context, dest_exp: str, traces: list[tuple[Action, Trace]]) -> None:
    """Write the spans of several traces in OTLP requests of bounded size."""
    store = ctx.dst.client._tracking_client.store
    chunk: list[Span] = []
    size = 0
    for action, trace in traces:
        trace_id, hex_id = _copy_id(action, dest_exp)
        for span in copied_spans(trace, trace_id, hex_id):
            weight = len(json.dumps(span.to_dict(), default=str))
            if chunk and size + weight > SPAN_REQUEST_BYTES:
                _send_spans(ctx, store, dest_exp, chunk)
                chunk, size = [], 0
            chunk.append(span)
            size += weight
    if chunk:
        _send_spans(ctx, store, dest_exp, chunk)


def _send_spans(ctx: Context, store: object, dest_exp: str, spans: list[Span]) -> None:
    ctx.guard()
    call(ctx.dst, "log_spans", lambda: _log_spans(store, dest_exp, spans))


def _log_spans(store: object, dest_exp: str, spans: list[Span]) -> None:
    """`store.log_spans`, minding MLflow's server-version probe.

    MLflow's RestStore.log_spans first asks the server its version (GET /version: 3 s timeout, no
    retry) and caches the answer for the whole process, a failed one included (as None): after one
    slow answer from a busy server, every later log_spans to it fails with "could not identify
    MLflow server version". Such a failure is made transient (retried by `call`) and the cached
    non-answer is forgotten; a server that answered with a version too old for log_spans still fails
    the batch as before.
    """
    try:
        store.log_spans(dest_exp, spans)
    except NotImplementedError as exc:
        probe = getattr(type(store), "_get_server_version", None)
        if (
            probe is None
            or not hasattr(probe, "cache_clear")
            or probe(store.get_host_creds()) is not None
        ):
            raise
        probe.cache_clear()
        raise SyncError(
            "could not read the destination's MLflow version (GET /version), which log_spans needs",
            Kind.TRANSIENT,
        ) from exc


def finish_copy(ctx: Context, action: Action, trace: Trace | None, dest_exp: str) -> str:
    """Write the copy's info (the step that makes it a copy), retire extra copies; returns the
    copy's id."""
    if trace is None:
        raise MlflowException(f"trace {action.source_id} is no longer in the source")
    trace_id, _ = _copy_id(action, dest_exp)
    info = copied_info(ctx, action, trace.info, trace_id, dest_exp)
    # Linked before the write that makes the copy (a kill in between must not leave a done copy
    # unlinked).
    linked = _link_prompts(ctx, trace_id, info.tags.get(LINKED_PROMPTS))
    ctx.guard()
    returned = call(
        ctx.dst, "start_trace", lambda: ctx.dst.client._tracing_client.start_trace(info)
    )
    if returned.tags.get("mlflow.trace.spansLocation") != "TRACKING_STORE" and needs_spans(action):
        # Stores that keep spans as artifacts (MLflow before 3.4): upload them the way MLflow's
        # exporter does.
        data = copy.copy(trace.data)
        data.spans = copied_spans(trace, returned.trace_id, returned.trace_id.removeprefix("tr-"))
        call(
            ctx.dst,
            "upload_trace_data",
            lambda: ctx.dst.client._tracing_client._upload_trace_data(returned, data),
        )
    if not linked:
        _link_prompts(ctx, returned.trace_id, info.tags.get(LINKED_PROMPTS))
    if action.op is Op.UPDATE and action.details.get("changed") == "content":
        _drop_stale(ctx, info)
    _retire(ctx, dest_exp, action.details.get("retire", []), returned.trace_id)
    return returned.trace_id


def _link_prompts(ctx: Context, trace_id: str, tag: str | None) -> bool:
    """Make the copy's links to prompt versions (the entity associations a `prompt = "name/version"`
    trace search reads; the `mlflow.linkedPrompts` tag alone does not make them). Prompts keep their
    names and numbers. Returns False when the copy does not exist yet (spans kept as artifacts:
    linked after `start_trace`); a destination without the link endpoint (MLflow before 3.5) keeps
    the tag only."""
    entries = linked_prompts(tag)
    if not entries:
        return True
    versions = [
        PromptVersion(name, int(number), template="")
        for name, number in entries
        if number.isdigit()
    ]
    store = ctx.dst.client._tracking_client.store
    ctx.guard()
    try:
        call(
            ctx.dst,
            "link_prompts_to_trace",
            lambda: store.link_prompts_to_trace(trace_id, versions),
        )
    except NotImplementedError:
        return True
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return False
        if exc.error_code not in ("ENDPOINT_NOT_FOUND", "NOT_IMPLEMENTED") and "404" not in str(
            exc
        ):
            raise
    return True


def _drop_stale(ctx: Context, info: TraceInfo) -> None:
    """Remove from an updated copy the tags and assessments the source no longer has (writes only
    add)."""
    client = ctx.dst.client._tracing_client
    current = call(ctx.dst, "get_trace_info", lambda: client.get_trace_info(info.trace_id))
    wanted = {a.assessment_id for a in info.assessments}
    for a in current.assessments:
        if a.assessment_id not in wanted:
            ctx.guard()
            call(
                ctx.dst,
                "delete_assessment",
                lambda a=a: client.delete_assessment(info.trace_id, a.assessment_id),
            )
    for key in set(user_trace_tags(current.tags)) - set(info.tags):
        ctx.guard()
        call(
            ctx.dst, "delete_trace_tag", lambda key=key: client.delete_trace_tag(info.trace_id, key)
        )


def copied_info(
    ctx: Context, action: Action, src: TraceInfo, trace_id: str, dest_exp: str
) -> TraceInfo:
    """The source trace's info as it is written into the destination: source times, provenance, run
    link."""
    metadata = copied_metadata(dict(src.trace_metadata))
    marker = action.fingerprint or ""
    if META_SOURCE_RUN in metadata:
        link = action.details.get("link")
        dest_run = ctx.dest_id("run", link)
        metadata.pop(META_SOURCE_RUN)
        if dest_run is not None:
            metadata[META_SOURCE_RUN] = dest_run
        elif link is not None:
            marker = UNLINKED  # the run's copy is not there yet: the next pass links the trace
    assessments = []
    for a in src.assessments:
        new = copy.deepcopy(a)
        new.trace_id = trace_id
        new.assessment_id = dest_assessment_id(trace_id, a.assessment_id or "")
        new.overrides = dest_assessment_id(trace_id, a.overrides) if a.overrides else None
        assessments.append(new)
    return TraceInfo(
        trace_id=trace_id,
        trace_location=TraceLocation.from_experiment_id(dest_exp),
        request_time=src.request_time,
        state=src.state,
        request_preview=src.request_preview,
        response_preview=src.response_preview,
        client_request_id=src.client_request_id,
        execution_duration=src.execution_duration,
        trace_metadata=metadata,
        assessments=assessments,
        tags={
            **user_trace_tags(dict(src.tags)),
            TAG_SOURCE_TRACE_ID: src.trace_id,
            TAG_TRACE_FINGERPRINT: marker,
        },
    )


def _retire(ctx: Context, dest_exp: str, trace_ids: list[str], keep: str) -> None:
    """Mark extra copies of a trace as duplicates (never taken for the copy again), then delete
    them."""
    client = ctx.dst.client
    for trace_id in trace_ids:
        if trace_id == keep:
            continue
        ctx.guard()
        call(
            ctx.dst,
            "set_trace_tag",
            lambda t=trace_id: client.set_trace_tag(t, TAG_DUPLICATE_OF, keep),
        )
        call(
            ctx.dst,
            "delete_traces",
            lambda t=trace_id: client.delete_traces(dest_exp, trace_ids=[t]),
        )


def _advance_cursors(ctx: Context, actions: list[Action], units: Units) -> None:
    """Per source experiment whose traces all copied: remember the newest trace time (mirror cycles
    start there)."""
    if ctx.stop is not None and ctx.stop.is_set():
        return
    failed = units.failed("trace")
    for experiment, group in groupby(
        sorted(actions, key=lambda a: a.experiment or ""), key=lambda a: a.experiment
    ):
        group = list(group)
        if experiment is None or any(
            a.source_id in failed or a.op not in (Op.CREATE, Op.UPDATE, Op.SAME) for a in group
        ):
            continue
        newest = max(int(a.details.get("request_time") or 0) for a in group)
        previous = ctx.state.get_cursor(cursor_name(experiment))
        if previous is None or newest > int(previous):
            ctx.state.set_cursor(cursor_name(experiment), str(newest))
