"""The Markdown diff report: summary, per-experiment table, then the objects that differ
(streamed)."""

from __future__ import annotations

from collections.abc import Iterator

from syncer.core.kinds import plural
from syncer.report.diff_summary import Summary
from syncer.report.model import SUMMARY_THRESHOLD, Report
from syncer.report.rows import UNCOPIED
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
    yield (
        f"- mode: "
        f"{'deep (every metric point and artifact checksum compared)' if summary.deep else 'fast'}"
    )
    yield ""
    yield "| kind | " + " | ".join("=+*-!") + " | not copied |"
    yield "|---|---:|---:|---:|---:|---:|---:|"
    for kind in summary.kinds():
        yield (
            f"| {kind} | "
            + " | ".join(str(summary.kind_sigils[(kind, s)]) for s in "=+*-!")
            + f" | {summary.kind_uncopied[kind]} |"
        )
    yield ""
    yield from _uncopied(summary)
    yield from _notes(summary)
    yield "## Per experiment"
    yield ""
    yield "| experiment | in sync | pending | only in destination | errors | not copied |"
    yield "|---|---:|---:|---:|---:|---:|"
    for g in summary.groups:
        yield (
            f"| {_cell(g.name)} | {g.in_sync} | {g.pending} | {g.extra} | {g.errors} | "
            f"{g.uncopied} |"
        )
    yield ""
    yield from _objects(report, summary, threshold)


def _uncopied(summary: Summary) -> Iterator[str]:
    """Source objects not copied, per kind and group, with the reason (nothing when everything is
    copied)."""
    if not summary.uncopied:
        return
    yield "## Not copied"
    yield ""
    yield "| | kind | objects | where | why |"
    yield "|---|---|---:|---|---|"
    for u in summary.uncopied:
        count = "?" if u["count"] is None else u["count"]
        yield (
            f"| `!` | {plural(u['kind'])} | {count} | {_cell(u['group'] or '(workspace)')} | "
            f"{_cell(u['reason'])} |"
        )
    yield ""


def _notes(summary: Summary) -> Iterator[str]:
    """Standing limits of the pass, once each: no difference (nothing when there are none)."""
    if not summary.notes:
        return
    yield "## Notes"
    yield ""
    for n in summary.notes:
        where = f" ({_cell(n['group'])})" if n["group"] else ""
        what = f"{plural(n['kind'])}{where} " if n["kind"] else ""
        yield f"- {what}{_cell(n['note'])}"
    yield ""


def _objects(report: Report, summary: Summary, threshold: int) -> Iterator[str]:
    yield "## Objects that differ"
    yield ""
    differing = summary.total - summary.sigils["="]
    if differing > threshold:
        yield (
            f"{differing:,} objects differ (more than {threshold:,}): see the per-experiment table "
            f"above, "
            "or the text or JSON report for one line per object."
        )
        return
    if not differing:
        yield (
            "None: every object compared is in sync; some source objects are not copied (see "
            "above)."
            if summary.uncopied_objects
            else "None: everything is in sync."
        )
        return
    yield "| | kind | object | what differs |"
    yield "|---|---|---|---|"
    for row in report.rows(show_same=False):
        if row.op == UNCOPIED:
            continue  # listed under "Not copied"
        yield f"| `{row.sigil}` | {row.kind} | {_cell(row.label)} | {_cell(detail(row.details))} |"
