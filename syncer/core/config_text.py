"""Reading a YAML config file safely: bounded before it is parsed (size, alias expansion), decoded with the
byte offset of a bad byte, and a clear word for a path that is no file."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import yaml

from syncer.core.errors import FatalError

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
            p.stat()  # a folder on the path this user may not enter: PermissionError, not "does not exist"
        raise FatalError(f"config file {path} does not exist")
    if not p.is_file():
        raise FatalError(f"config file {path} is not a regular file")
    size = p.stat().st_size
    if size > MAX_BYTES:
        raise FatalError(f"config file {path} is {size:,} bytes; a config holds at most {MAX_BYTES:,} "
                         "(is it the right file?)")
    try:
        data = p.read_bytes()
    except PermissionError:
        raise
    except OSError as exc:
        raise FatalError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FatalError(f"config file {path} is not UTF-8 text: byte 0x{data[exc.start]:02x} at offset "
                         f"{exc.start}") from None


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
            raise FatalError(f"config file {path} expands to more than {MAX_NODES:,} values through YAML "
                             "aliases; write the options out")


DEFAULT_NAME = "mlflow-syncer.yaml"  # found in the working directory when no config is named


def find_config(given: str | None, environ: dict[str, str]) -> str | None:
    """The config file(s): `--config`, else `MLFLOW_SYNCER_CONFIG`, else ./mlflow-syncer.yaml if it exists.

    Either may name several files separated by ':' (later files override earlier ones, mapping by mapping).
    Files named by the variable that do not exist are left out, as KUBECONFIG does, so an image can name its
    own defaults and the mount point of the user's file; files named by --config must exist."""
    if given:
        return given
    named = [p for p in environ.get("MLFLOW_SYNCER_CONFIG", "").split(":") if p]
    existing = [p for p in named if Path(p).exists()]
    if named:
        return ":".join(existing or named)
    return DEFAULT_NAME if Path(DEFAULT_NAME).is_file() else None


def merge(base: dict, over: dict) -> dict:
    """`over` on top of `base`: mappings merged key by key, anything else replaced."""
    out = dict(base)
    for key, value in over.items():
        both = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = merge(out[key], value) if both else value
    return out
