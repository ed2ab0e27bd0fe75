"""Renderers on synthetic plans (no servers): any action kind renders from its details; JSON is
valid."""

from __future__ import annotations

import io
import json
import re

from bench.diff_report import synthetic
from syncer.cli.diff import render
from syncer.core.actions import Action, Op, Plan
from syncer.core.snapshot import Snapshot
from syncer.engine.deep_compare import Inspection
from syncer.engine.sync import SyncResult
from syncer.report.model import Report, exit_code


def _report(actions: list[Action]) -> Report:
    plan = Plan(actions=actions, dest_names={})
    return Report(
        SyncResult(plan=plan, src=Snapshot("s"), dst=Snapshot("d"), dry_run=True), Inspection()
    )


def _render(report: Report, fmt: str) -> str:
    out = io.StringIO()
    render(report, report.summary(), fmt, out)
    return out.getvalue()


def test_a_kind_the_renderers_never_heard_of_renders_from_its_details():
    report = _report(
        [
            Action(
                kind="model_version",
                op=Op.UPDATE,
                label="churn/3",
                source_id="churn/3",
                details={"aliases_moved": ["champion"], "tags_changed": ["owner"]},
            ),
            Action(kind="registered_model", op=Op.SAME, label="churn", source_id="churn"),
        ]
    )
    text = _render(report, "text")
    assert "* model_version churn/3  [aliases moved: champion; tags changed: owner]" in text
    assert "model_versions   update 1" in text
    doc = json.loads(_render(report, "json"))
    assert doc["objects"][0]["details"]["aliases_moved"] == ["champion"]
    assert {g["name"] for g in doc["experiments"]} == {"(model_versions)", "(registered_models)"}
    assert "aliases moved: champion" in _render(report, "html")
    assert "| `*` | model_version | churn/3 |" in _render(report, "markdown")


def test_exit_codes_and_streamed_json_of_a_large_plan():
    report = synthetic(6000, 7)
    doc = json.loads(_render(report, "json"))
    assert len(doc["objects"]) == 6007 and doc["summary"]["by_sigil"]["+"] == 600
    assert exit_code(report.summary()) == 1
    html = _render(report, "html")
    assert 'id="truncated"' in html  # 6,007 objects > 5,000: only the 1,200 that differ are listed
    assert html.count("<tr data-sigil=") == 1200 and 'data-sigil="="' not in html
    assert (
        exit_code(_report([Action(kind="run", op=Op.SAME, label="a", source_id="a")]).summary())
        == 0
    )
    conflict = Action(
        kind="run", op=Op.CONFLICT, label="b", source_id="b", details={"reason": "2 copies"}
    )
    assert exit_code(_report([conflict]).summary()) == 2


def _creating(runs: int, **counted: int) -> Report:
    actions = [
        Action(kind="run", op=Op.CREATE, label=f"e/r{i}", source_id=f"r{i}") for i in range(runs)
    ]
    plan = Plan(actions=actions, dest_names={})
    inspection = Inspection(uncounted_runs=runs, **counted)
    return Report(
        SyncResult(plan=plan, src=Snapshot("s"), dst=Snapshot("d"), dry_run=True), inspection
    )


def test_uncounted_totals_never_read_as_zero_in_any_format():
    report = _creating(49)
    text = _render(report, "text")
    assert (
        "to copy          metric points: not counted; artifact files: not counted; artifact bytes: "
        "not counted (points, files and bytes of 49 run(s) to create are not counted without "
        "--deep)"
    ) in text
    assert not re.search(r"\b0 (metric points|artifact files|B)\b", text)
    copy = json.loads(_render(report, "json"))["summary"]["to_copy"]
    assert {
        k: copy[k] for k in ("metric_points", "artifact_files", "artifact_bytes")
    } == dict.fromkeys(("metric_points", "artifact_files", "artifact_bytes"))
    assert copy["exact"] is False and copy["uncounted_runs"] == 49 and "49 run(s)" in copy["reason"]
    markdown = _render(report, "markdown")
    assert "- to copy: metric points: not counted; artifact files: not counted;" in markdown
    html = _render(report, "html")
    assert re.findall(r'data-summary="artifact_bytes" data-value=""><b>([^<]*)</b>', html) == [
        "not counted"
    ]
    assert not re.search(
        r'data-summary="(metric_points|artifact_files|artifact_bytes)" data-value="0"', html
    )


def test_partly_counted_totals_are_lower_bounds_and_exact_totals_are_figures():
    partly = _creating(2, metric_points=1200, artifact_files=0, artifact_bytes=3 * 1024 * 1024)
    text = _render(partly, "text")
    assert (
        "metric points: at least 1,200; artifact files: not counted; artifact bytes: at least 3.0 "
        "MiB" in text
    )
    copy = json.loads(_render(partly, "json"))["summary"]["to_copy"]
    assert copy["metric_points"] is None and copy["counted"]["metric_points"] == 1200
    exact = _report([Action(kind="run", op=Op.SAME, label="a", source_id="a")])
    copy = json.loads(_render(exact, "json"))["summary"]["to_copy"]
    assert (copy["metric_points"], copy["exact"], copy["reason"]) == (0, True, None)
    assert "metric points: 0; artifact files: 0; artifact bytes: 0 B (exact)" in _render(
        exact, "text"
    )
