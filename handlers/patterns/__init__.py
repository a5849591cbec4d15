"""Sample handlers: patterns (see handlers/__init__.py and docs/tutorial.md)."""
