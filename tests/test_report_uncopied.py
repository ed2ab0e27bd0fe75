"""Uncopied source objects in every report, the end-of-run summary and the exit codes (plain data,
no server).

One `!` uncopied action stands for N objects of a kind with the reason; `diff` never says `in sync`
while any source object is not copied and exits 1 (a difference), while a real conflict keeps exit
2.
"""

from __future__ import annotations

import io
import json

from rich.console import Console

from syncer.cli.diff import render
from syncer.core.actions import Action, Op, Plan
from syncer.core.snapshot import Snapshot
from syncer.engine.deep_compare import Inspection
from syncer.engine.mirror_cycle import CycleReport
from syncer.engine.sync import SyncResult
from syncer.plan.uncopied import uncopied, unlisted
from syncer.report.model import Report, exit_code
from syncer.report.problems import problem_lines
from syncer.report.summary import print_summary, summarize
from syncer.service.daemon import MirrorService

REASON = "destination has no trace API: azureml"
SAME = Action(kind="run", op=Op.SAME, label="genai-app/r1", source_id="r1", experiment="1")


def _plan(*extra: Action) -> Plan:
    return Plan(
        actions=[
            SAME,
            uncopied("trace", 3, REASON, group="genai-app", experiment="1"),
            uncopied("webhook", 2, "not copied: secrets cannot be read back"),
            *extra,
        ],
        dest_names={"1": "genai-app"},
    )


def _report(plan: Plan) -> Report:
    return Report(
        SyncResult(plan=plan, src=Snapshot("s"), dst=Snapshot("d"), dry_run=True), Inspection()
    )


def _render(report: Report, fmt: str) -> str:
    out = io.StringIO()
    render(report, report.summary(), fmt, out)
    return out.getvalue()


def test_text_lists_each_uncopied_kind_with_count_and_reason_and_never_says_in_sync():
    report = _report(_plan())
    text = _render(report, "text")
    assert f"! traces 3 (genai-app) [{REASON}]" in text
    assert "! webhooks 2 [not copied: secrets cannot be read back]" in text
    assert "  not copied       traces 3 (genai-app) [" in text
    assert "traces           uncopied 3" in text
    verdict = text.rstrip().splitlines()[-1]
    assert verdict == "0 actions to apply, 5 source objects not copied"
    assert exit_code(report.summary()) == 1


def test_json_counts_objects_by_kind_and_lists_what_is_not_copied():
    doc = json.loads(_render(_report(_plan()), "json"))
    s = doc["summary"]
    assert doc["in_sync"] is False and s["in_sync"] is False
    assert s["by_kind"]["trace"] == {"uncopied": 3} and s["by_kind"]["webhook"] == {"uncopied": 2}
    assert s["uncopied_objects"] == 5 and s["errors"] == 0 and s["by_sigil"]["!"] == 0
    assert s["objects"] == 1  # objects compared one by one; uncopied rows stand for several
    assert s["uncopied"] == [
        {"kind": "trace", "count": 3, "reason": REASON, "group": "genai-app"},
        {
            "kind": "webhook",
            "count": 2,
            "reason": "not copied: secrets cannot be read back",
            "group": None,
        },
    ]
    rows = [o for o in doc["objects"] if o["op"] == "uncopied"]
    assert [(r["sigil"], r["kind"], r["details"]["count"]) for r in rows] == [
        ("!", "trace", 3),
        ("!", "webhook", 2),
    ]
    assert {g["name"]: g["uncopied"] for g in doc["experiments"]}["genai-app"] == 3


def test_markdown_and_html_have_a_not_copied_section():
    report = _report(_plan())
    md = _render(report, "markdown")
    assert "## Not copied" in md
    assert f"| `!` | traces | 3 | genai-app | {REASON} |" in md
    assert "| `!` | webhooks | 2 | (workspace) |" in md
    assert "| trace | 0 | 0 | 0 | 0 | 0 | 3 |" in md
    assert "everything is in sync" not in md and "5 source objects not copied" in md
    html = _render(report, "html")
    assert 'id="uncopied"' in html and '<td class="num">3</td><td>genai-app</td>' in html
    assert 'data-summary="uncopied" data-value="5"' in html and 'class="verdict todo"' in html


def test_a_kind_that_cannot_be_listed_is_a_note_said_once_not_a_row():
    limit = unlisted("scorer", "404 ENDPOINT_NOT_FOUND", group="genai-app")
    plan = Plan(actions=[SAME, limit, limit], dest_names={"1": "genai-app"})
    report = _report(plan)
    text = _render(report, "text")
    assert "!" not in text
    note = "note: scorers (genai-app) cannot be listed here: 404 ENDPOINT_NOT_FOUND"
    assert text.count(note) == 1 and text.rstrip().endswith("in sync (1 note)")
    assert exit_code(report.summary()) == 0
    doc = json.loads(_render(report, "json"))
    assert doc["in_sync"] is True and doc["summary"]["uncopied"] == []
    assert doc["notes"] == [
        {
            "kind": "scorer",
            "note": "cannot be listed here: 404 ENDPOINT_NOT_FOUND",
            "group": "genai-app",
        }
    ]
    assert all(o["sigil"] != "!" for o in doc["objects"])
    md = _render(report, "markdown")
    assert "## Notes" in md and "`!`" not in md and md.count("404 ENDPOINT_NOT_FOUND") == 1
    html = _render(report, "html")
    assert 'id="notes"' in html and html.count("404 ENDPOINT_NOT_FOUND") == 1


def test_a_conflict_keeps_exit_2_beside_uncopied_objects():
    conflict = Action(
        kind="run", op=Op.CONFLICT, label="genai-app/r2", source_id="r2", details={"reason": "x"}
    )
    assert exit_code(_report(_plan(conflict)).summary()) == 2


def test_migrate_summary_and_problem_lines_show_what_was_not_copied():
    result = SyncResult(plan=_plan(uncopied("trace", 4, REASON, group="other", experiment="2")))
    summary = summarize(result)
    assert summary.uncopied == 9 and summary.failed == 0 and summary.conflicts == 0
    out = io.StringIO()
    print_summary(summary, Console(file=out, width=200), human_units=False)
    table = out.getvalue()
    row = next(line for line in table.splitlines() if f"traces not copied ({REASON})" in line)
    assert row.rstrip(" │").endswith(" 7")
    assert "webhooks not copied (not copied: secrets cannot be read back)" in table
    assert problem_lines(result) == [
        f"! traces 3 (genai-app) [{REASON}]",
        "! webhooks 2 [not copied: secrets cannot be read back]",
        f"! traces 4 (other) [{REASON}]",
    ]


def test_mirror_once_exit_code_is_partial_when_objects_are_not_copied():
    report = CycleReport(started=0.0, ok=True)
    assert MirrorService._exit_code(report) == 0
    report.uncopied = 3
    assert MirrorService._exit_code(report) == 1
