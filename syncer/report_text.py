"""Render a plan as text in the style of `rclone check --combined`: a sigil per object, then a summary."""

from __future__ import annotations

from collections.abc import Iterator

from syncer.plan import Op, Plan


def _detail(details: dict) -> str:
    parts = []
    for key, value in details.items():
        if isinstance(value, list):
            shown = ", ".join(map(str, value[:8])) + (f" (+{len(value) - 8})" if len(value) > 8 else "")
            parts.append(f"{key}: {shown}")
        elif value is True:
            parts.append(key)
        else:
            parts.append(f"{key}: {value}")
    return "; ".join(parts)


def lines(plan: Plan, show_same: bool = True) -> Iterator[str]:
    """One line per object: sigil, kind, label, and what differs."""
    for a in plan.actions:
        if a.op is Op.SAME and not show_same:
            continue
        detail = _detail(a.details)
        yield f"{a.sigil} {a.kind:<10} {a.label}" + (f"  [{detail}]" if detail else "")


def summary_lines(plan: Plan) -> Iterator[str]:
    """Counts by object kind and action."""
    counts = plan.counts()
    kinds = sorted({k for k, _ in counts})
    for kind in kinds:
        parts = [f"{op} {counts[(kind, op)]}" for op in [o.value for o in Op] if counts[(kind, op)]]
        yield f"{kind + 's':<12} " + ", ".join(parts)
    yield "in sync" if plan.in_sync else f"{len(plan.mutating())} actions to apply"
