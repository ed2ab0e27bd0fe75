"""How long a rate class's token bucket stood full, unused, in each attempt of a `--timeline` run:
the seconds the class could have sent a request and had none ready.

    python -m bench.bucket_idle DIR [--side dst] [--cls other] [--rate 6.35]

DIR holds `bench/main.py --timeline DIR` files (one per attempt, `ours-...-1.json`). The bucket
is replayed over the requests the proxy let through (429s left out): it refills at `rate` per second
up to `rate` tokens (the proxy's burst, bench/proxy.py), full at the attempt's first request;
whenever it would rise above full, the excess time is idle. Also printed: the stretches over 0.3 s
when it stood full, relative to the attempt's first request.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def idle(times: list[float], start: float, rate: float) -> tuple[float, list[tuple[float, float]]]:
    """Idle seconds of a bucket of `rate` per second (burst `rate`) serving requests at `times`, and
    the stretches it stood full."""
    tokens, now, total, full = rate, start, 0.0, []
    for t in sorted(times):
        refill = (rate - tokens) / rate
        if t - now > refill:
            total += t - now - refill
            full.append((now + refill - start, t - start))
            tokens = rate
        else:
            tokens += (t - now) * rate
        tokens -= 1
        now = t
    return total, full


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dir", type=Path)
    p.add_argument("--side", default="dst")
    p.add_argument("--cls", default="other")
    p.add_argument("--rate", type=float, default=6.35)
    args = p.parse_args()
    for path in sorted(args.dir.glob("ours-*-1.json")):
        rows = next(iter(json.loads(path.read_text()).values()))
        every = rows["src"] + rows["dst"]
        start = min(r["t0"] for r in every)
        mine = [
            r["t0"] for r in rows[args.side] if r.get("cls") == args.cls and r.get("status") != 429
        ]
        total, full = idle(mine, start, args.rate)
        long = ", ".join(f"{a:.1f}-{b:.1f}" for a, b in full if b - a > 0.3)
        print(f"{path.stem}: {len(mine)} requests, idle {total:.2f} s; full over 0.3 s at {long}")


if __name__ == "__main__":
    main()
