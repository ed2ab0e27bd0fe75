"""One function per CLI command: load settings, call the engine, print, choose the exit code."""

from __future__ import annotations

import argparse
import json
import sys

from rich.console import Console

from syncer import logs
from syncer.cli import EXIT_ERROR, EXIT_OK, EXIT_PARTIAL, settings_from
from syncer.engine import endpoints, open_state, sync
from syncer.plan import Op
from syncer.problems import problem_lines
from syncer.progress import ProgressBar
from syncer.report_text import lines, summary_lines
from syncer.summary import print_summary, summarize


def migrate(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    logs.setup(settings.log_format, settings.log_level)
    if args.dry_run:
        result = sync(settings, dry_run=True, config_path=args.config)
        for line in lines(result.plan, show_same=False):
            print(line)
        for line in summary_lines(result.plan):
            print(line)
        return EXIT_OK
    bar = ProgressBar(enabled=not args.no_progress and sys.stderr.isatty())
    with bar:
        result = sync(settings, config_path=args.config, progress=bar.advance, on_plan=bar.start)
    summary = summarize(result)
    print_summary(summary, Console(file=sys.stdout))
    for line in problem_lines(result):
        print(line)
    return EXIT_PARTIAL if summary.failed or summary.conflicts else EXIT_OK


def diff(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    logs.setup(settings.log_format, settings.log_level)
    result = sync(settings, dry_run=True, config_path=args.config)
    out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout  # noqa: SIM115
    try:
        if args.format == "json":
            from syncer.report_json import to_json

            json.dump(to_json(result), out, indent=2)
            out.write("\n")
        else:
            for line in lines(result.plan):
                out.write(line + "\n")
            for line in summary_lines(result.plan):
                out.write(line + "\n")
    finally:
        if out is not sys.stdout:
            out.close()
    if any(a.op in (Op.ERROR, Op.CONFLICT) for a in result.plan.actions):
        return EXIT_ERROR
    return EXIT_OK if result.plan.in_sync else EXIT_PARTIAL


def check_config(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    src, dst = endpoints(settings)
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
        from syncer.rebuild import rebuild

        n = rebuild(settings, src, dst, store)
        print(f"state rebuilt from the destination: {n} objects mapped")
        return EXIT_OK
    finally:
        store.close()


def demo(args: argparse.Namespace) -> int:
    from syncer.demo import run_demo

    return EXIT_OK if run_demo(args.dir) else EXIT_ERROR


__all__ = ["migrate", "diff", "check_config", "state", "demo", "EXIT_ERROR"]
