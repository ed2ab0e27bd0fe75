"""The id map written out as CSV, JSON or JSON lines, row by row as the rows come (never all in
memory)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from typing import TextIO

from syncer.engine.id_map import FIELDS, IdRow


def write(rows: Iterable[IdRow], fmt: str, out: TextIO) -> int:
    """Write the rows to `out` in `fmt` (csv with a header line, jsonl, or a json list). Returns how
    many."""
    n = 0
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")
        writer.writeheader()
    elif fmt == "json":
        out.write("[")
    for row in rows:
        if fmt == "csv":
            writer.writerow(row.as_dict())
        else:
            sep = ("," if n else "") + "\n  " if fmt == "json" else ""
            out.write(sep + json.dumps(row.as_dict()) + ("\n" if fmt == "jsonl" else ""))
        n += 1
    if fmt == "json":
        out.write("\n]\n" if n else "]\n")
    return n
