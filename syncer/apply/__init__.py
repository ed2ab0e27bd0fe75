"""The executor: apply actions to the destination, one committed unit of work each, resumable and
idempotent.

May import: syncer.backends, syncer.state, syncer.core. Never syncer.scan or syncer.plan.
"""
