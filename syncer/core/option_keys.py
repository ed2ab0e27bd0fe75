"""Option keys in a YAML config file: where each one is written, the spellings accepted for it, and
which known option a mistyped one most likely means. Pure: the settings model passes in the keys it
knows.

A key path is a tuple of strings; list items are their index ("experiment_names", "0", "match") and,
in the list of known paths, "*".
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

import yaml

KeyPath = tuple[str, ...]


def generic(path: KeyPath) -> KeyPath:
    """The path with list indexes replaced by "*", as known paths spell them."""
    return tuple("*" if part.isdigit() else part for part in path)


def _respell(
    key: str, parent: KeyPath, known: frozenset[KeyPath], aliases: dict[KeyPath, str]
) -> str:
    """The accepted spelling of `key` under `parent`: an alias, or hyphens written as
    underscores."""
    alias = aliases.get(generic(parent) + (key,))
    if alias is not None:
        return alias
    underscored = key.replace("-", "_")
    return underscored if generic(parent) + (underscored,) in known else key


def _walk(
    node: yaml.Node,
    path: KeyPath,
    lines: dict[KeyPath, int],
    known: frozenset[KeyPath],
    aliases: dict[KeyPath, str],
) -> None:
    """Respell accepted keys in place and note the (1-based) line of every key and list item."""
    if isinstance(node, yaml.MappingNode):
        taken = {k.value for k, _ in node.value if isinstance(k, yaml.ScalarNode)}
        for key_node, value in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            spelled = _respell(key_node.value, path, known, aliases)
            if spelled != key_node.value and spelled not in taken:
                key_node.value = spelled
            lines[path + (key_node.value,)] = key_node.start_mark.line + 1
            _walk(value, path + (key_node.value,), lines, known, aliases)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[path + (str(i),)] = item.start_mark.line + 1
            _walk(item, path + (str(i),), lines, known, aliases)


def load_with_lines(
    text: str, known: Iterable[KeyPath], aliases: dict[KeyPath, str]
) -> tuple[Any, dict]:
    """Parse YAML `text` (safe types only): (data with accepted spellings respelled, key path ->
    line).

    Raises yaml.YAMLError on text that is not YAML.
    """
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    lines: dict[KeyPath, int] = {}
    if node is None:
        return None, lines
    _walk(node, (), lines, frozenset(known), aliases)
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_document(node), lines
    finally:
        loader.dispose()


def line_of(lines: dict[KeyPath, int], path: KeyPath) -> int | None:
    """The line of `path`, or of its nearest written ancestor (a missing option: where it
    belongs)."""
    for end in range(len(path), 0, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None


def suggest(path: KeyPath, known: Iterable[KeyPath], hints: dict[str, str]) -> str | None:
    """The option most likely meant by the unknown `path`: a near sibling, the same key elsewhere, a
    near key elsewhere, or a hint for a command-line spelling that has no key of its own."""
    key, parent = path[-1], generic(path[:-1])
    known = list(known)
    underscored = key.replace("-", "_")
    if underscored in hints:
        return hints[underscored]
    siblings = [k[-1] for k in known if k[:-1] == parent]
    close = difflib.get_close_matches(underscored, siblings, n=1)
    if close:
        return ".".join(path[:-1] + (close[0],))
    dotted = {".".join(k): k for k in known if "*" not in k}
    same = sorted(d for d, k in dotted.items() if k[-1] == underscored)
    if same:
        return same[0]
    by_key = {k[-1]: d for d, k in sorted(dotted.items(), key=lambda kv: len(kv[1]))}
    close = difflib.get_close_matches(underscored, list(by_key), n=1, cutoff=0.75)
    return by_key[close[0]] if close else None
