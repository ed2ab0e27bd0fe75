"""The peer: databricks-mlflow-export-import 1.2.1 from its own venv (bench/.peer-venv):
export-experiment from the source, then import-experiment into the destination, timed."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

PEER_BIN = Path(__file__).resolve().parent / ".peer-venv" / "bin"


def available() -> bool:
    return (PEER_BIN / "export-experiment").exists() and (PEER_BIN / "import-experiment").exists()


def version() -> str:
    out = subprocess.run(
        [
            str(PEER_BIN / "python"),
            "-c",
            "import importlib.metadata as m; print(m.version('databricks-mlflow-export-import'),"
            " m.version('mlflow-skinny'))",
        ],
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def _run(cmd: list[str], tracking_uri: str, log: Path) -> float:
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": tracking_uri,
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    env.pop("VIRTUAL_ENV", None)
    env.pop("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", None)  # the peer as its users run it
    started = time.monotonic()
    with open(log, "ab") as f:
        proc = subprocess.run(cmd, env=env, stdout=f, stderr=subprocess.STDOUT)
    if proc.returncode:
        raise RuntimeError(f"{cmd[0]} exited with {proc.returncode} (see {log})")
    return time.monotonic() - started


def migrate(
    src_url: str, dst_url: str, experiments: list[str], prefix: str, log: Path
) -> tuple[float, float]:
    """Export each experiment and import it as `prefix + name`: (export seconds, import seconds)."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-peer-"))
    exp_s = imp_s = 0.0
    try:
        for i, name in enumerate(experiments):
            folder = tmp / str(i)
            exp_s += _run(
                [
                    str(PEER_BIN / "export-experiment"),
                    "--experiment",
                    name,
                    "--output-dir",
                    str(folder),
                ],
                src_url,
                log,
            )
            imp_s += _run(
                [
                    str(PEER_BIN / "import-experiment"),
                    "--experiment-name",
                    prefix + name,
                    "--input-dir",
                    str(folder),
                ],
                dst_url,
                log,
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return exp_s, imp_s
