"""Smoke-test a built image in a chroot of its root folder (`podman image mount`), as a deploying
engineer would run it: the image's user, Env, Entrypoint, Cmd, WorkingDir and HEALTHCHECK, a mounted
config and a state volume. Usage: image_chroot.py IMAGE WORK (called by scripts/image_smoke.sh).
Exit 0: every step passed.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

SEED = """
import mlflow, pathlib
pathlib.Path('/mnt/src-art').mkdir(parents=True, exist_ok=True)
c = mlflow.MlflowClient('sqlite:////mnt/src.db')
exp = c.create_experiment('smoke', artifact_location='/mnt/src-art')
run = c.create_run(exp, run_name='r1')
for step in range(5):
    c.log_metric(run.info.run_id, 'loss', 1.0 / (step + 1), step=step)
c.set_terminated(run.info.run_id)
"""


def main(image: str, work: Path) -> int:
    inspect = json.loads(subprocess.check_output(["podman", "image", "inspect", image]))[0]
    config = {**inspect["Config"], "Healthcheck": inspect.get("Healthcheck") or {"Test": ["NONE"]}}
    root = Path(subprocess.check_output(["podman", "image", "mount", image], text=True).strip())
    mounts: list[Path] = []
    try:
        return _smoke(config, root, work, mounts)
    finally:
        for target in reversed(mounts):
            subprocess.run(["umount", "-l", str(target)], check=False)
        subprocess.run(["podman", "image", "unmount", image], check=False, capture_output=True)


def _bind(
    root: Path, host: Path, inside: str, mounts: list[Path], owner: str | None = None
) -> None:
    host.mkdir(parents=True, exist_ok=True)
    if owner:
        uid, gid = (int(x) for x in owner.split(":"))
        os.chown(host, uid, gid)
    target = root / inside.lstrip("/")
    subprocess.run(["mount", "--bind", str(host), str(target)], check=True)
    mounts.append(target)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _smoke(config: dict, root: Path, work: Path, mounts: list[Path]) -> int:
    user = config["User"]
    uid = subprocess.check_output(
        ["chroot", str(root), "id", "-u", user.split(":")[0]], text=True
    ).strip()
    assert uid != "0", "the image runs as root"
    owner = f"{uid}:{uid}"
    for sub in ("config", "state", "data"):
        subprocess.run(["rm", "-rf", str(work / sub)], check=True)
    _bind(root, Path("/dev"), "/dev", mounts)
    _bind(root, work / "config", "/config", mounts)
    _bind(root, work / "state", "/state", mounts, owner)
    _bind(root, work / "data", "/mnt", mounts, owner)
    port = _free_port()
    (work / "config" / "mirror.yaml").write_text(
        "source: sqlite:////mnt/src.db\n"
        "destination: {tracking_uri: 'sqlite:////mnt/dst.db', artifact_root: /mnt/dst-art}\n"
        f"mirror: {{http_host: 127.0.0.1, http_port: {port}}}  # image default: 0.0.0.0:8080\n"
    )

    def run(*args: str, background: bool = False):
        cmd = [
            "chroot",
            f"--userspec={user}",
            str(root),
            "env",
            "-i",
            *config["Env"],
            f"HOME={config['WorkingDir']}",
            "env",
            "-C",
            config["WorkingDir"],
            *args,
        ]
        if background:
            return subprocess.Popen(
                cmd, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
            )
        return subprocess.run(cmd, capture_output=True, text=True, timeout=600)

    entry = config["Entrypoint"]
    checks = []
    version = run(*entry, "--version")
    checks.append(
        (
            "--version",
            version.returncode == 0 and version.stdout.startswith("mlflow-syncer "),
            version.stdout.strip() or version.stderr[-300:],
        )
    )
    seed = run("python", "-c", SEED)
    checks.append(
        ("seed a SQLite source with the image's MLflow", seed.returncode == 0, seed.stderr[-300:])
    )
    migrate = run(*entry, "migrate", "--format", "json")
    ok = (
        migrate.returncode == 0
        and json.loads(migrate.stdout)["summary"]["done"]["run"]["create"] == 1
    )
    state = work / "state" / "state.db"
    checks.append(
        (
            "migrate (config from the image's MLFLOW_SYNCER_CONFIG), state on /state",
            ok and state.exists() and state.stat().st_uid == int(uid),
            migrate.stderr[-300:],
        )
    )
    once = run(*entry, "mirror", "--once")
    checks.append(
        (
            "mirror --once",
            once.returncode == 0 and "mirror cycle: ok" in once.stdout,
            (once.stdout + once.stderr)[-300:],
        )
    )
    checks.append(_service(run, entry, config, port))
    for name, passed, detail in checks:
        print(
            f"image_smoke: {'ok  ' if passed else 'FAIL'} {name}"
            + ("" if passed else f": {detail}")
        )
    return 0 if all(passed for _, passed, _ in checks) else 1


def _service(run, entry: list[str], config: dict, port: int) -> tuple[str, bool, str]:
    """The default command (the mirror service) on the port the mounted config names, and the
    HEALTHCHECK."""
    proc = run(*entry, *config["Cmd"], background=True)
    test = config["Healthcheck"]["Test"]
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            time.sleep(1)
        if test[0] not in ("CMD", "CMD-SHELL"):
            return (
                "HEALTHCHECK",
                False,
                f"the image has no HEALTHCHECK ({test}): build --format docker",
            )
        health = run(*test[1:]) if test[0] == "CMD" else run("sh", "-c", test[1])
        return (
            "the default command serves the configured port; HEALTHCHECK passes",
            health.returncode == 0,
            health.stderr[-300:],
        )
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=45)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], Path(sys.argv[2])))
