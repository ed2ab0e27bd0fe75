"""The state store: SQLAlchemy schema (id map, status, fingerprints, cursors, lock), Alembic
upgrades.

May import: syncer.core.
"""
