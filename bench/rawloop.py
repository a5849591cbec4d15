"""The ceiling: a raw claim loop through the driver, with jobu's own claim statement.

    echo '{"dialect": "sqlite", "connect": {"path": "jobu.db"}}' |
        .venv/bin/python bench/rawloop.py --threads 4 --batch 1 --count 10000

`threads` threads each claim up to `batch` rows with the ``execution_claim`` statement
of jobu's query files (and ``execution_claim_mark`` after it where the dialect has
one: MariaDB's SELECT … FOR UPDATE SKIP LOCKED, then UPDATE), mark them SUCCESS in
one UPDATE fenced by the claim's lease token, and go on until `count` rows are done
or none is left. The statement comes from jobu.store.queries.load_queries, so the
ceiling always claims the way the store does; nothing else of jobu is on the loop's
path (no pool, no store, no worker): what is left is the database and the driver.

With batch 1 and as many threads as the worker's pool, it makes the same two
transactions per job as a busy worker that claims one row at a time; with one
thread and a batch of N it is what the database does with the pattern when a
claim takes N rows and one statement completes them.

It runs as a process of its own, so that it can run in any venv (the driver
versions are the venv's) and its CPU use is its own. It prints one JSON line:
the rows it completed, and its CPU and wall seconds from the first claim to the
last completion (connections are opened before).
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import sqlite3
import sys
import threading
import time
from typing import Any

from jobu.store.queries import load_queries

#: A placeholder of the query files: %(name)s on PostgreSQL and MariaDB, :name on SQLite.
PLACEHOLDER = {"postgres": re.compile(r"%\((\w+)\)s"), "mysql": re.compile(r"%\((\w+)\)s"),
               "sqlite": re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")}


class RawLoop:
    """Claim rows, mark them done, repeat: jobu's claim statement, the driver's calls."""

    def __init__(self, dialect: str, connect: dict[str, Any], *,
                 queues: tuple[str, ...] = ("default",), lease_seconds: float = 30.0) -> None:
        self.dialect = dialect
        self.connect_args = connect
        self.queues = queues
        self.lease_seconds = lease_seconds
        queries = load_queries(dialect)
        self.claim_sql = queries["execution_claim"]
        #: MariaDB claims in two statements: the locking SELECT, then this UPDATE of its ids.
        self.mark_sql = queries.get("execution_claim_mark")
        for sql in (self.claim_sql, self.mark_sql or ""):
            unknown = set(PLACEHOLDER[dialect].findall(sql)) - set(self.params("", 1, []))
            if unknown:
                raise SystemExit(f"jobu's claim statement takes {sorted(unknown)}, which "
                                 "bench/rawloop.py does not know: add them to RawLoop.params")

    def params(self, token: str, limit: int, ids: list[int]) -> dict[str, Any]:
        """Every parameter a claim statement may name, in the form the driver takes.

        Lists go to PostgreSQL as arrays (`= ANY(%(queues)s)`), to PyMySQL as tuples
        (`IN %(queues)s`) and to SQLite as JSON text (`json_each(:queues)`), as jobu's
        dialects adapt them. `now` is None: the database's clock, as in the worker.
        """
        queues: Any = list(self.queues)
        ids_value: Any = ids
        if self.dialect == "mysql":
            queues, ids_value = tuple(queues), tuple(ids)
        elif self.dialect == "sqlite":
            queues, ids_value = json.dumps(queues), json.dumps(ids)
        return {"worker_id": f"raw-{threading.get_ident()}", "lease_token": token,
                "queues": queues, "queue": self.queues[0], "limit": limit,
                "lease_seconds": float(self.lease_seconds), "now": None, "ids": ids_value}

    def connect(self) -> Any:
        """A connection set up as jobu sets up its own (isolation, time zone, pragmas)."""
        args = self.connect_args
        if self.dialect == "sqlite":
            conn = sqlite3.connect(args["path"], isolation_level=None, check_same_thread=False,
                                   timeout=30)
            conn.execute("PRAGMA busy_timeout = 30000")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA synchronous = NORMAL")  # jobu's setting, in WAL mode
            return conn
        if self.dialect == "postgres":
            import psycopg
            return psycopg.connect(**args)
        import pymysql
        conn = pymysql.connect(**args, autocommit=False, charset="utf8mb4",
                               init_command="SET time_zone = '+00:00'")
        with conn.cursor() as cursor:
            cursor.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
        return conn

    def claim(self, conn: Any, token: str, limit: int) -> list[int]:
        """One claim transaction with jobu's statement(s); the ids it took."""
        params = self.params(token, limit, [])
        if self.dialect == "sqlite":
            conn.execute("BEGIN IMMEDIATE")  # as jobu's SQLite dialect begins a write
            try:
                cursor = conn.execute(self.claim_sql, params)
                ids = ids_of(cursor, cursor.fetchall())
                if ids and self.mark_sql:
                    conn.execute(self.mark_sql, {**params, "ids": json.dumps(ids)})
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return ids
        with conn.cursor() as cursor:
            cursor.execute(self.claim_sql, params)
            ids = ids_of(cursor, cursor.fetchall())
            if ids and self.mark_sql:
                marked = tuple(ids) if self.dialect == "mysql" else ids
                cursor.execute(self.mark_sql, {**params, "ids": marked})
        conn.commit()
        return ids

    def complete(self, conn: Any, ids: list[int], token: str) -> None:
        """One transaction marking `ids` SUCCESS, fenced by the claim's token."""
        if self.dialect == "sqlite":
            now = "strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'"
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                f"UPDATE job_executions SET status = 'SUCCESS', result = 'null', "
                f"finished_at = {now}, lease_expires_at = NULL, updated_at = {now} "
                f"WHERE id IN ({', '.join('?' * len(ids))}) AND lease_token = ? "
                "AND status = 'RUNNING'", (*ids, token))
            conn.execute("COMMIT")
            return
        if self.dialect == "postgres":
            conn.execute(
                "UPDATE job_executions SET status = 'SUCCESS', result = 'null', "
                "finished_at = now(), lease_expires_at = NULL, updated_at = now() "
                "WHERE id = ANY(%s) AND lease_token = %s AND status = 'RUNNING'", (ids, token))
            conn.commit()
            return
        with conn.cursor() as cursor:
            cursor.execute(
                "UPDATE job_executions SET status = 'SUCCESS', result = 'null', "
                "finished_at = UTC_TIMESTAMP(6), lease_expires_at = NULL, "
                "updated_at = UTC_TIMESTAMP(6) "
                "WHERE id IN %s AND lease_token = %s AND status = 'RUNNING'", (tuple(ids), token))
        conn.commit()

    def runnable(self, conn: Any) -> int:
        """Rows still to run (a plain read: no lock taken, none waited for)."""
        sql = "SELECT COUNT(*) FROM job_executions WHERE status IN ('PENDING', 'RETRY')"
        if self.dialect == "sqlite":
            return conn.execute(sql).fetchone()[0]
        with conn.cursor() as cursor:
            cursor.execute(sql)
            count = cursor.fetchone()[0]
        conn.commit()
        return count

    def drain(self, threads: int, batch: int, count: int, max_seconds: float) -> dict[str, Any]:
        """`threads` loops, each claiming up to `batch` rows and completing them in one
        transaction, until `count` rows are done, none is left, or `max_seconds` pass."""
        errors: list[BaseException] = []
        done = [0]
        lock = threading.Lock()
        connections = [self.connect() for _ in range(threads)]
        go = threading.Event()
        deadline = [0.0]

        def loop(conn: Any) -> None:
            go.wait()
            try:
                while done[0] < count and time.monotonic() < deadline[0]:
                    token = secrets.token_hex(16)
                    ids = self.claim(conn, token, batch)
                    if not ids:
                        # An empty claim can mean that another claimer holds the rows (on
                        # MariaDB, every row its claim read): stop only once none is left.
                        if self.runnable(conn) == 0:
                            return
                        continue
                    self.complete(conn, ids, token)
                    with lock:
                        done[0] += len(ids)
            except BaseException as error:  # noqa: BLE001 - reported by the main thread
                errors.append(error)
            finally:
                conn.close()

        pool = [threading.Thread(target=loop, args=(conn,)) for conn in connections]
        for thread in pool:
            thread.start()
        cpu, wall = time.process_time(), time.monotonic()
        deadline[0] = wall + max_seconds
        go.set()
        for thread in pool:
            thread.join()
        if errors:
            raise errors[0]
        return {"completed": done[0], "cpu_seconds": time.process_time() - cpu,
                "wall_seconds": time.monotonic() - wall}


def ids_of(cursor: Any, rows: list[Any]) -> list[int]:
    """The `id` column of a claim's rows, wherever the statement puts it."""
    if not rows:
        return []
    column = [d[0] for d in cursor.description].index("id")
    return [row[column] for row in rows]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog='The database comes on stdin, as JSON: {"dialect": "sqlite", "postgres" or '
               '"mysql", "connect": {the driver\'s keyword arguments}}.')
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--max-seconds", type=float, default=600.0)
    parser.add_argument("--queues", default="default")
    args = parser.parse_args()
    database = json.loads(sys.stdin.read())
    loop = RawLoop(database["dialect"], database["connect"],
                   queues=tuple(args.queues.split(",")))
    result = loop.drain(args.threads, args.batch, args.count, args.max_seconds)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
