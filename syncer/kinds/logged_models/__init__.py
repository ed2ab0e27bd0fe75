"""The logged_models kind (syncer.kinds.registry lists it)."""
