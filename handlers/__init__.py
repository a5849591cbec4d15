"""jobu's sample handlers, as the tutorial (docs/tutorial.md) walks through them.

* ``basic``: one database each — ``sqlite_crud`` (default), ``postgres_crud``
  (postgres_1), ``mysql_crud`` (mysql_1);
* ``multi_db``: ``sync_sqlite_to_postgres`` (sqlite_2 → postgres_1),
  ``sync_postgres_to_mysql`` (postgres_1 → mysql_1), both atomic over their two
  databases, and ``multi_db_report``, a read-only transaction over all four;
* ``patterns``: ``service_layer`` (services whose transactional methods join
  one transaction) and ``do_work_pattern`` (a class handler whose execute()
  frames one transactional unit of work per batch), on sqlite_2;
* ``concurrency``: ``concurrent_queries``, queries on three databases at once
  from a thread pool.

The database names are those of etc/jobu/database.yaml. Each handler keeps its
SQL in the ``.sql`` file beside it, creates the tables it needs, and can run
every minute: a second run leaves the same state and says so. A handler whose
database is not configured, or is not of the kind it needs, fails at once with
a PermanentError saying what to add.

Load them with worker.yaml ``handler_modules: [handlers]``, the directory that
holds this package being on the worker's Python path. They import only jobu's
public API (jobu.handlers, jobu.db, jobu.errors).
"""
