"""The prompts kind (syncer.kinds.registry lists it)."""
