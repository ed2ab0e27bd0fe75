"""The inventory kind (syncer.kinds.registry lists it)."""
