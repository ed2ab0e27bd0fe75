"""Experiment-name rules: a source experiment's name rewritten for the destination, by the user's
rules (the `name_rules` option) or the source's documented default."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from syncer.core.capabilities import Capabilities
from syncer.core.settings_reading import Strict


class NameRule(Strict):
    """Rewrite experiment names: a regular expression and its replacement (re.sub syntax)."""

    match: str = Field(description="regular expression searched in the name")
    replace: str = Field(
        description="its replacement (re.sub syntax; the first matching rule wins)"
    )

    @field_validator("match")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regular expression {value!r}: {exc}") from None
        return value


def dest_name(source_name: str, rules: list[NameRule]) -> str:
    """Map a source experiment name to its destination name: the first matching rule applies."""
    for rule in rules:
        if re.search(rule.match, source_name):
            return re.sub(rule.match, rule.replace, source_name)
    return source_name


def name_rules(rules: list[NameRule], source_caps: Capabilities) -> list[NameRule]:
    """The user's experiment-name rules, or else the source's documented default (Databricks: strip
    `/Users/<user>/`, then a leading `/`)."""
    if rules:
        return rules
    return [NameRule(match=m, replace=r) for m, r in source_caps.source_name_rules]
