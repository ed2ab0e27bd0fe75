"""The `worker` command: one of several processes sharing a PostgreSQL state store (docs/SCALE_OUT.md)."""

from __future__ import annotations

import signal
import threading

from syncer.config import Settings
from syncer.core.errors import Interrupted
from syncer.core.exit_codes import EXIT_OK, EXIT_PARTIAL
from syncer.engine.workers import WorkerOptions, WorkerReport, run_worker


def report_lines(report: WorkerReport, job: str) -> list[str]:
    """What this worker did and where the job stands, one line each."""
    counts = ", ".join(f"{status} {n}" for status, n in sorted(report.job_counts.items()))
    round_ = f" (round {report.round})" if report.round > 1 else ""
    lines = [f"worker {report.owner}: {len(report.done)} units done, {len(report.failed)} failed "
             f"({report.copied} objects copied); job '{job}'{round_}: {counts or 'no units'}"]
    lines += [f"took over {unit} from {owner} (its lease had ended)" for unit, owner in report.taken_over]
    lines += [f"! {unit}: {problem}" for unit, problem in report.failed]
    return lines


def work(settings: Settings, config_path: str | None) -> int:
    """Run one worker until its job has no unit left; SIGTERM or SIGINT hands the unit in hand back to the
    others, prints the report, then stops the command (`Interrupted`: 143 or 130)."""
    stop, caught = threading.Event(), []

    def on_signal(signum: int, _frame: object) -> None:
        caught.append(signum)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)
    opts = WorkerOptions(job=settings.scale_out.job, lease=settings.scale_out.lease)
    report = run_worker(settings, opts, config_path, stop)
    for line in report_lines(report, opts.job):
        print(line)
    if caught:
        raise Interrupted(caught[0])
    return EXIT_PARTIAL if report.job_failed else EXIT_OK
