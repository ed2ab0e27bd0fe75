"""The scale-out deployments: the systemd template unit and the Kubernetes Indexed Job run the real `worker`
command with options the real CLI and settings accept."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from syncer.cli.args import build_parser
from syncer.config import load_settings
from tests.fixtures.procs import VENV_BIN

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "systemd" / "mlflow-syncer@.service"
MANIFEST = ROOT / "deploy" / "kubernetes" / "workers.yaml"


def _entries() -> dict[str, str]:
    out: dict[str, str] = {}
    for line in TEMPLATE.read_text().splitlines():
        if line.strip() and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            out[key] = value
    return out


def test_systemd_template_runs_a_worker_restarted_only_after_a_crash():
    e = _entries()
    argv = shlex.split(e["ExecStart"])
    args = build_parser().parse_args(argv[1:])
    assert (args.command, args.config, args.log_format) == ("worker", "/etc/mlflow-syncer/worker.yaml", "json")
    assert e["Restart"] == "on-abnormal" and e["KillSignal"] == "SIGTERM"
    assert "%i" in e["Description"] and e["User"] not in ("", "root")
    assert e["EnvironmentFile"].startswith("/etc/mlflow-syncer/")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_analyze_verify_accepts_an_instance_of_the_template(tmp_path):
    (tmp_path / TEMPLATE.name).write_text(TEMPLATE.read_text().replace(
        "/opt/mlflow-syncer/.venv/bin/mlflow-syncer", str(VENV_BIN / "mlflow-syncer")))
    out = subprocess.run(["systemd-analyze", "verify", str(tmp_path / "mlflow-syncer@2.service")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "mlflow-syncer@" not in out.stderr, out.stderr  # parse problems are only warnings: none allowed


def _docs() -> dict[str, dict]:
    return {d["kind"]: d for d in yaml.safe_load_all(MANIFEST.read_text())}


def test_kubernetes_indexed_job_runs_workers_with_the_configmap_and_the_secret(tmp_path, monkeypatch):
    docs = _docs()
    job, config_map, secret = docs["Job"], docs["ConfigMap"], docs["Secret"]
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed" and spec["completions"] == spec["parallelism"] == 3
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    args = build_parser().parse_args(container["args"])
    assert container["command"] == ["mlflow-syncer"] and args.command == "worker"

    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volume = next(v for v in pod["volumes"] if v.get("configMap", {}).get("name") == config_map["metadata"]["name"])
    assert Path(args.config).parent == Path(mounts[volume["name"]])
    config = tmp_path / Path(args.config).name
    config.write_text(config_map["data"][Path(args.config).name])

    env = {e["name"]: e["valueFrom"] for e in container["env"]}
    for ref in (v["secretKeyRef"] for v in env.values() if "secretKeyRef" in v):
        assert ref["name"] == secret["metadata"]["name"] and ref["key"] in secret["stringData"]
    assert env["MLFLOW_SYNCER_STATE"]["secretKeyRef"]["key"] == "state-url"
    assert env["MLFLOW_SYNCER_SCALE_OUT__JOB"] == {"fieldRef": {"fieldPath": "metadata.labels['job-name']"}}
    monkeypatch.setenv("MLFLOW_SYNCER_STATE", secret["stringData"]["state-url"])
    monkeypatch.setenv("MLFLOW_SYNCER_SCALE_OUT__JOB", job["metadata"]["name"])
    settings = load_settings(str(config))
    assert settings.scale_out.job == "mlflow-syncer-copy-1" and settings.scale_out.lease == 60
    assert settings.state.startswith("postgresql://")
    assert pod["terminationGracePeriodSeconds"] >= 30 and pod["restartPolicy"] == "OnFailure"
