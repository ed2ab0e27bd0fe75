"""The JSON diff report: a stable, versioned schema for CI gates (documented in docs/REPORTS.md).

The document is written as it is produced: header and summary first, then one object per line, so
a report of any size streams to its output and stays line-oriented for `grep` and `jq -c`.
"""

from __future__ import annotations

import json
from typing import TextIO

from syncer.report.diff_summary import Summary
from syncer.report.model import SCHEMA_VERSION, Report


def header(report: Report, summary: Summary) -> dict:
    """Everything before the objects."""
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": "mlflow-syncer",
        "source": report.source,
        "destination": report.destination,
        "in_sync": summary.in_sync,
        "summary": summary.as_dict(),
        "notes": summary.notes,
        "experiments": [g.as_dict() for g in summary.groups],
    }


def write(report: Report, summary: Summary, out: TextIO) -> None:
    """Write the whole report to `out`, one object per line."""
    head = json.dumps(header(report, summary), indent=2, sort_keys=False)
    out.write(head[:-2] + ',\n  "objects": [')
    first = True
    for row in report.rows():
        out.write(("\n    " if first else ",\n    ") + json.dumps(row.as_dict(), default=str))
        first = False
    out.write("\n  ]\n}\n")
