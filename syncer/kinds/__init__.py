"""The object kinds, one package each (`syncer.kinds.<kind>`), known to the engine only through
`syncer.kinds.registry`: what each kind is called, how it is scanned, planned, applied and archived.

A kind package holds `kind.py` (its `Kind` record), and where it has them `snapshot`, `scan`, `plan`
(pure: no network, database, MLflow or retry module), `apply`, `archive`. Shared machinery stays
below: backends, state, `apply.units`, `apply.context`, `core.actions`.

May import: syncer.config, syncer.logs, syncer.scan, syncer.plan, syncer.apply, syncer.backends,
syncer.state, syncer.core. Never syncer.engine or above.
"""
