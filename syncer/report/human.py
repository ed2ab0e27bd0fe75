"""Numbers for people: sizes in binary units, durations, rates and ages. JSON keeps the exact
integers."""

from __future__ import annotations

from datetime import datetime, timezone

_SIZE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def size(n: float) -> str:
    """Bytes in binary units: 512 -> '512 B', 12582912 -> '12.0 MiB'."""
    value = float(n)
    for unit in _SIZE_UNITS:
        if abs(value) < 1024 or unit == _SIZE_UNITS[-1]:
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def duration(seconds: float) -> str:
    """A duration: 0.42 -> '0.42 s', 7.5 -> '7.5 s', 271 -> '4 min 31 s', 7260 -> '2 h 1 min', 2
    days -> '2 d 0 h'."""
    if seconds < 1:
        return f"{max(0.0, seconds):.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = int(round(seconds))
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s"


def rate(count: float, seconds: float, unit: str) -> str:
    """Objects per second: rate(12, 4, 'runs') -> '3.0 runs/s'; nothing yet -> '- runs/s'."""
    if seconds <= 0:
        return f"- {unit}/s"
    per = count / seconds
    return f"{per:.1f} {unit}/s" if per < 100 else f"{per:,.0f} {unit}/s"


def byte_rate(n: float, seconds: float) -> str:
    """Bytes per second in binary units: '1.1 MiB/s'; nothing yet -> '- B/s'."""
    return "- B/s" if seconds <= 0 else f"{size(n / seconds)}/s"


def ago(seconds: float) -> str:
    """An age: '3.0 s ago', '4 min 31 s ago'; a time in the future: 'in 12.0 s'."""
    return f"in {duration(-seconds)}" if seconds < 0 else f"{duration(seconds)} ago"


def iso(ts: float | None) -> str | None:
    """A time (seconds since the epoch) in UTC ISO 8601 to the second, or None."""
    return (
        None
        if ts is None
        else datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="seconds")
    )
