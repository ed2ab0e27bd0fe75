"""Rendering cost of diff reports for a large synthetic plan (no servers): time and peak memory per
format.

    .venv/bin/python bench/diff_report.py [RUNS] [EXPERIMENTS]

The plan (held by the engine anyway) is built first; the peak reported is what rendering adds on
top.
"""

from __future__ import annotations

import sys
import time
import tracemalloc

from syncer.cli.diff import render
from syncer.core.actions import Action, Op, Plan
from syncer.core.snapshot import Snapshot
from syncer.engine.deep_compare import Inspection
from syncer.engine.sync import SyncResult
from syncer.report.model import Report


class Sink:
    """A text stream that only counts what it is given."""

    def __init__(self) -> None:
        self.chars = 0

    def write(self, text: str) -> int:
        self.chars += len(text)
        return len(text)


def synthetic(runs: int, experiments: int) -> Report:
    actions = [
        Action(kind="experiment", op=Op.SAME, label=f"exp-{e}", source_id=str(e), experiment=str(e))
        for e in range(experiments)
    ]
    ops = [Op.SAME] * 8 + [Op.CREATE, Op.UPDATE]
    for i in range(runs):
        e, op = i % experiments, ops[i % len(ops)]
        details = (
            {"params_changed": ["lr"], "metric_points_missing": {"loss": 3}}
            if op is Op.UPDATE
            else {}
        )
        actions.append(
            Action(
                kind="run",
                op=op,
                label=f"exp-{e}/run-{i}",
                source_id=f"r{i}",
                dest_id=None if op is Op.CREATE else f"d{i}",
                experiment=str(e),
                details=details,
            )
        )
    plan = Plan(actions=actions, dest_names={str(e): f"exp-{e}" for e in range(experiments)})
    result = SyncResult(
        plan=plan, src=Snapshot("source"), dst=Snapshot("destination"), dry_run=True
    )
    return Report(result, Inspection())


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    experiments = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    report = synthetic(runs, experiments)
    print(f"{runs:,} runs in {experiments} experiments")
    for fmt in ("text", "json", "markdown", "html"):
        tracemalloc.start()
        started = time.perf_counter()
        summary = report.summary()
        sink = Sink()
        render(report, summary, fmt, sink)  # type: ignore[arg-type]
        seconds = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(
            f"{fmt:<9} {seconds:6.2f} s  peak +{peak / 1e6:6.1f} MB  output "
            f"{sink.chars / 1e6:7.1f} MB"
        )


if __name__ == "__main__":
    main()
