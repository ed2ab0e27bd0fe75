"""Keep secrets out of everything the tool writes: logs, reports, state, error messages."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

SECRET_ENV_VARS = (
    "DATABRICKS_TOKEN",
    "DATABRICKS_CLIENT_SECRET",
    "AZURE_CLIENT_SECRET",
    "AZURE_STORAGE_ACCESS_KEY",
    "AZURE_STORAGE_CONNECTION_STRING",
    "AZURE_STORAGE_SAS_TOKEN",
    "MLFLOW_TRACKING_TOKEN",
    "MLFLOW_TRACKING_PASSWORD",
    "PGPASSWORD",
)
MASK = "***"

_PATTERNS = [
    re.compile(r"(?i)(AccountKey|SharedAccessSignature|sig|password|token|secret)=([^;&\s]+)"),
    re.compile(r"(?i)(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+"),
    re.compile(r"\bdapi[0-9a-f]{32}(-\d+)?\b"),
]
_URL_CREDENTIALS = re.compile(
    r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^/@\s:]*):(?P<pw>[^/@\s]*)@"
)

_known: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a secret value so that it is masked wherever it later appears."""
    if value and len(value) >= 4:
        _known.add(value)


def register_env_secrets(names: Iterable[str] = SECRET_ENV_VARS) -> None:
    """Register the values of the secret-carrying environment variables."""
    for name in names:
        register_secret(os.environ.get(name))


def redact(text: str) -> str:
    """Mask known secrets, credentials inside URLs and key=value secrets in a string."""
    for secret in sorted(_known, key=len, reverse=True):
        text = text.replace(secret, MASK)
    text = _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    text = _PATTERNS[0].sub(lambda m: f"{m[1]}={MASK}", text)
    text = _PATTERNS[1].sub(lambda m: f"{m[1]} {MASK}", text)
    return _PATTERNS[2].sub(MASK, text)


def safe_uri(uri: str) -> str:
    """A URI with any user info and query string removed: fit to show and to store."""
    parts = urlsplit(uri)
    if not parts.netloc:
        return redact(uri)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))
