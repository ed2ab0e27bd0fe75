"""The Markdown diff report: summary, per-experiment table, then the objects that differ (streamed)."""

from __future__ import annotations

from collections.abc import Iterator

from syncer.report.model import SUMMARY_THRESHOLD, Report, Summary
from syncer.report.text import detail


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def lines(report: Report, summary: Summary, threshold: int = SUMMARY_THRESHOLD) -> Iterator[str]:
    """The report as Markdown lines."""
    yield "# mlflow-syncer diff report"
    yield ""
    yield f"- source: `{report.source}`"
    yield f"- destination: `{report.destination}`"
    yield f"- verdict: **{summary.verdict()}**"
    yield f"- to copy: {summary.copy_line()}"
    yield f"- mode: {'deep (every metric point and artifact checksum compared)' if summary.deep else 'fast'}"
    yield ""
    yield "| kind | " + " | ".join("=+*-!") + " |"
    yield "|---|---:|---:|---:|---:|---:|"
    for kind in summary.kinds():
        yield f"| {kind} | " + " | ".join(str(summary.kind_sigils[(kind, s)]) for s in "=+*-!") + " |"
    yield ""
    yield "## Per experiment"
    yield ""
    yield "| experiment | in sync | pending | only in destination | errors |"
    yield "|---|---:|---:|---:|---:|"
    for g in summary.groups:
        yield f"| {_cell(g.name)} | {g.in_sync} | {g.pending} | {g.extra} | {g.errors} |"
    yield ""
    yield from _objects(report, summary, threshold)


def _objects(report: Report, summary: Summary, threshold: int) -> Iterator[str]:
    yield "## Objects that differ"
    yield ""
    differing = summary.total - summary.sigils["="]
    if differing > threshold:
        yield (f"{differing:,} objects differ (more than {threshold:,}): see the per-experiment table above, "
               "or the text or JSON report for one line per object.")
        return
    if not differing:
        yield "None: everything is in sync."
        return
    yield "| | kind | object | what differs |"
    yield "|---|---|---|---|"
    for row in report.rows(show_same=False):
        yield f"| `{row.sigil}` | {row.kind} | {_cell(row.label)} | {_cell(detail(row.details))} |"

