"""Request timelines of the benchmark's proxies (`bench/proxy.py`, GET /__bench/timeline),
summarised.

For one timed attempt (ours or the floor) with both ends behind proxies:
- phases: the head (from the first request to the first destination `runs/create`), the body (to the
  last destination write that names a run) and the tail (to the last request), with the requests in
  each;
- per run: the destination calls in the order they started, and the chain depth (how many of them
  ran one after another: a call that starts after the previous one ended adds one);
- in flight: the mean and peak number of destination requests in flight during the body.

Under rate limits (`rates`): the limit-bound time of the copy and where the rest went (see
`rates`).

`python -m bench.timeline FILE.json [LIMITS.json]` prints the summary of a saved timeline
(`bench/main.py --timeline DIR`; LIMITS: the class limits, e.g. {"search": 0.35, ...}).
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


def _union(spans: list[tuple[float, float]]) -> float:
    total, end = 0.0, float("-inf")
    for lo, hi in sorted(spans):
        if hi > end:
            total += hi - max(lo, end)
            end = hi
    return total


def rates(
    src: list[dict], dst: list[dict], limits: dict[str, float], retry_after: float = 1.0
) -> dict:
    """The limit-bound time of one attempt behind rate-limiting proxies, and where the rest went.

    Each end is one workspace; each of its classes is a token bucket of `limits[class]` per second
    holding at most max(1, rate) tokens, full at the start. A class whose end admitted `n` requests
    needs at least (n - burst) / rate seconds: its bound. The copy's limit-bound time is the largest
    bound over (end, class), whatever else it does; the copy reaches bound / its own seconds of the
    limit-bound rate. For the binding class: `head` (first request at either end to the class's
    first), `span` (its first to last admitted request) against its bound, `tail` (to the last
    request), its 429s and the seconds covered by their Retry-After."""
    t_all = [r["t0"] for r in src + dst] + [r["t1"] for r in src + dst if "t1" in r]
    if not t_all:
        return {}
    start, end = min(t_all), max(t_all)
    classes: dict[str, dict] = {}
    for side, rows in (("src", src), ("dst", dst)):
        for cls, rate in limits.items():
            mine = [r for r in rows if r.get("cls") == cls]
            ok = sorted(r["t0"] for r in mine if r.get("status") != 429)
            refused = [r["t0"] for r in mine if r.get("status") == 429]
            bound = max(0.0, len(ok) - max(1.0, rate)) / rate if rate else 0.0
            row = {"n": len(ok), "429": len(refused), "limit": rate, "bound_s": round(bound, 2)}
            if ok:
                row["head_s"] = round(ok[0] - start, 2)
                row["span_s"] = round(ok[-1] - ok[0], 2)
                row["tail_s"] = round(end - ok[-1], 2)
                row["held_s"] = round(_union([(t, t + retry_after) for t in refused]), 2)
            classes[f"{side} {cls}"] = row
    binding = max(classes, key=lambda k: classes[k]["bound_s"])
    return {
        "span_s": round(end - start, 2),
        "bound_s": classes[binding]["bound_s"],
        "binding": binding,
        "classes": classes,
    }


def rates_text(s: dict, seconds: float | None = None) -> str:
    """One line per class with requests; the first names the binding class."""
    if not s:
        return "rates: no requests"
    pct = f", {100 * s['bound_s'] / seconds:.1f}% of {seconds:.1f} s" if seconds else ""
    out = [f"limit-bound {s['bound_s']} s ({s['binding']}){pct}; requests span {s['span_s']} s"]
    for k, c in s["classes"].items():
        if c["n"] or c["429"]:
            out.append(
                f"  {k}: {c['n']} at {c['limit']:g}/s -> {c['bound_s']} s; head {c.get('head_s')} "
                f"span {c.get('span_s')} tail {c.get('tail_s')}; 429 x{c['429']} "
                f"({c.get('held_s')} s held)"
            )
    return "\n".join(out)


if __name__ == "__main__":
    data = json.loads(Path(sys.argv[1]).read_text())
    lim = json.loads(Path(sys.argv[2]).read_text()) if len(sys.argv) > 2 else None
    for key, tl in data.items():
        print(text(key, summarise(tl["src"], tl["dst"])))
        if lim:
            print(rates_text(rates(tl["src"], tl["dst"], lim)))
