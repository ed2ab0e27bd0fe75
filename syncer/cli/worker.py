"""The `worker` command: one of several processes sharing a PostgreSQL state store (README "Scale-out")."""

from __future__ import annotations

import argparse
import signal
import threading

from pydantic import ValidationError

from syncer.cli.mirror import duration
from syncer.config import Settings
from syncer.core.errors import FatalError, Interrupted
from syncer.core.exit_codes import EXIT_OK, EXIT_PARTIAL
from syncer.engine.workers import WorkerOptions, WorkerReport, run_worker


def add_worker_flags(p: argparse.ArgumentParser) -> None:
    """Flags of `worker` (each overrides the config file's `scale_out.*` option of the same name)."""
    p.add_argument("--job", help="the job whose work units the workers share (default: migrate); "
                   "a job whose units are all finished starts a new round (what changed since is copied)")
    p.add_argument("--lease", type=duration, help="how long a claimed unit stays this worker's without a "
                   "heartbeat before another worker takes it over (default 60s)")


def worker_settings(args: argparse.Namespace, settings: Settings) -> Settings:
    """Fold the worker flags into the settings."""
    updates = {k: v for k, v in (("job", args.job), ("lease", args.lease)) if v is not None}
    try:
        scale_out = type(settings.scale_out).model_validate(settings.scale_out.model_dump() | updates)
    except ValidationError as err:
        raise FatalError(f"invalid worker option: {err.errors()[0]['loc'][0]}: {err.errors()[0]['msg']}") from None
    return settings.model_copy(update={"scale_out": scale_out})


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
