"""One function per CLI command: load settings, call the engine, print, choose the exit code."""

from __future__ import annotations

import argparse
import sys

from rich.console import Console

from syncer import logs
from syncer.backends.auth import check as check_auth
from syncer.cli.app import EXIT_ERROR, EXIT_OK, EXIT_PARTIAL, settings_from
from syncer.engine.sync import endpoints, open_state, sync
from syncer.report.problems import problem_lines
from syncer.report.progress import ProgressBar
from syncer.report.summary import print_summary, summarize


def migrate(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    logs.setup(settings.log_format, settings.log_level)
    if args.dry_run:
        from syncer.cli.diff import dry_run

        return dry_run(settings, args.config)
    bar = ProgressBar(enabled=not args.no_progress and sys.stderr.isatty())
    with bar:
        result = sync(settings, config_path=args.config, progress=bar.advance, on_plan=bar.start,
                      verify=args.verify)
    summary = summarize(result)
    print_summary(summary, Console(file=sys.stdout))
    for line in problem_lines(result):
        print(line)
    return EXIT_PARTIAL if summary.failed or summary.conflicts else EXIT_OK


def diff(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    logs.setup(settings.log_format, settings.log_level)
    from syncer.cli.diff import diff_report

    return diff_report(settings, args.config, args.format, args.output, args.deep)


def mirror(args: argparse.Namespace) -> int:
    from syncer.cli.mirror import run

    settings = settings_from(args)
    logs.setup(settings.log_format, settings.log_level)
    return run(args, settings)


def check_config(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    src, dst = endpoints(settings)
    check_auth(src)
    check_auth(dst)
    print(f"config ok: {src.identity} -> {dst.identity} ({dst.caps.kind}), workers {settings.workers}")
    return EXIT_OK


def state(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    src, dst = endpoints(settings)
    store = open_state(settings, src, dst, read_only=args.action == "show", config_path=args.config)
    try:
        if args.action == "show":
            records = store.all_records()
            by_status: dict[str, int] = {}
            for r in records:
                by_status[f"{r.kind} {r.status}"] = by_status.get(f"{r.kind} {r.status}", 0) + 1
            for key, n in sorted(by_status.items()):
                print(f"{key}: {n}")
            for f in store.failures():
                print(f"! {f.kind} {f.source_id} {f.status} after {f.attempts} attempts: {f.error}")
            return EXIT_OK
        if args.action == "release":
            print(f"released {store.release_quarantine()} quarantined objects")
            return EXIT_OK
        from syncer.engine.rebuild import rebuild

        n = rebuild(settings, src, dst, store)
        print(f"state rebuilt from the destination: {n} objects mapped")
        return EXIT_OK
    finally:
        store.close()


def demo(args: argparse.Namespace) -> int:
    from syncer.cli.demo import run_demo

    return EXIT_OK if run_demo(args.dir) else EXIT_ERROR


__all__ = ["migrate", "diff", "mirror", "check_config", "state", "demo", "EXIT_ERROR"]
