"""The systemd unit and the Dockerfile: verified where the tools exist, and their command run for
real."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from mlflow import MlflowClient

from syncer.config import MirrorConfig
from tests.compare import assert_same
from tests.fixtures.mirror import Daemon, make_runs, write_config
from tests.fixtures.procs import VENV_BIN, free_port

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "systemd" / "mlflow-syncer.service"
DOCKERFILE = ROOT / "Dockerfile"


def _unit_entries() -> dict[str, list[str]]:
    entries: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            entries.setdefault(key, []).append(value)
    return entries


def _seconds(value: str) -> float:
    m = re.fullmatch(r"(\d+)(s|min)?", value)
    assert m, value
    return int(m[1]) * (60 if m[2] == "min" else 1)


def test_systemd_unit_is_a_hardened_notify_service():
    e = _unit_entries()
    one = {k: v[-1] for k, v in e.items()}
    assert one["Type"] == "notify" and _seconds(one["WatchdogSec"]) > 0
    assert one["Restart"] == "on-failure"
    assert one["User"] not in ("", "root") and one["Group"] not in ("", "root")
    assert one["EnvironmentFile"].startswith("/etc/mlflow-syncer/")
    assert " mirror --config " in one["ExecStart"]
    assert one["ProtectSystem"] == "strict"
    for flag in (
        "NoNewPrivileges",
        "PrivateTmp",
        "ProtectHome",
        "PrivateDevices",
        "RestrictSUIDSGID",
    ):
        assert one[flag] == "yes", flag
    assert (
        one["ReadWritePaths"] == "/var/lib/mlflow-syncer"
        and one["StateDirectory"] == "mlflow-syncer"
    )
    assert not [v for v in e["Environment"] if v.startswith("MLFLOW_SYNCER_")], (
        "defaults go in a file"
    )
    defaults = ROOT / "systemd" / "unit-defaults.yaml"
    assert (
        f" mirror --config /opt/mlflow-syncer/{defaults.name}:/etc/mlflow-syncer/mirror.yaml"
        in one["ExecStart"]
    )
    assert "state: sqlite:////var/lib/mlflow-syncer/" in defaults.read_text()
    # systemd must not SIGKILL before the service's own graceful-stop bound has passed.
    assert _seconds(one["TimeoutStopSec"]) > MirrorConfig().shutdown_timeout


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_analyze_verify_accepts_the_unit(tmp_path):
    # verify insists that ExecStart exists: point it at this checkout's installed command.
    unit = tmp_path / "mlflow-syncer.service"
    unit.write_text(
        UNIT.read_text().replace(
            "/opt/mlflow-syncer/.venv/bin/mlflow-syncer", str(VENV_BIN / "mlflow-syncer")
        )
    )
    out = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "mlflow-syncer.service" not in out.stderr, out.stderr


def _dockerfile() -> dict:
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    out: dict = {"ENV": {}}
    for line in text.splitlines():
        word, _, rest = line.strip().partition(" ")
        if word == "ENV":
            out["ENV"].update(dict(re.findall(r"(\w+)=(\S+)", rest)))
        elif word == "ARG":
            out.setdefault("ARG", {}).update(dict(re.findall(r"(\w+)=(\S+)", rest)))
        elif word in ("ENTRYPOINT", "CMD", "USER", "FROM", "VOLUME"):
            out[word] = json.loads(rest) if rest.startswith("[") else rest
        elif word == "HEALTHCHECK":
            out[word] = json.loads(rest[rest.index(" CMD ") + 5 :])
    return out


def test_dockerfile_runs_its_entrypoint_as_a_non_root_service(
    source_server, dest_server, unique_name, tmp_path
):
    """The image's defaults (state on /state, port 8080) come from a file of their own under the
    mounted config, never from MLFLOW_SYNCER_<OPTION> variables; the mounted file moves the port and
    the HEALTHCHECK follows it."""
    d = _dockerfile()
    assert d["FROM"] == "${BASE_IMAGE}" and re.fullmatch(
        r"python:3\.11-slim", d["ARG"]["BASE_IMAGE"]
    )
    assert d["USER"].split(":")[0] not in ("root", "0")
    assert (
        d["VOLUME"] == ["/state"]
        and d["ENTRYPOINT"] == ["mlflow-syncer"]
        and d["CMD"][0] == "mirror"
    )
    assert [k for k in d["ENV"] if k.startswith("MLFLOW_SYNCER_")] == ["MLFLOW_SYNCER_CONFIG"]
    defaults, user_file = d["ENV"]["MLFLOW_SYNCER_CONFIG"].split(":")
    assert (
        d["CMD"][1:] == ["--config", f"{defaults}:{user_file}"]
        and user_file == "/config/mirror.yaml"
    )
    assert "sqlite:////state/" in (ROOT / "deploy" / "docker" / "image-defaults.yaml").read_text()

    # The same command line, with the container's paths and port mapped to this machine.
    src, dst = MlflowClient(source_server.url), MlflowClient(dest_server.url)
    name = f"{unique_name}/docker"
    make_runs(src, name, 2, artifact=False)
    port = str(free_port())

    def local(
        value: str,
    ) -> str:  # container path /state/x -> tmp_path/state/x, /usr/local/lib/... -> deploy
        value = re.sub(
            r"(?<![\w.])/(state|config|etc/mlflow-syncer)(?=/|$)",
            lambda m: str(tmp_path / m[1]),
            value,
        )
        return value.replace("/usr/local/lib/mlflow-syncer/", str(ROOT / "deploy" / "docker") + "/")

    for folder in ("config", "etc/mlflow-syncer"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "etc/mlflow-syncer/image-defaults.yaml").write_text(
        local((ROOT / "deploy" / "docker" / "image-defaults.yaml").read_text())
    )
    config = write_config(
        tmp_path / "config" / "mirror.yaml",
        source_server.url,
        dest_server.url,
        [name],
        tmp_path / "unused.db",
        http_port=int(port),
    )  # the user's file moves the port
    cfg_text = config.read_text()  # and leaves the state to the image's default
    config.write_text(
        "\n".join(x for x in cfg_text.splitlines() if not x.startswith("state:")) + "\n"
    )
    env = {**os.environ, **{k: local(v) for k, v in d["ENV"].items()}}
    cmd = [str(VENV_BIN / d["ENTRYPOINT"][0]), *d["ENTRYPOINT"][1:], *[local(a) for a in d["CMD"]]]
    log = tmp_path / "container.log"
    proc = subprocess.Popen(
        cmd,
        env=env,
        stdout=open(log, "ab"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    daemon = Daemon(proc=proc, log=log, port=int(port))
    health = [
        str(VENV_BIN / "python") if d["HEALTHCHECK"][0] == "python" else d["HEALTHCHECK"][0],
        *[local(a) for a in d["HEALTHCHECK"][1:]],
    ]
    try:
        daemon.wait_ready()
        assert subprocess.run(health, timeout=30, env=env).returncode == 0
        assert_same(src, dst, [name])
        assert (tmp_path / "state" / "state.db").exists()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=MirrorConfig().shutdown_timeout + 5) == 0
    finally:
        daemon.stop()
    assert subprocess.run(health, timeout=30, env=env, capture_output=True).returncode != 0
