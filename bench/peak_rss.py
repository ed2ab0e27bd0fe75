"""Run a command and measure its wall time and peak RSS, optionally killing it above an RSS cap.

    python bench/peak_rss.py OUT.json [--cap-mb N] [--max-seconds S] -- COMMAND ...

A small launcher process (this file, standard library only: ~10 MB) starts COMMAND and reads the
peak from `getrusage(RUSAGE_CHILDREN).ru_maxrss` once it has been waited for. Measuring from the
launcher, not from the caller, matters: Linux carries the parent's RSS at fork time into a child's
ru_maxrss across exec, so a pytest or bench process of 500 MB would read as the child's peak. With
`--cap-mb`, the launcher polls the child's VmRSS every 50 ms and kills it (SIGKILL) above the cap,
so a run that would exhaust a shared machine's memory stops early; the result then says `capped` and
the peak is at least the cap. `--max-seconds` stops it likewise after that long (`timed_out`).

`measure()` is the same from Python: it starts the launcher and returns its result.
"""

from __future__ import annotations

import json
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

POLL = 0.05


def _rss_mb(pid: int) -> float:
    """The process's current RSS in MB (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _launch(out: Path, cap_mb: float | None, max_seconds: float | None, cmd: list[str]) -> int:
    started = time.monotonic()
    child = subprocess.Popen(cmd)
    capped = timed_out = False
    while child.poll() is None:
        capped = bool(cap_mb and _rss_mb(child.pid) > cap_mb)
        timed_out = bool(max_seconds and time.monotonic() - started > max_seconds)
        if capped or timed_out:
            child.send_signal(signal.SIGKILL)
            child.wait()
            break
        time.sleep(POLL)
    seconds = time.monotonic() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak = usage.ru_maxrss / 1024  # kB on Linux
    out.write_text(
        json.dumps(
            {
                "rc": child.returncode,
                "seconds": round(seconds, 2),
                "peak_mb": round(peak, 1),
                "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
                "capped": capped,
                "cap_mb": cap_mb,
                "timed_out": timed_out,
                "max_seconds": max_seconds,
            }
        )
    )
    return 0


def measure(
    cmd: list[str],
    out: Path,
    cap_mb: float | None = None,
    max_seconds: float | None = None,
    **popen,
) -> dict:
    """Run `cmd` under the launcher; {"rc", "seconds", "peak_mb", "cpu_seconds", "capped", "cap_mb",
    "timed_out", "max_seconds"}. `popen`: env, cwd, stdout, stderr for the command (the launcher
    passes its streams on)."""
    limits = [
        *(["--cap-mb", str(cap_mb)] if cap_mb else []),
        *(["--max-seconds", str(max_seconds)] if max_seconds else []),
    ]
    subprocess.run([sys.executable, __file__, str(out), *limits, "--", *cmd], check=True, **popen)
    return json.loads(out.read_text())


def _option(head: list[str], name: str) -> float | None:
    return float(head[head.index(name) + 1]) if name in head else None


def main(argv: list[str]) -> int:
    split = argv.index("--")
    head, cmd = argv[:split], argv[split + 1 :]
    return _launch(Path(head[0]), _option(head, "--cap-mb"), _option(head, "--max-seconds"), cmd)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
