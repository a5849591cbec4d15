"""Sample handlers: concurrency (see handlers/__init__.py and docs/tutorial.md)."""
