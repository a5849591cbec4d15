"""Sample handlers: basic (see handlers/__init__.py and docs/tutorial.md)."""
