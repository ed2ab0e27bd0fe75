"""The `diff` command and `migrate --dry-run`: build the report, render it in the chosen format,
exit code."""

from __future__ import annotations

import sys
from contextlib import nullcontext
from pathlib import Path
from typing import TextIO

from syncer.config import Settings
from syncer.core.errors import FatalError
from syncer.report import html as report_html
from syncer.report import json_format as report_json
from syncer.report import markdown as report_markdown
from syncer.report.model import Report, Summary, build, exit_code
from syncer.report.text import lines, summary_lines


def render(report: Report, summary: Summary, fmt: str, out: TextIO) -> None:
    """Write the report in one format (text, json, markdown, html) to `out`, streaming."""
    if fmt == "json":
        report_json.write(report, summary, out)
    elif fmt == "html":
        report_html.write(report, summary, out)
    elif fmt == "markdown":
        for line in report_markdown.lines(report, summary):
            out.write(line + "\n")
    else:
        for line in lines(report):
            out.write(line + "\n")
        for line in summary_lines(summary):
            out.write(line + "\n")


def check_output(output: str | None, what: str = "the report") -> None:
    """Fail before a long scan when `output` cannot be written."""
    if output and Path(output).is_dir():
        raise FatalError(f"cannot write {what} to {output}: it is a directory; give a file name")
    if output and not Path(output).resolve().parent.is_dir():
        raise FatalError(f"cannot write {what} to {output}: no such directory")


def open_output(output: str | None, what: str = "the report"):
    """A context holding the file `output` opened for writing, or standard output."""
    if not output:
        return nullcontext(sys.stdout)
    try:
        return Path(output).open("w", encoding="utf-8", newline="")
    except OSError as exc:
        raise FatalError(f"cannot write {what} to {output}: {exc.strerror}") from None


def diff_report(
    settings: Settings, config_path: str | None, fmt: str, output: str | None, deep: bool
) -> int:
    """Plan (writing nothing), render, and return 0 in sync, 1 differences, 2 errors."""
    check_output(output)
    report = build(settings, config_path, deep=deep)
    summary = report.summary()
    with open_output(output) as out:
        render(report, summary, fmt, out)
    return exit_code(summary)


def dry_run(settings: Settings, config_path: str | None) -> int:
    """`migrate --dry-run`: the plan as text (objects that would change), the summary and the diff
    exit code."""
    report = build(settings, config_path)
    summary = report.summary()
    for line in lines(report, show_same=False):
        print(line)
    for line in summary_lines(summary):
        print(line)
    return exit_code(summary)
