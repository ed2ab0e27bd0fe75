"""The command line's flags and how they become settings (flags > env > config file > defaults)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable

from syncer import __version__
from syncer.cli.engine_flags import add_engine_flags, engine_settings
from syncer.cli.mirror import add_mirror_flags, mirror_settings
from syncer.config import Settings, load_settings
from syncer.core.config_text import find_config
from syncer.core.errors import FatalError

# The kinds `--kind` takes: syncer.kinds.registry.COPIED, spelled here so that parsing never loads
# the kind packages (and MLflow with them); tests/test_kinds_registry.py checks that the two agree.
KIND_NAMES = (
    "experiment",
    "dataset",
    "run",
    "logged_model",
    "model",
    "model_version",
    "trace",
    "prompt",
    "prompt_version",
)


class OneLineParser(argparse.ArgumentParser):
    """A parser whose usage errors are one line on stderr (exit 2), like every other error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        """Print one line and exit 2."""
        command = self.prog.removeprefix("mlflow-syncer").strip()
        self.exit(
            2,
            f"mlflow-syncer: error: {command + ': ' if command else ''}{message} "
            f"(see {self.prog} --help)\n",
        )


def _common(p: argparse.ArgumentParser, suppress: bool = False) -> None:
    """The shared options. With `suppress`, an option not given leaves the value a parent parser set
    alone (`state --config c.yaml show` and `state show --config c.yaml` mean the same)."""
    add = _suppressing(p.add_argument) if suppress else p.add_argument
    add(
        "--config",
        default=find_config(None, dict(os.environ)),
        help="YAML config file; several as a.yaml:b.yaml, b over a (default: "
        "$MLFLOW_SYNCER_CONFIG, "
        "else ./mlflow-syncer.yaml when it exists)",
    )
    add("--source", help="source tracking URI")
    add("--dest", help="destination tracking URI")
    add(
        "--source-registry",
        help="source registry URI (default: the tracking URI); a Databricks "
        "source may read both registries: databricks,databricks-uc",
    )
    add("--dest-registry", help="destination registry URI (default: the tracking URI)")
    add("--state", help="state store SQLAlchemy URL (default: SQLite file next to the config)")
    add("--experiments", nargs="+", metavar="NAME_OR_GLOB", help="experiments to copy")
    add(
        "--models",
        nargs="+",
        metavar="NAME_OR_GLOB",
        help="registered models to copy besides those made from the selected experiments' runs",
    )
    add("--no-models", action="store_true", default=None, help="do not copy registered models")
    add("--prompts", nargs="+", metavar="NAME_OR_GLOB", help="prompts to copy (default: all)")
    add("--no-prompts", action="store_true", default=None, help="do not copy prompts")
    add("--workers", type=int, help="parallel workers (default 8)")
    add("--deleted", choices=["skip", "mirror"], help="what to do with deleted runs/experiments")
    add(
        "--log-format",
        choices=["auto", "console", "json"],
        help="log lines on stderr: console, json, or auto (console on a terminal, else json)",
    )
    add(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        help="least level logged (default info)",
    )
    add(
        "--no-progress",
        action="store_true",
        help="no progress bar (migrate draws one on a terminal; the other commands draw none)",
    )


def _suppressing(add: Callable[..., object]) -> Callable[..., object]:
    """`add_argument` with every default replaced by argparse.SUPPRESS."""
    return lambda *names, **kwargs: add(*names, **{**kwargs, "default": argparse.SUPPRESS})


# Every command that works on a source and a destination takes the shared options of `_common`.
SHARED_COMMANDS = (
    "migrate",
    "diff",
    "mirror",
    "check-config",
    "state show",
    "state rebuild",
    "state release",
    "state export",
)


def _state_parser(sub: argparse._SubParsersAction) -> None:
    """`state show|rebuild|release|export`, each with the shared options."""
    p = _command(sub, "state", "inspect, rebuild or export the state store")
    # The shared options before the action too, as in earlier versions: `state --config c.yaml show`
    actions = p.add_subparsers(dest="action", required=True, metavar="show|rebuild|release|export")
    for name, help_text in STATE_ACTIONS:
        _common(actions.add_parser(name, help=help_text), suppress=True)
    p = actions.choices["export"]
    _format(p, ("csv", "json", "jsonl"), "the map's format")
    p.add_argument("--kind", nargs="+", choices=KIND_NAMES, help="only these kinds (default: all)")
    p.add_argument("--output", help="write the map to this file (default: standard output)")
    p.add_argument(
        "--from-destination",
        action="store_true",
        help="read the map from the destination's provenance tags, not the state store (writes "
        "nothing)",
    )


STATE_ACTIONS = (
    ("show", "counts and failures with their reasons"),
    ("rebuild", "map the objects again from the destination's provenance tags"),
    ("release", "give quarantined objects another chance"),
    ("export", "the id map: source id -> destination id, one row per object"),
)


def _command(
    sub: argparse._SubParsersAction, name: str, help_text: str, shared: bool = True
) -> argparse.ArgumentParser:
    """One command's parser; with `shared`, the shared options (`_common`) come first."""
    p = sub.add_parser(name, help=help_text)
    if shared:
        _common(p)
    return p


def _format(p: argparse.ArgumentParser, choices: tuple[str, ...], help_text: str) -> None:
    """`--format`: one of `choices`, the first by default."""
    p.add_argument("--format", choices=list(choices), default=choices[0], help=help_text)


def _pass_flags(p: argparse.ArgumentParser) -> None:
    """The options of the commands that plan a pass (`migrate`, `diff`, `mirror`), after their own:
    what becomes of objects the destination cannot hold, and the engine."""
    p.add_argument(
        "--unsupported",
        choices=["report", "archive"],
        help="objects the destination cannot hold: report them (default, exit 1) or also archive "
        "them as JSON in the destination's mlflow-syncer-archive experiment",
    )
    add_engine_flags(p)


def _migrate(sub: argparse._SubParsersAction) -> None:
    p = _command(sub, "migrate", "copy everything once (idempotent, resumable)")
    p.add_argument("--dry-run", action="store_true", help="print the plan; write nothing")
    p.add_argument(
        "--verify",
        action="store_true",
        help="also check every run that looks in sync (all points, artifact checksums) and repair "
        "it",
    )
    _format(
        p,
        ("text", "json"),
        "text: a table for people; json: one JSON object on stdout for scripts (summary, "
        "problems, "
        "exit code); with --dry-run, the diff report's JSON",
    )
    _pass_flags(p)


def _diff(sub: argparse._SubParsersAction) -> None:
    p = _command(sub, "diff", "report what differs and what a sync would do; write nothing")
    _format(
        p,
        ("text", "json", "markdown", "html"),
        "the report's format (json: for scripts, docs/REPORTS.md)",
    )
    p.add_argument("--output", help="write the report to this file")
    p.add_argument(
        "--deep", action="store_true", help="also compare every metric point and artifact"
    )
    _pass_flags(p)


def _mirror(sub: argparse._SubParsersAction) -> None:
    p = _command(sub, "mirror", "keep the destination in step with the source, cycle after cycle")
    add_mirror_flags(p)
    _pass_flags(p)


def _restore(sub: argparse._SubParsersAction) -> None:
    _command(
        sub,
        "restore",
        "load objects archived with --unsupported archive (the --source's "
        "mlflow-syncer-archive experiment) into a --dest that has their API",
    )


def _check_config(sub: argparse._SubParsersAction) -> None:
    p = _command(
        sub,
        "check-config",
        "validate a config and say precisely what is wrong; then "
        "reach both ends and the state store (one line per problem)",
    )
    p.add_argument(
        "--offline", action="store_true", help="only validate the settings: reach nothing"
    )


def _demo(sub: argparse._SubParsersAction) -> None:
    p = _command(
        sub,
        "demo",
        "seed a local SQLite source and migrate it to a local SQLite destination",
        shared=False,
    )
    p.add_argument("--dir", default="demo-data", help="where the demo stores live")


def _status(sub: argparse._SubParsersAction) -> None:
    p = _command(
        sub,
        "status",
        "a running or stopped mirror: last and next cycle, lag, lock, failures "
        "(reads the state store only)",
    )
    _format(p, ("text", "json"), "json: for scripts (UTC ISO 8601 times, seconds)")


def _completion(sub: argparse._SubParsersAction) -> None:
    p = _command(
        sub,
        "completion",
        "print a shell completion script of every command and flag, e.g. "
        'eval "$(mlflow-syncer completion bash)" in ~/.bashrc',
        shared=False,
    )
    p.add_argument("shell", choices=["bash", "zsh", "tcsh"], help="the shell that completes")


# One builder per command, in the order `--help` lists them.
COMMANDS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (
    _migrate,
    _diff,
    _mirror,
    _restore,
    _check_config,
    _demo,
    _state_parser,
    _status,
    _completion,
)


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command and its flags (each command's own builder above)."""
    parser = OneLineParser(
        prog="mlflow-syncer",
        description="Copy and mirror MLflow experiments, runs, metrics, artifacts and registered "
        "models between MLflow servers.",
        epilog="exit codes: 0 ok / in sync, 1 partial / differences found, 2 error",
    )
    parser.add_argument("--version", action="version", version=f"mlflow-syncer {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(sub)
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    """Merge flags over env over file over defaults (read once per parsed command line: the entry
    point checks them before the engine is loaded, the command then uses them)."""
    loaded = getattr(args, "loaded_settings", None)
    if loaded is None:
        loaded = args.loaded_settings = _load(args)
    return loaded


def _load(args: argparse.Namespace) -> Settings:
    flags: dict = {
        "state": args.state,
        "experiments": args.experiments,
        "workers": args.workers,
        "deleted": args.deleted,
        "log_format": args.log_format,
        "log_level": args.log_level,
    }
    flags.update(models=args.models, copy_models=False if args.no_models else None)
    flags.update(
        prompts=[] if args.no_prompts else args.prompts,
        unsupported=getattr(args, "unsupported", None),
    )
    for side, uri, registry in (
        ("source", args.source, args.source_registry),
        ("destination", args.dest, args.dest_registry),
    ):
        registry = registry.split(",") if registry and "," in registry else registry
        given = {k: v for k, v in (("tracking_uri", uri), ("registry_uri", registry)) if v}
        if given:
            flags[side] = given
    return load_settings(args.config, flag_problems=conflicts(args), **flags)


# The commands that work between two ends: both must be given.
TWO_ENDS = ("migrate", "diff", "mirror", "restore", "check-config")


def command_settings(args: argparse.Namespace) -> Settings:
    """The settings of `args`' command with its own flags folded in, every one checked before the
    engine is loaded: a mistake is told in a fraction of a second, without importing MLflow."""
    settings = settings_from(args)
    if args.command == "mirror":
        settings = mirror_settings(args, settings)
    if args.command in ("migrate", "mirror", "diff"):
        settings = engine_settings(args, settings)
    if args.command in TWO_ENDS:
        for side, flag in (("source", "source"), ("destination", "dest")):
            if getattr(settings, side) is None:
                raise FatalError(
                    f"no {side} given: use --{flag} or the '{side}' option of the config file"
                )
    return settings


# Flags that contradict one another: (flag, flag, argparse attribute of each).
CONFLICTS = (
    ("--no-prompts", "--prompts", "no_prompts", "prompts"),
    ("--no-models", "--models", "no_models", "models"),
)


def conflicts(args: argparse.Namespace) -> list[str]:
    """One problem per pair of flags given together that contradict one another."""
    return [
        f"{a} and {b} contradict each other; give one of them"
        for a, b, x, y in CONFLICTS
        if getattr(args, x, None) and getattr(args, y, None)
    ]
