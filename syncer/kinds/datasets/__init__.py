"""The datasets kind (syncer.kinds.registry lists it)."""
