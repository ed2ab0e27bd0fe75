"""Sum the suite's CPU seconds per test file from a `MLFLOW_SYNCER_TEST_CPU` file.

Run the suite with `MLFLOW_SYNCER_TEST_CPU=/tmp/cpu.jsonl bash scripts/test.sh` (or pytest), then
`python -m bench.suite_cpu /tmp/cpu.jsonl [--tests N]`: files by CPU seconds, then the N costliest
tests.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path


def main() -> None:
    """Print CPU and wall seconds per file and the costliest tests."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--tests", type=int, default=30)
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.file.read_text().splitlines() if line.strip()]
    files: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0])
    for row in rows:
        entry = files[row["test"].split("::")[0]]
        entry[0] += row["cpu"]
        entry[1] += row["wall"]
        entry[2] += 1
    total = sum(x[0] for x in files.values())
    print(f"{len(rows)} tests, {total:.0f} CPU s, {sum(x[1] for x in files.values()):.0f} wall s")
    for name, (cpu, wall, count) in sorted(files.items(), key=lambda x: -x[1][0]):
        print(f"{cpu:8.1f} CPU s {wall:8.1f} wall s {count:4d} tests  {name}")
    _workers(rows)
    print()
    for row in sorted(rows, key=lambda x: -x["cpu"])[: args.tests]:
        print(f"{row['cpu']:8.1f} CPU s {row['wall']:8.1f} wall s  {row['test']}")


def _workers(rows: list[dict]) -> None:
    """Per xdist worker: its tests, and when it began and ended (seconds after the first test)."""
    timed = [r for r in rows if "began" in r]
    if not timed:
        return
    zero = min(r["began"] for r in timed)
    print()
    for worker in sorted({r["worker"] for r in timed}):
        mine = [r for r in timed if r["worker"] == worker]
        end = max(r["began"] + r["wall"] for r in mine) - zero
        first = min(r["began"] for r in mine) - zero
        busy = sum(r["wall"] for r in mine)
        print(
            f"{worker}: {len(mine)} tests, from {first:.0f} s to {end:.0f} s, in tests {busy:.0f} s"
        )


if __name__ == "__main__":
    main()
