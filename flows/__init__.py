"""Prefect flows: thin wiring over watcher.pipeline."""
