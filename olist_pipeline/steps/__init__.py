"""ZenML steps: thin adapters that call the pure modules and record what happened."""
