"""CPU profile of every thread of a Python program: cProfile on each thread with the thread's own
CPU clock (`time.thread_time`), merged into one pstats file. On a loaded machine a wall-clock or
sampling profile mostly shows threads waiting for a core or for the GIL; this one counts only CPU
the thread itself used.

    .venv/bin/python -m bench.thread_profile OUT.prof MODULE [ARGS...]

`MODULE` is run as `python -m MODULE ARGS...` would run it; `MODULE:FUNCTION` calls the function
instead (`syncer.cli.app:main` is mlflow-syncer).
`.venv/bin/python -m bench.thread_profile --top OUT.prof [N]` prints the N functions with the most
CPU, inclusive and by themselves.
"""

from __future__ import annotations

import cProfile
import importlib
import pstats
import runpy
import sys
import threading
import time

_PROFILES: list[cProfile.Profile] = []


def _start_thread(*_args) -> None:
    profile = cProfile.Profile(time.thread_time)
    _PROFILES.append(profile)
    profile.enable()  # replaces this hook on the new thread


def run(out: str, module: str, args: list[str]) -> None:
    """Run `module` as __main__ with `args`, profiling every thread; write the merged stats."""
    main = cProfile.Profile(time.thread_time)
    _PROFILES.append(main)
    threading.setprofile(_start_thread)
    sys.argv = [module, *args]
    main.enable()
    try:
        if ":" in module:
            name, func = module.split(":")
            getattr(importlib.import_module(name), func)()
        else:
            runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code = exc.code
    else:
        code = 0
    finally:
        main.disable()
        threading.setprofile(None)
        stats = pstats.Stats(_PROFILES[0])
        for profile in _PROFILES[1:]:
            stats.add(profile)
        stats.dump_stats(out)
    sys.exit(code)


def top(path: str, n: int) -> None:
    """Print the `n` functions with the most CPU, by cumulative and by own time."""
    stats = pstats.Stats(path)
    stats.sort_stats("cumulative").print_stats(n)
    stats.sort_stats("tottime").print_stats(n)


if __name__ == "__main__":
    if sys.argv[1] == "--top":
        top(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 40)
    else:
        run(sys.argv[1], sys.argv[2], sys.argv[3:])
