"""Sample handlers: multi_db (see handlers/__init__.py and docs/tutorial.md)."""
