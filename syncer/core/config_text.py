"""Reading a YAML config file safely: bounded before it is parsed (size, alias expansion), decoded
with the byte offset of a bad byte, and a clear word for a path that is no file; its options read
with the line of each key and their ${VAR} references expanded (for pydantic-settings' YAML source,
in syncer.config)."""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from typing import Any

import yaml

from syncer.core.errors import FatalError
from syncer.core.option_keys import KeyPath, load_with_lines
from syncer.core.redact import register_secret

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_URL_PASSWORD = re.compile(r"://[^/@\s:]+:[^/@\s]+@")
_SECRET_NAME = re.compile(r"(?i)pass|token|secret|key|credential|connection_string")
Problems = list[tuple[KeyPath, str]]

MAX_BYTES = 1024 * 1024  # a config is a few KB; more is a wrong file
MAX_NODES = 100_000  # YAML nodes once every alias is expanded (an alias bomb expands to billions)


def read_text(path: str) -> str:
    """The file's text; FatalError naming what is wrong with the path or its bytes."""
    p = Path(path)
    try:
        return _read_text(p, path)
    except PermissionError:
        raise FatalError(unreadable(path)) from None


def unreadable(path: str) -> str:
    """One line for a config file (or a folder on its path) this user may not read."""
    return f"permission denied: user {user_name()} cannot read the config file {path}"


def user_name() -> str:
    """This process's user as `name (uid N)` (the uid alone where names are unknown)."""
    try:
        import pwd

        return f"{pwd.getpwuid(os.getuid()).pw_name} (uid {os.getuid()})"
    except (ImportError, KeyError, AttributeError):
        return os.environ.get("USERNAME", "?")


def _read_text(p: Path, path: str) -> str:
    if p.is_dir():
        raise FatalError(f"config file {path} is a directory; give the path of a YAML file")
    if not p.exists():
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            # a folder on the path this user may not enter: PermissionError, not "does not exist"
            p.stat()
        raise FatalError(f"config file {path} does not exist")
    if not p.is_file():
        raise FatalError(f"config file {path} is not a regular file")
    size = p.stat().st_size
    if size > MAX_BYTES:
        raise FatalError(
            f"config file {path} is {size:,} bytes; a config holds at most {MAX_BYTES:,} "
            "(is it the right file?)"
        )
    try:
        data = p.read_bytes()
    except PermissionError:
        raise
    except OSError as exc:
        raise FatalError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FatalError(
            f"config file {path} is not UTF-8 text: byte 0x{data[exc.start]:02x} at offset "
            f"{exc.start}"
        ) from None


def check_expansion(text: str, path: str) -> None:
    """Refuse YAML whose aliases expand to more than MAX_NODES nodes, counting without expanding.

    Raises yaml.YAMLError on text that is not YAML (as parsing would)."""
    sizes: dict[str, int] = {}
    stack: list[list] = [[0, None]]  # [nodes so far, anchor] per open collection
    total = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            n = sizes.get(event.anchor, 1)
            stack[-1][0] += n
            total += n
        elif isinstance(event, yaml.ScalarEvent):
            stack[-1][0] += 1
            total += 1
            if event.anchor:
                sizes[event.anchor] = 1
        elif isinstance(event, yaml.CollectionStartEvent):
            stack.append([1, event.anchor])
            total += 1
        elif isinstance(event, yaml.CollectionEndEvent):
            n, anchor = stack.pop()
            stack[-1][0] += n
            if anchor:
                sizes[anchor] = n
        if total > MAX_NODES:
            raise FatalError(
                f"config file {path} expands to more than {MAX_NODES:,} values through YAML "
                "aliases; write the options out"
            )


DEFAULT_NAME = "mlflow-syncer.yaml"  # found in the working directory when no config is named


def find_config(given: str | None, environ: dict[str, str]) -> str | None:
    """The config file(s): `--config`, else `MLFLOW_SYNCER_CONFIG`, else ./mlflow-syncer.yaml if it
    exists.

    Either may name several files separated by ':' (later files override earlier ones, mapping by
    mapping). Files named by the variable that do not exist are left out, as KUBECONFIG does, so an
    image can name its own defaults and the mount point of the user's file; files named by --config
    must exist."""
    if given:
        return given
    named = [p for p in environ.get("MLFLOW_SYNCER_CONFIG", "").split(":") if p]
    existing = [p for p in named if Path(p).exists()]
    if named:
        return ":".join(existing or named)
    return DEFAULT_NAME if Path(DEFAULT_NAME).is_file() else None


def read_options(
    path: str, known: list[KeyPath], aliases: dict[KeyPath, str]
) -> tuple[dict[str, Any], dict[KeyPath, int], Problems]:
    """The file's options (expanded), the line of each key, and the problems found while expanding;
    FatalError naming the file when it cannot be read or is not a YAML mapping."""
    text = read_text(path)
    try:
        check_expansion(text, path)
        data, lines = load_with_lines(text, known, aliases)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise FatalError(f"config file {path} is not valid YAML{where}") from None
    if not isinstance(data or {}, dict):
        raise FatalError(f"config file {path} must hold a mapping of options")
    problems: Problems = []
    data = _expand(data or {}, (), problems)
    for end in ("source", "destination"):  # `source: URI` as the flag writes it; a mapping merges
        if isinstance(data.get(end), str):
            data[end] = {"tracking_uri": data[end]}
    return data, lines, problems


def _expand(value: Any, where: KeyPath, problems: Problems) -> Any:
    """Expand ${VAR} references, noting each reference that cannot be expanded and each literal
    password."""
    if isinstance(value, dict):
        return {k: _expand(v, (*where, str(k)), problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, (*where, str(i)), problems) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value
    if _URL_PASSWORD.search(_ENV_REF.sub("", value)):
        problems.append(
            (
                where,
                "a password is written in the file; put it in an environment "
                "variable and write ${VAR} instead",
            )
        )
        return value

    def sub(m: re.Match) -> str:
        if m[1] not in os.environ:
            problems.append((where, f"environment variable {m[1]} is not set"))
            return m[0]
        if _SECRET_NAME.search(m[1]) or _URL_PASSWORD.search(value):
            register_secret(os.environ[m[1]])
        return os.environ[m[1]]

    return _ENV_REF.sub(sub, value)
