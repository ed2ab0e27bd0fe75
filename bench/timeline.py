"""Request timelines of the benchmark's proxies (`bench/proxy.py`, GET /__bench/timeline),
summarised.

For one timed attempt (ours or the floor) with both ends behind proxies:
- phases: the head (from the first request to the first destination `runs/create`), the body (to the
  last destination write that names a run) and the tail (to the last request), with the requests in
  each;
- per run: the destination calls in the order they started, and the chain depth (how many of them
  ran one after another: a call that starts after the previous one ended adds one);
- in flight: the mean and peak number of destination requests in flight during the body.

`python -m bench.timeline FILE.json` prints the summary of a saved timeline (`bench/main.py
--timeline DIR`).
"""

from __future__ import annotations

import json
import statistics
import sys
from collections import Counter, defaultdict
from pathlib import Path

_WRITE = (
    "/runs/create",
    "/runs/log-batch",
    "/runs/update",
    "/runs/set-tag",
    "mlflow-artifacts/artifacts",
)


def short(ep: str) -> str:
    """'POST /api/2.0/mlflow/runs/log-batch' -> 'POST log-batch'; artifact PUT/GET -> 'PUT
    artifact'."""
    method, _, path = ep.partition(" ")
    if "mlflow-artifacts/artifacts" in path:
        return f"{method} artifact"
    return f"{method} {path.rstrip('/').rsplit('/', 1)[-1]}"


def _depth(rows: list[dict]) -> int:
    depth, end = 0, None
    for r in sorted(rows, key=lambda r: r["t0"]):
        if end is None or r["t0"] >= end - 0.002:
            depth += 1
            end = r["t1"]
        else:
            end = max(end, r["t1"])
    return depth


def _in_flight(rows: list[dict], lo: float, hi: float) -> tuple[float, int]:
    events = sorted([(r["t0"], 1) for r in rows] + [(r["t1"], -1) for r in rows])
    area, n, peak, last = 0.0, 0, 0, lo
    for t, d in events:
        t = min(max(t, lo), hi)
        area += n * (t - last)
        n += d
        peak = max(peak, n)
        last = t
    return (area / (hi - lo) if hi > lo else 0.0), peak


def summarise(src: list[dict], dst: list[dict]) -> dict:
    """The phases, per-run chains and requests in flight of one attempt (rows from both proxies)."""
    rows = [dict(r, side="src") for r in src] + [dict(r, side="dst") for r in dst]
    rows = [r for r in rows if "t1" in r]
    if not rows:
        return {}
    t_start = min(r["t0"] for r in rows)
    t_end = max(r["t1"] for r in rows)
    creates = [r for r in dst if r["ep"].endswith("/runs/create") and "t1" in r]
    writes = [r for r in dst if r.get("run") and "t1" in r and any(w in r["ep"] for w in _WRITE)]
    body_lo = min((r["t0"] for r in creates), default=t_start)
    body_hi = max((r["t1"] for r in writes), default=t_end)
    phases = {}
    for name, lo, hi in (
        ("head", t_start, body_lo),
        ("body", body_lo, body_hi),
        ("tail", body_hi, t_end),
    ):
        inside = [r for r in rows if lo <= r["t0"] < hi or (name == "tail" and r["t0"] >= hi)]
        phases[name] = {
            "s": round(hi - lo, 2),
            "requests": dict(Counter(f"{r['side']} {short(r['ep'])}" for r in inside)),
        }
    per_run: dict[str, list[dict]] = defaultdict(list)
    for r in writes:
        per_run[r["run"]].append(r)
    chains = Counter(
        " > ".join(short(r["ep"]) for r in sorted(rs, key=lambda r: r["t0"]))
        for rs in per_run.values()
    )
    depths = [_depth(rs) for rs in per_run.values()]
    spans = [max(r["t1"] for r in rs) - min(r["t0"] for r in rs) for rs in per_run.values()]
    mean, peak = _in_flight([r for r in dst if "t1" in r], body_lo, body_hi)
    return {
        "seconds": round(t_end - t_start, 2),
        "phases": phases,
        "runs": len(per_run),
        "chains": dict(chains.most_common(4)),
        "depth_median": statistics.median(depths) if depths else None,
        "run_span_median_s": round(statistics.median(spans), 3) if spans else None,
        "dst_in_flight_mean": round(mean, 2),
        "dst_in_flight_peak": peak,
        "requests": {"src": len(src), "dst": len(dst)},
    }


def text(name: str, s: dict) -> str:
    """A few lines for one attempt's summary."""
    if not s:
        return f"{name}: no requests"
    ph = s["phases"]
    out = [
        f"{name}: {s['seconds']} s between first and last request; head {ph['head']['s']} s, "
        f"body {ph['body']['s']} s, tail {ph['tail']['s']} s; {s['runs']} runs, chain depth "
        f"{s['depth_median']}, run span {s['run_span_median_s']} s; destination in flight "
        f"{s['dst_in_flight_mean']} mean, {s['dst_in_flight_peak']} peak"
    ]
    for p in ("head", "tail"):
        out.append(f"  {p}: {ph[p]['requests']}")
    for chain, n in s["chains"].items():
        out.append(f"  {n} x {chain}")
    return "\n".join(out)


if __name__ == "__main__":
    data = json.loads(Path(sys.argv[1]).read_text())
    for key, tl in data.items():
        print(text(key, summarise(tl["src"], tl["dst"])))
