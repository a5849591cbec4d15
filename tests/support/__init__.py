"""Helpers for tests that are not fixtures: code child processes import by name."""
