"""The command line: argument parsing, config loading and exit codes. The work is in
syncer.engine.sync.

Exit codes, one table for every command (docs/EXIT_CODES.md):
  0  success: everything copied (migrate, mirror cycle); in sync (diff, migrate --dry-run)
  1  partial: some objects failed or conflict (migrate); differences found (diff, migrate --dry-run)
  2  error: bad input (nothing written) or a stopped pass (an end unreachable or refusing us, the
     state store unusable; objects finished before are written and recorded); diff, --dry-run: `!`
     objects
130  interrupted by SIGINT (state saved; run again to resume)
143  stopped by SIGTERM (state saved; run again to resume); the `mirror` service stops cleanly on
     either signal instead (0, or 1 when the unit in flight did not stop in time)
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from syncer import logs
from syncer.cli import stopping
from syncer.cli.args import build_parser, command_settings
from syncer.core.errors import FatalError
from syncer.core.exit_codes import EXIT_BROKEN_PIPE, EXIT_ERROR, EXIT_OK
from syncer.core.redact import redact, register_env_secrets


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `mlflow-syncer` command."""
    args = build_parser().parse_args(argv)
    register_env_secrets()
    logs.setup("auto", "warning")
    previous = stopping.install()
    try:
        if hasattr(args, "source"):
            # every setting checked (all problems at once) before the engine is loaded
            command_settings(args)
        if args.command == "completion":
            return completion(args.shell)
        # loaded on demand: --help, --version and bad settings stay fast
        from syncer.cli import commands

        return commands.run(args)
    except FatalError as exc:
        print(f"mlflow-syncer: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt as exc:
        return stopping.stopped(exc, argv)
    except BrokenPipeError:  # the reader of stdout went away (`| head`): quiet, as other Unix tools
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except Exception as exc:  # failures inside a command are described by commands.run
        print(f"mlflow-syncer: error: {redact(f'{type(exc).__name__}: {exc}')}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        stopping.restore(previous)


def completion(shell: str) -> int:
    """`completion SHELL`: that shell's completion script, generated from the parser (shtab)."""
    import shtab

    print(shtab.complete(build_parser(), shell=shell))
    return EXIT_OK
