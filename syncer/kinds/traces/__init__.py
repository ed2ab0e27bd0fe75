"""The traces kind (syncer.kinds.registry lists it)."""
