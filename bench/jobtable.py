"""The worker benchmark's own hold on job_executions: set-based loads, resets and readings.

Everything here goes through the driver on a connection of its own in autocommit mode,
so that loading a million rows is one statement (or a few) and reading the figures
takes no lock a claim would wait for. Rows are copies of one row that jobu's own
insert wrote (``bench_template``), with the time columns set to the database's clock,
so that a column the store adds gets whatever jobu's insert gives it.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any

#: The database's clock, as jobu writes it, per dialect.
NOW = {"postgres": "now()", "mysql": "UTC_TIMESTAMP(6)",
       "sqlite": "(strftime('%Y-%m-%d %H:%M:%f', 'now') || '000')"}
#: Columns a copy takes from the clock instead of the template.
TIME_COLUMNS = ("scheduled_time", "run_after", "created_at", "updated_at")
#: MariaDB loads in chunks of this many rows (one statement and transaction each).
MYSQL_CHUNK = 100_000


class JobTable:
    """job_executions of one benchmark database, seen from the benchmark's own connection."""

    def __init__(self, dialect: str, connect: dict[str, Any]) -> None:
        self.dialect = dialect
        self.param = "?" if dialect == "sqlite" else "%s"
        if dialect == "sqlite":
            self.conn: Any = sqlite3.connect(connect["path"], isolation_level=None, timeout=60)
            self.conn.execute("PRAGMA busy_timeout = 60000")
        elif dialect == "postgres":
            import psycopg
            self.conn = psycopg.connect(**connect, autocommit=True)
        else:
            import pymysql
            self.conn = pymysql.connect(**connect, autocommit=True,
                                        init_command="SET time_zone = '+00:00'")
        self.columns: list[str] = []

    def close(self) -> None:
        self.conn.close()

    # --- statements -------------------------------------------------------------------------

    def rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        if self.dialect == "sqlite":
            return self.conn.execute(sql, params).fetchall()
        with self.conn.cursor() as cursor:
            cursor.execute(sql, params or None)
            return list(cursor.fetchall()) if cursor.description else []

    def value(self, sql: str, params: tuple = ()) -> Any:
        found = self.rows(sql, params)
        return found[0][0] if found else None

    def run(self, sql: str, params: tuple = ()) -> None:
        self.rows(sql, params)

    # --- loading ----------------------------------------------------------------------------

    def keep_template(self, execution_id: int) -> None:
        """Keep the row `execution_id` (written by jobu's insert) as the model of every
        row loaded later, in bench_template, and take it out of the queue."""
        self.columns = [c for c in self.insertable_columns() if c != "id"]
        listed = ", ".join(self.columns)
        self.run(f"CREATE TABLE bench_template AS SELECT {listed} FROM job_executions "
                 f"WHERE id = {int(execution_id)}")
        self.run(f"DELETE FROM job_executions WHERE id = {int(execution_id)}")
        if self.dialect == "mysql":
            # 100,000 numbers to cross-join with, built from a ten-row table (MySQL has no
            # generate_series, and MariaDB's seq_1_to_N is not in MySQL).
            self.run("CREATE TABLE bench_seq (n INT PRIMARY KEY)")
            self.run("INSERT INTO bench_seq VALUES " + ", ".join(f"({i})" for i in range(10)))
            for step in (10, 100, 1000, 10_000):
                self.run(f"INSERT INTO bench_seq SELECT a.n + {step} * b.n FROM bench_seq a "
                         f"CROSS JOIN bench_seq b WHERE a.n < {step} AND b.n BETWEEN 1 AND 9")
            self.run("UPDATE bench_seq SET n = n + 1 ORDER BY n DESC")  # 1 … 100,000

    def insertable_columns(self) -> list[str]:
        """job_executions' columns an INSERT may name (not generated ones), in order."""
        if self.dialect == "sqlite":
            # table_xinfo: hidden 0 is an ordinary column, 2 and 3 generated ones.
            return [row[1] for row in self.rows("PRAGMA table_xinfo(job_executions)")
                    if row[6] == 0]
        if self.dialect == "postgres":
            return [row[0] for row in self.rows(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = "
                "current_schema() AND table_name = 'job_executions' AND is_generated = 'NEVER' "
                "ORDER BY ordinal_position")]
        return [row[0] for row in self.rows(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = DATABASE() "
            "AND table_name = 'job_executions' AND extra NOT LIKE '%%GENERATED%%' "
            "ORDER BY ordinal_position")]

    def add(self, count: int) -> None:
        """`count` more runnable no-op rows, copies of the template, in set-based statements."""
        if count <= 0:
            return
        listed = ", ".join(self.columns)
        copied = ", ".join(NOW[self.dialect] if c in TIME_COLUMNS else f"t.{c}"
                           for c in self.columns)
        if self.dialect == "postgres":
            self.run(f"INSERT INTO job_executions ({listed}) SELECT {copied} "
                     "FROM bench_template t CROSS JOIN generate_series(1, %s)", (count,))
        elif self.dialect == "sqlite":
            self.run(f"WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq "
                     f"WHERE n < ?) INSERT INTO job_executions ({listed}) SELECT {copied} "
                     "FROM bench_template t CROSS JOIN seq", (count,))
        else:
            for start in range(0, count, MYSQL_CHUNK):
                self.run(f"INSERT INTO job_executions ({listed}) SELECT {copied} "
                         "FROM bench_template t CROSS JOIN bench_seq s WHERE s.n <= %s",
                         (min(MYSQL_CHUNK, count - start),))

    def waiting(self) -> int:
        return int(self.value("SELECT COUNT(*) FROM job_executions "
                              "WHERE status = 'PENDING' AND started_at IS NULL"))

    def tidy(self) -> None:
        """Delete what the last run finished or handed back, and the workers' rows."""
        self.run("DELETE FROM job_executions WHERE status <> 'PENDING' OR started_at IS NOT NULL")
        self.run("DELETE FROM workers")

    def prepare(self, total: int) -> None:
        """Exactly `total` runnable rows that never ran, and nothing else.

        What the last run finished (or handed back) is deleted and new rows are added at
        the back of the queue. PostgreSQL then gets the VACUUM ANALYZE and MariaDB the
        ANALYZE TABLE that their own background work would soon do, so that each run
        starts from the same state, statistics included; SQLite is left as jobu leaves it.
        """
        self.tidy()
        waiting = self.waiting()
        if waiting > total:
            self.clear()
            waiting = 0
        self.add(total - waiting)
        if self.dialect == "postgres":
            self.run("VACUUM ANALYZE job_executions")
        elif self.dialect == "mysql":
            self.run("ANALYZE TABLE job_executions")

    def clear(self) -> None:
        self.run("DELETE FROM job_executions")
        self.run("DELETE FROM workers")

    # --- readings ---------------------------------------------------------------------------

    def finished(self) -> int:
        return int(self.value("SELECT COUNT(*) FROM job_executions WHERE status = 'SUCCESS'"))

    def unfinished(self) -> int:
        return int(self.value("SELECT COUNT(*) FROM job_executions "
                              "WHERE status IN ('PENDING', 'RETRY', 'RUNNING')"))

    def window(self, count: int) -> tuple[int, float]:
        """The first `count` finished rows (or all, if fewer): how many, and the seconds
        from the first start to the last of their finishes, on the database's clock."""
        done = min(count, self.finished())
        if done == 0:
            return 0, 0.0
        first = self.value("SELECT MIN(started_at) FROM job_executions WHERE status = 'SUCCESS'")
        last = self.value("SELECT finished_at FROM job_executions WHERE status = 'SUCCESS' "
                          f"ORDER BY finished_at LIMIT 1 OFFSET {done - 1}")
        return done, (as_time(last) - as_time(first)).total_seconds()

    def latencies_ms(self) -> list[float]:
        """started_at − created_at of every started row, in milliseconds, sorted."""
        found = self.rows("SELECT created_at, started_at FROM job_executions "
                          "WHERE started_at IS NOT NULL")
        return sorted((as_time(s) - as_time(c)).total_seconds() * 1000 for c, s in found)

    def server_version(self) -> str:
        """The server's version number (SQLite: the library's)."""
        if self.dialect == "sqlite":
            return sqlite3.sqlite_version
        if self.dialect == "postgres":
            return str(self.value("SHOW server_version")).split()[0]
        return str(self.value("SELECT VERSION()")).split("-")[0]


def as_time(value: Any) -> datetime:
    """A timestamp as the driver returns it (SQLite: jobu's text form), as an aware UTC time."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)
