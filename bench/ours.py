"""Child process of the benchmark: one mlflow-syncer sync cycle (engine.sync, as `migrate` runs it).

Reads a JSON job from argv[1]; prints one JSON line: seconds, API calls by (endpoint, op), points,
bytes, failures. The parent reads this process's peak RSS from os.wait4.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import syncer.backends.calls

_SECONDS: dict[str, float] = {}
_plain_call = syncer.backends.calls.call


def _timed_call(endpoint, op, fn):
    """syncer.backends.calls.call, also summing the seconds spent per (endpoint, op) across all
    threads."""
    started = time.perf_counter()
    try:
        return _plain_call(endpoint, op, fn)
    finally:
        key = f"{endpoint.role}:{op}"
        _SECONDS[key] = _SECONDS.get(key, 0.0) + time.perf_counter() - started


syncer.backends.calls.call = _timed_call  # before the engine modules bind it

from syncer.backends import telemetry  # noqa: E402
from syncer.config import EndpointConfig, NameRule, Settings  # noqa: E402
from syncer.engine.sync import sync  # noqa: E402


def peak_rss_mb() -> float | None:
    """This process's own peak RSS (VmHWM). ru_maxrss would also count the parent's RSS at fork
    time."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def main() -> None:
    job = json.loads(sys.argv[1])
    rules = [NameRule(match=r"^(.*)$", replace=job["dest_prefix"] + r"\1")]
    settings = Settings(
        source=EndpointConfig(tracking_uri=job["src"], rate_limits=job.get("src_rate_limits")),
        destination=EndpointConfig(tracking_uri=job["dst"], rate_limits=job.get("dst_rate_limits")),
        state=job["state"],
        experiments=job["experiments"],
        experiment_names=rules,
        workers=job.get("workers", 8),
        log_level="warning",
        log_format="json",
    )
    result = sync(settings)
    calls = {f"{e}:{op}": n for (e, op), n in sorted(telemetry.api_call_counts().items()) if n}
    print(
        json.dumps(
            {
                "seconds": result.seconds,
                "calls": calls,
                "call_seconds": {k: round(v, 2) for k, v in sorted(_SECONDS.items())},
                "points": sum(o.stats.metric_points for o in result.outcomes),
                "bytes": sum(o.stats.artifact_bytes for o in result.outcomes),
                "files": sum(o.stats.artifact_files for o in result.outcomes),
                "outcomes": len(result.outcomes),
                "failed": [o.error for o in result.failed][:5],
                "rss_mb": peak_rss_mb(),
            }
        )
    )


if __name__ == "__main__":
    main()
