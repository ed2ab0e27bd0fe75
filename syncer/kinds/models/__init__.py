"""The models kind (syncer.kinds.registry lists it)."""
