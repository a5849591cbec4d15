"""The named SQL files: the same vocabulary in every dialect, and well-formed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import jobu.store.store
from jobu.store.migrate import load_migrations, split_statements
from jobu.store.queries import load_queries, parse_queries

DIALECTS = ("sqlite", "postgres", "mysql")
#: MySQL has no UPDATE … RETURNING, so its claim and its lease renewal take a second
#: statement, and MariaDB no LATERAL join, so it claims from several queues one by one;
#: only PostgreSQL has LISTEN/NOTIFY. A batch insert learns its ids in three ways: SQLite
#: numbers the rows itself (it has one writer), and MySQL, without INSERT … RETURNING,
#: marks its rows and reads them back. Recording ticks, MySQL locks and reads the crons
#: first (cron_lock_many), where the others' UPDATE … RETURNING says which it changed.
DIALECT_EXTRAS = {"sqlite": {"execution_claim_queues", "execution_next_id",
                             "execution_ids_between"},
                  "postgres": {"notify", "execution_claim_queues", "stats_read_setup"},
                  "mysql": {"execution_claim_mark", "execution_lease_states",
                            "execution_insert_marked", "execution_insert_unmark",
                            "execution_insert_ids_consecutive", "execution_insert_savepoint",
                            "execution_insert_rollback",
                            "execution_runnable_probe", "execution_get_claimed",
                            "cron_lock_many"}}


def test_every_dialect_defines_the_same_queries():
    names = {d: set(load_queries(d)) - DIALECT_EXTRAS[d] for d in DIALECTS}
    assert names["sqlite"] == names["postgres"] == names["mysql"]


def test_every_query_the_store_names_exists():
    source = "".join(path.read_text() for path in Path(jobu.store.store.__file__).parent.glob(
        "*.py"))
    used = set(re.findall(r'self\._q\["(\w+)"\]', source))
    assert used, "the pattern no longer finds the store's queries"
    for dialect in DIALECTS:
        extras = set().union(*DIALECT_EXTRAS.values())
        assert used - set(load_queries(dialect)) - extras == set(), dialect


@pytest.mark.parametrize("dialect", DIALECTS)
def test_parameters_use_the_dialect_style(dialect):
    for name, sql in load_queries(dialect).items():
        if dialect == "sqlite":
            assert "%(" not in sql, name
        else:
            assert not re.search(r"(?<![:\w]):[a-z_]+\b", sql), name


def test_parse_queries_reads_names_descriptions_and_statements():
    text = "-- name: one\n-- says what\nSELECT 1;\n\n-- name: two\nSELECT\n  2;\n"
    assert parse_queries(text) == {"one": "SELECT 1", "two": "SELECT\n  2"}
    with pytest.raises(ValueError, match="twice"):
        parse_queries("-- name: a\nSELECT 1;\n-- name: a\nSELECT 2;")


@pytest.mark.parametrize("dialect", DIALECTS)
def test_migrations_are_numbered_and_split_into_statements(dialect):
    migrations = load_migrations(dialect)
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    assert all(m.statements for m in migrations)
    assert split_statements("-- c\nCREATE TABLE a (x INT);\n\nCREATE INDEX i ON a (x);\n") == \
        ["CREATE TABLE a (x INT)", "CREATE INDEX i ON a (x)"]
