"""Render a report as text in the style of `rclone check --combined`: a sigil per object, then a
summary.

Lines are yielded one at a time, so a report of any size streams to its output.
"""

from __future__ import annotations

from collections.abc import Iterator

from syncer.core.kinds import plural
from syncer.report.diff_summary import Summary
from syncer.report.model import Report
from syncer.report.rows import UNCOPIED, Row

_LIST_SHOWN = 8


def _shown(values: list) -> str:
    more = len(values) - _LIST_SHOWN
    return ", ".join(map(str, values[:_LIST_SHOWN])) + (f" (+{more} more)" if more > 0 else "")


def detail(details: dict) -> str:
    """Any details dict as one line: lists of names, {name: count} maps, flags and plain values."""
    parts = []
    for key, value in details.items():
        if value is None or value is False or (isinstance(value, (list, dict, str)) and not value):
            continue
        name = key.replace("_", " ")
        if isinstance(value, list):
            parts.append(f"{name}: {_shown(value)}")
        elif isinstance(value, dict):
            parts.append(f"{name}: {_shown([f'{k} {v}' for k, v in value.items()])}")
        elif value is True:
            parts.append(name)
        else:
            parts.append(f"{name}: {value}")
    return "; ".join(parts)


def uncopied_line(kind: str, count: int | None, reason: str, group: str | None) -> str:
    """`! traces 3 (genai-app) [destination has no trace API: azureml]`: objects of one kind not
    copied."""
    where = f" ({group})" if group else ""
    return f"! {plural(kind)} {'?' if count is None else count}{where} [{reason}]"


def note_line(kind: str | None, note: str, group: str | None) -> str:
    """`note: trace run links cannot be listed here: ...`: a standing limit of the pass, said
    once."""
    if kind is None:  # a sentence about the pass as a whole
        return f"note: {note}"
    where = f" ({group})" if group else ""
    return f"note: {plural(kind)}{where} {note}"


def note_lines(notes: list[dict]) -> Iterator[str]:
    """The report's notes section: standing limits, no difference (nothing when there are none)."""
    if notes:
        yield ""
        yield "notes"
    for n in notes:
        yield "  " + note_line(n["kind"], n["note"], n["group"])


def line(row: Row) -> str:
    """One object: sigil, kind, label and what differs; an uncopied row: kind, count, group and
    reason."""
    if row.op == UNCOPIED:
        d = row.details
        return uncopied_line(row.kind, d.get("count"), d.get("reason", ""), d.get("group"))
    text = detail(row.details)
    return f"{row.sigil} {row.kind:<10} {row.label}" + (f"  [{text}]" if text else "")


def lines(report: Report, show_same: bool = True) -> Iterator[str]:
    """One line per object (streamed)."""
    for row in report.rows(show_same):
        yield line(row)


def summary_lines(summary: Summary) -> Iterator[str]:
    """Counts by object kind and action, then what a sync would copy, then the verdict."""
    yield ""
    yield "summary" + (
        " (--deep: every metric point and artifact checksum compared)" if summary.deep else ""
    )
    for kind in summary.kinds():
        parts = [f"{op} {n}" for (k, op), n in sorted(summary.counts.items()) if k == kind]
        yield f"  {kind + 's':<16} " + ", ".join(parts)
    for u in summary.uncopied:
        yield (
            "  not copied       "
            + uncopied_line(u["kind"], u["count"], u["reason"], u["group"])[2:]
        )
    yield f"  to copy          {summary.copy_line()}"
    if not summary.deep:
        yield (
            "  (runs that look in sync are not opened; --deep compares every point and checksum, "
            "slower)"
        )
    yield from note_lines(summary.notes)
    yield summary.verdict()
