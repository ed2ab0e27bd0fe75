"""Turn benchmark results into one printed line each and a Markdown section of
docs/BENCHMARKS.md."""

from __future__ import annotations

import re
import statistics
import time
from pathlib import Path

START = "<!-- bench/run.sh results: start -->"
END = "<!-- bench/run.sh results: end -->"


def _calls(res: dict) -> float:
    return sum(res.get("calls", {}).values())


def _fmt(x: float | None, unit: str = "", nd: int = 1) -> str:
    return "-" if x is None else f"{x:,.{nd}f}{unit}"


def _all(best: float | None, times: list[float] | None) -> str:
    if not times or len(times) < 2:
        return _fmt(best)
    return f"{_fmt(best)} ({', '.join(f'{t:.0f}' for t in times)})"


def derived(r: dict) -> dict:
    """The numbers the targets talk about, from one measurement."""
    full = r["full"]
    secs = full["seconds"]
    peer = r.get("peer")
    peer_total = sum(peer) if peer else None
    lb = sum(n for k, n in full["calls"].items() if k.endswith(":log_batch"))
    search = sum(n for k, n in full["calls"].items() if ":search" in k)
    return {
        "ours": secs,
        "floor": r.get("floor"),
        "ours_floor": secs / r["floor"] if r.get("floor") else None,
        "peer": peer_total,
        "peer_ours": peer_total / secs if peer_total else None,
        "points_s": full["points"] / secs if secs else None,
        "mb_s": full["bytes"] / 1e6 / secs if secs else None,
        "rss": full.get("rss_mb"),
        "calls": _calls(full),
        "noop": r["noop"]["seconds"],
        "noop_pct": 100 * r["noop"]["seconds"] / secs if secs else None,
        "noop_calls": _calls(r["noop"]),
        "change": r["change"]["seconds"],
        "change_calls": _calls(r["change"]),
        "log_batch_s": lb / secs if secs else None,
        "search_s": search / secs if secs else None,
        "rejected": sum(full.get("proxy", {}).get("rejected", {}).values())
        if "proxy" in full
        else None,
        "failed": len(full["failed"]) + len(r["noop"]["failed"]) + len(r["change"]["failed"]),
    }


def _median(xs: list[float] | None) -> float | None:
    return statistics.median(xs) if xs else None


def line(r: dict) -> str:
    d = derived(r)
    return (
        f"{r['workload']} {r['network']}: ours {_fmt(d['ours'])} s, floor {_fmt(d['floor'])} s, "
        f"ours/floor {_fmt(d['ours_floor'], nd=2)}, peer {_fmt(d['peer'])} s, peer/ours "
        f"{_fmt(d['peer_ours'], nd=1)}, {_fmt(d['points_s'], nd=0)} points/s, {_fmt(d['mb_s'])} "
        f"MB/s, "
        f"RSS {_fmt(d['rss'], ' MB', 0)}, {d['calls']:.0f} calls; no-op {_fmt(d['noop'])} s "
        f"({_fmt(d['noop_pct'])}%, {d['noop_calls']:.0f} calls); 1% changed {_fmt(d['change'])} s "
        f"({d['change_calls']:.0f} calls); failures {d['failed']}; attempt ratios "
        f"{', '.join(f'{x:.2f}' for x in r.get('pair_ratios', []))} (median "
        f"{_fmt(_median(r.get('pair_ratios')), nd=2)}); load average "
        f"{', '.join(f'{x:.1f}' for x in r.get('load', []))}; wall (process start) "
        f"{_fmt(r['full'].get('wall'))} s; CPU s ours {_fmt(r['full'].get('cpu_s'))}, floor "
        f"{_fmt(r.get('floor_extra', {}).get('cpu_s'))}"
    )


def _call_table(r: dict) -> list[str]:
    rows = [f"| {k} | {n:.0f} |" for k, n in sorted(r["full"]["calls"].items())]
    return [
        f"API calls of the full migration, {r['workload']} {r['network']} (by endpoint):",
        "",
        "| endpoint:op | calls |",
        "|---|---|",
        *rows,
        "",
    ]


def markdown(meta: dict, results: list[dict]) -> str:
    out = [
        "## Migration benchmark: ours vs floor vs peer (bench/run.sh)",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} with `{meta['command']}` "
        f"({meta['minutes']:.0f} min). Machine: {meta['machine']}, shared with other jobs (numbers "
        f"are noisy; "
        f"compare the ratios, measured in the same run on the same servers). Python "
        f"{meta['python']}; "
        f"peer: {meta['peer']}. With several attempts, the fastest is shown and every attempt in "
        f"brackets; "
        "full migrations and floor writes alternate.",
        "",
        "| workload | network | scale | ours s | floor s | ours/floor | peer s | peer/ours | "
        "points/s | MB/s "
        "| peak RSS MB | calls | no-op s (% of full, calls) | 1% changed s (calls) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        d = derived(r)
        out.append(
            f"| {r['workload']} | {r['network']} | {r['scale']:g} | "
            f"{_all(d['ours'], r.get('full_all'))} | "
            f"{_all(d['floor'], r.get('floor_all'))} | "
            f"{_fmt(d['ours_floor'], nd=2)} | {_fmt(d['peer'])} | {_fmt(d['peer_ours'])} | "
            f"{_fmt(d['points_s'], nd=0)} | {_fmt(d['mb_s'])} | {_fmt(d['rss'], nd=0)} | "
            f"{d['calls']:.0f} | "
            f"{_fmt(d['noop'], nd=2)} ({_fmt(d['noop_pct'])}%, {d['noop_calls']:.0f}) | "
            f"{_fmt(d['change'])} ({d['change_calls']:.0f}) |"
        )
    limits = [r for r in results if r["network"] == "limits"]
    if limits:
        lim = meta.get("limits", {"search": 7.0, "log_batch": 47.0})
        out += [
            "",
            f"Under Databricks-like rate limits, scaled to {lim['search']:g} search/s and "
            f"{lim['log_batch']:g} log-batch/s (the proxy answers 429 above them; ours is "
            f"configured with "
            "the same client-side limits through `rate_limits` in the endpoint config):",
            "",
        ]
        for r in limits:
            d = derived(r)
            lb = d["log_batch_s"] * d["ours"] if d["log_batch_s"] else 0
            bound = lb / lim["log_batch"]
            out.append(
                f"- {r['workload']}: {lb:.0f} log-batch calls in {d['ours']:.1f} s = "
                f"{_fmt(d['log_batch_s'], nd=2)}/s; the limit alone needs {bound:.1f} s, so ours "
                f"reaches "
                f"{100 * bound / d['ours']:.0f}% of what the limits allow; "
                f"{_fmt(d['search_s'], nd=2)} "
                f"search/s; {d['rejected']} requests answered 429 (retried), {d['failed']} "
                f"failures "
                "reported to the user."
            )
    out.append("")
    for r in results:
        out += _call_table(r)
    return "\n".join(out)


def write_section(path: Path, text: str) -> None:
    """Replace (or append) this benchmark's own section of docs/BENCHMARKS.md, leaving others
    alone."""
    old = path.read_text() if path.exists() else "# Benchmarks\n"
    block = f"{START}\n{text}\n{END}"
    if START in old and END in old:
        new = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda m: block, old, flags=re.S)
    else:
        new = old.rstrip() + "\n\n" + block + "\n"
    path.write_text(new)
