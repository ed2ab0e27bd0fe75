"""The `mirror` daemon: schedule, lock and heartbeat, signals, /healthz /readyz /metrics, systemd
notify.

May import: syncer.report, syncer.engine and everything below them. Never syncer.cli.
"""
