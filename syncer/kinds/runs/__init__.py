"""The runs kind (syncer.kinds.registry lists it)."""
