"""Migrations applied one at a time build the same schema as a fresh install."""

from __future__ import annotations

import re

from jobu.store import Store, open_store
from jobu.store.migrate import load_migrations


def introspect(store: Store) -> dict[str, list]:
    """Tables, columns and indexes of the store's schema, comparable across databases."""
    queries = {
        "sqlite": {
            "objects": "SELECT type, name, tbl_name, sql FROM sqlite_master "
                       "WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name",
        },
        "postgres": {
            "columns": "SELECT table_name, column_name, data_type, is_nullable, column_default "
                       "FROM information_schema.columns WHERE table_schema = current_schema() "
                       "ORDER BY table_name, ordinal_position",
            "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes "
                       "WHERE schemaname = current_schema() ORDER BY indexname",
            "constraints": "SELECT table_name, constraint_name, constraint_type "
                           "FROM information_schema.table_constraints "
                           "WHERE table_schema = current_schema() AND constraint_type "
                           "IN ('PRIMARY KEY', 'UNIQUE', 'FOREIGN KEY') ORDER BY constraint_name",
        },
        "mysql": {
            "columns": "SELECT table_name, column_name, column_type, is_nullable, column_default "
                       "FROM information_schema.columns WHERE table_schema = DATABASE() "
                       "ORDER BY table_name, ordinal_position",
            "indexes": "SELECT table_name, index_name, seq_in_index, column_name, non_unique "
                       "FROM information_schema.statistics WHERE table_schema = DATABASE() "
                       "ORDER BY table_name, index_name, seq_in_index",
        },
    }[store.dialect]

    def read(conn):
        found = {}
        for name, sql in queries.items():
            rows = [tuple(row.values()) for row in conn.fetch_all(sql)]
            # pg_indexes names the schema, which differs between the two test databases.
            found[name] = [tuple(re.sub(r"ON \w+\.", "ON ", v) if isinstance(v, str) else v
                                 for v in row) for row in rows]
        return found

    return store.database.run(read, write=False)


def test_stepwise_migrations_equal_a_fresh_install(dialect, fresh_database):
    stepwise, fresh = open_store(fresh_database(dialect)), open_store(fresh_database(dialect))
    try:
        versions = [m.version for m in load_migrations(dialect)]
        for version in versions:
            assert [m.version for m in stepwise.migrate(target=version)] == [version]
        assert [m.version for m in fresh.migrate()] == versions
        assert introspect(stepwise) == introspect(fresh)
        assert introspect(fresh)  # the comparison saw a schema, not two empty lists
    finally:
        stepwise.close()
        fresh.close()
