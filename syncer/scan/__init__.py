"""Read one side into plain snapshots, page by page: experiments and runs, registered models and
versions.

May import: syncer.backends, syncer.state, syncer.core. Never syncer.plan or syncer.apply.
"""
