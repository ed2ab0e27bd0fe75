"""Exit codes, one table for every command and the daemon (docs/EXIT_CODES.md)."""

EXIT_OK = 0  # success; in sync
EXIT_PARTIAL = 1  # some objects failed or conflict; differences found
# bad input, unreachable endpoint, unusable state store; objects a sync cannot resolve
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130  # interrupted by SIGINT (Ctrl-C): state saved, run again to resume
EXIT_TERMINATED = 143  # stopped by SIGTERM: state saved, run again to resume
EXIT_BROKEN_PIPE = 141  # the reader of stdout went away (`... | head`), as for other Unix tools
