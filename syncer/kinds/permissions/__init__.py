"""The permissions kind (syncer.kinds.registry lists it)."""
