"""One function per CLI command: load settings, call the engine, print, choose the exit code."""

from __future__ import annotations

import argparse
import json
import sys
from itertools import chain

import structlog
from rich.console import Console

from syncer import logs
from syncer.backends.auth import check as check_auth
from syncer.backends.calls import configure_http_retries
from syncer.backends.classify import describe
from syncer.backends.endpoint import Endpoint
from syncer.cli import stopping
from syncer.cli.args import command_settings, settings_from
from syncer.cli.demo import run_demo
from syncer.cli.diff import check_output, diff_report, dry_run, open_output
from syncer.cli.ray_engine import RayUnits, check_ray
from syncer.cli.state_only import show_or_export, status_urls, store_only
from syncer.config import Settings
from syncer.core.errors import FatalError
from syncer.core.exit_codes import EXIT_ERROR, EXIT_OK, EXIT_PARTIAL
from syncer.core.kinds import plural
from syncer.core.redact import redact
from syncer.engine import id_map
from syncer.engine.archive import restore as restore_archive
from syncer.engine.rebuild import rebuild
from syncer.engine.sync import endpoints, open_state, sync
from syncer.kinds.registry import config_problems
from syncer.report.id_map import write as write_id_map
from syncer.report.problems import problem_lines
from syncer.report.progress import ProgressBar
from syncer.report.status import read_within as read_status
from syncer.report.status import text_lines as status_lines
from syncer.report.summary import print_summary, summarize
from syncer.service.daemon import make_trigger, run_mirror
from syncer.state.store import StateStore

log = structlog.get_logger("syncer")


def run(args: argparse.Namespace) -> int:
    """Run the command `args` names; an unexpected failure becomes one line (a FatalError,
    described)."""
    try:
        return globals()[args.command.replace("-", "_")](args)
    except (FatalError, KeyboardInterrupt, BrokenPipeError):
        raise
    except Exception as exc:
        log.error("unexpected failure", error=redact(repr(exc)))
        raise FatalError(describe(exc)) from None


def migrate(args: argparse.Namespace) -> int:
    settings = command_settings(args)
    logs.setup(settings.log_format, settings.log_level)
    if settings.scale_out.engine == "ray":
        check_ray()
    if args.dry_run:
        return (
            diff_report(settings, args.config, "json", None, False)
            if args.format == "json"
            else dry_run(settings, args.config)
        )
    units = (
        RayUnits(settings, stopping.STOP, not args.no_progress)
        if settings.scale_out.engine == "ray"
        else None
    )
    bar = ProgressBar(enabled=not args.no_progress and sys.stderr.isatty())
    with bar:
        result = sync(
            settings,
            config_path=args.config,
            progress=bar.advance,
            on_plan=lambda r: bar.start(r.plan),
            verify=args.verify,
            on_start=bar.started,
            stop=stopping.STOP,
            strict_filters=True,
            before_pass=units,
        )
    summary = summarize(result)
    if units is not None:
        units.settle(result)
    failed = (
        summary.failed
        or summary.conflicts
        or summary.uncopied
        or (units is not None and units.failed)
    )
    code = EXIT_PARTIAL if failed else EXIT_OK
    unit_lines = list(units.lines()) if units is not None else []
    if args.format == "json":
        print(
            json.dumps(
                {
                    "command": "migrate",
                    "exit_code": code,
                    "summary": summary.as_dict(),
                    "units": unit_lines,
                    "problems": problem_lines(result),
                },
                indent=2,
            )
        )
        return code
    for line in unit_lines:
        print(line)
    print_summary(summary, Console(file=sys.stdout))
    for line in problem_lines(result):
        print(line)
    return code


def diff(args: argparse.Namespace) -> int:
    settings = command_settings(args)
    logs.setup(settings.log_format, settings.log_level)
    if settings.scale_out.engine == "ray":
        check_ray()
    return diff_report(settings, args.config, args.format, args.output, args.deep)


def mirror(args: argparse.Namespace) -> int:
    """`mirror`: run the service (or one cycle with --once); print the result of a --once cycle."""
    settings = command_settings(args)
    logs.setup(settings.log_format, settings.log_level)
    if settings.scale_out.engine == "ray":
        check_ray()
    make_trigger(settings.mirror)  # a bad schedule fails before any contact
    if (
        args.once
    ):  # first contact: a wrong URI fails now (the service instead waits for its ends to come)
        for end in endpoints(settings):
            check_auth(end)
    code, report = run_mirror(settings, args.config, once=args.once)
    if args.once and report is not None:
        if report.error:
            print(f"mlflow-syncer: error: {report.error}", file=sys.stderr)
        print(
            f"mirror cycle: {'ok' if report.ok else 'errors'}; copied {report.copied}, unchanged "
            f"{report.unchanged}, failed {report.failed}, conflicts {report.conflicts}, deleted "
            f"{report.deleted}, not copied {report.uncopied}, {report.seconds:.2f} s"
        )
        if report.delete_refused:
            print(f"deletions refused: {report.delete_refused}")
        for text in report.warnings:
            print(f"warning: {text}")
        for kind, n, reason in report.not_copied:
            print(f"! {plural(kind)} {n} [{reason}]")
    return code


def restore(args: argparse.Namespace) -> int:
    """`restore`: archived objects back into a destination with their API; 1 when some could not
    be."""
    settings = settings_from(args)
    logs.setup(settings.log_format, settings.log_level)
    configure_http_retries()
    src, dst = endpoints(
        settings, one_store_ok=True
    )  # the archive may live in the destination itself
    check_auth(src)
    check_auth(dst)
    done = restore_archive(src, dst)
    already = "".join(f"; {n} {plural(k)} already there" for k, n in done.kept.items() if n)
    print(f"restored {done.restored} archived objects into {dst.identity}{already}")
    for reason, n in sorted(done.skipped.items()):
        print(f"! {n} not restored [{reason}]")
    return EXIT_PARTIAL if done.skipped else EXIT_OK


def check_config(args: argparse.Namespace) -> int:
    """`check-config`: the settings, then (unless --offline) both ends and the state store; one line
    per problem on stderr."""
    settings = settings_from(args)
    src, dst = endpoints(settings)
    problems = []
    for end in (src, dst):
        try:
            check_auth(end, online=not args.offline)
        except FatalError as exc:
            problems.append(str(exc))
    if not args.offline:
        try:
            open_state(settings, src, dst, read_only=True, config_path=args.config).close()
        except FatalError as exc:
            problems.append(str(exc))
    if not problems:
        problems += config_problems(settings, args.config, None if args.offline else dst)
    for line in problems:
        print(f"mlflow-syncer: error: {line}", file=sys.stderr)
    if problems:
        return EXIT_ERROR
    reached = "" if args.offline else " (both ends and the state store reached)"
    print(
        f"config ok: {src.identity} -> {dst.identity} ({dst.caps.kind}), workers "
        f"{settings.workers}{reached}"
    )
    return EXIT_OK


def export_id_map(
    args: argparse.Namespace, settings: Settings, src: Endpoint, dst: Endpoint
) -> int:
    """`state export`: the id map from the state store (read-only), or from the destination's
    provenance tags."""
    check_output(args.output, "the id map")
    if args.from_destination:
        rows, store = id_map.from_destination(settings, src, dst, args.kind), None
    else:
        store = open_state(settings, src, dst, read_only=True, config_path=args.config)
        rows = id_map.from_state(store, src, dst, args.kind)
    if not args.kind:
        rows = chain(rows, id_map.kind_rows(settings, store, src, dst))
    try:
        with open_output(args.output, "the id map") as out:
            n = write_id_map(rows, args.format, out)
    finally:
        if store is not None:
            store.close()
    if args.output:
        print(f"{n} objects mapped: {args.output}", file=sys.stderr)
    return EXIT_OK


def show_state(store: StateStore) -> int:
    """`state show`: counts by kind and status, then each failure with its reason."""
    by_status: dict[str, int] = {}
    for r in store.all_records():
        by_status[f"{r.kind} {r.status}"] = by_status.get(f"{r.kind} {r.status}", 0) + 1
    for key, n in sorted(by_status.items()):
        print(f"{key}: {n}")
    for f in store.failures():
        print(f"! {f.kind} {f.source_id} {f.status} after {f.attempts} attempts: {f.error}")
    return EXIT_OK


def state(args: argparse.Namespace) -> int:
    """`state show|rebuild|release|export`; show and export with `--state` alone read the pair from
    it."""
    settings = settings_from(args)
    logs.setup(settings.log_format, settings.log_level)
    if store_only(args, settings):
        return show_or_export(args, settings, show_state)
    src, dst = endpoints(settings)
    if args.action == "export":
        return export_id_map(args, settings, src, dst)
    store = open_state(settings, src, dst, read_only=args.action == "show", config_path=args.config)
    try:
        if args.action == "show":
            return show_state(store)
        if args.action == "release":
            print(f"released {store.release_quarantine()} quarantined objects")
            return EXIT_OK
        n = rebuild(settings, src, dst, store)
        print(f"state rebuilt from the destination: {n} objects mapped")
        return EXIT_OK
    finally:
        store.close()


def status(args: argparse.Namespace) -> int:
    """`status`: the mirror's state store(s), read-only; text for people, JSON for scripts (a
    list when several stores of the user's state folder are shown)."""
    views = [read_status(url) for url in status_urls(settings_from(args), args.config)]
    if args.format == "json":
        print(json.dumps(views[0] if len(views) == 1 else views, indent=2))
    else:
        print("\n\n".join("\n".join(status_lines(view)) for view in views))
    return EXIT_OK


def demo(args: argparse.Namespace) -> int:
    return EXIT_OK if run_demo(args.dir) else EXIT_ERROR


__all__ = ["migrate", "diff", "mirror", "restore", "check_config", "state", "status", "demo"]
