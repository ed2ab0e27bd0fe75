"""Fit source values to what the destination accepts, following a documented policy.

Policy: tags the destination cannot set are dropped; values longer than the destination allows are
truncated (the planner and the executor agree on the truncated form, so the copy compares equal); the
report lists every such decision.
"""

from __future__ import annotations

from syncer.capabilities import Capabilities

TRUNCATION_SUFFIX = "...[truncated]"


def fit_value(value: str, limit: int) -> str:
    """Truncate a value to `limit` characters, marking that it was cut."""
    if len(value) <= limit:
        return value
    return value[: max(0, limit - len(TRUNCATION_SUFFIX))] + TRUNCATION_SUFFIX


def expected_tags(tags: dict[str, str], caps: Capabilities) -> dict[str, str]:
    """The user tags of a source run as they will look in the destination."""
    return {
        k: fit_value(v, caps.run_tag_value_len)
        for k, v in tags.items()
        if k not in caps.unsettable_tags
    }


def policy_notes(tags: dict[str, str], caps: Capabilities) -> list[str]:
    """Human-readable notes on every tag that the destination's limits change."""
    notes = []
    for k, v in sorted(tags.items()):
        if k in caps.unsettable_tags:
            notes.append(f"tag {k} dropped: not settable on {caps.kind}")
        elif len(v) > caps.run_tag_value_len:
            notes.append(f"tag {k} truncated to {caps.run_tag_value_len} characters")
    return notes


def limit_violations(params: dict[str, str], keys: list[str], caps: Capabilities) -> list[str]:
    """Values the destination would refuse or silently cut (params cannot be truncated: they are data)."""
    out = [f"param {k}: value of {len(v)} characters exceeds the destination's limit of {caps.param_value_len}"
           for k, v in sorted(params.items()) if len(v) > caps.param_value_len]
    out += [f"key {k[:40]}...: {len(k)} characters exceeds the destination's limit of {caps.key_len}"
            for k in sorted(set(keys)) if len(k) > caps.key_len]
    return out
