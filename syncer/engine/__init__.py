"""One engine for every mode: kinds in dependency order (kinds.STEPS), one pass (sync.run_pass)
behind migrate, mirror cycles, diff and dry runs; verification, deep comparison, state rebuild.

May import: syncer.config, syncer.scan, syncer.plan, syncer.apply, syncer.backends, syncer.state,
syncer.core.
"""
